// RMSNorm (plain and fused with the residual add) and the per-head q/k RMSNorm + NeoX RoPE.
// All arithmetic is fp32; bf16 only at loads and stores.
#include "hearth/backend/cuda/device_utils.cuh"
#include "hearth/backend/cuda/kernels.h"

namespace hearth::cuda {

namespace {

// One block per row. Two passes over the row (the second one hits L1/L2): no limit on
// the row length and no shared-memory staging.
template <bool kVec, bool kAdd>
__global__ void rms_norm_kernel(const bf16* __restrict__ x, bf16* __restrict__ residual,
                                const bf16* __restrict__ w, float eps, int cols,
                                bf16* __restrict__ out) {
  __shared__ float scratch[32];
  pdl_wait();
  pdl_trigger();
  const int64_t base = static_cast<int64_t>(blockIdx.x) * cols;
  const bf16* xr = x + base;
  bf16* rr = kAdd ? residual + base : nullptr;
  bf16* orow = out + base;
  // In the fused form the norm reads the residual after rounding to bf16, so that the
  // stored residual and the normalized output agree exactly (HF adds in bf16 too).
  const bf16* src = kAdd ? rr : xr;

  float ss = 0.0f;
  if constexpr (kVec) {
    for (int i = threadIdx.x; i < cols / 8; i += blockDim.x) {
      float a[8];
      unpack8(reinterpret_cast<const uint4*>(xr)[i], a);
      if constexpr (kAdd) {
        float r[8];
        unpack8(reinterpret_cast<const uint4*>(rr)[i], r);
#pragma unroll
        for (int j = 0; j < 8; ++j) a[j] += r[j];
        const uint4 rounded = pack8(a);
        reinterpret_cast<uint4*>(rr)[i] = rounded;
        unpack8(rounded, a);
      }
#pragma unroll
      for (int j = 0; j < 8; ++j) ss += a[j] * a[j];
    }
  } else {
    for (int i = threadIdx.x; i < cols; i += blockDim.x) {
      float a = __bfloat162float(xr[i]);
      if constexpr (kAdd) {
        const bf16 rounded = __float2bfloat16(a + __bfloat162float(rr[i]));
        rr[i] = rounded;
        a = __bfloat162float(rounded);
      }
      ss += a * a;
    }
  }
  const float inv_rms = rsqrtf(block_sum(ss, scratch) / static_cast<float>(cols) + eps);

  // Each thread re-reads only elements it wrote itself in pass 1: no barrier needed.
  if constexpr (kVec) {
    for (int i = threadIdx.x; i < cols / 8; i += blockDim.x) {
      float a[8], g[8];
      unpack8(reinterpret_cast<const uint4*>(src)[i], a);
      unpack8(reinterpret_cast<const uint4*>(w)[i], g);
#pragma unroll
      for (int j = 0; j < 8; ++j) a[j] = g[j] * (a[j] * inv_rms);
      reinterpret_cast<uint4*>(orow)[i] = pack8(a);
    }
  } else {
    for (int i = threadIdx.x; i < cols; i += blockDim.x)
      orow[i] = __float2bfloat16(__bfloat162float(w[i]) * (__bfloat162float(src[i]) * inv_rms));
  }
}

// One warp per (token, head) row; q rows of a token first, then its k rows. Lane l holds
// the NeoX pairs (i, i + head_dim/2) for i = l, l + 32, ...
constexpr int kRopeChunks = kMaxRopeFrequencies / 32;

__global__ void qk_norm_rope_kernel(bf16* __restrict__ q, bf16* __restrict__ k, int tokens,
                                    int heads, int kv_heads, int head_dim,
                                    const bf16* __restrict__ q_w, const bf16* __restrict__ k_w,
                                    float eps, const RopeArgs rope,
                                    const int32_t* __restrict__ positions) {
  pdl_wait();
  pdl_trigger();
  const int lane = threadIdx.x & 31;
  const int64_t row = static_cast<int64_t>(blockIdx.x) * (blockDim.x >> 5) + (threadIdx.x >> 5);
  const int per_token = heads + kv_heads;
  if (row >= static_cast<int64_t>(tokens) * per_token) return;
  const int t = static_cast<int>(row / per_token);
  const int j = static_cast<int>(row % per_token);
  bf16* x = j < heads ? q + (static_cast<int64_t>(t) * heads + j) * head_dim
                      : k + (static_cast<int64_t>(t) * kv_heads + (j - heads)) * head_dim;
  const bf16* w = j < heads ? q_w : k_w;
  const int half = head_dim / 2;

  float x1[kRopeChunks], x2[kRopeChunks];
  float ss = 0.0f;
#pragma unroll
  for (int c = 0; c < kRopeChunks; ++c) {
    const int i = lane + 32 * c;
    x1[c] = i < half ? __bfloat162float(x[i]) : 0.0f;
    x2[c] = i < half ? __bfloat162float(x[i + half]) : 0.0f;
    ss += x1[c] * x1[c] + x2[c] * x2[c];
  }
  const float inv_rms = rsqrtf(warp_sum(ss) / static_cast<float>(head_dim) + eps);
  // fp32 angle = position * inv_freq, as HF computes it (the CPU reference does the same).
  const float pos = static_cast<float>(positions[t]);
#pragma unroll
  for (int c = 0; c < kRopeChunks; ++c) {
    const int i = lane + 32 * c;
    if (i >= half) break;
    const float n1 = __bfloat162float(w[i]) * (x1[c] * inv_rms);
    const float n2 = __bfloat162float(w[i + half]) * (x2[c] * inv_rms);
    float s, co;
    sincosf(pos * rope.inv_freq[i], &s, &co);
    co *= rope.attention_scaling;
    s *= rope.attention_scaling;
    x[i] = __float2bfloat16(n1 * co - n2 * s);
    x[i + half] = __float2bfloat16(n2 * co + n1 * s);
  }
}

}  // namespace

cudaError_t launch_rms_norm(const void* x, void* residual, const void* w, float eps, int rows,
                            int cols, void* out, cudaStream_t stream) {
  if (rows <= 0 || cols <= 0) return cudaGetLastError();
  const bool vec = cols % 8 == 0 && aligned16(x) && aligned16(w) && aligned16(out) &&
                   (residual == nullptr || aligned16(residual));
  const int per_thread_items = vec ? cols / 8 : cols;
  int threads = (per_thread_items + 31) / 32 * 32;
  threads = threads < 32 ? 32 : (threads > 512 ? 512 : threads);
  const auto* xs = static_cast<const bf16*>(x);
  auto* rs = static_cast<bf16*>(residual);
  const auto* ws = static_cast<const bf16*>(w);
  auto* os = static_cast<bf16*>(out);
  if (residual != nullptr) {
    if (vec)
      return launch_pdl(rms_norm_kernel<true, true>, dim3(rows), dim3(threads), 0, stream, xs, rs, ws, eps, cols, os);
    else
      return launch_pdl(rms_norm_kernel<false, true>, dim3(rows), dim3(threads), 0, stream, xs, rs, ws, eps, cols, os);
  } else {
    if (vec)
      return launch_pdl(rms_norm_kernel<true, false>, dim3(rows), dim3(threads), 0, stream, xs, rs, ws, eps, cols, os);
    else
      return launch_pdl(rms_norm_kernel<false, false>, dim3(rows), dim3(threads), 0, stream, xs, rs, ws, eps, cols, os);
  }
}

cudaError_t launch_qk_norm_rope(void* q, void* k, int tokens, int heads, int kv_heads,
                                int head_dim, const void* q_w, const void* k_w, float eps,
                                const RopeArgs& rope, const int32_t* positions,
                                cudaStream_t stream) {
  const int64_t rows = static_cast<int64_t>(tokens) * (heads + kv_heads);
  if (rows <= 0) return cudaGetLastError();
  constexpr int kWarps = 4;
  const auto grid = static_cast<unsigned>((rows + kWarps - 1) / kWarps);
  return launch_pdl(qk_norm_rope_kernel, dim3(grid), dim3(kWarps * 32), 0, stream,
                    static_cast<bf16*>(q), static_cast<bf16*>(k), tokens, heads, kv_heads,
                    head_dim, static_cast<const bf16*>(q_w), static_cast<const bf16*>(k_w), eps,
                    rope, positions);
}

}  // namespace hearth::cuda
