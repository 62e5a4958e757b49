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

 private:
  struct Plan {
    cublasLtMatmulDesc_t op = nullptr;
    cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr;
    cublasLtMatmulAlgo_t algo{};
  };
  // (m, n, k, alignment of x, w, out, fp32 out)
  using Key = std::tuple<int64_t, int64_t, int64_t, uint32_t, uint32_t, uint32_t, bool>;
  Plan& plan_for(const Key& key);

  DeviceMemory& memory_;
  cudaStream_t stream_;
  cublasLtHandle_t handle_ = nullptr;
  void* workspace_ = nullptr;
  size_t workspace_bytes_ = 0;
  std::map<Key, Plan> plans_;
};

}  // namespace hearth::cuda
