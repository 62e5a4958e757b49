// Causal prefill attention over the paged KV cache, FlashAttention-2 style: the kernel for
// Ada and Ampere (mma.sync), and the dispatcher that picks the Hopper kernel
// (attention_prefill_sm90.cu, wgmma) where it was compiled in and runs.
//
// One CTA = 64 query rows (half of a kPrefillTileRows = 128 tile) of one sequence x one
// query head; 4 warps, 16 rows each. The Q tile stays in registers (as mma A fragments)
// for the whole KV loop; K/V tiles of 64 positions are gathered through the block table
// with cp.async into a double buffer, so the next tile's loads overlap this tile's math.
// S = Q K^T and O += P V run on the bf16 tensor cores (mma.sync m16n8k16, fp32
// accumulators); the softmax is online, in the log2 domain (the scale folded into one
// FFMA per score before ex2), with P re-packed from the S accumulators straight into A
// fragments (the C layout of two adjacent n8 tiles is the A layout of one k16 step). The
// causal mask is applied only to tiles that cross the diagonal. An fp8 (e4m3) cache is
// gathered as fp8 into a staging double buffer and converted into the bf16 tiles at the
// top of each iteration (exact), the per-tensor scales folded into the score scale and
// the output normalization.
//
// Rows and positions: a sequence with context length ctx and q_len new tokens has its new
// token i at position ctx - q_len + i, which sees cache positions 0..that position.
#include <cfloat>
#include <cstdlib>
#include <cstring>

#include "hearth/backend/cuda/device_utils.cuh"
#include "hearth/backend/cuda/kernels.h"

