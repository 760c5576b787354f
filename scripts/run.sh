#!/usr/bin/env bash
# README command 1: install what is missing, build, and score the bundled income sample.
# (The daemon issue turns this into `grove serve` on http://localhost:8080.)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh build
scripts/build.sh build -Dbuildtype=release
echo "== grove info models/income"
build/grove info models/income
echo "== P(income > 50K) for models/income/sample.csv"
build/grove predict models/income --input models/income/sample.csv --stats
