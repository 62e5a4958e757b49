#!/usr/bin/env bash
# Runs the staged GPU binaries on the GPU machine (copied into stage/gpu by
# scripts/bundle_gpu.sh). Logs go to $OUT (the device tool's output folder) or ./out.
#
#   stage/gpu/run_gpu.sh parity               the parity tests (gtest)
#   stage/gpu/run_gpu.sh prefill              the prefill attention tests (test_gpu_prefill)
#   stage/gpu/run_gpu.sh memcheck [FILTER]    the parity tests under compute-sanitizer memcheck
#   stage/gpu/run_gpu.sh racecheck [FILTER]   shared-memory race check of the attention kernels
#   stage/gpu/run_gpu.sh latency [MODEL]      hearth bench latency --device cuda (default model
#                                             random:qwen3-8b) per variant of LATENCY_VARIANTS
#                                             (default "default no-fuse"; also gemv-per-group,
#                                             gemv-1cta, no-pdl, no-graphs);
#                                             JSON in latency.json
#   stage/gpu/run_gpu.sh bench [ARGS...]      the kernel benchmark, if staged (last mode)
# SANITIZER_TIMEOUT / BENCH_TIMEOUT / LATENCY_TIMEOUT (seconds, default 150) cap the slow modes.
# Several modes run in order: run_gpu.sh parity memcheck
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
out=${OUT:-$here/out}
mkdir -p "$out"
export LD_LIBRARY_PATH=$here/lib:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}
sanitizer=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
# Attention and norms at small sizes; the long-context test is left to the plain run
# (memcheck slows kernels 10-100x and the CPU reference dominates there anyway).
default_filter='GpuParity.*:GpuErrors.*:GpuAttention.Gqa4*:GpuAttention.Mha*:GpuAttention.Generic*:GpuAttention.Group8*'
status=0

nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv \
  >"$out/device.txt" 2>&1 || true

while [[ $# -gt 0 ]]; do
  mode=$1
  shift
  case $mode in
    parity)
      "$here/bin/test_gpu_parity" 2>&1 | tee "$out/parity.log"
      rc=${PIPESTATUS[0]}
      ;;
    prefill)
      "$here/bin/test_gpu_prefill" 2>&1 | tee "$out/prefill.log"
      rc=${PIPESTATUS[0]}
      ;;
    memcheck | racecheck)
      filter=$default_filter
      [[ $mode == racecheck ]] && filter='GpuAttention.Mha*:GpuAttention.Group8*'
      if [[ $# -gt 0 && $1 != parity && $1 != prefill && $1 != memcheck && $1 != racecheck &&
            $1 != bench && $1 != latency ]]; then
        filter=$1
        shift
      fi
      # A time cap keeps the device call inside its limit (the sanitizers are slow).
      timeout "${SANITIZER_TIMEOUT:-150}" "$sanitizer" --tool "$mode" --error-exitcode 3 \
        "$here/bin/test_gpu_parity" \
        --gtest_brief=1 --gtest_filter="$filter" >"$out/$mode.log" 2>&1
      rc=$?
      tail -n 25 "$out/$mode.log"
      ;;
    latency)
      model=random:qwen3-8b
      if [[ $# -gt 0 && $1 != parity && $1 != prefill && $1 != memcheck && $1 != racecheck &&
            $1 != bench ]]; then
        model=$1
        shift
      fi
      rc=0
      for variant in ${LATENCY_VARIANTS:-default no-fuse}; do
        env_prefix=()
        extra=()
        [[ $variant == no-pdl ]] && env_prefix=(env HEARTH_CUDA_PDL=0)
        [[ $variant == no-fuse ]] && env_prefix=(env HEARTH_CUDA_FUSE=0)
        [[ $variant == gemv-per-group ]] && env_prefix=(env HEARTH_CUDA_GEMV_CTAS_PER_SM=0)
        [[ $variant == gemv-1cta ]] && env_prefix=(env HEARTH_CUDA_GEMV_CTAS_PER_SM=1)
        [[ $variant == no-graphs ]] && extra=(--no-graphs)
        echo "latency ($variant):" | tee -a "$out/latency.json"
        timeout "${LATENCY_TIMEOUT:-150}" "${env_prefix[@]}" "$here/bin/hearth" bench latency \
          --model "$model" --device cuda --prompt-len 512 --gen-len 128 --repeats 3 "${extra[@]}" \
          2>&1 | tee -a "$out/latency.json"
        r=${PIPESTATUS[0]}
        [[ $r -ne 0 ]] && rc=$r
      done
      ;;
    bench)
      timeout "${BENCH_TIMEOUT:-150}" "$here/bin/bench_gpu_kernels" "$@" 2>&1 | tee "$out/bench.log"
      rc=${PIPESTATUS[0]}
      set --
      ;;
    *)
      echo "run_gpu: unknown mode '$mode'" >&2
      rc=2
      ;;
  esac
  echo "run_gpu: $mode exit $rc"
  [[ $rc -ne 0 ]] && status=$rc
done
exit $status
