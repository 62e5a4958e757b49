// Attention of single query tokens over the paged KV cache, split over the context
// (flash-decoding), plus the kernel that combines the splits.
//
// One CTA = one query token x one kv head x one split of its context. The CTA serves all
// query heads of the GQA group, so each K/V row is read from memory once per group rather
// than once per head; decode is bound by reading the cache. Inside the CTA a row of
// head_dim bf16 is spread over LANES lanes, 16 bytes each (head_dim 128: 16 lanes, so a
// warp reads two cache rows per step), with the online softmax kept per lane group and
// merged across lane groups, warps and (in the combine kernel) splits.
//
// The kernel serves any query token, not only decode ones: each token's causal limit
// comes from its sequence's context length and its row in the step, which makes it the
// fallback for prefill head dims that the tensor-core kernel does not cover.
#include "hearth/backend/cuda/device_utils.cuh"
#include "hearth/backend/cuda/kernels.h"

namespace hearth::cuda {

namespace {

constexpr int kWarps = 4;
constexpr int kThreads = kWarps * 32;
constexpr float kLog2e = 1.4426950408889634f;


// Merges (m2, l2, acc2) into (m, l, acc): the standard rescale of two online softmaxes.
__device__ __forceinline__ void merge_state(float& m, float& l, float acc[8], float m2, float l2,
                                            const float acc2[8]) {
  const float mn = fmaxf(m, m2);
  if (mn == -INFINITY) return;  // both empty
  const float c1 = exp2f(m - mn), c2 = exp2f(m2 - mn);
  l = l * c1 + l2 * c2;
#pragma unroll
  for (int j = 0; j < 8; ++j) acc[j] = acc[j] * c1 + acc2[j] * c2;
  m = mn;
}

template <int LANES, int GMAX>
__global__ void __launch_bounds__(kThreads)
    decode_attention_kernel(const AttentionParams p, int num_splits, int split_size,
                            float* __restrict__ partial_out, float* __restrict__ partial_lse) {
  constexpr int kTpw = 32 / LANES;  // cache rows per warp step
  // Cache rows in flight per lane group before the first use (fewer with 8 heads per
  // group, whose scores and sums take the registers).
  constexpr int kUnroll = GMAX >= 8 ? 4 : 8;
  __shared__ float s_m[kWarps][GMAX], s_l[kWarps][GMAX];
  __shared__ float s_acc[kWarps][GMAX][kDecodeMaxHeadDim];

  pdl_wait();
  pdl_trigger();
  const int t = blockIdx.x, kvh = blockIdx.y, split = blockIdx.z;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int li = lane % LANES, gi = lane / LANES;
  const int D = p.head_dim;
  const int group = p.heads / p.kv_heads;
  const int seq = p.token_seq[t];
  const int q_begin = p.query_start[seq];
  const int q_len = p.query_start[seq + 1] - q_begin;
  const int limit = p.context_lens[seq] - q_len + (t - q_begin) + 1;  // visible positions
  if (split_size <= 0) {
    // Sized on the device from this sequence's context (graph replays): a multiple of 64.
    split_size = (p.context_lens[seq] + num_splits - 1) / num_splits;
    split_size = (split_size + 63) / 64 * 64;
  }
  const int start = split * split_size;
  const int end = min(limit, start + split_size);
  const bool active = li * 8 < D;  // lanes past head_dim/8 idle (non-power-of-2 dims)

  float qv[GMAX][8];
  const bf16* q_t = static_cast<const bf16*>(p.q) +
                    (static_cast<int64_t>(t) * p.heads + static_cast<int64_t>(kvh) * group) * D;
  const float scale_log2 = p.scale * kLog2e;
#pragma unroll
  for (int g = 0; g < GMAX; ++g) {
    if (g < group && active) {
      unpack8(*reinterpret_cast<const uint4*>(q_t + g * D + li * 8), qv[g]);
#pragma unroll
      for (int j = 0; j < 8; ++j) qv[g][j] *= scale_log2;
    } else {
#pragma unroll
      for (int j = 0; j < 8; ++j) qv[g][j] = 0.0f;
    }
  }
  float m[GMAX], l[GMAX], acc[GMAX][8];
#pragma unroll
  for (int g = 0; g < GMAX; ++g) {
    m[g] = -INFINITY;
    l[g] = 0.0f;
#pragma unroll
    for (int j = 0; j < 8; ++j) acc[g][j] = 0.0f;
  }

  const int32_t* table = p.block_tables + static_cast<int64_t>(seq) * p.max_blocks_per_seq;
  const int64_t slot_stride = static_cast<int64_t>(p.kv_heads) * D;
  const bf16* k_g = static_cast<const bf16*>(p.k_cache) + static_cast<int64_t>(kvh) * D + li * 8;
  const bf16* v_g = static_cast<const bf16*>(p.v_cache) + static_cast<int64_t>(kvh) * D + li * 8;
  constexpr int kStep = kWarps * kTpw;  // rows per CTA step

  // The loop bound is warp-uniform (every lane group of a warp runs the same iterations)
  // because the score reduction shuffles across the warp. Each iteration has kUnroll rows
  // per lane group in flight, scores them all, then rescales the running sums once.
  for (int base = start + warp * kTpw; base < end; base += kUnroll * kStep) {
    uint4 kr[kUnroll], vr[kUnroll];
    bool valid[kUnroll];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int pos = base + u * kStep + gi;
      valid[u] = pos < end;
      kr[u] = vr[u] = make_uint4(0, 0, 0, 0);
      if (valid[u] && active) {
        const int64_t slot = static_cast<int64_t>(table[pos / p.block_size]) * p.block_size +
                             pos % p.block_size;
        kr[u] = *reinterpret_cast<const uint4*>(k_g + slot * slot_stride);
        vr[u] = *reinterpret_cast<const uint4*>(v_g + slot * slot_stride);
      }
    }
    float s[kUnroll][GMAX];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      float kf[8];
      unpack8(kr[u], kf);
#pragma unroll
      for (int g = 0; g < GMAX; ++g) {
        float d = 0.0f;
        if (g < group) {
#pragma unroll
          for (int j = 0; j < 8; ++j) d += qv[g][j] * kf[j];
#pragma unroll
          for (int off = LANES / 2; off > 0; off >>= 1) d += __shfl_xor_sync(0xffffffffu, d, off);
        }
        s[u][g] = valid[u] ? d : -INFINITY;
      }
    }
    float mbase[GMAX];
#pragma unroll
    for (int g = 0; g < GMAX; ++g) {
      float mx = m[g];
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) mx = fmaxf(mx, s[u][g]);
      // All rows so far invalid: keep -inf - -inf (NaN) out of exp2.
      mbase[g] = mx == -INFINITY ? 0.0f : mx;
      const float corr = exp2f(m[g] - mbase[g]);
      l[g] *= corr;
#pragma unroll
      for (int j = 0; j < 8; ++j) acc[g][j] *= corr;
      m[g] = mx;
    }
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      float vf[8];
      unpack8(vr[u], vf);
#pragma unroll
      for (int g = 0; g < GMAX; ++g) {
        const float pe = exp2f(s[u][g] - mbase[g]);  // 0 for invalid rows
        l[g] += pe;
#pragma unroll
        for (int j = 0; j < 8; ++j) acc[g][j] += pe * vf[j];
      }
    }
  }

  // Merge the lane groups of each warp, then the warps through shared memory.
