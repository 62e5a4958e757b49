// Small-M GEMM on tensor cores: out = x @ w^T for 2..64 input rows (batched decode steps).
#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "hearth/backend/cuda/device_utils.cuh"
#include "hearth/backend/cuda/kernels.h"
#include "hearth/backend/cuda/wgmma_sm90.cuh"

namespace hearth::cuda {

namespace {

enum Epi { kEpiPlain = 0, kEpiResidual = 1, kEpiSwiglu = 2 };

// Two 8x8 bf16 matrices (lanes 0-15 give the row addresses; the others' are ignored).
__device__ __forceinline__ void ldmatrix_x2(uint32_t r[2], const void* smem) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x2.shared.b16 {%0, %1}, [%2];\n"
               : "=r"(r[0]), "=r"(r[1])
               : "r"(smem_addr(smem)));
}
__device__ __forceinline__ float silu_mul(float g, float u) { return g / (1.0f + __expf(-g)) * u; }
__device__ __forceinline__ float round_bf16(float v) { return __bfloat162float(__float2bfloat16(v)); }

}  // namespace

// Why a kernel of our own:
// The GEMV (gemv_kernels.cu) does m x 8 FMAs per weight value on the CUDA cores: past m = 1 it is
// instruction-bound (39-71 % of copy at m = 2..4), and cuBLASLt at m = 16..64 spends its
// time in tiles sized for compute (split-K reduce kernels, 64-96 CTA grids on 132 SMs).
// This kernel keeps the GEMV's shape (a persistent grid streaming the weights through a
// cp.async ring, first stages issued before pdl_wait) and moves the arithmetic onto
// mma.sync:
// - a tile is 128 RG weight rows (mma M) by all m tokens (mma N, padded to MT x 8), over
//   one of `splits` ranges of K; a stage is 64 values of K: 16 RG KB of weights and
//   m_pad x 128 B of x, both in shared memory;
// - RG = 1 (the default): 256 threads, 4 stages, 2 CTAs per SM; RG = 2 (HEARTH_CUDA_MMA_RG=2,
//   m > 8, Hopper; an experiment measured slower): 512 threads, 256-row tiles, 5 stages,
//   1 CTA per SM. Every CTA reads the x tile from L2 once per stage: m_pad / (128 RG)
//   bytes per weight byte (0.5 at m = 64 with 128-row tiles);
// - 4 RG warps as row groups (32 rows) x 2: at m <= 8 2 K halves (32 values each; every
//   weight value read from shared memory once, the halves added at the tile's end), past
//   8 2 token halves (each warp the whole stage for half of the tokens; weights read twice,
//   no K-half exchange, 32 accumulators at m = 64; <= 128 registers);
// - rows in shared memory are 128 B with 16-byte chunks XOR-swizzled by (row & 7), so the
//   ldmatrix reads of 8 rows at one chunk hit 8 different bank groups;
// - with splits > 1 each CTA writes its fp32 tile partial in fragment order (coalesced
//   float4), and the last CTA of the tile (atomic counter, reset by it) sums all partials
//   in split order and runs the epilogue: the result does not depend on which CTA ends
//   last;
// - the epilogue scratch (k-half sums, the gate/up exchange) is the ring slot of the stage
//   just consumed, which no copy refills before the next iteration's barrier.
namespace {

constexpr int kMmaBK = 64;  // K values per stage (128 B per row)
// Ring depth: RG = 1: 4 stages at 2 CTAs per SM (6 stages, 96 KB of weights in flight per
// SM); RG = 2: 5 stages of 32 KB of weights at 1 CTA per SM (128 KB in flight; 200 KB with
// x at m = 64, within the H200's 227 KB per block).
template <int RG>
constexpr int mma_stages() {
  return RG == 1 ? 4 : 5;
}
template <int RG>
constexpr int mma_rows() {
  return 128 * RG;
}
template <int RG>
constexpr int mma_threads() {
  return 256 * RG;
}
template <int RG>
constexpr int mma_w_bytes() {
  return mma_rows<RG>() * kMmaBK * 2;  // 16 KB per 128 rows
}

struct MmaShape {
  int tiles;
  int splits;
  int stages_per_split;  // K stages per split (the last split may have fewer)
  int k_stages;          // K stages in all
};

template <int MT, int RG>
constexpr int mma_stage_bytes() {
  return mma_w_bytes<RG>() + MT * 8 * kMmaBK * 2;
}

// Byte offset of 16-byte chunk c of row r in a swizzled stage array of 128-byte rows.
__device__ __forceinline__ uint32_t swz(int r, int c) {
  return static_cast<uint32_t>(r * 128 + ((c ^ (r & 7)) << 4));
}

// Weight row r (0..128 RG - 1) of tile `tile`: its first chunk, or nullptr past the end.
template <int kEpi, int RG>
__device__ __forceinline__ const uint4* mma_row_ptr(const MmaGemvParams& p, int tile, int r,
                                                    int64_t chunks) {
  constexpr int kHalf = mma_rows<RG>() / 2;
  if constexpr (kEpi == kEpiSwiglu) {
    const int64_t row = static_cast<int64_t>(tile) * kHalf + (r & (kHalf - 1));
    if (row >= p.seg[0].rows) return nullptr;
    return static_cast<const uint4*>(p.seg[r >= kHalf ? 1 : 0].w) + row * chunks;
  } else {
    int64_t row = static_cast<int64_t>(tile) * mma_rows<RG>() + r;
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

// Stores v as output (row R of the concatenated segments, token tok).
__device__ __forceinline__ void mma_store(const MmaGemvParams& p, int64_t R, int tok, float v) {
  for (int s = 0; s < p.num_segments; ++s) {
    if (R < p.seg[s].rows) {
      const int64_t o = static_cast<int64_t>(tok) * p.seg[s].rows + R;
      if (p.out_f32)
        static_cast<float*>(p.seg[s].out)[o] = v;
      else
        static_cast<bf16*>(p.seg[s].out)[o] = __float2bfloat16(v);
      return;
    }
    R -= p.seg[s].rows;
  }
}

// Warp layout: 4 row groups (32 rows each) x 2, the 2 being token halves (WN = 2: each
// warp owns NT = MT / 2 token tiles over the whole 64-value stage) or K halves (WN = 1:
// each warp owns all MT token tiles over 32 values of the stage; the halves are added at
// the item's end). WN = 2 keeps the accumulators at 2 x NT x 4 floats (32 at m = 64), so
// two 256-thread CTAs fit on an SM at <= 128 registers, and needs no K-half exchange.
//
// kWg (Hopper, sm_90a; HEARTH_CUDA_WGMMA): the same ring and epilogues, the stage's
// products on wgmma instead: 2 warpgroups of 64 weight rows x all MT x 8 tokens each, A
// (weights) and B (x) read from shared memory by descriptors (the swizzled rows above are
// wgmma's 128-byte-swizzle K-major layout once the ring starts on a 1024-byte boundary),
// 4 m64nNk16 per stage and warpgroup instead of 16 ldmatrix + 32 mma.sync per warp at
// m = 64. A warp's accumulators hold its 16 rows x all tokens (acc[mi][nt] = token tile
// mi * NT + nt), the same number of floats as the token-half layout.
template <int MT, int WN, int RG, int kEpi, int kStages, bool kWg = false>
__global__ void __launch_bounds__(mma_threads<RG>(), 2 / RG)
    mma_gemv_kernel(const MmaGemvParams p, const MmaShape shape) {
  static_assert(WN == 1 || WN == 2, "token halves or K halves");
  static_assert(!kWg || (WN == 2 && RG == 1 && (MT == 4 || MT == 8)), "wgmma: 128-row tiles, N = 32 or 64");
  static_assert(MT % WN == 0, "whole token tiles per warp");
  constexpr int NT = MT / WN;   // token tiles (8 tokens) per warp
  constexpr int WK = 2 / WN;    // warps along K per stage
  constexpr int KK = 4 / WK;    // 16-value K steps per warp per stage
  constexpr int kThreads = mma_threads<RG>();
  constexpr int kGroups = 4 * RG;  // row groups of 32 rows
  constexpr int kRows = mma_rows<RG>();
  constexpr int kWBytes = mma_w_bytes<RG>();
  extern __shared__ __align__(128) unsigned char s_ring_mma[];
  __shared__ int s_last;
  constexpr int kStageBytes = mma_stage_bytes<MT, RG>();
  constexpr int kXChunks = MT * 8 * 8;  // 16-byte chunks of x per stage
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int wr = warp & (kGroups - 1);
  const int wk = WK == 2 ? warp >> (RG + 1) : 0;  // warp / kGroups
  const int wn = WN == 2 ? warp >> (RG + 1) : 0;
  const int g = lane >> 2, tq = lane & 3;
  const int64_t chunks = p.k / 8;
  const int items = shape.tiles * shape.splits;
  // wgmma's swizzle pattern is anchored at 1024-byte boundaries (kWg: 1 KB more requested).
  const uint32_t ring_off = kWg ? ((smem_addr(s_ring_mma) + 1023u) & ~1023u) - smem_addr(s_ring_mma) : 0u;
  unsigned char* const s_ring = s_ring_mma + ring_off;
  const uint32_t ring = smem_addr(s_ring);

  auto item_stages = [&](int item) {
    const int first = (item % shape.splits) * shape.stages_per_split;
    return min(shape.stages_per_split, shape.k_stages - first);
  };

  // Issue side: the item, its stage, and this thread's 4 weight rows (tid / 8 + 32 RG i,
  // chunk tid % 8 of every stage).
  int i_item = blockIdx.x, i_stage = 0, i_count = 0, i_kc0 = 0;
  const uint4* w_rows[4];
  auto begin_issue = [&]() {
    if (i_item < items) {
      const int tile = i_item / shape.splits;
      i_kc0 = (i_item % shape.splits) * shape.stages_per_split;
      i_count = item_stages(i_item);
#pragma unroll
      for (int i = 0; i < 4; ++i) w_rows[i] = mma_row_ptr<kEpi, RG>(p, tile, (tid >> 3) + kThreads / 8 * i, chunks);
    }
  };
  begin_issue();
  const int cc = tid & 7;
  auto issue_w = [&](int slot, int kc) {
    const int64_t c = static_cast<int64_t>(kc) * 8 + cc;
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const int r = (tid >> 3) + kThreads / 8 * i;
      const bool ok = w_rows[i] != nullptr && c < chunks;
      ring_copy16(ring + slot * kStageBytes + swz(r, cc), ok ? static_cast<const void*>(w_rows[i] + c) : p.x,
             ok ? 16 : 0);
    }
  };
  auto issue_x = [&](int slot, int kc) {
#pragma unroll
    for (int id0 = 0; id0 < kXChunks; id0 += kThreads) {
      const int id = id0 + tid;
      if (kXChunks % kThreads == 0 || id < kXChunks) {
        const int tok = id >> 3, c8 = id & 7;
        const int64_t c = static_cast<int64_t>(kc) * 8 + c8;
        const bool ok = tok < p.m && c < chunks;
        ring_copy16(ring + slot * kStageBytes + kWBytes + swz(tok, c8),
               ok ? static_cast<const void*>(static_cast<const uint4*>(p.x) + tok * chunks + c) : p.x,
               ok ? 16 : 0);
      }
    }
  };
  // The K stage the issue side is at (-1: past this CTA's last item), and the step to the
  // next one (after its copies are issued: the next item's row pointers replace w_rows).
  auto issue_kc = [&]() -> int { return i_item < items ? i_kc0 + i_stage : -1; };
  auto issue_advance = [&]() {
    if (i_item < items && ++i_stage == i_count) {
      i_stage = 0;
      i_item += gridDim.x;
      begin_issue();
    }
  };

  // Prologue: the weights of the first stages before pdl_wait (they do not depend on the
  // previous kernel), x after it. Group 0 holds W0..W2 and X0, groups 1 and 2 X1 and X2.
  int pro_kc[kStages - 1];
#pragma unroll
  for (int s = 0; s < kStages - 1; ++s) {
    pro_kc[s] = issue_kc();
    if (pro_kc[s] >= 0) issue_w(s, pro_kc[s]);
    issue_advance();
  }
  pdl_wait();
  pdl_trigger();
#pragma unroll
  for (int s = 0; s < kStages - 1; ++s) {
    if (pro_kc[s] >= 0) issue_x(s, pro_kc[s]);
    ring_commit();
  }

  float acc[2][NT][4];
  auto zero_acc = [&]() {
#pragma unroll
    for (int mi = 0; mi < 2; ++mi)
#pragma unroll
      for (int nt = 0; nt < NT; ++nt)
#pragma unroll
        for (int j = 0; j < 4; ++j) acc[mi][nt][j] = 0.0f;
  };
  zero_acc();

  int c_item = blockIdx.x, c_stage = 0;
  int c_count = c_item < items ? item_stages(c_item) : 0;
  int slot = 0;
  while (c_item < items) {
    ring_wait<kStages - 2>();  // this stage's copies (this thread's) have landed
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
    if constexpr (kWg) fence_proxy_async();  // ... and are visible to wgmma's reads
#endif
    __syncthreads();              // ... everyone's; and the slot refilled next is free
    {
      const int kc = issue_kc();
      const int fill = slot == 0 ? kStages - 1 : slot - 1;
      if (kc >= 0) {
        issue_w(fill, kc);
        issue_x(fill, kc);
      }
      issue_advance();
      ring_commit();
    }
    const unsigned char* ws = s_ring + slot * kStageBytes;
    const unsigned char* xs = ws + kWBytes;
    if constexpr (kWg) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
      // Warpgroup warp / 4: weight rows 64 (warp / 4) .. + 63. K-major operands: leading
      // offset unused, 8-row groups 1024 bytes apart; a 16-value K step is 32 bytes on.
      float(&d)[MT * 4] = reinterpret_cast<float(&)[MT * 4]>(acc);
      const uint32_t a0 = ring + slot * kStageBytes + (warp >> 2) * 64 * 128;
      const uint32_t b0 = ring + slot * kStageBytes + kWBytes;
      fence_operands(d);
      wgmma_fence();
#pragma unroll
      for (int kk = 0; kk < 4; ++kk) {
        const uint64_t da = smem_desc(a0 + kk * 32, 16, 1024), db = smem_desc(b0 + kk * 32, 16, 1024);
        if constexpr (MT == 4)
          wgmma_m64n32k16_ss(d, da, db, 1);
        else
          wgmma_m64n64k16_ss(d, da, db, 1);
      }
      wgmma_commit();
      wgmma_wait_all();  // the slot is refilled after the next barrier
      fence_operands(d);
#else
      __trap();  // not built for sm_90a: mma_wg_runs_here() keeps launches away
#endif
    } else {
    // K step by K step (16 values): the A fragments of one step (8 registers) and the B
    // fragments of the warp's NT token tiles (2 NT registers).
#pragma unroll
    for (int kk = 0; kk < KK; ++kk) {
      const int kc = wk * KK * 2 + kk * 2;  // first 16-byte chunk of this K step
      uint32_t a[2][4];
#pragma unroll
      for (int mi = 0; mi < 2; ++mi) ldmatrix_x4(a[mi], ws + swz(wr * 32 + mi * 16 + (lane & 15), kc + (lane >> 4)));
      // All B fragments of the step first: the asm statements keep their order, so a load
      // placed between two mma would make each mma wait for its own load's latency. Two
      // token tiles per ldmatrix.x4 (lanes 16-31 address the second tile).
      uint32_t b[NT][2];
      if constexpr (NT % 2 == 0) {
#pragma unroll
        for (int nt = 0; nt < NT; nt += 2) {
          uint32_t r[4];
          ldmatrix_x4(r, xs + swz((wn * NT + nt + (lane >> 4)) * 8 + (lane & 7), kc + ((lane >> 3) & 1)));
          b[nt][0] = r[0];
          b[nt][1] = r[1];
          b[nt + 1][0] = r[2];
          b[nt + 1][1] = r[3];
        }
      } else {
#pragma unroll
        for (int nt = 0; nt < NT; ++nt)
          ldmatrix_x2(b[nt], xs + swz((wn * NT + nt) * 8 + (lane & 7), kc + ((lane >> 3) & 1)));
      }
#pragma unroll
      for (int nt = 0; nt < NT; ++nt)
#pragma unroll
        for (int mi = 0; mi < 2; ++mi) mma_bf16_16816(acc[mi][nt], a[mi], b[nt][0], b[nt][1]);
    }
    }  // mma.sync

    if (++c_stage < c_count) {
      slot = slot == kStages - 1 ? 0 : slot + 1;
      continue;
    }
    // ---- end of an item ----
    const int item = c_item;
    const int tile = item / shape.splits;
    float* scratch = reinterpret_cast<float*>(s_ring + slot * kStageBytes);
    // Fragment (mi, nt) of this warp: 16 rows from f_row(mi) x 8 tokens from f_tok(mi, nt)
    // (acc[mi][nt][2h + j]: row f_row + g + 8h, token f_tok + 2tq + j); its float4 index in
    // a partial / the scratch is (frag * 32 + lane), a bijection onto 0 .. 8 RG MT - 1.
    auto f_row = [&](int mi) { return kWg ? warp * 16 : wr * 32 + mi * 16; };
    auto f_tok = [&](int mi, int nt) { return kWg ? (mi * NT + nt) * 8 : (wn * NT + nt) * 8; };
    auto frag = [&](int mi, int nt) { return kWg ? warp * MT + mi * NT + nt : (wr * 2 + mi) * MT + wn * NT + nt; };
    // SwiGLU: the tile's first 64 RG rows are gate rows, the others the up rows of the same
    // outputs, whose fragment is 4 RG MT on from the gate's.
    const bool up_rows = kWg ? warp >= 4 : wr >= 2 * RG;
    if constexpr (WK == 2) {
      __syncthreads();  // every warp is done reading this stage before it becomes scratch
      // Sum the two K halves (two rounds of 4 RG warps x MT x 32 lanes x 4 floats <= 16 RG KB).
#pragma unroll
      for (int mi = 0; mi < 2; ++mi) {
        if (wk == 1) {
#pragma unroll
          for (int nt = 0; nt < NT; ++nt)
            reinterpret_cast<float4*>(scratch)[(wr * MT + nt) * 32 + lane] =
                make_float4(acc[mi][nt][0], acc[mi][nt][1], acc[mi][nt][2], acc[mi][nt][3]);
        }
        __syncthreads();
        if (wk == 0) {
#pragma unroll
          for (int nt = 0; nt < NT; ++nt) {
            const float4 o = reinterpret_cast<const float4*>(scratch)[(wr * MT + nt) * 32 + lane];
            acc[mi][nt][0] += o.x;
            acc[mi][nt][1] += o.y;
            acc[mi][nt][2] += o.z;
            acc[mi][nt][3] += o.w;
          }
        }
        __syncthreads();
      }
    }
    bool finish = true;
    if (shape.splits > 1) {
      // Partials in fragment order: [item][wr][mi][token tile][lane] float4.
      constexpr int kItemF4 = kGroups * 2 * MT * 32;
      float4* part = reinterpret_cast<float4*>(p.partials);
      if (wk == 0) {
#pragma unroll
        for (int mi = 0; mi < 2; ++mi)
#pragma unroll
          for (int nt = 0; nt < NT; ++nt)
            __stcg(part + static_cast<size_t>(item) * kItemF4 + frag(mi, nt) * 32 + lane,
                   make_float4(acc[mi][nt][0], acc[mi][nt][1], acc[mi][nt][2], acc[mi][nt][3]));
      }
      __threadfence();
      __syncthreads();
      if (tid == 0) {
        const int done = atomicAdd(p.counters + tile, 1);
        s_last = done == shape.splits - 1;
        if (s_last) p.counters[tile] = 0;  // for the next launch
      }
      __syncthreads();
      finish = s_last != 0;
      if (finish && wk == 0) {
        __threadfence();
        // Every split's partial, in split order (the same sum whichever CTA is last).
        // kU splits at a time, all their 2 x NT loads independent of each other (one L2
        // round trip per kU splits: a loop over the splits inside each fragment measured
        // 70 us for a 50 MB q|k|v at m = 64, and one split per round trip left o_proj at
        // 58 % of copy); added in split order, so the sum is the same whoever is last.
        constexpr int kU = NT >= 4 ? 1 : 4 / NT;
        zero_acc();
        for (int sp0 = 0; sp0 < shape.splits; sp0 += kU) {
          float4 o[kU][2][NT];
#pragma unroll
          for (int u = 0; u < kU; ++u) {
            const float4* src = part + static_cast<size_t>(tile * shape.splits + sp0 + u) * kItemF4 + lane;
#pragma unroll
            for (int mi = 0; mi < 2; ++mi)
#pragma unroll
              for (int nt = 0; nt < NT; ++nt)
                o[u][mi][nt] = sp0 + u < shape.splits ? __ldcg(src + frag(mi, nt) * 32)
                                                      : make_float4(0.0f, 0.0f, 0.0f, 0.0f);
          }
#pragma unroll
          for (int u = 0; u < kU; ++u) {
            if (sp0 + u >= shape.splits) break;
#pragma unroll
            for (int mi = 0; mi < 2; ++mi)
#pragma unroll
              for (int nt = 0; nt < NT; ++nt) {
                acc[mi][nt][0] += o[u][mi][nt].x;
                acc[mi][nt][1] += o[u][mi][nt].y;
                acc[mi][nt][2] += o[u][mi][nt].z;
                acc[mi][nt][3] += o[u][mi][nt].w;
              }
          }
        }
      }
    }
    if (finish) {
      if constexpr (kEpi == kEpiSwiglu) {
        // Row groups 0..2RG-1 hold gate rows, the others the up rows of the same 64 RG outputs.
        if constexpr (WK == 1) __syncthreads();  // this stage becomes scratch
        if (wk == 0 && up_rows) {
#pragma unroll
          for (int mi = 0; mi < 2; ++mi)
#pragma unroll
            for (int nt = 0; nt < NT; ++nt)
              reinterpret_cast<float4*>(scratch)[(frag(mi, nt) - 4 * RG * MT) * 32 + lane] =
                  make_float4(acc[mi][nt][0], acc[mi][nt][1], acc[mi][nt][2], acc[mi][nt][3]);
        }
        __syncthreads();
        if (wk == 0 && !up_rows) {
#pragma unroll
          for (int mi = 0; mi < 2; ++mi)
#pragma unroll
            for (int nt = 0; nt < NT; ++nt) {
              const float4 u4 = reinterpret_cast<const float4*>(scratch)[frag(mi, nt) * 32 + lane];
              const float u[4] = {u4.x, u4.y, u4.z, u4.w};
#pragma unroll
              for (int j = 0; j < 4; ++j) {
                const int64_t row = static_cast<int64_t>(tile) * (kRows / 2) + f_row(mi) + g + 8 * (j >> 1);
                const int tok = f_tok(mi, nt) + 2 * tq + (j & 1);
                if (row < p.seg[0].rows && tok < p.m)
                  static_cast<bf16*>(p.act)[tok * p.seg[0].rows + row] =
                      __float2bfloat16(silu_mul(round_bf16(acc[mi][nt][j]), round_bf16(u[j])));
              }
            }
        }
        __syncthreads();  // the scratch is the ring slot refilled next
      } else {
        if (wk == 0) {
#pragma unroll
          for (int mi = 0; mi < 2; ++mi)
#pragma unroll
            for (int nt = 0; nt < NT; ++nt)
#pragma unroll
              for (int j = 0; j < 4; ++j) {
                const int64_t R = static_cast<int64_t>(tile) * kRows + f_row(mi) + g + 8 * (j >> 1);
                const int tok = f_tok(mi, nt) + 2 * tq + (j & 1);
                if (tok >= p.m) continue;
                if constexpr (kEpi == kEpiResidual) {
                  if (R < p.seg[0].rows) {
                    const bf16 o = __float2bfloat16(acc[mi][nt][j]);
                    const int64_t at = static_cast<int64_t>(tok) * p.seg[0].rows + R;
                    if (p.seg[0].out != nullptr) static_cast<bf16*>(p.seg[0].out)[at] = o;
                    bf16* res = static_cast<bf16*>(p.residual) + at;
                    *res = __float2bfloat16(__bfloat162float(*res) + __bfloat162float(o));
                  }
                } else {
                  mma_store(p, R, tok, acc[mi][nt][j]);
                }
              }
        }
      }
    }
    zero_acc();
    c_item += gridDim.x;
    c_stage = 0;
    c_count = c_item < items ? item_stages(c_item) : 0;
    slot = slot == kStages - 1 ? 0 : slot + 1;
  }
  ring_wait<0>();  // nothing may be in flight into shared memory at exit
}

template <int MT, int RG, bool kWg>
constexpr int mma_smem_bytes() {
  return mma_stages<RG>() * mma_stage_bytes<MT, RG>() + (kWg ? 1024 : 0);
}

template <int MT, int WN, int RG, int kEpi, bool kWg>
cudaError_t mma_kernel_setup(int* ctas_per_sm) {
  constexpr int kStages = mma_stages<RG>();
  auto* kernel = mma_gemv_kernel<MT, WN, RG, kEpi, kStages, kWg>;
  constexpr int kSmem = mma_smem_bytes<MT, RG, kWg>();
  static int occupancy = 0;
  static const cudaError_t attr = [&] {
    cudaError_t e = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, kSmem);
    if (e == cudaSuccess)
      e = cudaFuncSetAttribute(kernel, cudaFuncAttributePreferredSharedMemoryCarveout,
                               static_cast<int>(cudaSharedmemCarveoutMaxShared));
    if (e == cudaSuccess)
      e = cudaOccupancyMaxActiveBlocksPerMultiprocessor(&occupancy, kernel, mma_threads<RG>(), kSmem);
    return e;
  }();
  *ctas_per_sm = occupancy;
  return attr;
}

