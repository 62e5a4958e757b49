#!/usr/bin/env bash
# One device call: where a batch-64 decode step of the serving engine goes (ncu; nsys does
# not run on the device machine).
#
#   (here)  stage bin/hearth, bin/bench_attention_batch, lib/ (as scripts/bundle_gpu.sh does)
#           and this script + decode_step_breakdown.py in one folder, e.g. stage/h6
#   (there) tar xzf stage/h6.tgz -C /tmp && /tmp/h6/profile_decode_step.sh /tmp/h6
#
# 1. Plain timings of `hearth bench throughput` 64 x 512 at output 256 and 32 (bf16, fp8 KV;
#    bf16 eager too): the difference of the elapsed times over the difference of the steps
#    is the decode step's wall time, free of the prefill that TPOT p50 partly contains.
# 2. ncu over the same command at output 32, graph nodes profiled one by one, a window of
#    launches well inside the graph replays (prefill and the first eager decode step are
#    ~2k launches; a decode step at batch 64 is 509: 14 per layer with cuBLASLt), clocks
#    and caches left alone (real clocks, L2 as the previous kernel left it);
#    scripts/decode_step_breakdown.py turns it into per-step and per-layer rows.
# 3. bench_attention_batch at the window's shape for the in-engine vs bench comparison.
set -uo pipefail
b=$(cd "${1:?bundle dir}" && pwd)
out=${OUT:-./out}
mkdir -p "$out"
export LD_LIBRARY_PATH=$b/lib:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}
export PATH=$PATH:/usr/local/cuda/bin
H=$b/bin/hearth
log=$out/log.txt
ncu_bin=$(command -v ncu || ls /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | head -1)
{ date -u; nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv; echo "ncu: $ncu_bin"; } >"$log" 2>&1
tp=(bench throughput --model random:qwen3-8b --device cuda --requests 64 --input-len 512 --max-model-len 4096)

plain() {  # label, extra args...
  local label=$1; shift
  local t0=$SECONDS
  echo "{\"run\": \"$label\", \"result\": $(timeout 60 "$H" "${tp[@]}" "$@" 2>>"$log" | tail -1)}" >>"$out/plain.jsonl"
  echo "plain $label: $((SECONDS - t0)) s" >>"$log"
}
plain bf16_out256 --output-len 256
plain bf16_out32 --output-len 32
plain fp8_out256 --output-len 256 --kv-cache-dtype fp8
plain fp8_out32 --output-len 32 --kv-cache-dtype fp8
plain bf16_out256_eager --output-len 256 --enforce-eager

prof() {  # label, extra args...
  local label=$1; shift
  local t0=$SECONDS
  timeout "${NCU_TIMEOUT:-95}" "$ncu_bin" --graph-profiling node --cache-control none --clock-control none \
    --launch-skip "${NCU_SKIP:-3000}" --launch-count "${NCU_COUNT:-1600}" \
    --metrics gpu__time_duration.sum,dram__bytes_read.sum,dram__bytes_write.sum \
    --csv --print-units base --print-kernel-base function --log-file "/tmp/ncu_$label.csv" \
    "$H" "${tp[@]}" --output-len 32 "$@" >>"$log" 2>&1
  echo "ncu $label: rc $? $((SECONDS - t0)) s" >>"$log"
  gzip -c "/tmp/ncu_$label.csv" >"$out/ncu_$label.csv.gz"
  python3 "$b/decode_step_breakdown.py" "/tmp/ncu_$label.csv" --title "$label: 64 x 512, decode steps" \
    --json "/tmp/bd_$label.json" >>"$out/breakdown.md" 2>&1
  echo >>"$out/breakdown.md"
}
prof bf16
prof fp8 --kv-cache-dtype fp8
python3 - "$out/breakdown.json" /tmp/bd_bf16.json /tmp/bd_fp8.json <<'EOF' 2>>"$log"
import json, os, sys
json.dump({os.path.basename(p): json.load(open(p)) for p in sys.argv[2:] if os.path.exists(p)},
          open(sys.argv[1], "w"), indent=1)
EOF

t0=$SECONDS
timeout 60 "$b/bin/bench_attention_batch" --batches 64 --contexts 512,640 >"$out/attention_bench.json" 2>>"$log"
echo "attention bench: rc $? $((SECONDS - t0)) s" >>"$log"
date -u >>"$log"
