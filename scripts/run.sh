#!/usr/bin/env bash
# README command 1: install what is missing, build, and serve the bundled models on
# http://localhost:8080 (PORT or GROVE_PORT picks another port; Ctrl-C stops).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh build
scripts/build.sh build -Dbuildtype=release
# Without MODEL paths grove serves ./models, the bundled ones (MODEL paths replace them).
# Compiled images of the models go to build/model-cache (grove compile, #17): later starts map
# them instead of parsing the JSON again.
exec build/grove serve --cache-dir build/model-cache "$@"