#pragma unroll
  for (int g = 0; g < GMAX; ++g) {
    if (g >= group) break;
#pragma unroll
    for (int off = LANES; off < 32; off <<= 1) {
      float acc2[8];
      const float m2 = __shfl_xor_sync(0xffffffffu, m[g], off);
      const float l2 = __shfl_xor_sync(0xffffffffu, l[g], off);
#pragma unroll
      for (int j = 0; j < 8; ++j) acc2[j] = __shfl_xor_sync(0xffffffffu, acc[g][j], off);
      merge_state(m[g], l[g], acc[g], m2, l2, acc2);
    }
    if (gi == 0) {
      if (li == 0) {
        s_m[warp][g] = m[g];
        s_l[warp][g] = l[g];
      }
      if (active) {
#pragma unroll
        for (int j = 0; j < 8; ++j) s_acc[warp][g][li * 8 + j] = acc[g][j];
      }
    }
  }
  __syncthreads();

  for (int idx = threadIdx.x; idx < group * D; idx += kThreads) {
    const int g = idx / D, d = idx % D;
    float mx = -INFINITY;
#pragma unroll
    for (int w = 0; w < kWarps; ++w) mx = fmaxf(mx, s_m[w][g]);
    float lsum = 0.0f, osum = 0.0f;
    if (mx != -INFINITY) {
#pragma unroll
      for (int w = 0; w < kWarps; ++w) {
        const float c = exp2f(s_m[w][g] - mx);
        lsum += s_l[w][g] * c;
        osum += s_acc[w][g][d] * c;
      }
    }
    const int h = kvh * group + g;
    const int64_t row = static_cast<int64_t>(t) * p.heads + h;
    if (num_splits == 1) {
      static_cast<bf16*>(p.out)[row * D + d] = __float2bfloat16(lsum > 0.0f ? osum / lsum : 0.0f);
    } else {
      const int64_t prow = row * num_splits + split;
      partial_out[prow * D + d] = lsum > 0.0f ? osum / lsum : 0.0f;
      if (d == 0) partial_lse[prow] = lsum > 0.0f ? mx + __log2f(lsum) : -INFINITY;
    }
  }
}

