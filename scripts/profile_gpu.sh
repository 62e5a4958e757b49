#!/usr/bin/env bash
# One device call that profiles the serving engine's steps with Nsight Systems, so the
# kernel-level cost of a batched decode step is known before optimizing it.
#
#   (here)  scripts/bundle_gpu.sh build-cuda stage/prof && tar czf stage/prof.tgz -C stage prof
#   (there) tar xzf stage/prof.tgz -C /tmp && scripts/profile_gpu.sh /tmp/prof
#
# Outputs under $OUT: bench JSON lines, nsys summary tables (kernels, inside graphs too).
set -uo pipefail
bundle=$(cd "${1:?bundle dir}" && pwd)
out=${OUT:-./out}
mkdir -p "$out"
export LD_LIBRARY_PATH=$bundle/lib:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}
hearth=$bundle/bin/hearth
log=$out/profile.log
{ nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv; which nsys ncu; nsys --version; } >"$log" 2>&1

tp=(bench throughput --model random:qwen3-8b --device cuda --max-model-len 4096 --kv-cache-memory 24GiB)
# Plain figures first (no profiler): batch 64, and batch 16 / 1 decode-heavy shapes.
"$hearth" "${tp[@]}" --requests 64 --input-len 512 --output-len 256 >"$out/tp64.json" 2>>"$log"
"$hearth" "${tp[@]}" --requests 16 --input-len 512 --output-len 256 >"$out/tp16.json" 2>>"$log"
# Kernel summary of the batch-64 run, graph nodes traced one by one.
nsys profile -t cuda --cuda-graph-trace=node -o /tmp/tp64 -f true "$hearth" "${tp[@]}" \
  --requests 64 --input-len 512 --output-len 128 >>"$log" 2>&1
nsys stats -r cuda_gpu_kern_sum,cuda_api_sum -f csv -o /tmp/tp64 /tmp/tp64.nsys-rep >>"$log" 2>&1
cp /tmp/tp64_cuda_gpu_kern_sum.csv /tmp/tp64_cuda_api_sum.csv "$out/" 2>>"$log"
# Per-kernel trace (name, start, duration) for step-level analysis, compressed.
nsys stats -r cuda_gpu_trace -f csv -o /tmp/tp64 /tmp/tp64.nsys-rep >>"$log" 2>&1
gzip -c /tmp/tp64_cuda_gpu_trace.csv >"$out/tp64_trace.csv.gz" 2>>"$log"
ls -la "$out" >>"$log"