namespace hearth::cuda {

namespace {

constexpr int kBlockM = 64;  // query rows per CTA: half of a kPrefillTileRows tile
constexpr int kHalves = kPrefillTileRows / kBlockM;
constexpr int kBlockN = 64;  // cache positions per K/V tile
constexpr int kWarps = 4;
constexpr int kThreads = kWarps * 32;
constexpr float kLog2e = 1.4426950408889634f;
static_assert(kPrefillTileRows % kBlockM == 0, "a prefill tile is a whole number of CTAs");

template <int D, bool kFp8>
struct Smem {
  // Rows padded by 16 bytes: ldmatrix reads 8 rows x 16 bytes, and a 16-byte shift per row
  // spreads them over all 32 banks (an unpadded 128- or 256-byte row stride would put all
  // 8 rows in the same banks).
  static constexpr int kStride = D + 8;
  static constexpr int kTile = kBlockN * kStride;  // elements of one K or V tile
  static constexpr int kQ = kBlockM * kStride;
  // bf16 cache: K and V tiles double-buffered (cp.async lands in the tile the next
  // iteration reads). fp8 cache: the fp8 tiles are double-buffered in a staging area
  // (kBlockN x D bytes each, unpadded) and converted into one bf16 K and V tile at the
  // top of each iteration, so the math below is the same for both.
  static constexpr int kBufs = kFp8 ? 1 : 2;
  static constexpr int kStage8 = kBlockN * D;  // bytes of one fp8 K or V tile
  static constexpr size_t kBytes = static_cast<size_t>(kQ + 2 * kBufs * kTile) * sizeof(bf16) +
                                   (kFp8 ? 4 * kStage8 : 0);
};

__device__ __forceinline__ float fast_exp2(float x) {  // inputs <= 0 or -inf; ex2(-inf) = 0
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(y) : "f"(x));
  return y;
}

template <int D, bool kFp8>
__global__ void __launch_bounds__(kThreads)
    prefill_attention_kernel(const AttentionParams p, const int32_t* __restrict__ tiles) {
  using S = Smem<D, kFp8>;
  constexpr int kStride = S::kStride;
  constexpr int kChunks = D / 8;  // 16-byte chunks per row
  extern __shared__ __align__(16) unsigned char smem_raw[];
  bf16* s_q = reinterpret_cast<bf16*>(smem_raw);
  bf16* s_k = s_q + S::kQ;                 // [kBufs][kBlockN][kStride]
  bf16* s_v = s_k + S::kBufs * S::kTile;   // [kBufs][kBlockN][kStride]
  // fp8 staging: [2 buffers][K, V][kBlockN][D] bytes.
  unsigned char* s_8 = reinterpret_cast<unsigned char*>(s_v + S::kBufs * S::kTile);

  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  // Heads vary fastest, then the two halves of a tile: the CTAs of one tile (and the
  // query heads sharing a K/V head) run together, so K/V tiles are read from L2 once per
  // group, and the heaviest-first order of the tile list carries over to the launch order.
  const int h = static_cast<int>(blockIdx.x) % p.heads;
  const int half = static_cast<int>(blockIdx.x) / p.heads;
  const int tile = half / kHalves;
  const int seq = tiles[2 * tile];
  const int row0 = tiles[2 * tile + 1] + (half % kHalves) * kBlockM;
  const int kvh = h / (p.heads / p.kv_heads);
  const int q_begin = p.query_start[seq];
  const int q_len = p.query_start[seq + 1] - q_begin;
  if (row0 >= q_len) return;  // the second half of a sequence's last, short tile
  const int past = p.context_lens[seq] - q_len;  // cached positions before this step
  const int rows = min(kBlockM, q_len - row0);
  const int kv_end = past + row0 + rows;  // positions visible to the tile's last row
  const int n_tiles = (kv_end + kBlockN - 1) / kBlockN;

  const int64_t q_stride = static_cast<int64_t>(p.heads) * D;
  const int64_t slot_stride = static_cast<int64_t>(p.kv_heads) * D;
  const bf16* q_g = static_cast<const bf16*>(p.q) + (q_begin + row0) * q_stride +
                    static_cast<int64_t>(h) * D;
  const bf16* k_g = static_cast<const bf16*>(p.k_cache) + static_cast<int64_t>(kvh) * D;
  const bf16* v_g = static_cast<const bf16*>(p.v_cache) + static_cast<int64_t>(kvh) * D;
  const int32_t* table = p.block_tables + static_cast<int64_t>(seq) * p.max_blocks_per_seq;
  [[maybe_unused]] const unsigned char* k8_g =
      static_cast<const unsigned char*>(p.k_cache) + static_cast<int64_t>(kvh) * D;
  [[maybe_unused]] const unsigned char* v8_g =
      static_cast<const unsigned char*>(p.v_cache) + static_cast<int64_t>(kvh) * D;

  for (int c = tid; c < kBlockM * kChunks; c += kThreads) {
    const int r = c / kChunks, col = (c % kChunks) * 8;
    const bool ok = r < rows;
    cp_async_16(s_q + r * kStride + col, ok ? q_g + r * q_stride + col : q_g, ok ? 16 : 0);
  }
  // fp8: tile t's bytes into staging buffer buf (16 fp8 per copy).
  [[maybe_unused]] auto load_kv8 = [&](int t, int buf) {
    unsigned char* dk = s_8 + buf * 2 * S::kStage8;
    unsigned char* dv = dk + S::kStage8;
    const int n0 = t * kBlockN;
    for (int c = tid; c < kBlockN * (D / 16); c += kThreads) {
      const int r = c / (D / 16), col = (c % (D / 16)) * 16;
      const int pos = n0 + r;
      const bool ok = pos < kv_end;
      int64_t off = 0;
      if (ok) {
        const int64_t slot = static_cast<int64_t>(table[pos / p.block_size]) * p.block_size +
                             pos % p.block_size;
        off = slot * slot_stride + col;
      }
      cp_async_16(dk + r * D + col, k8_g + off, ok ? 16 : 0);
      cp_async_16(dv + r * D + col, v8_g + off, ok ? 16 : 0);
    }
  };
  // fp8: staging buffer buf -> the bf16 K and V tiles (exact; the scales are applied to
  // the scores and the output).
  [[maybe_unused]] auto convert_kv8 = [&](int buf) {
    const unsigned char* sk = s_8 + buf * 2 * S::kStage8;
    const unsigned char* sv = sk + S::kStage8;
    for (int c = tid; c < kBlockN * kChunks; c += kThreads) {
      const int r = c / kChunks, col = (c % kChunks) * 8;
      *reinterpret_cast<uint4*>(s_k + r * kStride + col) =
          e4m3x8_to_bf16x8(*reinterpret_cast<const uint2*>(sk + r * D + col));
      *reinterpret_cast<uint4*>(s_v + r * kStride + col) =
          e4m3x8_to_bf16x8(*reinterpret_cast<const uint2*>(sv + r * D + col));
    }
  };
  auto load_kv = [&](int t, int buf) {
    bf16* dk = s_k + buf * S::kTile;
    bf16* dv = s_v + buf * S::kTile;
    const int n0 = t * kBlockN;
    for (int c = tid; c < kBlockN * kChunks; c += kThreads) {
      const int r = c / kChunks, col = (c % kChunks) * 8;
      const int pos = n0 + r;
      const bool ok = pos < kv_end;
      int64_t off = 0;
      if (ok) {
        const int64_t slot = static_cast<int64_t>(table[pos / p.block_size]) * p.block_size +
                             pos % p.block_size;
        off = slot * slot_stride + col;
      }
      cp_async_16(dk + r * kStride + col, k_g + off, ok ? 16 : 0);
      cp_async_16(dv + r * kStride + col, v_g + off, ok ? 16 : 0);
    }
  };
  if constexpr (kFp8) {
    load_kv8(0, 0);
  } else {
    load_kv(0, 0);
  }
  cp_async_commit();  // group 0: Q and the first K/V tile

  const int g = lane >> 2, tq = lane & 3;
  const int mi = lane >> 3;  // which 8x8 matrix this lane addresses in ldmatrix.x4
  const int r_lo = warp * 16 + g;  // this thread's accumulator rows: r_lo and r_lo + 8
  const int lim_lo = past + row0 + r_lo;  // last visible position of each row
  const int lim_hi = lim_lo + 8;
  const int first_lim = past + row0;  // the CTA's first row: tiles past it need the mask
  const float scale_log2 = p.scale * kLog2e * (kFp8 ? p.k_scale : 1.0f);

  uint32_t qf[D / 16][4];
  float o[D / 8][4];
#pragma unroll
  for (int i = 0; i < D / 8; ++i) o[i][0] = o[i][1] = o[i][2] = o[i][3] = 0.0f;
  // Running maxima in raw-score units (the scale is applied inside the exponent).
  float m_lo = -INFINITY, m_hi = -INFINITY, l_lo = 0.0f, l_hi = 0.0f;

  for (int j = 0; j < n_tiles; ++j) {
    // Tile j (and, at j = 0, Q) has landed for this thread; the barrier makes it so for
    // all, and also means every warp is done with tile j - 1, whose buffer the prefetch of
    // tile j + 1 below overwrites.
    cp_async_wait<0>();
    __syncthreads();
    if constexpr (kFp8) {
      // The staging buffer of tile j + 1 held tile j - 1, converted before that barrier.
      convert_kv8(j & 1);
      if (j + 1 < n_tiles) load_kv8(j + 1, (j + 1) & 1);
      cp_async_commit();
      __syncthreads();  // the converted tile, for every warp
    } else {
      if (j + 1 < n_tiles) load_kv(j + 1, (j + 1) & 1);
      cp_async_commit();
    }
    if (j == 0) {
#pragma unroll
      for (int kk = 0; kk < D / 16; ++kk)
        ldmatrix_x4(qf[kk], s_q + (warp * 16 + (lane & 15)) * kStride + kk * 16 + (lane >> 4) * 8);
    }
    const bf16* k_s = s_k + (kFp8 ? 0 : (j & 1)) * S::kTile;
    const bf16* v_s = s_v + (kFp8 ? 0 : (j & 1)) * S::kTile;

    // S = Q K^T for this warp's 16 rows x 64 positions.
    float sc[kBlockN / 8][4];
#pragma unroll
    for (int i = 0; i < kBlockN / 8; ++i) sc[i][0] = sc[i][1] = sc[i][2] = sc[i][3] = 0.0f;
#pragma unroll
    for (int kk = 0; kk < D / 16; ++kk) {
#pragma unroll
      for (int np = 0; np < kBlockN / 16; ++np) {
        // K rows are the mma's n dimension, head_dim its k: K in smem is already the
        // "col" B layout, so no transpose. Matrices: (n, k), (n, k+8), (n+8, k), (n+8, k+8).
        uint32_t b[4];
        ldmatrix_x4(b, k_s + (np * 16 + (mi >> 1) * 8 + (lane & 7)) * kStride + kk * 16 +
                           (mi & 1) * 8);
        mma_bf16_16816(sc[2 * np], qf[kk], b[0], b[1]);
        mma_bf16_16816(sc[2 * np + 1], qf[kk], b[2], b[3]);
      }
    }

    // Causal mask (only where the tile reaches past the first row's last position: the
    // diagonal tiles and the zero-filled tail), then the row max over the quad that
    // shares a row.
    const int n0 = j * kBlockN;
    if (n0 + kBlockN - 1 > first_lim) {
#pragma unroll
      for (int nt = 0; nt < kBlockN / 8; ++nt) {
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const int col = n0 + nt * 8 + 2 * tq + (e & 1);
          if (col > (e < 2 ? lim_lo : lim_hi)) sc[nt][e] = -INFINITY;
        }
      }
    }
    float mx_lo = -INFINITY, mx_hi = -INFINITY;
#pragma unroll
    for (int nt = 0; nt < kBlockN / 8; ++nt) {
      mx_lo = fmaxf(mx_lo, fmaxf(sc[nt][0], sc[nt][1]));
      mx_hi = fmaxf(mx_hi, fmaxf(sc[nt][2], sc[nt][3]));
    }
    mx_lo = fmaxf(mx_lo, __shfl_xor_sync(0xffffffffu, mx_lo, 1));
    mx_lo = fmaxf(mx_lo, __shfl_xor_sync(0xffffffffu, mx_lo, 2));
    mx_hi = fmaxf(mx_hi, __shfl_xor_sync(0xffffffffu, mx_hi, 1));
    mx_hi = fmaxf(mx_hi, __shfl_xor_sync(0xffffffffu, mx_hi, 2));
    const float new_lo = fmaxf(m_lo, mx_lo), new_hi = fmaxf(m_hi, mx_hi);
    // Position 0 is visible to every row, so the first tile makes every max finite; the
    // guard only keeps -inf - -inf (NaN) out of exp2 should that ever change.
    const float base_lo = (new_lo == -INFINITY ? 0.0f : new_lo) * scale_log2;
    const float base_hi = (new_hi == -INFINITY ? 0.0f : new_hi) * scale_log2;
    const float corr_lo = fast_exp2(fmaf(m_lo, scale_log2, -base_lo));
    const float corr_hi = fast_exp2(fmaf(m_hi, scale_log2, -base_hi));
    m_lo = new_lo;
    m_hi = new_hi;
    float sum_lo = 0.0f, sum_hi = 0.0f;
#pragma unroll
    for (int nt = 0; nt < kBlockN / 8; ++nt) {
      sc[nt][0] = fast_exp2(fmaf(sc[nt][0], scale_log2, -base_lo));
      sc[nt][1] = fast_exp2(fmaf(sc[nt][1], scale_log2, -base_lo));
      sc[nt][2] = fast_exp2(fmaf(sc[nt][2], scale_log2, -base_hi));
      sc[nt][3] = fast_exp2(fmaf(sc[nt][3], scale_log2, -base_hi));
      sum_lo += sc[nt][0] + sc[nt][1];
      sum_hi += sc[nt][2] + sc[nt][3];
    }
    // Per-thread partial row sums; the quad reduction happens once, after the loop.
    l_lo = l_lo * corr_lo + sum_lo;
    l_hi = l_hi * corr_hi + sum_hi;
#pragma unroll
    for (int dt = 0; dt < D / 8; ++dt) {
      o[dt][0] *= corr_lo;
      o[dt][1] *= corr_lo;
      o[dt][2] *= corr_hi;
      o[dt][3] *= corr_hi;
    }

    // O += P V. V in smem is [position][head_dim] = [k][n]: ldmatrix.trans gives the "col"
    // B layout. Matrices: (k, n), (k+8, n), (k, n+8), (k+8, n+8).
#pragma unroll
    for (int kk = 0; kk < kBlockN / 16; ++kk) {
      uint32_t a[4];
      a[0] = pack_bf16x2(sc[2 * kk][0], sc[2 * kk][1]);
      a[1] = pack_bf16x2(sc[2 * kk][2], sc[2 * kk][3]);
      a[2] = pack_bf16x2(sc[2 * kk + 1][0], sc[2 * kk + 1][1]);
      a[3] = pack_bf16x2(sc[2 * kk + 1][2], sc[2 * kk + 1][3]);
#pragma unroll
      for (int dp = 0; dp < D / 16; ++dp) {
        uint32_t b[4];
        ldmatrix_x4_trans(b, v_s + (kk * 16 + (mi & 1) * 8 + (lane & 7)) * kStride + dp * 16 +
                                 (mi >> 1) * 8);
        mma_bf16_16816(o[2 * dp], a, b[0], b[1]);
        mma_bf16_16816(o[2 * dp + 1], a, b[2], b[3]);
      }
    }
  }

