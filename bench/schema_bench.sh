#!/usr/bin/env bash
# MaskBench figures for docs/performance.md: compile and per-token mask times, compiled and
# correctly decided fractions. Usage: bench/schema_bench.sh [build-dir] [threads]
set -euo pipefail
build=${1:-build}
threads=${2:-1}
root=$(cd "$(dirname "$0")/.." && pwd)
shared=${HEARTH_SHARED_DIR:-$root/../shared}
"$root/$build/bin/hearth" schema bench --tokenizer "$shared/tokenizer/qwen3" \
  --data "$shared/jsonschema/maskbench-dev.jsonl.gz" --threads "$threads"
