#!/usr/bin/env bash
# README command 2: install what is missing, build a release and an ASan+UBSan tree,
# run every test in both, then the deploy and container tests once, and end with
# "N passed, N failed" (counting TAP checks).
set -uo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh test || exit 1
status=0
for cfg in "build:-Dbuildtype=release" "build-asan:-Dbuildtype=debug -Db_sanitize=address,undefined -Db_lundef=false"; do
  dir=${cfg%%:*}
  # shellcheck disable=SC2086
  if ! scripts/build.sh "$dir" ${cfg#*:}; then
    echo "grove: build of $dir failed"
    status=1
    continue
  fi
  meson test -C "$dir" --print-errorlogs --num-processes 2 || status=1
done
# The deploy paths, once per run rather than per build tree: heroku.yml, app.json, the
# Kubernetes and KServe manifests (offline), and the container image built and run with
# podman (tests/container/test_container.py; its TAP goes to build-container/container.tap).
mkdir -p build-container
rm -f build-container/container.tap
started=$SECONDS
timeout -k 30 2700 /usr/bin/python3 tests/container/test_container.py \
  --tap build-container/container.tap --summary build-container/summary.json || status=1
echo "grove: deploy and container tests took $((SECONDS - started)) s"
/usr/bin/python3 scripts/count-tests.py build/meson-logs/testlog.json build-asan/meson-logs/testlog.json \
  build-container/container.tap || status=1
exit $status
