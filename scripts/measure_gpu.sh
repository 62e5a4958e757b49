#!/usr/bin/env bash
# The device calls that measure every figure docs/performance.md keeps, hearth and its
# peers (HF transformers, HF tokenizers) in the same run, on the GPU test machine.
#
#   (here)  scripts/bundle_gpu.sh build-cuda stage/final && cp -r ../shared/tokenizer/qwen3 stage/final/tok
#           tar czf stage/final.tgz -C stage final
#   (there) tar xzf stage/final.tgz -C /tmp && scripts/measure_gpu.sh /tmp/final PART...
#
# Parts (each fits one device call; several may be named):
#   correctness  every staged GPU gtest binary, compute-sanitizer memcheck of them (small
#                shapes), golden fixtures written fresh by HF (cpu + cuda)
#   latency      batch-1 prefill/decode, hearth and HF
#   golden06     the Qwen3-0.6B-shaped checkpoint through CUDA against HF (fp32 reference,
#                HF's own bf16 error as the yardstick)
#   throughput   the serving targets of issues 5 and 6 (64 x 512/256, 256 x 1000/1000, bf16
#                and fp8 KV, shared prefix TTFT, 14 GiB laptop emulation, 64 constrained)
#   throughput64 the 64 x 512/256 load alone (bf16 and fp8 KV): a quick serving check
#   peers        HF transformers' throughput on the 64 x 512/256 and 256 x 1000/1000 loads
#   tokenizer    the tokenizer bench, hearth and HF
#   serve        hearth serve under 64 streams against bench throughput at the same load
# Outputs under $OUT (or ./out): device.txt, log.txt, results.jsonl (one JSON object per
# benchmark, tagged with "run"), and per part: parity.log, memcheck.log, golden*.json.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bundle=$(cd "${1:?bundle dir}" && pwd)
shift
out=${OUT:-$root/out}
mkdir -p "$out"
export LD_LIBRARY_PATH=$bundle/lib:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}
export PYTHONUNBUFFERED=1
hearth=$bundle/bin/hearth
results=$out/results.jsonl
log=$out/log.txt
touch "$results"

# record NAME CMD...: runs CMD, keeps its stdout's JSON (the whole output when it is one
# JSON document, else every line that starts with '{'), tagged with NAME.
record() {
  local name=$1
  shift
  echo "== $name: $*" >>"$log"
  local t0=$SECONDS tmp
  tmp=$(mktemp)
  timeout "${RECORD_TIMEOUT:-300}" "$@" >"$tmp" 2>>"$log"
  echo "   exit $?, $((SECONDS - t0)) s" >>"$log"
  python3 - "$name" "$tmp" >>"$results" 2>>"$log" <<'PY'
import json, sys
name, path = sys.argv[1], sys.argv[2]
text = open(path).read()
try:
    docs = [json.loads(text)]
except ValueError:
    docs = [json.loads(l) for l in text.splitlines() if l.startswith("{")]
for d in docs:
    d["run"] = name
    print(json.dumps(d))
PY
  rm -f "$tmp"
}

{ nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv; date -u +%FT%TZ; } \
  >>"$out/device.txt" 2>&1

