#!/usr/bin/env bash
# Runs the staged GPU binaries on the GPU machine (copied into stage/gpu by
# scripts/bundle_gpu.sh). Logs go to $OUT (the device tool's output folder) or ./out.
#
#   stage/gpu/run_gpu.sh parity               the parity tests (gtest)
#   stage/gpu/run_gpu.sh memcheck [FILTER]    the parity tests under compute-sanitizer memcheck
#   stage/gpu/run_gpu.sh racecheck [FILTER]   shared-memory race check of the attention kernels
#   stage/gpu/run_gpu.sh bench [ARGS...]      the kernel benchmark, if staged (last mode)
# SANITIZER_TIMEOUT / BENCH_TIMEOUT (seconds, default 150) cap the slow modes.
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
    memcheck | racecheck)
      filter=$default_filter
      [[ $mode == racecheck ]] && filter='GpuAttention.Mha*:GpuAttention.Group8*'
      if [[ $# -gt 0 && $1 != parity && $1 != memcheck && $1 != racecheck && $1 != bench ]]; then
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
