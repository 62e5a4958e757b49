// Small-M GEMV: out = x @ w^T for 1..8 input rows (decode). Bound by reading the weights
// once, so the design is about bytes in flight and an even spread of work:
// - a CTA owns kRows (8) weight rows at a time (a "row group") and its 256 threads sweep K
//   together, 16 bytes of every row per thread and step (4 KB of each row per CTA step);
// - the weights travel by cp.async into a ring of kStages shared-memory stages: kStages - 1
//   steps stay in flight while one is used, without holding registers (the previous
//   version kept its one step ahead in registers, 128 registers/thread, and the copies
//   of a CTA drained before it ended: 67-71 % of copy on the 32-50 MB matrices);
// - the grid is persistent (max_ctas, two CTAs per SM): each CTA walks row groups
//   blockIdx.x, + gridDim.x, ... as one flat stream of steps, so the copies of the next
//   row group are in flight while the current one is reduced, and the ramp and the ragged
//   end are paid once per launch, not once per row group;
// - each thread copies and later reads back only its own 16-byte slots, so the ring needs
//   no barrier: cp.async.wait_group orders a thread's copies with its own reads;
// - the first kStages steps (the whole ring) are copied before pdl_wait(): with programmatic
//   launch the kernel starts while the previous kernel still runs, and the weights do not
//   depend on it. A slot is refilled right after this thread has used it, so kStages - 1
//   steps stay in flight in the loop as before (p.pre_stages = kStages - 1: refilled one
//   step before use, kStages - 1 copied before the wait: the third version's order).
// Several weights sharing the input (q/k/v, gate/up) are one launch: their rows are laid
// end to end over the row groups (segments), each with its own weight and output pointer.
//
// Fused forms (m = 1): the rms_norm of the input in the prologue (norm_w), the residual
// add in the epilogue (residual), SwiGLU in the epilogue (act); kernels.h says what each
// computes. Rounding follows the unfused ops exactly: the normalized input, the outputs
// and the residual are rounded to bf16 where the separate kernels store bf16.
#include <algorithm>

#include "hearth/backend/cuda/device_utils.cuh"
#include "hearth/backend/cuda/kernels.h"