// occ != nullptr: only the occupancy query (the kernel's attributes set once).
template <int MT, int WN, int RG, int kEpi, bool kWg = false>
cudaError_t mma_launch(const MmaGemvParams& p, const MmaShape& shape, int ctas, cudaStream_t stream,
                       int* occ) {
  int o = 0;
  const cudaError_t e = mma_kernel_setup<MT, WN, RG, kEpi, kWg>(occ != nullptr ? occ : &o);
  if (e != cudaSuccess || occ != nullptr) return e;
  constexpr int kStages = mma_stages<RG>();
  return launch_pdl(mma_gemv_kernel<MT, WN, RG, kEpi, kStages, kWg>, dim3(static_cast<unsigned>(ctas)),
                    dim3(mma_threads<RG>()), static_cast<size_t>(mma_smem_bytes<MT, RG, kWg>()), stream,
                    p, shape);
}

// Whether this device runs the wgmma variant (an H100/H200 and a binary with sm_90a code),
// cached per device.
bool mma_wg_runs_here() {
  constexpr int kMaxDevices = 64;
  static int cached[kMaxDevices] = {};  // 0 unknown, 1 yes, 2 no
  int dev = 0;
  if (cudaGetDevice(&dev) != cudaSuccess || dev < 0 || dev >= kMaxDevices) return false;
  if (cached[dev] == 0)
    cached[dev] = sm90a_code_runs(dev, reinterpret_cast<const void*>(
                                           mma_gemv_kernel<8, 2, 1, kEpiPlain, mma_stages<1>(), true>))
                      ? 1
                      : 2;
  return cached[dev] == 1;
}

