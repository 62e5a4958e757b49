// RMSNorm (plain and fused with the residual add) and the per-head q/k RMSNorm + NeoX RoPE.
// All arithmetic is fp32; bf16 only at loads and stores.
#include "hearth/backend/cuda/device_utils.cuh"
#include "hearth/backend/cuda/kernels.h"
#include "hearth/backend/cuda/rope_device.cuh"

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

// The general form (any even head_dim): one warp per (token, head) row; q rows of a token
// first, then its k rows. Lane l holds the NeoX pairs (i, i + head_dim/2) for i = l,
// l + 32, ... It ran at ~0.7 TB/s at 8k tokens (2-byte loads, one sincosf per element
// and head, the frequency table indexed per lane in parameter space), so head dims that
// are a power of two from 16 to 512 take qk_norm_rope_vec_kernel below.
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

// One CTA per token: cos/sin of its position once into shared memory, then its q rows and
// k rows with TPR threads per row (16-byte loads of the NeoX chunk pairs, rope_device.cuh).
// With k_cache set, the token's rotated k rows and its v rows also go to the paged cache
// at slot_mapping[t] (negative: padding, not written): the KV-cache write of the attention
// op, done here while the rows are in registers.
template <int TPR>
__global__ void __launch_bounds__(128)
    qk_norm_rope_vec_kernel(bf16* __restrict__ q, bf16* __restrict__ k, const bf16* __restrict__ v,
                            int heads, int kv_heads, int head_dim, const bf16* __restrict__ q_w,
                            const bf16* __restrict__ k_w, float eps, const RopeArgs rope,
                            const int32_t* __restrict__ positions,
                            const int32_t* __restrict__ slot_mapping, bf16* __restrict__ k_cache,
                            bf16* __restrict__ v_cache) {
  __shared__ float s_cos[kMaxRopeFrequencies], s_sin[kMaxRopeFrequencies];
  constexpr int kRowsPerPass = 128 / TPR;
  pdl_wait();
  pdl_trigger();
  const int t = blockIdx.x;
  const int half = head_dim / 2;
  rope_tables(rope, static_cast<float>(positions[t]), half, s_cos, s_sin);
  __syncthreads();
  const int rows = heads + kv_heads;
  const int pc = threadIdx.x % TPR;
  const int64_t slot = k_cache != nullptr ? slot_mapping[t] : -1;
  const int64_t kv_row = static_cast<int64_t>(kv_heads) * head_dim;  // cache slot stride
  for (int base = 0; base < rows; base += kRowsPerPass) {  // uniform: shuffles inside
    const int r = base + static_cast<int>(threadIdx.x) / TPR;
    const bool real = r < rows;
    const bool is_q = r < heads;
    bf16* x = is_q ? q + (static_cast<int64_t>(t) * heads + r) * head_dim
                   : k + (static_cast<int64_t>(t) * kv_heads + (r - heads)) * head_dim;
    uint4 lo = make_uint4(0, 0, 0, 0), hi = lo;
    if (real) {
      lo = reinterpret_cast<const uint4*>(x)[pc];
      hi = reinterpret_cast<const uint4*>(x + half)[pc];
    }
    norm_rope_chunks<TPR>(lo, hi, is_q || !real ? q_w : k_w, pc, head_dim, eps, s_cos, s_sin);
    if (real) {
      reinterpret_cast<uint4*>(x)[pc] = lo;
      reinterpret_cast<uint4*>(x + half)[pc] = hi;
      if (!is_q && slot >= 0) {
        bf16* dst = k_cache + slot * kv_row + static_cast<int64_t>(r - heads) * head_dim;
        reinterpret_cast<uint4*>(dst)[pc] = lo;
        reinterpret_cast<uint4*>(dst + half)[pc] = hi;
      }
    }
  }
  if (slot >= 0) {
    const uint4* src = reinterpret_cast<const uint4*>(v + t * kv_row);
    uint4* dst = reinterpret_cast<uint4*>(v_cache + slot * kv_row);
    for (int i = threadIdx.x; i < kv_row / 8; i += blockDim.x) dst[i] = src[i];
  }
}

// fp8 KV-cache write: one CTA per token, 8 elements (16 bytes in, 8 out) per thread step.
template <bool kVec>
__global__ void kv_cache_write_fp8_kernel(const bf16* __restrict__ k, const bf16* __restrict__ v,
                                          const int32_t* __restrict__ slot_mapping, int row_elems,
                                          float k_inv, float v_inv, uint8_t* __restrict__ k_cache,
                                          uint8_t* __restrict__ v_cache) {
  pdl_wait();
  pdl_trigger();
  const int t = blockIdx.x;
  const int64_t slot = slot_mapping[t];
  if (slot < 0) return;  // padding token
  const bf16* ks = k + static_cast<int64_t>(t) * row_elems;
  const bf16* vs = v + static_cast<int64_t>(t) * row_elems;
  uint8_t* kd = k_cache + slot * row_elems;
  uint8_t* vd = v_cache + slot * row_elems;
  if constexpr (kVec) {
    for (int i = threadIdx.x; i < row_elems / 8; i += blockDim.x) {
      float f[8];
      unpack8(reinterpret_cast<const uint4*>(ks)[i], f);
      reinterpret_cast<uint2*>(kd)[i] = pack8_e4m3(f, k_inv);
      unpack8(reinterpret_cast<const uint4*>(vs)[i], f);
      reinterpret_cast<uint2*>(vd)[i] = pack8_e4m3(f, v_inv);
    }
  } else {
    for (int i = threadIdx.x; i < row_elems; i += blockDim.x) {
      kd[i] = static_cast<uint8_t>(f32x2_to_e4m3x2(__bfloat162float(ks[i]) * k_inv, 0.0f) & 0xFF);
      vd[i] = static_cast<uint8_t>(f32x2_to_e4m3x2(__bfloat162float(vs[i]) * v_inv, 0.0f) & 0xFF);
    }
  }
}