namespace hearth::cuda {

namespace {

constexpr int kWarps = 8;
constexpr int kThreads = kWarps * 32;
constexpr int kRows = 8;    // weight rows per row group
constexpr int kStages = 3;  // shared-memory ring: 3 x 32 KB per CTA, 2 CTAs per SM
constexpr size_t kSmemBytes = sizeof(uint4) * kStages * kRows * kThreads;

enum In { kInPlain = 0, kInSwiglu = 1, kInNorm = 2 };
enum Epi { kEpiPlain = 0, kEpiResidual = 1, kEpiSwiglu = 2 };

// Weight row `r` (0..7) of row group `g`: pointer to its first 16-byte chunk, or nullptr
// past the last row. Pair layout (kEpiSwiglu): rows 0-3 are segment 0's rows 4g..4g+3,
// rows 4-7 segment 1's same rows.
template <int kEpi>
__device__ __forceinline__ const uint4* row_ptr(const GemvParams& p, int64_t g, int r,
                                                int64_t chunks) {
  if constexpr (kEpi == kEpiSwiglu) {
    const int64_t row = g * (kRows / 2) + (r & 3);
    if (row >= p.seg[0].rows) return nullptr;
    return static_cast<const uint4*>(p.seg[r >> 2].w) + row * chunks;
  } else {
    int64_t row = g * kRows + r;
#pragma unroll
    for (int s = 0; s < kGemvMaxSegments; ++s) {
      if (s < p.num_segments) {
        if (row < p.seg[s].rows) return static_cast<const uint4*>(p.seg[s].w) + row * chunks;
        row -= p.seg[s].rows;
      }
    }
    return nullptr;
  }
}

__device__ __forceinline__ void store_out(const GemvParams& p, int64_t row, int i, float v) {
  for (int s = 0; s < p.num_segments; ++s) {
    if (row < p.seg[s].rows) {
      const int64_t o = i * p.seg[s].rows + row;
      if (p.out_f32)
        static_cast<float*>(p.seg[s].out)[o] = v;
      else
        static_cast<bf16*>(p.seg[s].out)[o] = __float2bfloat16(v);
      return;
    }
    row -= p.seg[s].rows;
  }
}

__device__ __forceinline__ float silu_mul(float g, float u) { return g / (1.0f + __expf(-g)) * u; }
__device__ __forceinline__ float round_bf16(float v) { return __bfloat162float(__float2bfloat16(v)); }

// The input chunk c (8 values) of row i, as the unfused ops would have stored it (bf16).
template <int kIn>
__device__ __forceinline__ void load_x(const GemvParams& p, int i, int64_t c, int64_t chunks,
                                       float inv_rms, float xf[8]) {
  unpack8(__ldg(static_cast<const uint4*>(p.x) + i * chunks + c), xf);
  if constexpr (kIn == kInSwiglu) {
    float u[8];
    unpack8(__ldg(static_cast<const uint4*>(p.x_up) + i * chunks + c), u);
#pragma unroll
    for (int j = 0; j < 8; ++j) xf[j] = round_bf16(silu_mul(xf[j], u[j]));
  } else if constexpr (kIn == kInNorm) {
    float g[8];
    unpack8(__ldg(static_cast<const uint4*>(p.norm_w) + c), g);
#pragma unroll
    for (int j = 0; j < 8; ++j) xf[j] = round_bf16(g[j] * (xf[j] * inv_rms));
  }
}

template <int M, int kIn, int kEpi>
__global__ void __launch_bounds__(kThreads, M == 1 ? 2 : 1) gemv_kernel(const GemvParams p,
                                                                        const int64_t groups,
                                                                        const int64_t early_groups) {
  extern __shared__ uint4 s_ring[];  // [kStages][kRows][kThreads]
  __shared__ float s_part[2][kWarps][kRows * M];
  __shared__ float s_red[32];
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int64_t chunks = p.k / 8;
  const int steps = static_cast<int>((chunks + kThreads - 1) / kThreads);
  // This CTA's row groups: first, first + stride, ... (my_groups of them). Plain split:
  // blockIdx.x + n gridDim.x. Early split (p.early_ctas): CTA b < E takes groups
  // [b G, (b + 1) G) (G = early_groups), the others stride over the groups past E G.
  int64_t first = blockIdx.x, stride = gridDim.x;
  const bool early = early_groups > 0 && blockIdx.x < p.early_ctas;
  if (early) {
    first = blockIdx.x * early_groups;
    stride = 1;
  } else if (early_groups > 0) {
    first = p.early_ctas * early_groups + (blockIdx.x - p.early_ctas);
    stride = gridDim.x - p.early_ctas;
  }
  const int64_t left = groups > first ? groups - first : 0;
  const int64_t my_groups = early ? min(early_groups, left) : (left + stride - 1) / stride;
  // This CTA's flat stream of steps. Both ends walk it with 32-bit counters advanced by
  // one (no 64-bit divisions per step: the kernel is partly instruction-bound), and the
  // copy side finds the kRows weight row pointers once per row group.
  const int total = static_cast<int>(my_groups * steps);
  const uint32_t ring = smem_addr(s_ring);

  int i_left = total, i_step = 0, i_slot = 0;
  int64_t i_group = first;
  const uint4* w_rows[kRows];
#pragma unroll
  for (int r = 0; r < kRows; ++r) w_rows[r] = total > 0 ? row_ptr<kEpi>(p, i_group, r, chunks) : nullptr;
  // Copies the next step of the stream into its ring slot (zero-filled past the ends).
  auto issue = [&]() {
    if (i_left > 0) {
      const int64_t c = static_cast<int64_t>(i_step) * kThreads + tid;
      const uint32_t slot = ring + static_cast<uint32_t>(i_slot * kRows * kThreads + tid) * 16u;
#pragma unroll
      for (int r = 0; r < kRows; ++r) {
        const bool ok = w_rows[r] != nullptr && c < chunks;
        ring_copy16(slot + r * kThreads * 16u, ok ? static_cast<const void*>(w_rows[r] + c) : p.x, ok ? 16 : 0);
      }
      --i_left;
      if (++i_slot == kStages) i_slot = 0;
      if (++i_step == steps) {
        i_step = 0;
        i_group += stride;
        if (i_left > 0) {
#pragma unroll
          for (int r = 0; r < kRows; ++r) w_rows[r] = row_ptr<kEpi>(p, i_group, r, chunks);
        }
      }
    }
    ring_commit();  // empty groups past the end keep the wait count uniform
  };

  // Refill a slot after its use (late) or one step before it: same copies in flight in the
  // loop, one more step in flight while this kernel waits for the previous one.
  const bool late = p.pre_stages != kStages - 1;
#pragma unroll
  for (int s = 0; s < kStages - 1; ++s) issue();
  if (late) issue();
  pdl_wait();  // x (and the residual) are the previous kernel's output
  pdl_trigger();

  float inv_rms = 0.0f;
  if constexpr (kIn == kInNorm) {
    static_assert(M == 1, "the fused norm is for single-row decode");
    float ss = 0.0f;
    for (int64_t c = tid; c < chunks; c += kThreads) {
      float a[8];
      unpack8(__ldg(static_cast<const uint4*>(p.x) + c), a);
#pragma unroll
      for (int j = 0; j < 8; ++j) ss += a[j] * a[j];
    }
    inv_rms = rsqrtf(block_sum(ss, s_red) / static_cast<float>(p.k) + p.eps);
    if (blockIdx.x == 0 && p.normed != nullptr) {
      for (int64_t c = tid; c < chunks; c += kThreads) {
        float xf[8];
        load_x<kIn>(p, 0, c, chunks, inv_rms, xf);
        static_cast<uint4*>(p.normed)[c] = pack8(xf);
      }
    }
  }

  float acc[kRows][M];
#pragma unroll
  for (int r = 0; r < kRows; ++r)
#pragma unroll
    for (int i = 0; i < M; ++i) acc[r][i] = 0.0f;

  int parity = 0;
  int c_step = 0, c_slot = 0;  // the consume side's position in the stream
  int64_t c_group = first;
  for (int t = 0; t < total; ++t) {
    if (!late) issue();        // step t + kStages - 1 into the slot used at step t - 1
    ring_wait<kStages - 1>();  // step t has landed (this thread's slots)
    const int s = c_step;
    const int64_t c = static_cast<int64_t>(s) * kThreads + tid;
    if (c < chunks) {
      const uint4* slot = s_ring + c_slot * kRows * kThreads + tid;
      float wf[kRows][8];
#pragma unroll
      for (int r = 0; r < kRows; ++r) unpack8(slot[r * kThreads], wf[r]);
#pragma unroll
      for (int i = 0; i < M; ++i) {
        if (i >= p.m) break;
        float xf[8];
        load_x<kIn>(p, i, c, chunks, inv_rms, xf);
#pragma unroll
        for (int r = 0; r < kRows; ++r)
#pragma unroll
          for (int j = 0; j < 8; ++j) acc[r][i] = fmaf(wf[r][j], xf[j], acc[r][i]);
      }
    }
    // Step t + kStages into the slot just read. The memory clobber keeps the shared loads
    // above before the copy in program order; as in the other order (the slot refilled one
    // step after its read) nothing else separates them, and GpuDecode.DecodeVariants-
    // ComputeTheSameBits compares the two orders bit for bit on the device.
    if (late) issue();
    if (++c_slot == kStages) c_slot = 0;
    if (s != steps - 1) {
      c_step = s + 1;
      continue;
    }
    c_step = 0;

    // End of a row group: reduce over the CTA. s_part is double-buffered: the barrier of
    // the next reduction orders this one's reads before the buffer is written again.
    const int64_t g = c_group;
    c_group += stride;
#pragma unroll
    for (int r = 0; r < kRows; ++r)
#pragma unroll
      for (int i = 0; i < M; ++i) {
        const float v = warp_sum(acc[r][i]);
        acc[r][i] = 0.0f;
        if (lane == 0) s_part[parity][warp][r * M + i] = v;
      }
    __syncthreads();
    if constexpr (kEpi == kEpiSwiglu) {
      if (tid < kRows / 2) {
        float gate = 0.0f, up = 0.0f;
#pragma unroll
        for (int q = 0; q < kWarps; ++q) {
          gate += s_part[parity][q][tid];
          up += s_part[parity][q][tid + kRows / 2];
        }
        const int64_t row = g * (kRows / 2) + tid;
        // As stored by the unfused ops: gate and up in bf16, then swiglu rounded once.
        if (row < p.seg[0].rows)
          static_cast<bf16*>(p.act)[row] = __float2bfloat16(silu_mul(round_bf16(gate), round_bf16(up)));
      }
    } else {
      if (tid < kRows * M) {
        const int r = tid / M, i = tid % M;
        float v = 0.0f;
#pragma unroll
        for (int q = 0; q < kWarps; ++q) v += s_part[parity][q][tid];
        const int64_t row = g * kRows + r;
        if (i < p.m) {
          if constexpr (kEpi == kEpiResidual) {
            // One segment; out is bf16. residual += bf16(out), rounded to bf16 as the
            // fused add + norm kernel does.
            if (row < p.seg[0].rows) {
              const bf16 o = __float2bfloat16(v);
              if (p.seg[0].out != nullptr) static_cast<bf16*>(p.seg[0].out)[i * p.seg[0].rows + row] = o;
              bf16* res = static_cast<bf16*>(p.residual) + i * p.seg[0].rows + row;
              *res = __float2bfloat16(__bfloat162float(*res) + __bfloat162float(o));
            }
          } else {
            // store_out finds the row's segment (and skips rows past the last).
            store_out(p, row, i, v);
          }
        }
      }
    }
    parity ^= 1;
  }
  ring_wait<0>();  // nothing may be in flight into shared memory at exit
}

template <int M, int kIn, int kEpi>
cudaError_t launch_kernel(const GemvParams& p, int64_t groups, cudaStream_t stream) {
  auto* kernel = gemv_kernel<M, kIn, kEpi>;
  // Past 48 KB of dynamic shared memory a kernel must opt in, once per function; the
  // carveout asks for the shared-memory split that fits two CTAs (2 x 96 KB) per SM.
  static const cudaError_t attr = [&] {
    cudaError_t e = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                         static_cast<int>(kSmemBytes));
    if (e == cudaSuccess)
      e = cudaFuncSetAttribute(kernel, cudaFuncAttributePreferredSharedMemoryCarveout,
                               static_cast<int>(cudaSharedmemCarveoutMaxShared));
    return e;
  }();
  if (attr != cudaSuccess) return attr;
  int64_t grid = groups;
  if (p.max_ctas > 0 && grid > p.max_ctas) grid = p.max_ctas;
  // Early split: an early CTA runs about kStages + 1 steps more than a late one (its first
  // kStages steps arrive before the kernel before ends; the late ones pay a ramp), i.e. per
  // step count a of an early and b of a late CTA: a = b + kStages + 1, E a + (grid - E) b =
  // all steps; a in whole row groups, at least the plain split's share, at most groups / E.
  int64_t early_groups = 0;
  const int64_t e = p.early_ctas;
  if (M == 1 && e > 0 && e < grid) {
    const int64_t steps = (p.k / 8 + kThreads - 1) / kThreads;
    const double late = std::max(0.0, static_cast<double>(groups * steps - e * (kStages + 1)) / grid);
    const auto a_groups = static_cast<int64_t>((late + kStages + 1) / steps + 0.5);
    early_groups = std::min(std::max(a_groups, (groups + grid - 1) / grid), groups / e);
  }
  return launch_pdl(kernel, dim3(static_cast<unsigned>(grid)), dim3(kThreads), kSmemBytes, stream,
                    p, groups, early_groups);
}

template <int M>
cudaError_t launch_m(const GemvParams& p, int64_t groups, cudaStream_t stream) {
  if (p.x_up != nullptr) return launch_kernel<M, kInSwiglu, kEpiPlain>(p, groups, stream);
  return launch_kernel<M, kInPlain, kEpiPlain>(p, groups, stream);
}

}  // namespace

