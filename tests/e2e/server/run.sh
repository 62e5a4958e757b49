#!/usr/bin/env bash
# hearth serve end to end with the official OpenAI SDK for Node.
#   tests/e2e/server/run.sh HEARTH_BINARY [SHARED_DIR] [WORK_DIR] [TEST_FILE...]
# Copies the tests to WORK_DIR, installs package-lock.json's packages there (npm ci, once),
# runs them with node:test. Exits 77 (ctest: skipped) with a message when node or the
# shared Qwen3 tokenizer is absent.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
hearth="${1:?usage: run.sh HEARTH_BINARY [SHARED_DIR] [WORK_DIR] [TEST_FILE...]}"
shared="${2:-$here/../../../../shared}"
work="${3:-$(dirname "$hearth")/../e2e-server}"
shift $(( $# < 3 ? $# : 3 ))

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "SKIP: node/npm not found: the hearth serve e2e tests need Node.js >= 20"
  exit 77
fi
if [ ! -f "$shared/tokenizer/qwen3/tokenizer.json" ]; then
  echo "SKIP: $shared/tokenizer/qwen3 is absent: the hearth serve e2e tests need the Qwen3 tokenizer"
  exit 77
fi
[ -x "$hearth" ] || { echo "error: $hearth is not an executable"; exit 1; }

mkdir -p "$work"
cp "$here"/package.json "$here"/package-lock.json "$here"/*.mjs "$work"/
if ! cmp -s "$here/package-lock.json" "$work/.installed-lock" 2>/dev/null; then
  (cd "$work" && npm ci --no-audit --no-fund --loglevel=error) 
  cp "$here/package-lock.json" "$work/.installed-lock"
fi
export HEARTH_BINARY="$(cd "$(dirname "$hearth")" && pwd)/$(basename "$hearth")"
export HEARTH_SHARED_DIR="$(cd "$shared" && pwd)"
export HEARTH_SOURCE_DIR="$(cd "$here/../../.." && pwd)"
cd "$work"
if [ $# -gt 0 ]; then files=("$@"); else files=(*.test.mjs); fi
exec node --test --test-concurrency=1 "${files[@]}"
