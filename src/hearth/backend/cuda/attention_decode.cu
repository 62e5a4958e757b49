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
//
// The fused form (kFused, decode steps; kernels.h: DecodeFusion) also does the q/k norm
// and RoPE, the KV-cache write and the split combine, which were three more launches of
// 2-4 us each per layer at batch 1.
#include "hearth/backend/cuda/device_utils.cuh"
#include "hearth/backend/cuda/kernels.h"
#include "hearth/backend/cuda/rope_device.cuh"

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

template <int LANES, int GMAX, bool kFused>
__global__ void __launch_bounds__(kThreads)
    decode_attention_kernel(const AttentionParams p, int num_splits, int split_size,
                            float* __restrict__ partial_out, float* __restrict__ partial_lse,
                            const DecodeFusion f) {
  constexpr int kTpw = 32 / LANES;  // cache rows per warp step
  // Cache rows in flight per lane group before the first use (fewer with 8 heads per
  // group, whose scores and sums take the registers).
  constexpr int kUnroll = GMAX >= 8 ? 4 : 8;
  __shared__ float s_m[kWarps][GMAX], s_l[kWarps][GMAX];
  __shared__ float s_acc[kWarps][GMAX][kDecodeMaxHeadDim];
  // Fused prologue: RoPE tables, the group's normalized and rotated q rows, the new k/v.
  __shared__ float s_cos[kFused ? kDecodeMaxHeadDim / 2 : 1], s_sin[kFused ? kDecodeMaxHeadDim / 2 : 1];
  __shared__ __align__(16) bf16 s_qh[kFused ? GMAX : 1][kFused ? kDecodeMaxHeadDim : 8];
  __shared__ __align__(16) bf16 s_kn[kFused ? kDecodeMaxHeadDim : 8], s_vn[kFused ? kDecodeMaxHeadDim : 8];
  __shared__ int s_last;

  pdl_wait();
  pdl_trigger();
  const int t = blockIdx.x, kvh = blockIdx.y, split = blockIdx.z;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int li = lane % LANES, gi = lane / LANES;
  const int D = p.head_dim;
  const int group = p.heads / p.kv_heads;
  const int seq = p.token_is_seq ? t : p.token_seq[t];
  const int q_begin = p.token_is_seq ? t : p.query_start[seq];
  const int q_len = p.token_is_seq ? 1 : p.query_start[seq + 1] - q_begin;
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
  const int32_t* table = p.block_tables + static_cast<int64_t>(seq) * p.max_blocks_per_seq;
  const int64_t slot_stride = static_cast<int64_t>(p.kv_heads) * D;

  // Fused prologue: this token's own position is limit - 1; the split holding it owns the
  // new k/v row. `substitute`: the owner reads that row from shared memory (the cache write
  // below is not visible to this CTA's loads without a fence, and other CTAs never read it).
  [[maybe_unused]] int new_pos = -1;
  [[maybe_unused]] bool substitute = false;
  if constexpr (kFused) {
    static_assert(LANES % 2 == 0, "fused decode needs head_dim = LANES * 8, LANES even");
    constexpr int TPR = LANES / 2;  // threads per row in norm_rope_chunks
    constexpr int kRowsPerPass = kThreads / TPR;
    const int half = D / 2;
    new_pos = limit - 1;
    const bool owner = new_pos >= start && new_pos < end;
    const int32_t slot_w = f.slot_mapping[t];
    const bf16* k_t = static_cast<const bf16*>(f.k_new) +
                      (static_cast<int64_t>(t) * p.kv_heads + kvh) * D;
    const int pc = threadIdx.x % TPR;
    for (int base = 0; base < group + 1; base += kRowsPerPass) {  // uniform: shuffles inside
      const int row = base + static_cast<int>(threadIdx.x) / TPR;
      const bool is_q = row < group;
      const bool is_k = row == group && owner;
      const bf16* src = is_q ? q_t + row * D : k_t;
      uint4 lo = make_uint4(0, 0, 0, 0), hi = lo;
      if (is_q || is_k) {
        lo = reinterpret_cast<const uint4*>(src)[pc];
        hi = reinterpret_cast<const uint4*>(src + half)[pc];
      }
      if (base == 0) {
        // After the first rows' loads are issued: their latency overlaps the tables'.
        rope_tables(f.rope, static_cast<float>(f.positions[t]), half, s_cos, s_sin);
        __syncthreads();
      }
      norm_rope_chunks<TPR>(lo, hi, static_cast<const bf16*>(is_k ? f.k_w : f.q_w), pc, D, f.eps,
                            s_cos, s_sin);
      bf16* dst = is_q ? s_qh[row] : s_kn;  // row < group <= GMAX when is_q
      if (is_q || is_k) {
        reinterpret_cast<uint4*>(dst)[pc] = lo;
        reinterpret_cast<uint4*>(dst + half)[pc] = hi;
      }
    }
    if (owner && threadIdx.x < D / 8) {
      reinterpret_cast<uint4*>(s_vn)[threadIdx.x] = reinterpret_cast<const uint4*>(
          static_cast<const bf16*>(f.v_new) + (static_cast<int64_t>(t) * p.kv_heads + kvh) * D)[threadIdx.x];
    }
    __syncthreads();
    if (owner && slot_w >= 0) {
      if (threadIdx.x < D / 8) {
        const int64_t off = static_cast<int64_t>(slot_w) * slot_stride + static_cast<int64_t>(kvh) * D;
        reinterpret_cast<uint4*>(static_cast<bf16*>(const_cast<void*>(p.k_cache)) + off)[threadIdx.x] =
            reinterpret_cast<const uint4*>(s_kn)[threadIdx.x];
        reinterpret_cast<uint4*>(static_cast<bf16*>(const_cast<void*>(p.v_cache)) + off)[threadIdx.x] =
            reinterpret_cast<const uint4*>(s_vn)[threadIdx.x];
      }
      const int64_t table_slot =
          static_cast<int64_t>(table[new_pos / p.block_size]) * p.block_size + new_pos % p.block_size;
      substitute = table_slot == slot_w;
    }
  }

#pragma unroll
  for (int g = 0; g < GMAX; ++g) {
    if (g < group && active) {
      if constexpr (kFused) {
        unpack8(*reinterpret_cast<const uint4*>(&s_qh[g][li * 8]), qv[g]);
      } else {
        unpack8(*reinterpret_cast<const uint4*>(q_t + g * D + li * 8), qv[g]);
      }
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
      if (kFused && substitute && pos == new_pos) {
        if (active) {
          kr[u] = reinterpret_cast<const uint4*>(s_kn)[li];
          vr[u] = reinterpret_cast<const uint4*>(s_vn)[li];
        }
      } else if (valid[u] && active) {
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
  if constexpr (kFused) {
    if (num_splits == 1) return;
    // The last split CTA of this (token, kv head) to finish combines all of them: release
    // (fence, then count) on every CTA, acquire (count, then fence) on the last one.
    __threadfence();
    __syncthreads();
    if (threadIdx.x == 0) {
      int* counter = f.counters + static_cast<int64_t>(t) * p.kv_heads + kvh;
      const int before = atomicAdd(counter, 1);
      s_last = before == num_splits - 1;
      if (s_last) *counter = 0;  // ready for the next launch (ordered by the kernel boundary)
    }
    __syncthreads();
    if (!s_last) return;
    __threadfence();
    // The weights 2^(lse_s - max) of every (head, split) go to shared memory first (one
    // parallel load, a warp per head for max and sum; s_acc is free now), so the weighted
    // sum below issues its partial-output loads independently of each other instead of
    // walking the splits twice with dependent L2 loads.
    float* s_w = &s_acc[0][0][0];
    constexpr int kWCap = kWarps * GMAX * kDecodeMaxHeadDim;
    const int64_t row0 = static_cast<int64_t>(t) * p.heads + kvh * group;
    if (group * num_splits <= kWCap) {
      for (int i = threadIdx.x; i < group * num_splits; i += kThreads)
        s_w[i] = __ldcg(partial_lse + row0 * num_splits + i);
      __syncthreads();
      for (int g = warp; g < group; g += kWarps) {
        float* w = s_w + g * num_splits;
        float mx = -INFINITY;
        for (int s2 = lane; s2 < num_splits; s2 += 32) mx = fmaxf(mx, w[s2]);
        mx = warp_max(mx);
        float den = 0.0f;
        for (int s2 = lane; s2 < num_splits; s2 += 32) {
          const float e = mx == -INFINITY ? 0.0f : exp2f(w[s2] - mx);
          w[s2] = e;
          den += e;
        }
        den = warp_sum(den);
        if (lane == 0) s_m[0][g] = den;
      }
      __syncthreads();
      for (int idx = threadIdx.x; idx < group * D; idx += kThreads) {
        const int g = idx / D, d = idx % D;
        const float* w = s_w + g * num_splits;
        const float* po = partial_out + (row0 + g) * num_splits * D + d;
        float num = 0.0f;
        // Empty splits (graph replays size splits in multiples of 64 over a fixed count,
        // so short contexts leave many) have weight 0: their loads are skipped.
#pragma unroll 8
        for (int s2 = 0; s2 < num_splits; ++s2) {
          const float ws = w[s2];
          num = fmaf(ws, ws != 0.0f ? __ldcg(po + s2 * D) : 0.0f, num);
        }
        const float den = s_m[0][g];
        static_cast<bf16*>(p.out)[(row0 + g) * D + d] = __float2bfloat16(den > 0.0f ? num / den : 0.0f);
      }
      return;
    }
    for (int idx = threadIdx.x; idx < group * D; idx += kThreads) {
      const int g = idx / D, d = idx % D;
      const int64_t row = row0 + g;
      const float* lse = partial_lse + row * num_splits;
      float mx = -INFINITY;
      for (int s2 = 0; s2 < num_splits; ++s2) mx = fmaxf(mx, __ldcg(lse + s2));
      float num = 0.0f, den = 0.0f;
      if (mx != -INFINITY) {
        for (int s2 = 0; s2 < num_splits; ++s2) {
          const float w = exp2f(__ldcg(lse + s2) - mx);
          den += w;
          num += w * __ldcg(partial_out + (row * num_splits + s2) * D + d);
        }
      }
      static_cast<bf16*>(p.out)[row * D + d] = __float2bfloat16(den > 0.0f ? num / den : 0.0f);
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

template <int LANES, int GMAX, bool kFused>
cudaError_t launch_for(const AttentionParams& p, const DecodeFusion& f, int num_splits,
                       int split_size, float* partial_out, float* partial_lse,
                       cudaStream_t stream) {
  const dim3 grid(static_cast<unsigned>(p.tokens), static_cast<unsigned>(p.kv_heads),
                  static_cast<unsigned>(num_splits));
  return launch_pdl(decode_attention_kernel<LANES, GMAX, kFused>, grid, dim3(kThreads), 0, stream,
                    p, num_splits, split_size, partial_out, partial_lse, f);
}

template <int LANES, bool kFused>
cudaError_t launch_lanes(const AttentionParams& p, const DecodeFusion& f, int num_splits,
                         int split_size, float* partial_out, float* partial_lse,
                         cudaStream_t stream) {
  const int group = p.heads / p.kv_heads;
  if (group <= 1) return launch_for<LANES, 1, kFused>(p, f, num_splits, split_size, partial_out, partial_lse, stream);
  if (group <= 2) return launch_for<LANES, 2, kFused>(p, f, num_splits, split_size, partial_out, partial_lse, stream);
  if (group <= 4) return launch_for<LANES, 4, kFused>(p, f, num_splits, split_size, partial_out, partial_lse, stream);
  return launch_for<LANES, 8, kFused>(p, f, num_splits, split_size, partial_out, partial_lse, stream);
}

bool valid(const AttentionParams& p, int num_splits) {
  return p.head_dim % 8 == 0 && p.head_dim <= kDecodeMaxHeadDim && p.heads % p.kv_heads == 0 &&
         p.heads / p.kv_heads <= kDecodeMaxGroup && num_splits >= 1;
}

}  // namespace

cudaError_t launch_decode_attention(const AttentionParams& p, int num_splits, int split_size,
                                    float* partial_out, float* partial_lse,
                                    cudaStream_t stream) {
  if (p.tokens <= 0) return cudaGetLastError();
  if (decode_mma_supported(p) && (p.kv_fp8 || decode_mma_enabled()))
    return launch_decode_attention_mma(p, num_splits, split_size, partial_out, partial_lse, stream);
  if (!valid(p, num_splits) || p.kv_fp8) return cudaErrorInvalidValue;
  const DecodeFusion none{};
  cudaError_t e;
  const int chunks = p.head_dim / 8;
  if (chunks <= 8)
    e = launch_lanes<8, false>(p, none, num_splits, split_size, partial_out, partial_lse, stream);
  else if (chunks <= 16)
    e = launch_lanes<16, false>(p, none, num_splits, split_size, partial_out, partial_lse, stream);
  else
    e = launch_lanes<32, false>(p, none, num_splits, split_size, partial_out, partial_lse, stream);
  if (e != cudaSuccess || num_splits == 1) return e;
  return launch_decode_combine(partial_out, partial_lse, static_cast<int64_t>(p.tokens) * p.heads,
                               num_splits, p.head_dim, p.out, stream);
}

cudaError_t launch_decode_combine(const float* partial_out, const float* partial_lse, int64_t rows,
                                  int num_splits, int head_dim, void* out, cudaStream_t stream) {
  if (rows <= 0) return cudaGetLastError();
  return launch_pdl(combine_splits_kernel, dim3(static_cast<unsigned>(rows)), dim3(kThreads), 0,
                    stream, partial_out, partial_lse, num_splits, head_dim, static_cast<bf16*>(out));
}

// Head dim 256 stays on the separate kernels: its fused form with 8 heads per group spills
// registers on sm_89.
bool decode_fusion_supported(int head_dim) { return head_dim == 64 || head_dim == 128; }

cudaError_t launch_decode_attention_fused(const AttentionParams& p, const DecodeFusion& f,
                                          int num_splits, int split_size, float* partial_out,
                                          float* partial_lse, cudaStream_t stream) {
  if (p.tokens <= 0) return cudaGetLastError();
  if (decode_mma_supported(p) && (p.kv_fp8 || decode_mma_enabled()))
    return launch_decode_attention_mma_fused(p, f, num_splits, split_size, partial_out,
                                             partial_lse, stream);
  if (p.kv_fp8) return cudaErrorInvalidValue;
  if (!valid(p, num_splits) || !decode_fusion_supported(p.head_dim) ||
      (num_splits > 1 && f.counters == nullptr) || !aligned16(p.q) || !aligned16(f.k_new) ||
      !aligned16(f.v_new) || !aligned16(f.q_w) || !aligned16(f.k_w) || !aligned16(p.k_cache) ||
      !aligned16(p.v_cache))
    return cudaErrorInvalidValue;
  if (p.head_dim == 64)
    return launch_lanes<8, true>(p, f, num_splits, split_size, partial_out, partial_lse, stream);
  return launch_lanes<16, true>(p, f, num_splits, split_size, partial_out, partial_lse, stream);
}

}  // namespace hearth::cuda
