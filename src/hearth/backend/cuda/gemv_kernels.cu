// Small-M GEMV: out = x @ w^T for 1..8 input rows (decode). Bound by reading the weights
// once, so the design is about bytes in flight and an even spread of work:
// - a CTA owns kRows (8) weight rows and its 256 threads sweep K together, 16 bytes of
//   every row per thread and step, so one CTA step reads 4 KB of each of its rows; the
//   next step's loads are issued before the current step is used (two register buffers);
// - many small CTAs (n / 8) rather than one long-lived wave: the first version (2 rows
//   per warp over all of K, one wave) reached 62-83 % of the copy bandwidth on 32-200 MB
//   matrices while the 9,496-CTA lm_head reached 106 %: the long-lived wave ends ragged;
// - each input chunk is loaded once per step and used for all 8 rows; weights bypass L1
//   (ld.global.nc.L1::no_allocate) so the inputs stay there;
// - the first weight batch is loaded before pdl_wait(): with programmatic launch the
//   kernel starts while the previous (small) kernel still runs, and the weights do not
//   depend on it.
// Several weights sharing the input (q/k/v, gate/up) are one launch: their rows are laid
// end to end over the grid (segments), each with its own weight and output pointer.
// With x_up set, the input is silu(x) * x_up rounded to bf16 (SwiGLU fused into the
// down projection's input read; the same rounding as the separate swiglu op).
#include "hearth/backend/cuda/device_utils.cuh"
#include "hearth/backend/cuda/kernels.h"

