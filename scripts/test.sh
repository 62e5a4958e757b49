#!/usr/bin/env bash
# Runs every CPU test of the build in build/ (GPU parity tests, label "gpu", need a GPU
# and run on the test machine through scripts/bundle_gpu.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -d build ] || { echo "test: no build/ — run ./scripts/setup.sh first" >&2; exit 2; }
cmake --build build -j "$(nproc)"
ctest --test-dir build -LE gpu --output-on-failure -j "$(nproc)" "$@"