// The wgmma variant takes m = 17..64 where asked for (p.wgmma) and the device runs it.
bool mma_use_wg(const MmaGemvParams& p) { return p.wgmma && p.m > 16 && mma_wg_runs_here(); }

// An attribute of the current device (0 where it cannot be read).
int device_attr(cudaDeviceAttr attr) {
  int dev = 0, v = 0;
  if (cudaGetDevice(&dev) != cudaSuccess || cudaDeviceGetAttribute(&v, attr, dev) != cudaSuccess) return 0;
  return v;
}

int smem_optin() {
  static const int optin = device_attr(cudaDevAttrMaxSharedMemoryPerBlockOptin);
  return optin;
}

int mma_mt(int m) { return m <= 8 ? 1 : m <= 16 ? 2 : m <= 32 ? 4 : 8; }

// Row groups per CTA: 1 (128-row tiles, 256 threads, 2 CTAs per SM). HEARTH_CUDA_MMA_RG=2
// (an experiment, off: measured slower on the H200, NOTES.md "Batched GEMM, session 3")
// takes 256-row tiles of 512 threads past m = 8 where the 5-stage ring fits in shared
// memory (not on Ada): half the x traffic from L2 per weight byte.
int mma_rg(const MmaGemvParams& p) {
  static const bool allow = [] {
    const char* v = std::getenv("HEARTH_CUDA_MMA_RG");
    return v != nullptr && std::strcmp(v, "2") == 0;
  }();
  const int mt = mma_mt(p.m);
  if (!allow || mt == 1 || mma_use_wg(p)) return 1;
  const int bytes = mma_stages<2>() * (mma_w_bytes<2>() + mt * 8 * kMmaBK * 2);
  return bytes + 1024 <= smem_optin() ? 2 : 1;
}