template <int TPR>
cudaError_t launch_vec(bf16* q, bf16* k, const bf16* v, int tokens, int heads, int kv_heads,
                       int head_dim, const bf16* q_w, const bf16* k_w, float eps,
                       const RopeArgs& rope, const int32_t* positions,
                       const int32_t* slot_mapping, bf16* k_cache, bf16* v_cache,
                       cudaStream_t stream) {
  return launch_pdl(qk_norm_rope_vec_kernel<TPR>, dim3(static_cast<unsigned>(tokens)), dim3(128),
                    0, stream, q, k, v, heads, kv_heads, head_dim, q_w, k_w, eps, rope,
                    positions, slot_mapping, k_cache, v_cache);
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

bool qk_norm_rope_vectorized(int head_dim) {
  return head_dim == 64 || head_dim == 128 || head_dim == 256;
}

cudaError_t launch_qk_norm_rope(void* q, void* k, int tokens, int heads, int kv_heads,
                                int head_dim, const void* q_w, const void* k_w, float eps,
                                const RopeArgs& rope, const int32_t* positions,
                                cudaStream_t stream, const QkCacheWrite* cache) {
  const int64_t rows = static_cast<int64_t>(tokens) * (heads + kv_heads);
  if (rows <= 0) return cudaGetLastError();
  auto* qb = static_cast<bf16*>(q);
  auto* kb = static_cast<bf16*>(k);
  const auto* qw = static_cast<const bf16*>(q_w);
  const auto* kw = static_cast<const bf16*>(k_w);
  const bool vec = qk_norm_rope_vectorized(head_dim) && aligned16(q) && aligned16(k) &&
                   aligned16(q_w) && aligned16(k_w) &&
                   (cache == nullptr || (aligned16(cache->v) && aligned16(cache->k_cache) &&
                                         aligned16(cache->v_cache)));
  if (cache != nullptr && cache->fp8) {
    // fp8 cache (prefill path): the norm + RoPE in place, then the fp8 write of k and v.
    const cudaError_t e = launch_qk_norm_rope(q, k, tokens, heads, kv_heads, head_dim, q_w, k_w,
                                              eps, rope, positions, stream, nullptr);
    if (e != cudaSuccess) return e;
    return launch_kv_cache_write_fp8(k, cache->v, cache->slot_mapping, tokens,
                                     kv_heads * head_dim, cache->k_scale, cache->v_scale,
                                     cache->k_cache, cache->v_cache, stream);
  }
  if (vec) {
    const bf16* v = cache != nullptr ? static_cast<const bf16*>(cache->v) : nullptr;
    const int32_t* slots = cache != nullptr ? cache->slot_mapping : nullptr;
    bf16* kc = cache != nullptr ? static_cast<bf16*>(cache->k_cache) : nullptr;
    bf16* vc = cache != nullptr ? static_cast<bf16*>(cache->v_cache) : nullptr;
    if (head_dim == 64)
      return launch_vec<4>(qb, kb, v, tokens, heads, kv_heads, head_dim, qw, kw, eps, rope, positions, slots, kc, vc, stream);
    if (head_dim == 128)
      return launch_vec<8>(qb, kb, v, tokens, heads, kv_heads, head_dim, qw, kw, eps, rope, positions, slots, kc, vc, stream);
    return launch_vec<16>(qb, kb, v, tokens, heads, kv_heads, head_dim, qw, kw, eps, rope, positions, slots, kc, vc, stream);
  }
  constexpr int kWarps = 4;
  const auto grid = static_cast<unsigned>((rows + kWarps - 1) / kWarps);
  const cudaError_t e = launch_pdl(qk_norm_rope_kernel, dim3(grid), dim3(kWarps * 32), 0, stream,
                                   qb, kb, tokens, heads, kv_heads, head_dim, qw, kw, eps, rope,
                                   positions);
  if (e != cudaSuccess || cache == nullptr) return e;
  return launch_kv_cache_write(k, cache->v, cache->slot_mapping, tokens, kv_heads * head_dim,
                               cache->k_cache, cache->v_cache, stream);
}

cudaError_t launch_kv_cache_write_fp8(const void* k, const void* v, const int32_t* slot_mapping,
                                      int tokens, int row_elems, float k_scale, float v_scale,
                                      void* k_cache, void* v_cache, cudaStream_t stream) {
  if (tokens <= 0) return cudaGetLastError();
  const auto* kk = static_cast<const bf16*>(k);
  const auto* vv = static_cast<const bf16*>(v);
  auto* kc = static_cast<uint8_t*>(k_cache);
  auto* vc = static_cast<uint8_t*>(v_cache);
  const float k_inv = 1.0f / k_scale, v_inv = 1.0f / v_scale;
  // 8-byte stores of 8 elements: rows of a multiple of 8 elements, 16-byte aligned inputs
  // (the cache rows are then 8-byte aligned).
  if (row_elems % 8 == 0 && aligned16(k) && aligned16(v) && aligned16(k_cache) && aligned16(v_cache))
    return launch_pdl(kv_cache_write_fp8_kernel<true>, dim3(tokens), dim3(128), 0, stream, kk, vv,
                      slot_mapping, row_elems, k_inv, v_inv, kc, vc);
  return launch_pdl(kv_cache_write_fp8_kernel<false>, dim3(tokens), dim3(128), 0, stream, kk, vv,
                    slot_mapping, row_elems, k_inv, v_inv, kc, vc);
}

}  // namespace hearth::cuda
