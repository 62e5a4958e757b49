// The CPU reference kernels behind CpuBackend, on plain fp32 pointers. CpuBackend checks
// shapes and dtypes; these functions assume them. Every output element is computed by one
// thread in a fixed order, so results do not depend on the thread count.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "hearth/backend/backend.h"
#include "hearth/core/thread_pool.h"

namespace hearth::cpu {

// A dense F32/F16/BF16 weight read as fp32.
void load_row_f32(const TensorView& w, int64_t row, int64_t cols, float* dst);
std::vector<float> load_vector_f32(const Weight& w);

// sum(a[i] * b[i]) in fp32 with 8 partial sums (vectorizable, and closer to the exact
// value than one running sum).
inline float dot_f32(const float* a, const float* b, int64_t n) {
  float acc[8] = {};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int l = 0; l < 8; ++l) acc[l] += a[i + l] * b[i + l];
  float tail = 0.0f;
  for (; i < n; ++i) tail += a[i] * b[i];
  return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7])) + tail;
}

// out[t] = table[ids[t]]; throws hearth::Error naming an out-of-range id.
void embedding(ThreadPool& pool, const Weight& table, std::span<const int32_t> ids, float* out);
void swiglu(ThreadPool& pool, const float* gate, const float* up, int64_t n, float* out);

// HF Qwen3RMSNorm per row: (x * rsqrt(mean(x^2) + eps)) * w. out may alias x.
void rms_norm(ThreadPool& pool, const float* x, const Weight& w, float eps, int64_t rows,
              int64_t cols, float* out);
// residual += x; out = rms_norm(residual). out may alias x.
void add_rms_norm(ThreadPool& pool, float* residual, const float* x, const Weight& w, float eps,
                  int64_t rows, int64_t cols, float* out);

// out[t, o] = sum_i x[t, i] * w[o, i]   (x: [tokens, in], w: [out, in] dense F32/F16/BF16)
void linear(ThreadPool& pool, const float* x, int64_t tokens, const Weight& w, float* out);

// In place on q [tokens, heads, head_dim] and k [tokens, kv_heads, head_dim]: per-head
// RMSNorm, then NeoX (rotate_half) RoPE at positions[t].
void qk_norm_rope(ThreadPool& pool, float* q, int heads, float* k, int kv_heads, int head_dim,
                  const Weight& q_norm, const Weight& k_norm, float eps, const RopeTable& rope,
                  std::span<const int32_t> positions);

// One layer of the paged fp32 KV cache: [num_blocks, block_size, kv_heads, head_dim] each.
struct PagedKvLayer {
  float* k = nullptr;
  float* v = nullptr;
  int num_blocks = 0;
  int block_size = 0;
  int kv_heads = 0;
  int head_dim = 0;
  // fp8 KV cache (KvCacheSpec::fp8): values are stored rounded through e4m3 with these
  // per-tensor scales (kv_fp8.h), the values the CUDA fp8 cache holds.
  bool fp8 = false;
  float k_scale = 1.0f;
  float v_scale = 1.0f;
};

// Writes k/v ([tokens, kv_heads, head_dim]) to their slots (negative slot: padding, not
// written), then causal GQA attention of q ([tokens, heads, head_dim]) over each
// sequence's cached context. out: [tokens, heads * head_dim]. Checks the batch's slots and
// block tables against the cache.
void attention(ThreadPool& pool, const PagedKvLayer& cache, const float* q, const float* k,
               const float* v, int heads, float scale, const StepBatch& batch, float* out);

}  // namespace hearth::cpu