template <int kEpi, int RG>
cudaError_t mma_dispatch_rg(const MmaGemvParams& p, const MmaShape& shape, int ctas, cudaStream_t stream,
                            int* occ) {
  if (p.m <= 16) return mma_launch<2, 2, RG, kEpi>(p, shape, ctas, stream, occ);
  if (p.m <= 32) return mma_launch<4, 2, RG, kEpi>(p, shape, ctas, stream, occ);
  return mma_launch<8, 2, RG, kEpi>(p, shape, ctas, stream, occ);
}

// Warp layouts: m <= 8 K halves (one token tile), past 8 token halves (measured on the
// H200 against K halves: layer 123.0 / 134.2 us at m = 16, 146.5 / 162.3 at m = 32).
template <int kEpi>
cudaError_t mma_dispatch(const MmaGemvParams& p, const MmaShape& shape, int ctas, cudaStream_t stream,
                         int* occ) {
  if (p.m <= 8) return mma_launch<1, 1, 1, kEpi>(p, shape, ctas, stream, occ);
  if (mma_use_wg(p))
    return p.m <= 32 ? mma_launch<4, 2, 1, kEpi, true>(p, shape, ctas, stream, occ)
                     : mma_launch<8, 2, 1, kEpi, true>(p, shape, ctas, stream, occ);
  return mma_rg(p) == 2 ? mma_dispatch_rg<kEpi, 2>(p, shape, ctas, stream, occ)
                        : mma_dispatch_rg<kEpi, 1>(p, shape, ctas, stream, occ);
}

