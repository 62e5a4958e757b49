// Error checking for CUDA runtime and cuBLASLt calls. Every call's status is checked;
// a failure throws hearth::Error naming the call site, so a CUDA problem surfaces as a
// clear message instead of silently wrong output. Host (.cpp) code only.
#pragma once

#include <cublasLt.h>
#include <cuda_runtime_api.h>

namespace hearth::cuda {

[[noreturn]] void throw_cuda_error(cudaError_t err, const char* expr, const char* file, int line);
[[noreturn]] void throw_cublas_error(cublasStatus_t status, const char* expr, const char* file,
                                     int line);

}  // namespace hearth::cuda

#define HEARTH_CUDA_CHECK(expr)                                                      \
  do {                                                                               \
    const cudaError_t hearth_cuda_err_ = (expr);                                     \
    if (hearth_cuda_err_ != cudaSuccess)                                             \
      ::hearth::cuda::throw_cuda_error(hearth_cuda_err_, #expr, __FILE__, __LINE__); \
  } while (0)

#define HEARTH_CUBLAS_CHECK(expr)                                                          \
  do {                                                                                     \
    const cublasStatus_t hearth_cublas_status_ = (expr);                                   \
    if (hearth_cublas_status_ != CUBLAS_STATUS_SUCCESS)                                    \
      ::hearth::cuda::throw_cublas_error(hearth_cublas_status_, #expr, __FILE__, __LINE__); \
  } while (0)