  l_lo += __shfl_xor_sync(0xffffffffu, l_lo, 1);
  l_lo += __shfl_xor_sync(0xffffffffu, l_lo, 2);
  l_hi += __shfl_xor_sync(0xffffffffu, l_hi, 1);
  l_hi += __shfl_xor_sync(0xffffffffu, l_hi, 2);
  const float v_scale = kFp8 ? p.v_scale : 1.0f;
  const float inv_lo = l_lo > 0.0f ? v_scale / l_lo : 0.0f;
  const float inv_hi = l_hi > 0.0f ? v_scale / l_hi : 0.0f;
  bf16* o_g = static_cast<bf16*>(p.out) + (q_begin + row0) * q_stride + static_cast<int64_t>(h) * D;
  if (r_lo < rows) {
#pragma unroll
    for (int dt = 0; dt < D / 8; ++dt)
      *reinterpret_cast<uint32_t*>(o_g + r_lo * q_stride + dt * 8 + 2 * tq) =
          pack_bf16x2(o[dt][0] * inv_lo, o[dt][1] * inv_lo);
  }
  if (r_lo + 8 < rows) {
#pragma unroll
    for (int dt = 0; dt < D / 8; ++dt)
      *reinterpret_cast<uint32_t*>(o_g + (r_lo + 8) * q_stride + dt * 8 + 2 * tq) =
          pack_bf16x2(o[dt][2] * inv_hi, o[dt][3] * inv_hi);
  }
}

