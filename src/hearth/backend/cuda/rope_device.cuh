// Per-head RMSNorm + NeoX RoPE of one head row held by a group of TPR threads (device
// code shared by the q/k norm kernel and the fused decode attention, so both round the
// same values the same way).
//
// Layout: thread pc (0 <= pc < TPR) of a row's group holds the 8 elements at pc * 8 (lo)
// and their NeoX partners at half + pc * 8 (hi), half = head_dim / 2 = TPR * 8. TPR is a
// power of two <= 32 and the groups are aligned inside the warp, so the row's sum of
// squares is an xor-shuffle over the group.
#pragma once

#include "hearth/backend/cuda/device_utils.cuh"

namespace hearth::cuda {

// cos/sin of position * inv_freq[i] for i < half, times the attention scaling, into
// shared memory (computed once per token, shared by its heads). Every thread of the block
// calls it; a barrier must follow before the tables are read.
__device__ __forceinline__ void rope_tables(const RopeArgs& rope, float pos, int half,
                                            float* s_cos, float* s_sin) {
  for (int i = threadIdx.x; i < half; i += blockDim.x) {
    float s, co;
    // fp32 angle = position * inv_freq, as HF computes it (the CPU reference does the same).
    sincosf(pos * rope.inv_freq[i], &s, &co);
    s_cos[i] = co * rope.attention_scaling;
    s_sin[i] = s * rope.attention_scaling;
  }
}

// In place on (lo, hi): rms-normalize the row with weight w (bf16, 16-byte aligned), then
// rotate. Every lane of the warp must call it (the shuffles span the warp); rows that are
// not real pass zeros and discard the result.
template <int TPR>
__device__ __forceinline__ void norm_rope_chunks(uint4& lo, uint4& hi, const bf16* w, int pc,
                                                 int head_dim, float eps, const float* s_cos,
                                                 const float* s_sin) {
  const int half = head_dim / 2;
  float a[8], b[8];
  unpack8(lo, a);
  unpack8(hi, b);
  float ss = 0.0f;
#pragma unroll
  for (int j = 0; j < 8; ++j) ss += a[j] * a[j] + b[j] * b[j];
#pragma unroll
  for (int off = TPR / 2; off > 0; off >>= 1) ss += __shfl_xor_sync(0xffffffffu, ss, off);
  const float inv_rms = rsqrtf(ss / static_cast<float>(head_dim) + eps);
  float wa[8], wb[8];
  unpack8(*reinterpret_cast<const uint4*>(w + pc * 8), wa);
  unpack8(*reinterpret_cast<const uint4*>(w + half + pc * 8), wb);
  float o1[8], o2[8];
#pragma unroll
  for (int j = 0; j < 8; ++j) {
    const int i = pc * 8 + j;
    const float n1 = wa[j] * (a[j] * inv_rms);
    const float n2 = wb[j] * (b[j] * inv_rms);
    o1[j] = n1 * s_cos[i] - n2 * s_sin[i];
    o2[j] = n2 * s_cos[i] + n1 * s_sin[i];
  }
  lo = pack8(o1);
  hi = pack8(o2);
}

}  // namespace hearth::cuda
