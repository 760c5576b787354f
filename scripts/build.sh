#!/usr/bin/env bash
# Configures (once) and builds one build directory. Warnings are errors.
# Usage: scripts/build.sh BUILDDIR [meson options...]
set -euo pipefail
dir=${1:-build}
shift || true
if [ ! -f "$dir/build.ninja" ]; then
  meson setup "$dir" --werror "$@"
fi
ninja -C "$dir"
