#!/usr/bin/env bash
# One device call that measures every figure docs/performance.md keeps, hearth and its
# peers (HF transformers, HF tokenizers) in the same run, on the GPU test machine.
#
#   (here)  scripts/bundle_gpu.sh build-cuda stage/final && cp -r ../shared/tokenizer/qwen3 stage/final/tok
#   (there) scripts/measure_gpu.sh stage/final          # results under $OUT (or ./out)
#
# Outputs: device.txt, parity.log, golden.json, results.jsonl (one JSON object per
# benchmark, hearth and peers, each tagged with "run"), log.txt.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bundle=$(cd "${1:?bundle dir}" && pwd)
out=${OUT:-$root/out}
mkdir -p "$out"
export LD_LIBRARY_PATH=$bundle/lib:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}
export PYTHONUNBUFFERED=1
hearth=$bundle/bin/hearth
results=$out/results.jsonl
log=$out/log.txt
: >"$results"

record() {  # record NAME CMD...: runs CMD, appends its last JSON line tagged with NAME
  local name=$1
  shift
  echo "== $name: $*" >>"$log"
  local t0=$SECONDS line
  line=$("$@" 2>>"$log" | grep '^{' | tail -n 1)
  echo "   exit ${PIPESTATUS[0]}, $((SECONDS - t0)) s" >>"$log"
  [[ -n $line ]] && python3 -c 'import json,sys; d=json.loads(sys.argv[2]); d["run"]=sys.argv[1]; print(json.dumps(d))' \
    "$name" "$line" >>"$results"
}

nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv >"$out/device.txt" 2>&1
date -u +%FT%TZ >>"$out/device.txt"

echo "== parity" >>"$log"
{ "$bundle/bin/test_gpu_parity" --gtest_brief=1; "$bundle/bin/test_gpu_prefill" --gtest_brief=1; } >"$out/parity.log" 2>&1

"$root/tools/check_golden_on_device.sh" --hearth "$hearth" --device cpu --device cuda >"$out/golden.json" 2>>"$log"

tok=$bundle/tok
samples=(--text-file "$root/tests/golden/tokenizer/bench/prose.txt" --text-file "$root/tests/golden/tokenizer/bench/code.txt")
record tokenizer "$hearth" bench tokenizer --model "$tok" "${samples[@]}"
record tokenizer-hf python3 "$root/bench/hf_tokenizer.py" --model "$tok" "${samples[@]}"

record latency-2k "$hearth" bench latency --model random:qwen3-8b --device cuda --prompt-len 2048 --gen-len 128
record latency-8k "$hearth" bench latency --model random:qwen3-8b --device cuda --prompt-len 8192 --gen-len 32
record latency-2k-hf python3 "$root/bench/hf_latency.py" --preset qwen3-8b --prompt-len 2048 --gen-len 64
record latency-8k-hf python3 "$root/bench/hf_latency.py" --preset qwen3-8b --prompt-len 8192 --gen-len 8

record throughput-64x512x256 "$hearth" bench throughput --model random:qwen3-8b --device cuda \
  --requests 64 --input-len 512 --output-len 256 --max-model-len 4096 --kv-cache-memory 24GiB
echo "done" >>"$log"