cudaError_t launch_gemv(const GemvParams& p, cudaStream_t stream) {
  if (p.m < 1 || p.m > kGemvMaxM || p.k <= 0 || p.k % 8 != 0 || !aligned16(p.x) ||
      (p.x_up != nullptr && !aligned16(p.x_up)) || p.num_segments < 1 ||
      p.num_segments > kGemvMaxSegments || p.max_ctas < 0 || p.early_ctas < 0 ||
      (p.pre_stages != 0 && p.pre_stages != kStages - 1 && p.pre_stages != kStages))
    return cudaErrorInvalidValue;
  int64_t rows = 0;
  for (int s = 0; s < p.num_segments; ++s) {
    if (!aligned16(p.seg[s].w) || p.seg[s].rows < 0) return cudaErrorInvalidValue;
    rows += p.seg[s].rows;
  }
  const bool fused = p.norm_w != nullptr || p.residual != nullptr || p.act != nullptr;
  if (fused) {
    // The fused forms: one row, one kind of fusion per end, no fused SwiGLU input read.
    if (p.m != 1 || p.x_up != nullptr || (p.residual != nullptr && (p.norm_w != nullptr ||
        p.act != nullptr || p.num_segments != 1 || p.out_f32)))
      return cudaErrorInvalidValue;
    if (p.norm_w != nullptr && !aligned16(p.norm_w)) return cudaErrorInvalidValue;
    if (p.act != nullptr && (p.norm_w == nullptr || p.num_segments != 2 ||
                             p.seg[0].rows != p.seg[1].rows || p.out_f32))
      return cudaErrorInvalidValue;
  }
  if (rows == 0) return cudaGetLastError();
  if (p.act != nullptr)
    return launch_kernel<1, kInNorm, kEpiSwiglu>(p, (p.seg[0].rows + kRows / 2 - 1) / (kRows / 2), stream);
  const int64_t groups = (rows + kRows - 1) / kRows;
  if (p.norm_w != nullptr) return launch_kernel<1, kInNorm, kEpiPlain>(p, groups, stream);
  if (p.residual != nullptr) return launch_kernel<1, kInPlain, kEpiResidual>(p, groups, stream);
  if (p.m == 1) return launch_m<1>(p, groups, stream);
  if (p.m == 2) return launch_m<2>(p, groups, stream);
  if (p.m <= 4) return launch_m<4>(p, groups, stream);
  return launch_m<8>(p, groups, stream);
}

}  // namespace hearth::cuda
