// Decode attention on the tensor cores: one query token per CTA row of the grid, the GQA
// group of query heads as the mma M dimension, K/V tiles streamed by cp.async through a
// per-warp ring of shared-memory stages. Head dims 64 and 128, up to 8 query heads per kv
// head, bf16 or fp8 (e4m3) KV cache.
//
// Why: the SIMT kernel (attention_decode.cu) reached ~35 % of the copy bandwidth at batch
// 16..64, because each cache row costs it a chain of shuffles (a dot product spread over
// 16 lanes, per query head) and each CTA has few loads in flight. Here the dot products are
// mma.sync, and each warp keeps kStages - 1 tiles of 16 positions in flight while it works
// on one, with no CTA barrier in the loop.
//
// One CTA = one query token x one kv head x one split of its context, 4 warps. Warp w takes
// the split's 16-position tiles w, w + 4, ...; per tile:
//   S   = Q K^T    M = query heads (rows 0..7 of 16; rows >= group are zero), N = 16
//                  positions (two n8 tiles), K = head_dim: Q from registers, K by ldmatrix;
//   online softmax on the S accumulators (log2 domain), per head over the lane quad;
//   O^T += V^T P^T M = head_dim (16 per tile), N = 8 heads, K = 16 positions: V^T by
//                  ldmatrix.trans, P^T straight from the S accumulators (the C layout of
//                  the two n8 tiles of S, rows 0..7, is the B layout of one k16 step).
// The O^T accumulator (head_dim x 8 heads) wastes nothing at group 8 and half at group 4;
// the padded rows of S cost tensor-core time only, which decode has to spare.
//
// fp8 cache: K and V tiles stay fp8 in shared memory (half the bytes per stage) and are
// converted to fp16 after ldmatrix (cvt.rn.f16x2.e4m3x2: exact), so the products run as
// fp16 mma with Q and P in fp16. ldmatrix moves 16-bit pairs, so an fp8 K fragment holds 4
// consecutive head_dim entries where the mma expects 2 + 2 eight apart: the reduction
// (head_dim) order is permuted, identically for Q, which changes nothing. For V, the pair
// of positions a fragment needs sits in two rows: ldmatrix.trans gives 2 positions x 2
// adjacent dims, a byte permute regroups them by dim, and the output dims of an m16 tile
// come out interleaved (slot r < 8: dim 2r, slot r >= 8: dim 2(r - 8) + 1). The per-tensor
// scales go into the score scale (K) and the output normalization (V).
//
// The fused form (decode steps, kernels.h DecodeFusion) also does the q/k norm + RoPE, the
// KV-cache write of the step's own k/v row (by the CTA whose split holds it, made visible
// to its own loads by a fence and the barrier before the loop) and the split combine in the
// last CTA of each (token, kv head), as the SIMT kernel does.
#include <cstdlib>
#include <cstring>

#include "hearth/backend/cuda/device_utils.cuh"
#include "hearth/backend/cuda/kernels.h"
#include "hearth/backend/cuda/rope_device.cuh"

