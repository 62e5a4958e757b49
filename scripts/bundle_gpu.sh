#!/usr/bin/env bash
# Stages what runs on the GPU test machine into stage/gpu (git-ignored): the GPU test and
# benchmark binaries, the shared libraries they need that the machine lacks, and
# run_gpu.sh, the runner to call there.
#
#   scripts/bundle_gpu.sh [BUILD_DIR [STAGE_DIR]]
#     BUILD_DIR default: build-cuda (configure with -DHEARTH_CUDA=ON); STAGE_DIR default:
#     stage/gpu. Also packs STAGE_DIR.tgz: the binaries carry CUDA code for two
#     architectures (~12 MB each) and compress to a quarter, so carry the .tgz (stage/ as a
#     whole, or the folder, can pass the device tool's 64 MiB) and unpack it there.
#
# Libraries: the binaries are built on Debian 12 (glibc 2.36) and run on Ubuntu 24.04
# (glibc 2.39, newer libstdc++, CUDA 13 with cuBLAS and the driver). The C runtime,
# libstdc++/libgcc and cuBLAS(Lt) come from the machine; Debian-only libraries (libfmt,
# ...) and the CUDA runtime we built against (small; keeps runtime >= build version)
# travel in lib/.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build-cuda}
stage=${2:-$root/stage/gpu}
binaries=(test_gpu_parity test_gpu_prefill)
# Every other GPU test and benchmark the build has (test_gpu_*, bench_*), and the CLI.
optional=(hearth)
for f in "$build"/bin/test_gpu_* "$build"/bin/bench_*; do
  [[ -x $f ]] || continue
  case " ${binaries[*]} " in *" $(basename "$f") "*) continue ;; esac
  optional+=("$(basename "$f")")
done

[[ -d $build/bin ]] || { echo "bundle_gpu: no $build/bin (build the CUDA targets first)" >&2; exit 1; }
rm -rf "$stage"
mkdir -p "$stage/bin" "$stage/lib"

staged=()
for b in "${binaries[@]}"; do
  [[ -x $build/bin/$b ]] || { echo "bundle_gpu: missing $build/bin/$b" >&2; exit 1; }
  staged+=("$b")
done
for b in "${optional[@]}"; do
  [[ -x $build/bin/$b ]] && staged+=("$b")
done
for b in "${staged[@]}"; do
  cp "$build/bin/$b" "$stage/bin/"
  strip --strip-debug "$stage/bin/$b" 2>/dev/null || true
done

for b in "${staged[@]}"; do
  ldd "$stage/bin/$b" | awk '/=> \// { print $3 }'
done | sort -u | while read -r lib; do
  case $(basename "$lib") in
    libc.so* | libm.so* | libdl.so* | libpthread.so* | librt.so* | ld-linux* | libstdc++* | \
      libgcc_s* | libcuda.so* | libcublas*) ;;
    *) cp -L "$lib" "$stage/lib/" ;;
  esac
done

cp "$root/scripts/run_gpu.sh" "$stage/run_gpu.sh"
chmod +x "$stage/run_gpu.sh"
tar czf "$stage.tgz" -C "$(dirname "$stage")" "$(basename "$stage")"
echo "bundle_gpu: staged ${staged[*]} into $stage ($(du -sh "$stage" | cut -f1); packed $(du -sh "$stage.tgz" | cut -f1)):"
ls "$stage/lib"