// One CTA per (token, head): out = sum_s w_s o_s / sum_s w_s with w_s = 2^(lse_s - max).
__global__ void __launch_bounds__(kThreads)
    combine_splits_kernel(const float* __restrict__ partial_out,
                          const float* __restrict__ partial_lse, int num_splits, int head_dim,
                          bf16* __restrict__ out) {
  pdl_wait();
  pdl_trigger();
  const int64_t row = blockIdx.x;
  const float* lse = partial_lse + row * num_splits;
  float mx = -INFINITY;
  for (int s = 0; s < num_splits; ++s) mx = fmaxf(mx, lse[s]);
  for (int d = threadIdx.x; d < head_dim; d += blockDim.x) {
    float num = 0.0f, den = 0.0f;
    if (mx != -INFINITY) {
      for (int s = 0; s < num_splits; ++s) {
        const float w = exp2f(lse[s] - mx);
        den += w;
        num += w * partial_out[(row * num_splits + s) * head_dim + d];
      }
    }
    out[row * head_dim + d] = __float2bfloat16(den > 0.0f ? num / den : 0.0f);
  }
}

template <int LANES, int GMAX>
cudaError_t launch_for(const AttentionParams& p, int num_splits, int split_size,
                       float* partial_out, float* partial_lse, cudaStream_t stream) {
  const dim3 grid(static_cast<unsigned>(p.tokens), static_cast<unsigned>(p.kv_heads),
                  static_cast<unsigned>(num_splits));
  return launch_pdl(decode_attention_kernel<LANES, GMAX>, grid, dim3(kThreads), 0, stream, p,
                    num_splits, split_size, partial_out, partial_lse);
}

template <int LANES>
cudaError_t launch_lanes(const AttentionParams& p, int num_splits, int split_size,
                         float* partial_out, float* partial_lse, cudaStream_t stream) {
  const int group = p.heads / p.kv_heads;
  if (group <= 1) return launch_for<LANES, 1>(p, num_splits, split_size, partial_out, partial_lse, stream);
  if (group <= 2) return launch_for<LANES, 2>(p, num_splits, split_size, partial_out, partial_lse, stream);
  if (group <= 4) return launch_for<LANES, 4>(p, num_splits, split_size, partial_out, partial_lse, stream);
  return launch_for<LANES, 8>(p, num_splits, split_size, partial_out, partial_lse, stream);
}

}  // namespace

cudaError_t launch_decode_attention(const AttentionParams& p, int num_splits, int split_size,
                                    float* partial_out, float* partial_lse,
                                    cudaStream_t stream) {
  if (p.tokens <= 0) return cudaGetLastError();
  if (p.head_dim % 8 != 0 || p.head_dim > kDecodeMaxHeadDim || p.heads % p.kv_heads != 0 ||
      p.heads / p.kv_heads > kDecodeMaxGroup || num_splits < 1)
    return cudaErrorInvalidValue;
  cudaError_t e;
  const int chunks = p.head_dim / 8;
  if (chunks <= 8)
    e = launch_lanes<8>(p, num_splits, split_size, partial_out, partial_lse, stream);
  else if (chunks <= 16)
    e = launch_lanes<16>(p, num_splits, split_size, partial_out, partial_lse, stream);
  else
    e = launch_lanes<32>(p, num_splits, split_size, partial_out, partial_lse, stream);
  if (e != cudaSuccess || num_splits == 1) return e;
  const int64_t rows = static_cast<int64_t>(p.tokens) * p.heads;
  return launch_pdl(combine_splits_kernel, dim3(static_cast<unsigned>(rows)), dim3(kThreads), 0,
                    stream, static_cast<const float*>(partial_out),
                    static_cast<const float*>(partial_lse), num_splits, p.head_dim,
                    static_cast<bf16*>(p.out));
}

}  // namespace hearth::cuda