namespace hearth::cuda {

namespace {

constexpr int kWarps = 8;
constexpr int kThreads = kWarps * 32;
constexpr int kRows = 8;  // weight rows per CTA

// The weight row `row` of the concatenated segments (nullptr past the last row).
__device__ __forceinline__ const uint4* row_weights(const GemvParams& p, int64_t row,
                                                    int64_t chunks) {
  int64_t begin = 0;
#pragma unroll
  for (int s = 0; s < kGemvMaxSegments; ++s) {
    if (s < p.num_segments) {
      if (row >= begin && row < begin + p.seg[s].rows)
        return static_cast<const uint4*>(p.seg[s].w) + (row - begin) * chunks;
      begin += p.seg[s].rows;
    }
  }
  return nullptr;
}

__device__ __forceinline__ void store_out(const GemvParams& p, int64_t row, int i, float v) {
  int64_t begin = 0;
  for (int s = 0; s < p.num_segments; ++s) {
    if (row < begin + p.seg[s].rows) {
      const int64_t o = i * p.seg[s].rows + (row - begin);
      if (p.out_f32)
        static_cast<float*>(p.seg[s].out)[o] = v;
      else
        static_cast<bf16*>(p.seg[s].out)[o] = __float2bfloat16(v);
      return;
    }
    begin += p.seg[s].rows;
  }
}

__device__ __forceinline__ float silu_mul(float g, float u) { return g / (1.0f + __expf(-g)) * u; }

template <bool kSwiglu>
__device__ __forceinline__ void load_x(const GemvParams& p, int i, int64_t c, int64_t chunks,
                                       float xf[8]) {
  const uint4 a = __ldg(static_cast<const uint4*>(p.x) + i * chunks + c);
  unpack8(a, xf);
  if constexpr (kSwiglu) {
    float u[8];
    unpack8(__ldg(static_cast<const uint4*>(p.x_up) + i * chunks + c), u);
#pragma unroll
    for (int j = 0; j < 8; ++j) xf[j] = __bfloat162float(__float2bfloat16(silu_mul(xf[j], u[j])));
  }
}

// M = 1 keeps two CTAs per SM (<= 128 registers): 128 KB of weights in flight per SM. The
// fused SwiGLU read needs more registers (one CTA per SM, 64 KB in flight).
template <int M, bool kSwiglu>
__global__ void __launch_bounds__(kThreads, (M == 1 && !kSwiglu) ? 2 : 1) gemv_kernel(const GemvParams p) {
  __shared__ float s_part[kWarps][kRows * M];
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int64_t row0 = static_cast<int64_t>(blockIdx.x) * kRows;
  const int64_t chunks = p.k / 8;
  const uint4* w[kRows];
#pragma unroll
  for (int r = 0; r < kRows; ++r) w[r] = row_weights(p, row0 + r, chunks);

  uint4 cur[kRows];
#pragma unroll
  for (int r = 0; r < kRows; ++r)
    cur[r] = (w[r] != nullptr && tid < chunks) ? ld_stream16(w[r] + tid) : make_uint4(0, 0, 0, 0);
  pdl_wait();  // x is the previous kernel's output
  pdl_trigger();

  float acc[kRows][M];
#pragma unroll
  for (int r = 0; r < kRows; ++r)
#pragma unroll
    for (int i = 0; i < M; ++i) acc[r][i] = 0.0f;

  for (int64_t c = tid; c < chunks; c += kThreads) {
    const int64_t cn = c + kThreads;
    uint4 nxt[kRows];
#pragma unroll
    for (int r = 0; r < kRows; ++r)
      nxt[r] = (w[r] != nullptr && cn < chunks) ? ld_stream16(w[r] + cn) : make_uint4(0, 0, 0, 0);
    float wf[kRows][8];
#pragma unroll
    for (int r = 0; r < kRows; ++r) unpack8(cur[r], wf[r]);
#pragma unroll
    for (int i = 0; i < M; ++i) {
      if (i >= p.m) break;
      float xf[8];
      load_x<kSwiglu>(p, i, c, chunks, xf);
#pragma unroll
      for (int r = 0; r < kRows; ++r)
#pragma unroll
        for (int j = 0; j < 8; ++j) acc[r][i] = fmaf(wf[r][j], xf[j], acc[r][i]);
    }
#pragma unroll
    for (int r = 0; r < kRows; ++r) cur[r] = nxt[r];
  }

#pragma unroll
  for (int r = 0; r < kRows; ++r)
#pragma unroll
    for (int i = 0; i < M; ++i) {
      const float v = warp_sum(acc[r][i]);
      if (lane == 0) s_part[warp][r * M + i] = v;
    }
  __syncthreads();
  if (tid < kRows * M) {
    const int r = tid / M, i = tid % M;
    float v = 0.0f;
#pragma unroll
    for (int q = 0; q < kWarps; ++q) v += s_part[q][tid];
    // store_out finds the row's segment (and skips rows past the last): no run-time index
    // into w[], which would move that array to local memory for the whole kernel.
    if (i < p.m) store_out(p, row0 + r, i, v);
  }
}

template <int M>
cudaError_t launch_m(const GemvParams& p, unsigned grid, cudaStream_t stream) {
  if (p.x_up != nullptr)
    return launch_pdl(gemv_kernel<M, true>, dim3(grid), dim3(kThreads), 0, stream, p);
  return launch_pdl(gemv_kernel<M, false>, dim3(grid), dim3(kThreads), 0, stream, p);
}

}  // namespace

cudaError_t launch_gemv(const GemvParams& p, cudaStream_t stream) {
  if (p.m < 1 || p.m > kGemvMaxM || p.k <= 0 || p.k % 8 != 0 || !aligned16(p.x) ||
      (p.x_up != nullptr && !aligned16(p.x_up)) || p.num_segments < 1 ||
      p.num_segments > kGemvMaxSegments)
    return cudaErrorInvalidValue;
  int64_t rows = 0;
  for (int s = 0; s < p.num_segments; ++s) {
    if (!aligned16(p.seg[s].w) || p.seg[s].rows < 0) return cudaErrorInvalidValue;
    rows += p.seg[s].rows;
  }
  if (rows == 0) return cudaGetLastError();
  const auto grid = static_cast<unsigned>((rows + kRows - 1) / kRows);
  if (p.m == 1) return launch_m<1>(p, grid, stream);
  if (p.m == 2) return launch_m<2>(p, grid, stream);
  if (p.m <= 4) return launch_m<4>(p, grid, stream);
  return launch_m<8>(p, grid, stream);
}

}  // namespace hearth::cuda