template <int D, bool kFp8>
cudaError_t launch_for(const AttentionParams& p, const int32_t* tiles, int num_tiles,
                       cudaStream_t stream) {
  constexpr size_t kBytes = Smem<D, kFp8>::kBytes;
  // Above 48 KB a kernel must opt in to dynamic shared memory; once per process is enough
  // but the call is cheap and idempotent, and doing it here keeps the launcher stateless.
  if (kBytes > 48 * 1024) {
    const cudaError_t e = cudaFuncSetAttribute(prefill_attention_kernel<D, kFp8>,
                                               cudaFuncAttributeMaxDynamicSharedMemorySize,
                                               static_cast<int>(kBytes));
    if (e != cudaSuccess) return e;
  }
  const unsigned grid = static_cast<unsigned>(num_tiles) * kHalves * static_cast<unsigned>(p.heads);
  prefill_attention_kernel<D, kFp8><<<grid, kThreads, kBytes, stream>>>(p, tiles);
  return cudaGetLastError();
}

// HEARTH_PREFILL_KERNEL=fa2|sm90|auto (default auto): which kernel prefill uses where both
// run. Read at every launch (a getenv is far cheaper than the kernel) so that tests and
// benchmarks can compare the two in one process.
PrefillKernel requested_kernel() {
  const char* v = std::getenv("HEARTH_PREFILL_KERNEL");
  if (v == nullptr || std::strcmp(v, "auto") == 0 || *v == '\0') return PrefillKernel::Auto;
  if (std::strcmp(v, "fa2") == 0) return PrefillKernel::Fa2;
  if (std::strcmp(v, "sm90") == 0) return PrefillKernel::Sm90;
  return PrefillKernel::Auto;  // unknown values: the default
}

}  // namespace

