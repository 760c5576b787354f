#!/usr/bin/env bash
# Fetches the vendored front-end libraries from the npm registry into ui/vendor/.
# Re-runnable: each run replaces the files with those of the pinned version.
# Usage: bash ui/vendor/vendor.sh
set -euo pipefail
UPLOT_VERSION=1.6.32

here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

(cd "$tmp" && npm pack --silent "uplot@$UPLOT_VERSION" >/dev/null)
tar -xzf "$tmp/uplot-$UPLOT_VERSION.tgz" -C "$tmp"
dest="$here/uPlot"
rm -rf "$dest"
mkdir -p "$dest"
cp "$tmp/package/dist/uPlot.iife.min.js" "$tmp/package/dist/uPlot.min.css" "$tmp/package/LICENSE" "$dest/"
echo "ui/vendor/uPlot: uplot $UPLOT_VERSION"
