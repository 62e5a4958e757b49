#include "hearth/backend/cuda/gemm.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

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
Gemm::Plan& Gemm::plan_for(const Key& key, const void* x, const void* w, void* out) {
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
  constexpr int kCandidates = 12;
  cublasLtMatmulHeuristicResult_t results[kCandidates]{};
  int found = 0;
  const bool tune = m <= tune_max_rows_;
  const int pick = picked_candidate(m, n, k);
  const cublasStatus_t st = cublasLtMatmulAlgoGetHeuristic(
      handle_, plan.op, plan.a, plan.b, plan.c, plan.c, pref, tune || pick >= 0 ? kCandidates : 1, results,
      &found);
  cublasLtMatmulPreferenceDestroy(pref);
  const cublasLtMatmulHeuristicResult_t& result = results[0];
  if (st != CUBLAS_STATUS_SUCCESS || found == 0) {
    cublasLtMatrixLayoutDestroy(plan.a);
    cublasLtMatrixLayoutDestroy(plan.b);
    cublasLtMatrixLayoutDestroy(plan.c);
    cublasLtMatmulDescDestroy(plan.op);
    HEARTH_CUBLAS_CHECK(st);
    fail("cuBLASLt has no bf16 GEMM algorithm for [{}, {}] x [{}, {}]^T (alignments {}/{}/{})", m,
         k, n, k, align_x, align_w, align_out);
  }
  // Only algorithms that reduce split-K partials in fp32 (see above); the heuristic's
  // first choice must be one, the others are filtered.
  auto scheme_of = [](const cublasLtMatmulAlgo_t& algo) {
    uint32_t scheme = CUBLASLT_REDUCTION_SCHEME_NONE;
    size_t written = 0;
    HEARTH_CUBLAS_CHECK(cublasLtMatmulAlgoConfigGetAttribute(
        &algo, CUBLASLT_ALGO_CONFIG_REDUCTION_SCHEME, &scheme, sizeof(scheme), &written));
    return scheme;
  };
  auto fp32_reduction = [&](const cublasLtMatmulAlgo_t& algo) {
    const uint32_t scheme = scheme_of(algo);
    return scheme == CUBLASLT_REDUCTION_SCHEME_NONE || scheme == CUBLASLT_REDUCTION_SCHEME_COMPUTE_TYPE;
  };
  plan.algo = result.algo;
  HEARTH_CHECK(fp32_reduction(plan.algo),
               "cuBLASLt chose reduction scheme {} for [{}, {}] x [{}, {}]^T; only fp32 "
               "reductions keep the bf16 GEMM accurate", scheme_of(plan.algo), m, k, n, k);
  if (pick >= 0) {
    // HEARTH_CUDA_GEMM_PICK (measurement knob): the pick-th of the heuristic's candidates
    // that reduce in fp32, for this one shape.
    int usable = 0;
    bool picked = false;
    for (int i = 0; i < found && !picked; ++i)
      if (results[i].state == CUBLAS_STATUS_SUCCESS && results[i].workspaceSize <= workspace_bytes_ &&
          fp32_reduction(results[i].algo) && usable++ == pick) {
        plan.algo = results[i].algo;
        picked = true;
      }
    HEARTH_CHECK(picked, "HEARTH_CUDA_GEMM_PICK: [{}, {}] x [{}, {}]^T has {} usable candidates, not {}", m, k, n,
                 k, usable, pick + 1);
  }
  cudaStreamCaptureStatus capture = cudaStreamCaptureStatusNone;
  HEARTH_CUDA_CHECK(cudaStreamIsCapturing(stream_, &capture));
  if (tune && found > 1 && capture == cudaStreamCaptureStatusNone) {
    // The heuristic ranks by a model; at decode sizes its first choice was up to ~2x off the
    // weight-streaming time on the H200 (NOTES.md). Time the candidates once per shape.
    cublasLtMatmulAlgo_t algos[kCandidates];
    int count = 0;
    for (int i = 0; i < found; ++i)
      if (results[i].state == CUBLAS_STATUS_SUCCESS && results[i].workspaceSize <= workspace_bytes_ &&
          fp32_reduction(results[i].algo))
        algos[count++] = results[i].algo;
    if (count > 1) plan.algo = algos[time_candidates(plan, algos, count, x, w, out)];
  }
  return plans_.emplace(key, plan).first->second;
}

