// Dense GEMMs through cuBLASLt: out = x @ w^T with x [m, k], w [n, k] (HF's [out, in]
// layout), out [m, n], all row-major bf16 (out may be fp32), fp32 accumulation. Plans (descriptors and the
// heuristic's algorithm) are cached per shape and pointer alignment.
#pragma once

#include <cublasLt.h>
#include <cuda_runtime_api.h>

#include <cstdint>
#include <map>
#include <tuple>

#include "hearth/backend/cuda/device_memory.h"

namespace hearth::cuda {

class Gemm {
 public:
  Gemm(DeviceMemory& memory, cudaStream_t stream);
  ~Gemm();
  Gemm(const Gemm&) = delete;
  Gemm& operator=(const Gemm&) = delete;

  // out_f32: out is fp32 (logits) instead of bf16.
  void bf16_xwt(const void* x, const void* w, void* out, int64_t m, int64_t n, int64_t k,
                bool out_f32 = false);

  // Shapes with m <= tune_max_rows (batched decode steps; 0: none, the default) pick their
  // algorithm by timing the heuristic's candidates once per shape (L2 flushed between
  // runs), not by the heuristic's first choice. Off by default: on the H200 the 64 x
  // 512/256 throughput bench measured 8.47 ms per decode step tuned against 8.26 ms with
  // the heuristic (NOTES.md). HEARTH_CUDA_GEMM_TUNE=N tunes m <= N.
  void set_tune_max_rows(int64_t rows) { tune_max_rows_ = rows; }

 private:
  struct Plan {
    cublasLtMatmulDesc_t op = nullptr;
    cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr;
    cublasLtMatmulAlgo_t algo{};
  };
  // (m, n, k, alignment of x, w, out, fp32 out)
  using Key = std::tuple<int64_t, int64_t, int64_t, uint32_t, uint32_t, uint32_t, bool>;
  Plan& plan_for(const Key& key, const void* x, const void* w, void* out);
  // HEARTH_CUDA_GEMM_PICK="m,n,k,i[;...]" (a measurement knob): the shape [m, k] x [n, k]^T
  // takes the heuristic's i-th candidate with fp32 reductions (0: its first choice, the
  // default); returns i for this shape, or -1. A malformed value is an error.
  // On the H200 no candidate beat the first at m = 64 in the decode graph (NOTES.md).
  static int picked_candidate(int64_t m, int64_t n, int64_t k);
  // The fastest of `algos` on these buffers (median of 3 timed runs each).
  int time_candidates(const Plan& plan, const cublasLtMatmulAlgo_t* algos, int count,
                      const void* x, const void* w, void* out);

  DeviceMemory& memory_;
  cudaStream_t stream_;
  cublasLtHandle_t handle_ = nullptr;
  void* workspace_ = nullptr;
  size_t workspace_bytes_ = 0;
  std::map<Key, Plan> plans_;
  int64_t tune_max_rows_ = 0;
  void* flush_ = nullptr;  // while tuning: written between timed runs to evict L2
  size_t flush_bytes_ = 0;
};

}  // namespace hearth::cuda
