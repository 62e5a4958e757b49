#include "hearth/backend/cuda/cuda_check.h"

#include <string_view>

#include "hearth/core/error.h"

namespace hearth::cuda {

namespace {

// Source paths relative to the repository (".../src/hearth/x.cpp" -> "hearth/x.cpp").
std::string_view short_path(std::string_view file) {
  const size_t at = file.rfind("/src/");
  return at == std::string_view::npos ? file : file.substr(at + 5);
}

}  // namespace

void throw_cuda_error(cudaError_t err, const char* expr, const char* file, int line) {
  fail("CUDA error at {}:{}: {} ({}, in {})", short_path(file), line, cudaGetErrorString(err),
       cudaGetErrorName(err), expr);
}

void throw_cublas_error(cublasStatus_t status, const char* expr, const char* file, int line) {
  fail("cuBLAS error at {}:{}: {} ({}, in {})", short_path(file), line,
       cublasLtGetStatusString(status), cublasLtGetStatusName(status), expr);
}

}  // namespace hearth::cuda