namespace hearth::cuda {

namespace {

constexpr int kWarps = 4;
constexpr int kThreads = kWarps * 32;
constexpr int kTileN = 16;      // positions per warp tile
constexpr int kMaxGroup = 8;    // query heads per kv head (rows of S that are real)
constexpr int kTableCap = 512;  // block-table entries of a split kept in shared memory
constexpr float kLog2e = 1.4426950408889634f;
constexpr int kAutoWaves = 4;  // variant 1 from grids of this many waves of variant 0

// Ring variants (head dim 128; head dim 64 keeps variant 0):
//   0: bf16 3 stages (104 KB per CTA), fp8 5 stages (90 KB): 2 CTAs (8 warps) per SM;
//   1: bf16 2 stages (70 KB): 3 CTAs per SM; fp8 2 stages (37 KB): 4 CTAs per SM (the
//      registers, ~120 per thread, allow no fifth). Fewer tiles in flight per warp, more
//      warps per SM. Measured (NOTES.md, round 3, with the whole-line loads): variant 1
//      loses where the grid takes as many waves of it as of variant 0 (batch 16: -1..-15 %
//      in speed; bf16 batch 64, 512 CTAs = 2 waves either way: -7..-11 %), and wins where
//      it takes fewer (fp8 batch 64: 512 CTAs in one wave of 528 slots instead of two of
//      264: +1 % at 8k to +30 % at 256 positions) or the grid is many waves (batch 256:
//      bf16 -0.3..+15 %, fp8 +2..41 %, most at short contexts).
//   So by default variant 1 runs when the grid is >= 4 waves of variant 0 (kAutoWaves)
//   or needs fewer waves of variant 1 than of variant 0 (the split plan, made for 2 CTAs
//   per SM, gives such grids 1 split); HEARTH_CUDA_DECODE_VARIANT=0/1 forces one.
template <int D, bool kFp8, int kVar = 0>
struct Ring {
  // Rows padded by 16 bytes: ldmatrix reads 8 rows x 16 bytes, and the shift spreads them
  // over all banks (a 128- or 256-byte row stride would put the 8 rows in the same banks).
  static constexpr int kRowBytes = D * (kFp8 ? 1 : 2) + 16;
  static constexpr int kTileBytes = kTileN * kRowBytes;  // one K or V tile
  // Stages per warp (variant 0: bf16 104 KB per CTA, fp8 90 KB; 2 CTAs per SM either way).
  static constexpr int kStages = kVar == 0 ? (kFp8 ? 5 : 3) : 2;
  // CTAs per SM the register budget is set for (__launch_bounds__).
  static constexpr int kMinCtas = kVar == 0 ? 2 : (kFp8 ? 4 : 3);
  static constexpr int kWarpBytes = kStages * 2 * kTileBytes;
  static constexpr int kBytes = kWarps * kWarpBytes;
  static constexpr int kChunksPerRow = D * (kFp8 ? 1 : 2) / 16;  // 16-byte chunks
  // After the loop the ring holds the warps' partial results: [warp][head][D] floats.
  static_assert(kWarps * kMaxGroup * D * 4 <= kBytes, "merge area must fit in the ring");
};

__device__ __forceinline__ float fast_exp2(float x) {  // ex2(-inf) = 0
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(y) : "f"(x));
  return y;
}

__device__ __forceinline__ uint32_t pack_f16x2(float lo, float hi) {
  __half2 h = __floats2half2_rn(lo, hi);
  return *reinterpret_cast<uint32_t*>(&h);
}

template <bool kFp8>
__device__ __forceinline__ void mma16816(float c[4], const uint32_t a[4], uint32_t b0, uint32_t b1) {
  if constexpr (kFp8) {
    mma_f16_16816(c, a, b0, b1);
  } else {
    mma_bf16_16816(c, a, b0, b1);
  }
}

template <int D, bool kFp8, bool kFused, int kVar>
__global__ void __launch_bounds__(kThreads, (Ring<D, kFp8, kVar>::kMinCtas))
    decode_mma_kernel(const AttentionParams p, int num_splits, int split_size,
                      float* __restrict__ partial_out, float* __restrict__ partial_lse,
                      const DecodeFusion f, int kvh_fastest) {
  using R = Ring<D, kFp8, kVar>;
  extern __shared__ __align__(16) unsigned char ring[];
  __shared__ int s_table[kTableCap];
  __shared__ __align__(16) bf16 s_q[kMaxGroup][D + 8];  // the group's q rows (bf16)
  __shared__ float s_m[kWarps][kMaxGroup], s_l[kWarps][kMaxGroup];
  __shared__ float s_cos[kFused ? D / 2 : 1], s_sin[kFused ? D / 2 : 1];
  __shared__ int s_last;

  // Up to pdl_wait the kernel reads only what was in memory before the kernels of this step
  // ran: the step's batch (uploaded before them), the block table, the RoPE frequencies and
  // the cache rows of earlier steps. So the RoPE tables are made, and the K/V tiles made
  // only of such rows go into the ring, while the previous kernel (the q|k|v GEMV) runs.
  // blockIdx.x = token * kv_heads + kv head (kv heads fastest: the CTAs reading the
  // different 256-byte pieces of the same cache rows run together), or token fastest.
  const int kvh = kvh_fastest ? static_cast<int>(blockIdx.x % p.kv_heads)
                              : static_cast<int>(blockIdx.x / p.tokens);
  const int t = kvh_fastest ? static_cast<int>(blockIdx.x / p.kv_heads)
                            : static_cast<int>(blockIdx.x % p.tokens);
  const int split = blockIdx.z;
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int g = lane >> 2, c = lane & 3;  // mma fragment row / column pair
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
  const int bs = p.block_size;
  const int32_t* table = p.block_tables + static_cast<int64_t>(seq) * p.max_blocks_per_seq;
  const int first_block = start / bs;
  const int n_blocks = end > start ? (end - 1) / bs - first_block + 1 : 0;
  const bool table_in_smem = n_blocks <= kTableCap;
  if (table_in_smem)
    for (int i = tid; i < n_blocks; i += kThreads) s_table[i] = table[first_block + i];

  const int64_t slot_elems = static_cast<int64_t>(p.kv_heads) * D;  // cache slot stride
  // The warp's tiles and its ring.
  const int n_tiles = end > start ? (end - start + kTileN - 1) / kTileN : 0;
  const int my_tiles = n_tiles > warp ? (n_tiles - warp + kWarps - 1) / kWarps : 0;
  unsigned char* my_ring = ring + warp * R::kWarpBytes;
  const unsigned char* k_g = static_cast<const unsigned char*>(p.k_cache) +
                             static_cast<int64_t>(kvh) * D * (kFp8 ? 1 : 2);
  const unsigned char* v_g = static_cast<const unsigned char*>(p.v_cache) +
                             static_cast<int64_t>(kvh) * D * (kFp8 ? 1 : 2);
  const int64_t slot_bytes = slot_elems * (kFp8 ? 1 : 2);
  // Loads: one cp.async instruction of the warp covers kRowsPerIssue whole cache rows (lane
  // l: row l / kLanesPerRow, 16-byte chunk l % kLanesPerRow), i.e. 512 bytes in 4 full
  // 128-byte lines. The first form (2 lanes per row, each lane 8 (bf16) / 4 (fp8) chunks)
  // had each instruction touch 16-32 lines with 16 bytes of each, one L2 request per
  // sector: it capped the kernel at ~58 % (bf16) / ~66 % (fp8) of the copy bandwidth
  // (NOTES.md, round 3).
  constexpr int kLanesPerRow = R::kChunksPerRow;   // bf16 16, fp8 8 (head dim 128)
  constexpr int kRowsPerIssue = 32 / kLanesPerRow;  // bf16 2, fp8 4
  constexpr int kIssues = kTileN / kRowsPerIssue;   // per K or V tile: bf16 8, fp8 4
  static_assert(kRowsPerIssue * kLanesPerRow == 32 && kTileN % kRowsPerIssue == 0, "lane map");
  const int c_row = lane / kLanesPerRow, c_col = (lane % kLanesPerRow) * 16;
  auto issue = [&](int j) {  // the warp's j-th tile into ring stage j % kStages
    unsigned char* sk = my_ring + (j % R::kStages) * 2 * R::kTileBytes;
    unsigned char* sv = sk + R::kTileBytes;
    const int tile_pos = start + (warp + j * kWarps) * kTileN;
    // The tile's cache slots: within one block (block size a multiple of 16, the usual
    // case) row r is slot0 + r; else each row is looked up.
    const int b0 = tile_pos / bs, rem0 = tile_pos - b0 * bs;
    const bool one_block = rem0 + kTileN <= bs;  // warp-uniform
    int64_t slot0 = 0;
    if (one_block) {
      const int blk = table_in_smem ? s_table[b0 - first_block] : table[b0];
      slot0 = static_cast<int64_t>(blk) * bs + rem0;
    }
#pragma unroll
    for (int i = 0; i < kIssues; ++i) {
      const int r = i * kRowsPerIssue + c_row;
      const int pos = tile_pos + r;
      const bool ok = pos < end;
      int64_t slot = slot0 + r;
      if (!one_block && ok) {
        const int b = pos / bs;
        const int blk = table_in_smem ? s_table[b - first_block] : table[b];
        slot = static_cast<int64_t>(blk) * bs + pos % bs;
      }
      const int64_t off = ok ? slot * slot_bytes + c_col : 0;
      cp_async_16(sk + r * R::kRowBytes + c_col, k_g + off, ok ? 16 : 0);
      cp_async_16(sv + r * R::kRowBytes + c_col, v_g + off, ok ? 16 : 0);
    }
  };

  if constexpr (kFused) rope_tables(f.rope, static_cast<float>(f.positions[t]), D / 2, s_cos, s_sin);
  __syncthreads();  // s_table, s_cos, s_sin
  // The first tiles of earlier steps' rows (positions < stable), in order, before the wait.
  const int stable = p.context_lens[seq] - q_len;
  int pre = 0;
  for (; pre < R::kStages - 1 && pre < my_tiles; ++pre) {
    if (min(end, start + (warp + pre * kWarps + 1) * kTileN) > stable) break;  // warp-uniform
    issue(pre);
    cp_async_commit();
  }
  pdl_wait();  // q, k and v are the previous kernel's output
  pdl_trigger();

  const bf16* q_t = static_cast<const bf16*>(p.q) +
                    (static_cast<int64_t>(t) * p.heads + static_cast<int64_t>(kvh) * group) * D;
  // Zero rows past the group: those rows of S are padding.
  for (int i = tid; i < (kMaxGroup - group) * (D / 8); i += kThreads)
    reinterpret_cast<uint4*>(&s_q[group + i / (D / 8)][0])[i % (D / 8)] = make_uint4(0, 0, 0, 0);

  if constexpr (kFused) {
    // q rows: per-head RMSNorm + RoPE into s_q; the split holding the token's own position
    // (limit - 1) normalizes and rotates its k row and writes k and v to the cache.
    constexpr int TPR = D / 16;  // threads per row in norm_rope_chunks
    constexpr int kRowsPerPass = kThreads / TPR;
    const int half = D / 2;
    const int new_pos = limit - 1;
    const bool owner = new_pos >= start && new_pos < end;
    const int32_t slot_w = f.slot_mapping[t];
    const bool write = owner && slot_w >= 0;
    const int64_t row_off = static_cast<int64_t>(slot_w) * slot_elems + static_cast<int64_t>(kvh) * D;
    const bf16* k_t = static_cast<const bf16*>(f.k_new) + (static_cast<int64_t>(t) * p.kv_heads + kvh) * D;
    const int pc = tid % TPR;
    for (int base = 0; base < group + 1; base += kRowsPerPass) {  // uniform: shuffles inside
      const int row = base + tid / TPR;
      const bool is_q = row < group;
      const bool is_k = row == group && owner;
      const bf16* src = is_q ? q_t + row * D : k_t;
      uint4 lo = make_uint4(0, 0, 0, 0), hi = lo;
      if (is_q || is_k) {
        lo = reinterpret_cast<const uint4*>(src)[pc];
        hi = reinterpret_cast<const uint4*>(src + half)[pc];
      }
      norm_rope_chunks<TPR>(lo, hi, static_cast<const bf16*>(is_k ? f.k_w : f.q_w), pc, D, f.eps,
                            s_cos, s_sin);
      if (is_q) {
        reinterpret_cast<uint4*>(&s_q[row][0])[pc] = lo;
        reinterpret_cast<uint4*>(&s_q[row][half])[pc] = hi;
      } else if (is_k && write) {
        if constexpr (kFp8) {
          uint8_t* dst = static_cast<uint8_t*>(const_cast<void*>(p.k_cache)) + row_off;
          const float inv = 1.0f / p.k_scale;
          float x[8];
          unpack8(lo, x);
          reinterpret_cast<uint2*>(dst)[pc] = pack8_e4m3(x, inv);
          unpack8(hi, x);
          reinterpret_cast<uint2*>(dst + half)[pc] = pack8_e4m3(x, inv);
        } else {
          bf16* dst = static_cast<bf16*>(const_cast<void*>(p.k_cache)) + row_off;
          reinterpret_cast<uint4*>(dst)[pc] = lo;
          reinterpret_cast<uint4*>(dst + half)[pc] = hi;
        }
      }
    }
    if (write && tid < D / 8) {
      const uint4 vv = reinterpret_cast<const uint4*>(
          static_cast<const bf16*>(f.v_new) + (static_cast<int64_t>(t) * p.kv_heads + kvh) * D)[tid];
      if constexpr (kFp8) {
        float x[8];
        unpack8(vv, x);
        reinterpret_cast<uint2*>(static_cast<uint8_t*>(const_cast<void*>(p.v_cache)) + row_off)[tid] =
            pack8_e4m3(x, 1.0f / p.v_scale);
      } else {
        reinterpret_cast<uint4*>(static_cast<bf16*>(const_cast<void*>(p.v_cache)) + row_off)[tid] = vv;
      }
    }
    // The row must be visible to this CTA's cp.async loads (which read through L2).
    if (write) __threadfence();
  } else {
    for (int i = tid; i < group * (D / 8); i += kThreads)
      reinterpret_cast<uint4*>(&s_q[i / (D / 8)][0])[i % (D / 8)] =
          reinterpret_cast<const uint4*>(q_t + (i / (D / 8)) * D)[i % (D / 8)];
  }
  __syncthreads();

  // Q as A fragments (rows g < 8; rows 8..15 zero). bf16: the standard k order; fp8 (fp16
  // products): k slots 2c, 2c+1 | 2c+8, 2c+9 hold head_dim entries 4c..4c+3 of the k16
  // step, matching the order in which ldmatrix delivers fp8 K bytes.
  uint32_t qa[D / 16][2];
#pragma unroll
  for (int kk = 0; kk < D / 16; ++kk) {
    if constexpr (kFp8) {
      const __nv_bfloat162 x0 = *reinterpret_cast<const __nv_bfloat162*>(&s_q[g][kk * 16 + 4 * c]);
      const __nv_bfloat162 x1 = *reinterpret_cast<const __nv_bfloat162*>(&s_q[g][kk * 16 + 4 * c + 2]);
      const float2 f0 = __bfloat1622float2(x0), f1 = __bfloat1622float2(x1);
      qa[kk][0] = pack_f16x2(f0.x, f0.y);
      qa[kk][1] = pack_f16x2(f1.x, f1.y);
    } else {
      qa[kk][0] = *reinterpret_cast<const uint32_t*>(&s_q[g][kk * 16 + 2 * c]);
      qa[kk][1] = *reinterpret_cast<const uint32_t*>(&s_q[g][kk * 16 + 8 + 2 * c]);
    }
  }

  const float sl = p.scale * kLog2e * (kFp8 ? p.k_scale : 1.0f);  // raw score -> log2 units
  float m = -INFINITY, l = 0.0f;  // head g: running max (raw units), this thread's sum
  float o[D / 16][4];             // O^T: [dim tile][(dim lo | hi) x (head 2c | 2c+1)]
#pragma unroll
  for (int i = 0; i < D / 16; ++i) o[i][0] = o[i][1] = o[i][2] = o[i][3] = 0.0f;
  const int mi = lane >> 3;  // which 8x8 matrix this lane addresses in ldmatrix.x4

  for (int j = pre; j < R::kStages - 1; ++j) {  // the rest of the first kStages - 1 tiles
    if (j < my_tiles) issue(j);
    cp_async_commit();
  }
  for (int j = 0; j < my_tiles; ++j) {
    // The stage of tile j + kStages - 1 held tile j - 1, which every lane finished with
    // before the __syncwarp that ended the previous iteration.
    if (j + R::kStages - 1 < my_tiles) issue(j + R::kStages - 1);
    cp_async_commit();
    cp_async_wait<R::kStages - 1>();
    __syncwarp();
    const unsigned char* kt = my_ring + (j % R::kStages) * 2 * R::kTileBytes;
    const unsigned char* vt = kt + R::kTileBytes;

    // S = Q K^T: 8 heads (rows) x 16 positions (two n8 tiles).
    float s[2][4] = {{0.0f, 0.0f, 0.0f, 0.0f}, {0.0f, 0.0f, 0.0f, 0.0f}};
    if constexpr (kFp8) {
      // Matrices: (pos 0-7, k-step kk), (pos 8-15, kk), (pos 0-7, kk+1), (pos 8-15, kk+1);
      // each register: 4 fp8 = head_dim 16 kk + 4c .. +3 of position g.
#pragma unroll
      for (int kk = 0; kk < D / 16; kk += 2) {
        uint32_t r[4];
        ldmatrix_x4(r, kt + ((mi & 1) * 8 + (lane & 7)) * R::kRowBytes + (kk + (mi >> 1)) * 16);
#pragma unroll
        for (int h = 0; h < 2; ++h) {
          const uint32_t a[4] = {qa[kk + h][0], 0u, qa[kk + h][1], 0u};
#pragma unroll
          for (int nt = 0; nt < 2; ++nt) {
            const uint32_t x = r[2 * h + nt];
            mma16816<true>(s[nt], a, e4m3x2_to_f16x2(static_cast<uint16_t>(x & 0xFFFFu)),
                           e4m3x2_to_f16x2(static_cast<uint16_t>(x >> 16)));
          }
        }
      }
    } else {
      // Matrices: (pos 0-7, dims k), (pos 0-7, k+8), (pos 8-15, k), (pos 8-15, k+8).
#pragma unroll
      for (int kk = 0; kk < D / 16; ++kk) {
        uint32_t b[4];
        ldmatrix_x4(b, kt + ((mi >> 1) * 8 + (lane & 7)) * R::kRowBytes + (kk * 16 + (mi & 1) * 8) * 2);
        const uint32_t a[4] = {qa[kk][0], 0u, qa[kk][1], 0u};
        mma16816<false>(s[0], a, b[0], b[1]);
        mma16816<false>(s[1], a, b[2], b[3]);
      }
    }

    // Online softmax of head g over this tile (the quad of lanes 4g..4g+3 holds its row).
    const int pos0 = start + (warp + j * kWarps) * kTileN + 2 * c;
#pragma unroll
    for (int nt = 0; nt < 2; ++nt)
#pragma unroll
      for (int e = 0; e < 2; ++e)
        if (pos0 + nt * 8 + e >= end) s[nt][e] = -INFINITY;
    float mx = fmaxf(fmaxf(s[0][0], s[0][1]), fmaxf(s[1][0], s[1][1]));
    mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
    mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
    const float m_new = fmaxf(m, mx);
    // A tile of only masked positions cannot occur (tiles start below end), so m_new is
    // finite; the guard keeps -inf - -inf out of exp2 should that change.
    const float base = (m_new == -INFINITY ? 0.0f : m_new) * sl;
    const float corr = fast_exp2(fmaf(m, sl, -base));
    m = m_new;
    float pr[2][2];
#pragma unroll
    for (int nt = 0; nt < 2; ++nt)
#pragma unroll
      for (int e = 0; e < 2; ++e) pr[nt][e] = fast_exp2(fmaf(s[nt][e], sl, -base));
    l = l * corr + (pr[0][0] + pr[0][1]) + (pr[1][0] + pr[1][1]);
    // Past the first tiles the running maxima rarely move: skip the two shuffles and the
    // D/4 multiplies by exactly 1 (warp-uniform branch: the shuffles inside see all lanes).
    if (__any_sync(0xffffffffu, corr != 1.0f)) {
      // O^T columns are heads 2c and 2c+1: their corrections live in lanes 8c and 8c + 4.
      const float corr_a = __shfl_sync(0xffffffffu, corr, 8 * c);
      const float corr_b = __shfl_sync(0xffffffffu, corr, 8 * c + 4);
#pragma unroll
      for (int i = 0; i < D / 16; ++i) {
        o[i][0] *= corr_a;
        o[i][1] *= corr_b;
        o[i][2] *= corr_a;
        o[i][3] *= corr_b;
      }
    }
    // P^T as the B fragment (k = positions 2c, 2c+1 | 2c+8, 2c+9; n = head g).
    uint32_t pb0, pb1;
    if constexpr (kFp8) {
      pb0 = pack_f16x2(pr[0][0], pr[0][1]);
      pb1 = pack_f16x2(pr[1][0], pr[1][1]);
    } else {
      pb0 = pack_bf16x2(pr[0][0], pr[0][1]);
      pb1 = pack_bf16x2(pr[1][0], pr[1][1]);
    }

    // O^T += V^T P^T, 16 head_dim entries per m16 tile.
    if constexpr (kFp8) {
      // Matrices: (pos 0-7, dims 16i..), (pos 8-15, 16i..), (pos 0-7, 16(i+1)..),
      // (pos 8-15, 16(i+1)..); transposed, each register holds positions 2c, 2c+1 x dims
      // 2g, 2g+1 of its 16-dim chunk; the byte permute makes (2c, 2c+1) pairs per dim:
      // dim 2g -> slot g (rows 0-7), dim 2g+1 -> slot g+8.
#pragma unroll
      for (int i = 0; i < D / 16; i += 2) {
        uint32_t r[4];
        ldmatrix_x4_trans(r, vt + ((mi & 1) * 8 + (lane & 7)) * R::kRowBytes + (i + (mi >> 1)) * 16);
#pragma unroll
        for (int h = 0; h < 2; ++h) {
          const uint32_t x0 = __byte_perm(r[2 * h], 0u, 0x3120);
          const uint32_t x1 = __byte_perm(r[2 * h + 1], 0u, 0x3120);
          const uint32_t a[4] = {e4m3x2_to_f16x2(static_cast<uint16_t>(x0 & 0xFFFFu)),
                                 e4m3x2_to_f16x2(static_cast<uint16_t>(x0 >> 16)),
                                 e4m3x2_to_f16x2(static_cast<uint16_t>(x1 & 0xFFFFu)),
                                 e4m3x2_to_f16x2(static_cast<uint16_t>(x1 >> 16))};
          mma16816<true>(o[i + h], a, pb0, pb1);
        }
      }
    } else {
      // Matrices: (pos 0-7, dims 16i..16i+7), (pos 0-7, 16i+8..), (pos 8-15, 16i..),
      // (pos 8-15, 16i+8..); transposed: A rows = dims, k = positions.
#pragma unroll
      for (int i = 0; i < D / 16; ++i) {
        uint32_t a[4];
        ldmatrix_x4_trans(a, vt + ((mi >> 1) * 8 + (lane & 7)) * R::kRowBytes + (i * 16 + (mi & 1) * 8) * 2);
        mma16816<false>(o[i], a, pb0, pb1);
      }
    }
    __syncwarp();
  }
  cp_async_wait<0>();  // no copy may still target the ring that the merge reuses

  // Merge the warps: per warp, head h's max (log2 units) and sum, and O^T into the ring.
  l += __shfl_xor_sync(0xffffffffu, l, 1);
  l += __shfl_xor_sync(0xffffffffu, l, 2);
  __syncthreads();  // every warp is done with its ring
  float* s_o = reinterpret_cast<float*>(ring);  // [warp][head][D]
  if (c == 0) {
    s_m[warp][g] = m == -INFINITY ? -INFINITY : m * sl;
    s_l[warp][g] = l;
  }
#pragma unroll
  for (int i = 0; i < D / 16; ++i) {
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      const int head = 2 * c + (e & 1);
      const int dim = kFp8 ? i * 16 + 2 * g + (e >> 1) : i * 16 + g + 8 * (e >> 1);
      s_o[(warp * kMaxGroup + head) * D + dim] = o[i][e];
    }
  }
  __syncthreads();