tp=(bench throughput --device cuda)
for part in "$@"; do
  echo "==== part $part ($(date -u +%T))" >>"$log"
  case $part in
    correctness)
      for t in "$bundle"/bin/test_gpu_*; do
        echo "== $(basename "$t")" >>"$out/parity.log"
        timeout 300 "$t" --gtest_brief=1 >>"$out/parity.log" 2>&1
        echo "   exit $?" >>"$out/parity.log"
      done
      sanitizer=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
      # memcheck slows kernels 10-100x: small shapes only, and a cap per binary (a
      # timeout leaves what ran checked; its log says so).
      for t in "$bundle"/bin/test_gpu_*; do
        echo "== memcheck $(basename "$t")" >>"$out/memcheck.log"
        timeout "${MEMCHECK_TIMEOUT:-75}" "$sanitizer" --tool memcheck --error-exitcode 9 "$t" --gtest_brief=1 \
          --gtest_filter="${MEMCHECK_FILTER:--*Long*:*8k*:*32k*:*256*}" >>"$out/memcheck.log" 2>&1
        echo "   exit $?" >>"$out/memcheck.log"
      done
      "$root/tools/check_golden_on_device.sh" --hearth "$hearth" --device cpu --device cuda \
        >"$out/golden.json" 2>>"$log"
      echo "   golden exit $?" >>"$log"
      ;;
    golden06)
      "$root/tools/check_golden_on_device.sh" --hearth "$hearth" --device cuda --ref-device cuda \
        --cases qwen3_0_6b_shape >"$out/golden-0.6b.json" 2>>"$log"
      echo "   golden 0.6b exit $?" >>"$log"
      ;;
    latency)
      record latency-2k "$hearth" bench latency --model random:qwen3-8b --device cuda --prompt-len 2048 --gen-len 128
      record latency-8k "$hearth" bench latency --model random:qwen3-8b --device cuda --prompt-len 8192 --gen-len 32
      # q|k|v as one GEMM at prefill sizes against a GEMM per weight (HEARTH_CUDA_FUSE_QKV=0).
      record latency-2k-fuseqkv0 env HEARTH_CUDA_FUSE_QKV=0 "$hearth" bench latency --model random:qwen3-8b \
        --device cuda --prompt-len 2048 --gen-len 32
      record latency-2k-hf python3 "$root/bench/hf_latency.py" --preset qwen3-8b --prompt-len 2048 --gen-len 64
      record latency-8k-hf python3 "$root/bench/hf_latency.py" --preset qwen3-8b --prompt-len 8192 --gen-len 8
      ;;
    throughput)
      m8=(--model random:qwen3-8b)
      record tp-64x512x256 "$hearth" "${tp[@]}" "${m8[@]}" --requests 64 --input-len 512 --output-len 256 \
        --max-model-len 4096
      record tp-64x512x256-fuseqkv0 env HEARTH_CUDA_FUSE_QKV=0 "$hearth" "${tp[@]}" "${m8[@]}" --requests 64 \
        --input-len 512 --output-len 256 --max-model-len 4096
      record tp-64x512x256-fp8kv "$hearth" "${tp[@]}" "${m8[@]}" --requests 64 --input-len 512 \
        --output-len 256 --max-model-len 4096 --kv-cache-dtype fp8
      # 16 requests: decode steps of m = 16, the small-M GEMM's range (HEARTH_CUDA_MMA=8: the
      # routing before session 3, cuBLASLt at m = 16).
      record tp-16x512x256 "$hearth" "${tp[@]}" "${m8[@]}" --requests 16 --input-len 512 --output-len 256 \
        --max-model-len 4096
      record tp-16x512x256-mma8 env HEARTH_CUDA_MMA=8 "$hearth" "${tp[@]}" "${m8[@]}" --requests 16 \
        --input-len 512 --output-len 256 --max-model-len 4096
      record tp-256x1000x1000 "$hearth" "${tp[@]}" "${m8[@]}" --requests 256 --input-len 1000 \
        --output-len 1000 --max-model-len 4096 --max-num-seqs 256
      record tp-256x1000x1000-fp8kv "$hearth" "${tp[@]}" "${m8[@]}" --requests 256 --input-len 1000 \
        --output-len 1000 --max-model-len 4096 --max-num-seqs 256 --kv-cache-dtype fp8
      # Shared prefix: one request at a time, so TTFT is the prefill alone; the first
      # request is cold, the rest hit the cached 2,048-token prefix.
      record tp-shared-prefix "$hearth" "${tp[@]}" "${m8[@]}" --requests 16 --concurrency 1 \
        --input-len 2112 --shared-prefix-len 2048 --output-len 8 --max-model-len 4096
      record tp-shared-prefix-nocache "$hearth" "${tp[@]}" "${m8[@]}" --requests 16 --concurrency 1 \
        --input-len 2112 --shared-prefix-len 2048 --output-len 8 --max-model-len 4096 --no-prefix-caching
      # Laptop emulation: a 14 GiB budget, qwen3-4b, 64 sequences of 8k context.
      record tp-laptop-4b-14gib "$hearth" "${tp[@]}" --model random:qwen3-4b --gpu-memory-budget 14GiB \
        --requests 64 --input-len 7936 --output-len 256 --max-model-len 8192
      record tp-64x512x256-constrained "$hearth" "${tp[@]}" "${m8[@]}" --requests 64 --input-len 512 \
        --output-len 256 --max-model-len 4096 --json-schema "$root/bench/schemas/job_posting.json" \
        --tokenizer "$bundle/tok"
      record tp-64x512x256-unconstrained "$hearth" "${tp[@]}" "${m8[@]}" --requests 64 --input-len 512 \
        --output-len 256 --max-model-len 4096
      ;;
    throughput64)
      for kv in auto fp8; do
        record "tp-64x512x256-${kv}kv" "$hearth" "${tp[@]}" --model random:qwen3-8b --requests 64 --input-len 512 \
          --output-len 256 --max-model-len 4096 --kv-cache-dtype "$kv"
      done
      ;;
    peers)
      record tp-64x512x256-hf python3 "$root/bench/hf_throughput.py" --preset qwen3-8b --requests 64 \
        --input-len 512 --output-len 256 --max-seconds 120
      record tp-256x1000x1000-hf python3 "$root/bench/hf_throughput.py" --preset qwen3-8b --requests 256 \
        --input-len 1000 --output-len 1000 --max-seconds 90
      ;;
    tokenizer)
      tok=$bundle/tok
      samples=(--text-file "$root/tests/golden/tokenizer/bench/prose.txt" --text-file "$root/tests/golden/tokenizer/bench/code.txt")
      record tokenizer "$hearth" bench tokenizer --model "$tok" "${samples[@]}"
      record tokenizer-hf python3 "$root/bench/hf_tokenizer.py" --model "$tok" "${samples[@]}"
      ;;
    serve)
      port=18431
      "$hearth" serve --model random:qwen3-8b --device cuda --tokenizer "$bundle/tok" --port "$port" \
        --max-model-len 4096 >>"$log" 2>&1 &
      spid=$!
      record serve-64x512x256 "$hearth" bench serve --url "http://127.0.0.1:$port" --requests 64 --rate inf \
        --input-len 512 --output-len 256 --wait-ready 240
      kill -TERM "$spid"
      wait "$spid"
      echo "   serve exit $?" >>"$log"
      record serve-ref-throughput "$hearth" "${tp[@]}" --model random:qwen3-8b --requests 64 --input-len 512 \
        --output-len 256 --max-model-len 4096
      ;;
    *) echo "measure_gpu: unknown part '$part'" >>"$log" ;;
  esac
done
echo "done ($(date -u +%T))" >>"$log"