int Gemm::picked_candidate(int64_t m, int64_t n, int64_t k) {
  // "m,n,k,index[;m,n,k,index...]"
  const char* env = std::getenv("HEARTH_CUDA_GEMM_PICK");
  if (env == nullptr) return -1;
  for (const char* p = env; *p != '\0';) {
    long long v[4] = {0, 0, 0, 0};
    int used = 0;
    if (std::sscanf(p, "%lld,%lld,%lld,%lld%n", &v[0], &v[1], &v[2], &v[3], &used) != 4)
      fail("HEARTH_CUDA_GEMM_PICK '{}': expected m,n,k,index entries separated by ';'", env);
    if (v[0] == m && v[1] == n && v[2] == k) return static_cast<int>(v[3]);
    p += used;
    if (*p == ';') ++p;
  }
  return -1;
}

int Gemm::time_candidates(const Plan& plan, const cublasLtMatmulAlgo_t* algos, int count,
                          const void* x, const void* w, void* out) {
  if (flush_ == nullptr) {
    // Twice the L2, so a timed run reads its weights from memory as in a step. Best
    // effort: without the memory, runs are timed warm (still a ranking).
    int dev = 0, l2 = 0;
    HEARTH_CUDA_CHECK(cudaGetDevice(&dev));
    HEARTH_CUDA_CHECK(cudaDeviceGetAttribute(&l2, cudaDevAttrL2CacheSize, dev));
    const size_t want = std::max<size_t>(2 * static_cast<size_t>(l2), 32u << 20);
    try {
      flush_ = memory_.allocate(want, "the GEMM tuning L2 flush buffer");
      flush_bytes_ = want;
    } catch (const Error&) {
      flush_ = nullptr;
    }
  }
  cudaEvent_t ev[2];
  HEARTH_CUDA_CHECK(cudaEventCreate(&ev[0]));
  HEARTH_CUDA_CHECK(cudaEventCreate(&ev[1]));
  const float alpha = 1.0f, beta = 0.0f;
  int best = 0;
  float best_ms = 1e30f;
  for (int i = 0; i < count; ++i) {
    float runs[3];
    bool ok = true;
    for (int r = -1; r < 3 && ok; ++r) {  // r = -1: warm-up (module load, first launch)
      if (flush_ != nullptr) HEARTH_CUDA_CHECK(cudaMemsetAsync(flush_, r & 0xff, flush_bytes_, stream_));
      HEARTH_CUDA_CHECK(cudaEventRecord(ev[0], stream_));
      ok = cublasLtMatmul(handle_, plan.op, &alpha, w, plan.a, x, plan.b, &beta, out, plan.c, out,
                          plan.c, &algos[i], workspace_, workspace_bytes_, stream_) == CUBLAS_STATUS_SUCCESS;
      HEARTH_CUDA_CHECK(cudaEventRecord(ev[1], stream_));
      HEARTH_CUDA_CHECK(cudaEventSynchronize(ev[1]));
      if (r >= 0) HEARTH_CUDA_CHECK(cudaEventElapsedTime(&runs[r], ev[0], ev[1]));
    }
    if (!ok) continue;
    std::sort(runs, runs + 3);
    if (runs[1] < best_ms) {
      best_ms = runs[1];
      best = i;
    }
  }
  cudaEventDestroy(ev[0]);
  cudaEventDestroy(ev[1]);
  // Not kept: tuning happens once per shape, and the budget is better spent on KV blocks.
  if (flush_ != nullptr) memory_.release(flush_);
  flush_ = nullptr;
  return best;
}

void Gemm::bf16_xwt(const void* x, const void* w, void* out, int64_t m, int64_t n, int64_t k,
                    bool out_f32) {
  if (m == 0 || n == 0) return;
  const Plan& plan =
      plan_for(Key{m, n, k, alignment_of(x), alignment_of(w), alignment_of(out), out_f32}, x, w, out);
  const float alpha = 1.0f, beta = 0.0f;
  HEARTH_CUBLAS_CHECK(cublasLtMatmul(handle_, plan.op, &alpha, w, plan.a, x, plan.b, &beta, out,
                                     plan.c, out, plan.c, &plan.algo, workspace_,
                                     workspace_bytes_, stream_));
}

}  // namespace hearth::cuda