  const float v_scale = kFp8 ? p.v_scale : 1.0f;
  for (int idx = tid; idx < group * D; idx += kThreads) {
    const int h = idx / D, d = idx % D;
    float mx = -INFINITY;
#pragma unroll
    for (int w = 0; w < kWarps; ++w) mx = fmaxf(mx, s_m[w][h]);
    float lsum = 0.0f, osum = 0.0f;
    if (mx != -INFINITY) {
#pragma unroll
      for (int w = 0; w < kWarps; ++w) {
        const float cw = exp2f(s_m[w][h] - mx);
        lsum += s_l[w][h] * cw;
        osum += s_o[(w * kMaxGroup + h) * D + d] * cw;
      }
    }
    const float val = lsum > 0.0f ? osum / lsum * v_scale : 0.0f;
    const int64_t row = static_cast<int64_t>(t) * p.heads + kvh * group + h;
    if (num_splits == 1) {
      static_cast<bf16*>(p.out)[row * D + d] = __float2bfloat16(val);
    } else {
      const int64_t prow = row * num_splits + split;
      partial_out[prow * D + d] = val;
      if (d == 0) partial_lse[prow] = lsum > 0.0f ? mx + __log2f(lsum) : -INFINITY;
    }
  }
  if constexpr (kFused) {
    if (num_splits == 1) return;
    // The last split CTA of this (token, kv head) to finish combines all of them: release
    // (fence, then count) on every CTA, acquire (count, then fence) on the last one.
    __threadfence();
    __syncthreads();
    if (tid == 0) {
      int* counter = f.counters + static_cast<int64_t>(t) * p.kv_heads + kvh;
      const int before = atomicAdd(counter, 1);
      s_last = before == num_splits - 1;
      if (s_last) *counter = 0;  // ready for the next launch (ordered by the kernel boundary)
    }
    __syncthreads();
    if (!s_last) return;
    __threadfence();
    // The combine reads this kv head's partial rows (row0 .. row0 + group - 1: one
    // contiguous block of group x num_splits x D floats) into the ring, which is free now,
    // in one batch of copies, with the lse of every (head, split) beside them: one L2 round
    // trip, where loading each output's partials from L2 took one per 8 splits and output
    // (~20 dependent round trips per thread at 33 splits). Then 2^(lse_s - max) per (head,
    // split), a warp per head, and each output's weighted sum from shared memory.
    float* s_w = s_o;  // free again: every thread has read its partial results
    const int n_w = group * num_splits;
    const int w_pad = (n_w + 3) / 4 * 4;  // the partials start 16-byte aligned
    const int64_t n_p = static_cast<int64_t>(n_w) * D;
    const int64_t row0 = static_cast<int64_t>(t) * p.heads + kvh * group;
    if ((w_pad + n_p) * 4 <= R::kBytes) {
      float* s_p = s_w + w_pad;  // [head][split][D]
      const float* src = partial_out + row0 * num_splits * D;
      for (int i = tid; i < n_p / 4; i += kThreads) cp_async_16(s_p + 4 * i, src + 4 * i, 16);
      cp_async_commit();
      for (int i = tid; i < n_w; i += kThreads) s_w[i] = __ldcg(partial_lse + row0 * num_splits + i);
      cp_async_wait<0>();
      __syncthreads();
      for (int h = warp; h < group; h += kWarps) {
        float* w = s_w + h * num_splits;
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
        if (lane == 0) s_l[0][h] = den;
      }
      __syncthreads();
      for (int idx = tid; idx < group * D; idx += kThreads) {
        const int h = idx / D, d = idx % D;
        const float* w = s_w + h * num_splits;
        const float* po = s_p + static_cast<int64_t>(h) * num_splits * D + d;
        float num = 0.0f;
        for (int s2 = 0; s2 < num_splits; ++s2) num = fmaf(w[s2], po[s2 * D], num);
        const float den = s_l[0][h];
        static_cast<bf16*>(p.out)[(row0 + h) * D + d] = __float2bfloat16(den > 0.0f ? num / den : 0.0f);
      }
      return;
    }
    // Past the ring (more splits than 8 heads x 128 dims fit): each output's partials from L2.
    for (int idx = tid; idx < group * D; idx += kThreads) {
      const int h = idx / D, d = idx % D;
      const int64_t row = row0 + h;
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

template <int D, bool kFp8, bool kFused, int kVar>
cudaError_t launch_mma(const AttentionParams& p, const DecodeFusion& f, int num_splits,
                       int split_size, float* partial_out, float* partial_lse,
                       cudaStream_t stream) {
  constexpr int kBytes = Ring<D, kFp8, kVar>::kBytes;
  // The opt-in to > 48 KB of dynamic shared memory, once per device: the first launch is
  // an eager one (a step graph records only after the eager run of its step), and the
  // attribute call stays out of stream captures.
  constexpr int kMaxDevices = 64;
  static bool opted_in[kMaxDevices] = {};
  int dev = 0;
  if (cudaGetDevice(&dev) != cudaSuccess || dev < 0 || dev >= kMaxDevices) return cudaErrorInvalidDevice;
  if (!opted_in[dev]) {
    const cudaError_t e = cudaFuncSetAttribute(decode_mma_kernel<D, kFp8, kFused, kVar>,
                                               cudaFuncAttributeMaxDynamicSharedMemorySize, kBytes);
    if (e != cudaSuccess) return e;
    opted_in[dev] = true;
  }
  const dim3 grid(static_cast<unsigned>(p.tokens) * static_cast<unsigned>(p.kv_heads), 1,
                  static_cast<unsigned>(num_splits));
  // HEARTH_CUDA_DECODE_KVH_FASTEST=0: token-fastest CTA order (A/B).
  const char* order = std::getenv("HEARTH_CUDA_DECODE_KVH_FASTEST");
  const int kvh_fastest = order == nullptr || std::strcmp(order, "0") != 0 ? 1 : 0;
  return launch_pdl(decode_mma_kernel<D, kFp8, kFused, kVar>, grid, dim3(kThreads),
                    static_cast<size_t>(kBytes), stream, p, num_splits, split_size, partial_out,
                    partial_lse, f, kvh_fastest);
}

template <bool kFused>
cudaError_t launch_dispatch(const AttentionParams& p, const DecodeFusion& f, int num_splits,
                            int split_size, float* partial_out, float* partial_lse,
                            cudaStream_t stream) {
  if (p.head_dim == 64) {
    return p.kv_fp8 ? launch_mma<64, true, kFused, 0>(p, f, num_splits, split_size, partial_out, partial_lse, stream)
                    : launch_mma<64, false, kFused, 0>(p, f, num_splits, split_size, partial_out, partial_lse, stream);
  }
  int variant = decode_mma_variant();
  if (variant < 0) {
    constexpr int kMaxDevices = 64;
    static int sms[kMaxDevices] = {};
    int dev = 0;
    if (cudaGetDevice(&dev) != cudaSuccess || dev < 0 || dev >= kMaxDevices) return cudaErrorInvalidDevice;
    if (sms[dev] == 0 &&
        cudaDeviceGetAttribute(&sms[dev], cudaDevAttrMultiProcessorCount, dev) != cudaSuccess)
      return cudaErrorInvalidDevice;
    const int64_t ctas = static_cast<int64_t>(p.tokens) * p.kv_heads * num_splits;
    const int64_t slots0 = int64_t{Ring<128, false, 0>::kMinCtas} * sms[dev];
    const int64_t slots1 =
        int64_t{p.kv_fp8 ? Ring<128, true, 1>::kMinCtas : Ring<128, false, 1>::kMinCtas} * sms[dev];
    const auto waves = [ctas](int64_t slots) { return (ctas + slots - 1) / slots; };
    variant = ctas >= int64_t{kAutoWaves} * slots0 || waves(slots1) < waves(slots0) ? 1 : 0;
  }
  if (variant == 1) {
    return p.kv_fp8 ? launch_mma<128, true, kFused, 1>(p, f, num_splits, split_size, partial_out, partial_lse, stream)
                    : launch_mma<128, false, kFused, 1>(p, f, num_splits, split_size, partial_out, partial_lse, stream);
  }
  return p.kv_fp8 ? launch_mma<128, true, kFused, 0>(p, f, num_splits, split_size, partial_out, partial_lse, stream)
                  : launch_mma<128, false, kFused, 0>(p, f, num_splits, split_size, partial_out, partial_lse, stream);
}

}  // namespace

int decode_mma_variant() {
  const char* v = std::getenv("HEARTH_CUDA_DECODE_VARIANT");
  if (v == nullptr || *v == '\0') return -1;  // chosen per launch (launch_dispatch)
  return std::strcmp(v, "1") == 0 ? 1 : 0;
}

int decode_mma_ctas_per_sm() {
  // Forced variant 1: the smaller of its bf16 and fp8 figures (the split plan is made
  // before the cache dtype is known). Otherwise variant 0's 2: the automatic choice takes
  // variant 1 only for grids of >= 4 waves, which get 1 split with either figure.
  return decode_mma_variant() == 1 ? 3 : 2;
}

bool decode_mma_enabled() {
  const char* v = std::getenv("HEARTH_CUDA_DECODE_MMA");
  return v == nullptr || std::strcmp(v, "0") != 0;
}

bool decode_mma_supported(const AttentionParams& p) {
  return (p.head_dim == 64 || p.head_dim == 128) && p.heads % p.kv_heads == 0 &&
         p.heads / p.kv_heads <= kMaxGroup && aligned16(p.q) && aligned16(p.k_cache) &&
         aligned16(p.v_cache);
}

cudaError_t launch_decode_attention_mma(const AttentionParams& p, int num_splits, int split_size,
                                        float* partial_out, float* partial_lse,
                                        cudaStream_t stream) {
  if (p.tokens <= 0) return cudaGetLastError();
  if (!decode_mma_supported(p) || num_splits < 1) return cudaErrorInvalidValue;
  const DecodeFusion none{};
  const cudaError_t e =
      launch_dispatch<false>(p, none, num_splits, split_size, partial_out, partial_lse, stream);
  if (e != cudaSuccess || num_splits == 1) return e;
  return launch_decode_combine(partial_out, partial_lse, static_cast<int64_t>(p.tokens) * p.heads,
                               num_splits, p.head_dim, p.out, stream);
}

cudaError_t launch_decode_attention_mma_fused(const AttentionParams& p, const DecodeFusion& f,
                                              int num_splits, int split_size, float* partial_out,
                                              float* partial_lse, cudaStream_t stream) {
  if (p.tokens <= 0) return cudaGetLastError();
  if (!decode_mma_supported(p) || num_splits < 1 || (num_splits > 1 && f.counters == nullptr) ||
      !aligned16(f.k_new) || !aligned16(f.v_new) || !aligned16(f.q_w) || !aligned16(f.k_w))
    return cudaErrorInvalidValue;
  return launch_dispatch<true>(p, f, num_splits, split_size, partial_out, partial_lse, stream);
}

}  // namespace hearth::cuda