int mma_epi(const MmaGemvParams& p) {
  return p.act != nullptr ? kEpiSwiglu : p.residual != nullptr ? kEpiResidual : kEpiPlain;
}

cudaError_t mma_run(const MmaGemvParams& p, const MmaShape& shape, int ctas, cudaStream_t stream,
                    int* occ) {
  switch (mma_epi(p)) {
    case kEpiSwiglu: return mma_dispatch<kEpiSwiglu>(p, shape, ctas, stream, occ);
    case kEpiResidual: return mma_dispatch<kEpiResidual>(p, shape, ctas, stream, occ);
    default: return mma_dispatch<kEpiPlain>(p, shape, ctas, stream, occ);
  }
}

bool mma_valid(const MmaGemvParams& p) {
  if (p.m < 1 || p.m > kMmaGemvMaxM || p.k <= 0 || p.k % 8 != 0 || !aligned16(p.x) ||
      p.num_segments < 1 || p.num_segments > kGemvMaxSegments)
    return false;
  for (int s = 0; s < p.num_segments; ++s)
    if (!aligned16(p.seg[s].w) || p.seg[s].rows < 0) return false;
  if (p.residual != nullptr && (p.act != nullptr || p.num_segments != 1 || p.out_f32)) return false;
  if (p.act != nullptr && (p.num_segments != 2 || p.seg[0].rows != p.seg[1].rows || p.out_f32))
    return false;
  return true;
}

