#include "hearth/backend/cuda/gemm.h"

#include <cstdint>

#include "hearth/backend/cuda/cuda_check.h"
#include "hearth/core/error.h"

namespace hearth::cuda {

namespace {

// cuBLASLt recommends 32 MiB of workspace on Hopper (and it is plenty on Ada).
constexpr size_t kWorkspaceBytes = 32ull << 20;

uint32_t alignment_of(const void* p) {
  const auto v = reinterpret_cast<uintptr_t>(p);
  uint32_t a = 256;
  while (a > 1 && (v % a) != 0) a >>= 1;
  return a;
}

}  // namespace

Gemm::Gemm(DeviceMemory& memory, cudaStream_t stream) : memory_(memory), stream_(stream) {
  HEARTH_CUBLAS_CHECK(cublasLtCreate(&handle_));
  workspace_ = memory_.allocate(kWorkspaceBytes, "the cuBLASLt workspace");
  workspace_bytes_ = kWorkspaceBytes;
}

Gemm::~Gemm() {
  for (auto& [key, plan] : plans_) {
    cublasLtMatrixLayoutDestroy(plan.a);
    cublasLtMatrixLayoutDestroy(plan.b);
    cublasLtMatrixLayoutDestroy(plan.c);
    cublasLtMatmulDescDestroy(plan.op);
  }
  if (handle_ != nullptr) cublasLtDestroy(handle_);
  // workspace_ is returned with the DeviceMemory that owns it.
}

// Row-major out[m, n] = x[m, k] w[n, k]^T is column-major out^T[n, m] = w^T' x^T' where the
// column-major views of the buffers are A = w as [k, n] (ld k) with op T, B = x as [k, m]
// (ld k) with op N, and C = out as [n, m] (ld n).
Gemm::Plan& Gemm::plan_for(const Key& key) {
  if (auto it = plans_.find(key); it != plans_.end()) return it->second;
  const auto [m, n, k, align_x, align_w, align_out, out_f32] = key;
  Plan plan;
  HEARTH_CUBLAS_CHECK(cublasLtMatmulDescCreate(&plan.op, CUBLAS_COMPUTE_32F, CUDA_R_32F));
  const cublasOperation_t trans_a = CUBLAS_OP_T, trans_b = CUBLAS_OP_N;
  HEARTH_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(plan.op, CUBLASLT_MATMUL_DESC_TRANSA,
                                                     &trans_a, sizeof(trans_a)));
  HEARTH_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(plan.op, CUBLASLT_MATMUL_DESC_TRANSB,
                                                     &trans_b, sizeof(trans_b)));
  HEARTH_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&plan.a, CUDA_R_16BF, k, n, k));
  HEARTH_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&plan.b, CUDA_R_16BF, k, m, k));
  HEARTH_CUBLAS_CHECK(
      cublasLtMatrixLayoutCreate(&plan.c, out_f32 ? CUDA_R_32F : CUDA_R_16BF, n, m, n));

  cublasLtMatmulPreference_t pref = nullptr;
  HEARTH_CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&pref));
  auto set_pref = [&](cublasLtMatmulPreferenceAttributes_t attr, const void* v, size_t size) {
    const cublasStatus_t st = cublasLtMatmulPreferenceSetAttribute(pref, attr, v, size);
    if (st != CUBLAS_STATUS_SUCCESS) {
      cublasLtMatmulPreferenceDestroy(pref);
      HEARTH_CUBLAS_CHECK(st);
    }
  };
  const uint64_t ws = workspace_bytes_;
  set_pref(CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof(ws));
  set_pref(CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &align_w, sizeof(align_w));
  set_pref(CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &align_x, sizeof(align_x));
  set_pref(CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &align_out, sizeof(align_out));
  set_pref(CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &align_out, sizeof(align_out));
  // Split-K must add its partial sums in fp32. Left to itself the heuristic picked, for
  // K = 1004, a scheme that rounds each partial to the bf16 output type (seen on the H200:
  // errors of 1% of the output scale); INPLACE also accumulates in the output type.
  const uint32_t reduction_mask = CUBLASLT_REDUCTION_SCHEME_COMPUTE_TYPE;
  set_pref(CUBLASLT_MATMUL_PREF_REDUCTION_SCHEME_MASK, &reduction_mask, sizeof(reduction_mask));
  cublasLtMatmulHeuristicResult_t result{};
  int found = 0;
  const cublasStatus_t st = cublasLtMatmulAlgoGetHeuristic(handle_, plan.op, plan.a, plan.b,
                                                           plan.c, plan.c, pref, 1, &result, &found);
  cublasLtMatmulPreferenceDestroy(pref);
  if (st != CUBLAS_STATUS_SUCCESS || found == 0) {
    cublasLtMatrixLayoutDestroy(plan.a);
    cublasLtMatrixLayoutDestroy(plan.b);
    cublasLtMatrixLayoutDestroy(plan.c);
    cublasLtMatmulDescDestroy(plan.op);
    HEARTH_CUBLAS_CHECK(st);
    fail("cuBLASLt has no bf16 GEMM algorithm for [{}, {}] x [{}, {}]^T (alignments {}/{}/{})", m,
         k, n, k, align_x, align_w, align_out);
  }
  plan.algo = result.algo;
  uint32_t scheme = CUBLASLT_REDUCTION_SCHEME_NONE;
  size_t written = 0;
  HEARTH_CUBLAS_CHECK(cublasLtMatmulAlgoConfigGetAttribute(
      &plan.algo, CUBLASLT_ALGO_CONFIG_REDUCTION_SCHEME, &scheme, sizeof(scheme), &written));
  HEARTH_CHECK(scheme == CUBLASLT_REDUCTION_SCHEME_NONE ||
                   scheme == CUBLASLT_REDUCTION_SCHEME_COMPUTE_TYPE,
               "cuBLASLt chose reduction scheme {} for [{}, {}] x [{}, {}]^T; only fp32 "
               "reductions keep the bf16 GEMM accurate", scheme, m, k, n, k);
  return plans_.emplace(key, plan).first->second;
}

void Gemm::bf16_xwt(const void* x, const void* w, void* out, int64_t m, int64_t n, int64_t k,
                    bool out_f32) {
  if (m == 0 || n == 0) return;
  const Plan& plan =
      plan_for(Key{m, n, k, alignment_of(x), alignment_of(w), alignment_of(out), out_f32});
  const float alpha = 1.0f, beta = 0.0f;
  HEARTH_CUBLAS_CHECK(cublasLtMatmul(handle_, plan.op, &alpha, w, plan.a, x, plan.b, &beta, out,
                                     plan.c, out, plan.c, &plan.algo, workspace_,
                                     workspace_bytes_, stream_));
}

}  // namespace hearth::cuda
