#!/usr/bin/env bash
# Installs the Debian 12 packages grove needs, skipping the update when all are present.
# Usage: scripts/install-deps.sh [build|test]   (test adds what the test suite needs)
set -euo pipefail
what=${1:-build}
pkgs=(gcc libc6-dev meson ninja-build pkg-config libjson-c-dev libcsv-dev
      libh2o-evloop-dev libuv1-dev libmsgpack-dev libssl-dev zlib1g-dev)
if [ "$what" = test ]; then
  # Reference predictions and model training use Debian's XGBoost / scikit-learn.
  pkgs+=(python3 python3-xgboost python3-sklearn python3-pandas python3-numpy)
  # The daemon's integration tests: msgpack clients, h2c (nghttp2's h2load), TLS certs,
  # HTTP/2 framing for the attack tests (python3-h2), promtool for /metrics (prometheus).
  pkgs+=(python3-msgpack nghttp2-client openssl python3-h2 prometheus)
  # A CPU without AVX-512 tests the avx512 kernels in a tree built on SIMDe's portable
  # intrinsics (scripts/test.sh, -Davx512_emulation=true).
  pkgs+=(libsimde-dev)
  # tests/install renders the installed man page with `man -l`.
  pkgs+=(man-db)
  # Browser tests of ui/: Debian's Chromium driven by playwright-core from npm.
  pkgs+=(chromium)
  command -v node >/dev/null || pkgs+=(nodejs npm)
  # tests/container: the image built and run with podman (runc; debootstrap makes the
  # debian:12 base when no registry can be pulled from), manifests rendered by kubectl
  # kustomize (any kubectl will do; Debian's is kubernetes-client) and read with PyYAML.
  pkgs+=(podman buildah runc debootstrap python3-yaml)
  command -v kubectl >/dev/null || pkgs+=(kubernetes-client)
fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "grove: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
  # The prometheus package is here for promtool: its server is not left running.
  if [[ " ${missing[*]} " == *" prometheus "* ]] && command -v systemctl >/dev/null; then
    $SUDO systemctl disable --now prometheus >/dev/null 2>&1 || true
  fi
fi

if [ "$what" = test ]; then
  # playwright-core, pinned by tests/browser/package-lock.json (no browser download), and
  # kubernetes-models, ajv and yaml for tests/container (tests/container/package-lock.json).
  # Without them those tests skip, except in CI (CI=true), where that is a failure.
  for dir in tests/browser tests/container; do
    if ! npm ci --prefix "$(dirname "$0")/../$dir" --no-audit --no-fund --loglevel=error; then
      [ "${CI:-}" = true ] && exit 1
      echo "grove: npm ci in $dir failed: its tests will be skipped"
    fi
  done
fi
