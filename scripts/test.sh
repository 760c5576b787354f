#!/usr/bin/env bash
# README command 2: install what is missing, build a release and an ASan+UBSan tree,
# run every test in both, and end with "N passed, N failed" (counting TAP checks).
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
/usr/bin/python3 scripts/count-tests.py build/meson-logs/testlog.json build-asan/meson-logs/testlog.json || status=1
exit $status
