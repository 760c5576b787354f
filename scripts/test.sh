#!/usr/bin/env bash
# README command 2: install what is missing, build a release and an ASan+UBSan tree (and on
# a CPU without AVX-512 a third, below), run every test in each, then the deploy and
# container tests once, and end with "N passed, N failed" (counting TAP checks).
set -uo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh test || exit 1
status=0
configs=("build:-Dbuildtype=release"
         "build-asan:-Dbuildtype=debug -Db_sanitize=address,undefined -Db_lundef=false")
logs=(build/meson-logs/testlog.json build-asan/meson-logs/testlog.json)
# A CPU without AVX-512 cannot run the avx512 kernels and walks: a third tree builds them on
# portable intrinsics (kernels/avx512_intrin.h) and runs the suite again with them, and the
# other two skip those checks saying so (tests/test.h, tests/cpu_isa.py).
for flag in avx512f avx512dq avx512bw avx512vl; do
  if [ "$(uname -m)" = x86_64 ] && ! grep -qw "$flag" /proc/cpuinfo; then
    echo "grove: this CPU lacks $flag: the avx512 kernels run emulated in build-avx512-emulated"
    export GROVE_TEST_EMULATED_ISA=avx512
    configs+=("build-avx512-emulated:-Dbuildtype=release -Davx512_emulation=true")
    logs+=(build-avx512-emulated/meson-logs/testlog.json)
    break
  fi
done
for cfg in "${configs[@]}"; do
  dir=${cfg%%:*}
  # shellcheck disable=SC2086
  if ! scripts/build.sh "$dir" ${cfg#*:}; then
    echo "grove: build of $dir failed"
    status=1
    continue
  fi
  # Longer timeouts where the code runs several times slower: the emulated intrinsics
  # (test_kernels ~4x) and ASan + UBSan (test_kernels 184-196 s of its 300 alone on a 2-vCPU
  # Zen 4, past 300 with other work on the machine).
  mult=1
  [ "$dir" = build-avx512-emulated ] && mult=3
  [ "$dir" = build-asan ] && mult=2
  meson test -C "$dir" --print-errorlogs --num-processes 2 --timeout-multiplier "$mult" || status=1
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
/usr/bin/python3 scripts/count-tests.py "${logs[@]}" build-container/container.tap || status=1
exit $status