int64_t mma_tiles(const MmaGemvParams& p) {
  const int tile_rows = 128 * mma_rg(p);
  if (p.act != nullptr) return (p.seg[0].rows + tile_rows / 2 - 1) / (tile_rows / 2);
  int64_t rows = 0;
  for (int s = 0; s < p.num_segments; ++s) rows += p.seg[s].rows;
  return (rows + tile_rows - 1) / tile_rows;
}

int device_sms() {
  static const int sms = device_attr(cudaDevAttrMultiProcessorCount);
  return sms;
}

}  // namespace

bool mma_wgmma_available() { return mma_wg_runs_here(); }

MmaGemvPlan mma_gemv_plan(const MmaGemvParams& p, int max_splits) {
  MmaGemvPlan plan;
  if (!mma_valid(p)) return plan;
  const int64_t tiles = mma_tiles(p);
  int occ = 0;
  if (tiles <= 0 || tiles > (1 << 24) || mma_run(p, MmaShape{}, 0, nullptr, &occ) != cudaSuccess ||
      occ < 1 || device_sms() < 1)
    return plan;
  const int slots = occ * device_sms();
  const int k_stages = static_cast<int>((p.k + kMmaBK - 1) / kMmaBK);
  const int m_pad = 8 * mma_mt(p.m);
  // Cost in weight stages on the busiest CTA: ceil(items / slots) items of up to
  // stages_per_split stages; under one wave each CTA streams alone at about its own
  // in-flight bytes, so fewer CTAs scale the time up. An item adds its epilogue (about a
  // stage) and, split, the partial write, fence and counter (two L2 round trips during
  // which the ring is not refilled: ~3 more stages).
  // Past 16 tokens the partials (128 x m_pad floats per item, summed serially by the
  // tile's last CTA) cost more: 9 stages per split and 16 padded tokens past 16, a fit to
  // the H200 sweep of HEARTH_CUDA_MMA_SPLITS at m = 32 and 64 (NOTES.md "Hopper wgmma GEMM,
  // session 3"; e.g. gate|up at m = 64: 60.1 us unsplit, 76.4 us at 2 splits, which the
  // terms above rank the other way). Zero at m <= 16, whose plans stay as measured there.
  const double split_extra = 9.0 * std::max(0, m_pad - 16) / 16.0;
  double best = 1e30;
  int best_s = 1;
  for (int s = 1; s <= std::max(1, std::min(max_splits, k_stages)); ++s) {
    const int per = (k_stages + s - 1) / s;
    if ((s - 1) * per >= k_stages) continue;  // an empty split
    const int64_t items = tiles * s;
    const double waves = static_cast<double>((items + slots - 1) / slots);
    double cost = waves * per + waves * (s > 1 ? 4.0 : 1.0);
    if (items < slots) cost *= static_cast<double>(slots) / static_cast<double>(items);
    if (s > 1) cost += split_extra * s;
    if (cost < best - 1e-9) {
      best = cost;
      best_s = s;
    }
  }
  plan.tiles = static_cast<int>(tiles);
  plan.splits = best_s;
  plan.ctas = static_cast<int>(std::min<int64_t>(tiles * best_s, slots));
  plan.partial_floats = best_s > 1 ? static_cast<size_t>(tiles) * best_s * 128 * mma_rg(p) * m_pad : 0;
  return plan;
}

cudaError_t launch_mma_gemv(const MmaGemvParams& p, const MmaGemvPlan& plan, cudaStream_t stream) {
  if (!mma_valid(p) || plan.tiles != mma_tiles(p)) return cudaErrorInvalidValue;
  if (plan.tiles == 0) return cudaGetLastError();  // no rows
  if (plan.splits < 1 || plan.ctas < 1 || p.splits != plan.splits ||
      (plan.splits > 1 && (p.partials == nullptr || p.counters == nullptr)))
    return cudaErrorInvalidValue;
  MmaShape shape;
  shape.tiles = plan.tiles;
  shape.splits = plan.splits;
  shape.k_stages = static_cast<int>((p.k + kMmaBK - 1) / kMmaBK);
  shape.stages_per_split = (shape.k_stages + plan.splits - 1) / plan.splits;
  return mma_run(p, shape, plan.ctas, stream, nullptr);
}

}  // namespace hearth::cuda