bool prefill_supports_head_dim(int head_dim) { return head_dim == 64 || head_dim == 128; }

PrefillKernel prefill_kernel_for(int head_dim) {
  const PrefillKernel want = requested_kernel();
  if (want == PrefillKernel::Fa2) return PrefillKernel::Fa2;
  return prefill_sm90_available(head_dim) ? PrefillKernel::Sm90 : PrefillKernel::Fa2;
}

const char* prefill_kernel_name(PrefillKernel k) {
  switch (k) {
    case PrefillKernel::Fa2: return "fa2";
    case PrefillKernel::Sm90: return "sm90";
    default: return "auto";
  }
}

cudaError_t launch_prefill_attention(const AttentionParams& p, const int32_t* tiles,
                                     int num_tiles, cudaStream_t stream) {
  if (num_tiles <= 0) return cudaGetLastError();
  if (prefill_kernel_for(p.head_dim) == PrefillKernel::Sm90)
    return launch_prefill_attention_sm90(p, tiles, num_tiles, stream);
  switch (p.head_dim) {
    case 64: return p.kv_fp8 ? launch_for<64, true>(p, tiles, num_tiles, stream)
                             : launch_for<64, false>(p, tiles, num_tiles, stream);
    case 128: return p.kv_fp8 ? launch_for<128, true>(p, tiles, num_tiles, stream)
                              : launch_for<128, false>(p, tiles, num_tiles, stream);
    default: return cudaErrorInvalidValue;
  }
}

}  // namespace hearth::cuda
