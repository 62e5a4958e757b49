// Every decoder layer of a one-token decode step as one persistent kernel (the "decode
// stack"; kernels.h: StackParams). Why: at batch 1 a step is a stream over the weights, and
// the op-by-op path (five launches per layer) loses the stream at each launch boundary: the
// next GEMV's CTAs become resident only when the current ones exit (two 97 KB CTAs fill an
// SM), and during the attention block DRAM idles (NOTES.md, decode versions 3-6: a layer
// took ~118 us against 90.8 us of weights at copy bandwidth).
//
// Here one grid of CTAs (two per SM, all resident) walks the layers' phases with a grid
// barrier between dependent phases:
//   qkv   q|k|v = rms_norm(residual) * input_layernorm @ [Wq; Wk; Wv]^T
//   attn  per-head q/k norm + RoPE, the step's k/v row into the paged cache, split-KV
//         attention (items = kv head x split), the split combine by the last item of a head
//   o     residual += bf16(attn @ Wo^T)
//   gu    act = bf16(silu(bf16 g) * bf16 u), [g; u] = rms_norm(residual) * post_norm @ [Wg; Wu]^T
//   down  residual += bf16(act @ Wd^T)
// The weights travel through one cp.async ring per CTA (3 stages x 32 KB, as the GEMV of
// gemv_kernels.cu: 8 rows x 4 KB per step) whose copy side walks the CTA's row groups of
// every GEMV phase of every layer as one stream, so while a CTA waits at a barrier or works
// on attention, the next phase's first weights are already in flight: the copies never
// wait for activations, only the arithmetic does.
//
// Rounding follows the op-by-op path's GEMV exactly (the normalized input, q/k/v, the
// outputs and the residual in bf16 where it stores bf16); the attention is fp32 SIMT with
// P in fp32 (the tensor-core decode kernel rounds P to bf16), so the two paths agree to
// bf16 rounding, not bit for bit (GpuDecode.DecodeStackTracksLayerByLayer).
//
// Scope (launch_decode_stack checks, the backend falls back otherwise): one token, head_dim
// 128, <= 8 query heads per kv head, bf16 weights and bf16 KV cache.
#include <algorithm>

#include "hearth/backend/cuda/decode_stack.h"
#include "hearth/backend/cuda/device_utils.cuh"
#include "hearth/backend/cuda/kernels.h"
#include "hearth/backend/cuda/rope_device.cuh"

namespace hearth::cuda {

namespace {

constexpr int kWarps = 8;
constexpr int kThreads = kWarps * 32;
constexpr int kRows = 8;    // weight rows per row group (gate|up: 4 + 4)
constexpr int kStages = 3;  // ring: 3 x 32 KB per CTA, 2 CTAs per SM
constexpr int kD = 128;     // head_dim
constexpr int kMaxGroup = 8;
constexpr int kSplitMax = 128;   // positions per attention item
constexpr int kBufFloats = 2048;  // scores / partial sums / combine weights (8 KB)
constexpr size_t kRingBytes = sizeof(uint4) * kStages * kRows * kThreads;
constexpr float kLog2e = 1.4426950408889634f;

enum Phase { kQkv = 0, kO = 1, kGu = 2, kDown = 3, kPhases = 4 };

__device__ __forceinline__ float silu_mul(float g, float u) { return g / (1.0f + __expf(-g)) * u; }
__device__ __forceinline__ float round_bf16(float v) { return __bfloat162float(__float2bfloat16(v)); }

// In place on v[0..n) (log2-domain logits), by one warp: v = exp2(v - max); returns the
// max (.x) and the sum of the exponentials (.y), both uniform over the warp.
__device__ __forceinline__ float2 warp_exp2_normalize(float* v, int n, int lane) {
  float m = -INFINITY;
  for (int j = lane; j < n; j += 32) m = fmaxf(m, v[j]);
#pragma unroll
  for (int off = 16; off > 0; off >>= 1) m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, off));
  float l = 0.0f;
  for (int j = lane; j < n; j += 32) {
    const float e = exp2f(v[j] - m);
    v[j] = e;
    l += e;
  }
  return make_float2(m, warp_sum(l));
}

// Data written inside this kernel by other CTAs (activations, partials) is read with
// plain loads after a grid barrier (its acquire orders them; the read-only path, __ldg,
// would not be), so the input chunks a CTA re-reads for each row group hit L1.
__device__ __forceinline__ uint4 ld_act(const void* p) { return *static_cast<const uint4*>(p); }

// K (input features) and row groups of a GEMV phase.
__device__ __forceinline__ void phase_shape(const StackParams& p, int ph, int& k, int& groups) {
  const int q_rows = p.heads * kD, kv_rows = p.kv_heads * kD;
  switch (ph) {
    case kQkv: k = p.hidden; groups = (q_rows + 2 * kv_rows + kRows - 1) / kRows; break;
    case kO: k = q_rows; groups = (p.hidden + kRows - 1) / kRows; break;
    case kGu: k = p.hidden; groups = (p.inter + kRows / 2 - 1) / (kRows / 2); break;
    default: k = p.inter; groups = (p.hidden + kRows - 1) / kRows; break;
  }
}

// The weight rows of row group g of phase ph as two halves of 4 rows, each contiguous:
// half h covers rows base[h] + i * chunks for i < valid[h] (0..4). gate|up: half 0 is
// gate rows 4g..4g+3, half 1 the same up rows; otherwise rows 8g..8g+7 of the phase's
// matrix (q|k|v: the segment boundaries are multiples of 128, so a group never straddles).
__device__ __forceinline__ void group_rows(const StackParams& p, const StackLayer& L, int ph,
                                           int g, int chunks, const uint4* base[2], int valid[2]) {
  const int q_rows = p.heads * kD, kv_rows = p.kv_heads * kD;
  if (ph == kGu) {
    const int row = g * (kRows / 2);
    const int v = max(0, min(kRows / 2, p.inter - row));
    base[0] = static_cast<const uint4*>(L.wg) + static_cast<int64_t>(row) * chunks;
    base[1] = static_cast<const uint4*>(L.wu) + static_cast<int64_t>(row) * chunks;
    valid[0] = valid[1] = v;
    return;
  }
  int row = g * kRows, rows;
  const void* w;
  if (ph == kQkv) {
    if (row < q_rows) {
      w = L.wq;
      rows = q_rows;
    } else if (row < q_rows + kv_rows) {
      w = L.wk;
      row -= q_rows;
      rows = kv_rows;
    } else {
      w = L.wv;
      row -= q_rows + kv_rows;
      rows = kv_rows;
    }
  } else {
    w = ph == kO ? L.wo : L.wd;
    rows = p.hidden;
  }
  const int v = max(0, min(kRows, rows - row));
  base[0] = static_cast<const uint4*>(w) + static_cast<int64_t>(row) * chunks;
  base[1] = base[0] + static_cast<int64_t>(kRows / 2) * chunks;
  valid[0] = min(v, kRows / 2);
  valid[1] = max(0, v - kRows / 2);
}

// The copy side of the ring: this CTA's row groups of every GEMV phase of every layer, in
// the order the arithmetic consumes them, one step (8 rows x 16 bytes per thread) at a time.
struct WeightStream {
  int layer = 0, ph = 0, g = 0, step = 0, steps = 0, chunks = 0, groups = 0, slot = 0;
  bool done = false;
  const uint4* base[2];
  int valid[2];

  __device__ __forceinline__ void start_phase(const StackParams& p) {
    // Skip phases in which this CTA has no row group.
    while (true) {
      if (layer >= p.num_layers) {
        done = true;
        return;
      }
      int k;
      phase_shape(p, ph, k, groups);
      chunks = k / 8;
      steps = (chunks + kThreads - 1) / kThreads;
      g = blockIdx.x;
      step = 0;
      if (g < groups) break;
      if (++ph == kPhases) {
        ph = 0;
        ++layer;
      }
    }
    load_rows(p);
  }
  __device__ __forceinline__ void load_rows(const StackParams& p) {
    group_rows(p, p.layers[layer], ph, g, chunks, base, valid);
  }
  __device__ __forceinline__ void issue(const StackParams& p, uint32_t ring, int tid) {
    if (!done) {
      const int c = step * kThreads + tid;
      const uint32_t dst = ring + static_cast<uint32_t>(slot * kRows * kThreads + tid) * 16u;
#pragma unroll
      for (int r = 0; r < kRows; ++r) {
        const int h = r / (kRows / 2), i = r % (kRows / 2);
        const bool ok = i < valid[h] && c < chunks;
        ring_copy16(dst + r * kThreads * 16u,
               ok ? static_cast<const void*>(base[h] + static_cast<int64_t>(i) * chunks + c) : p.residual,
               ok ? 16 : 0);
      }
      if (++slot == kStages) slot = 0;
      if (++step == steps) {
        step = 0;
        g += gridDim.x;
        if (g < groups) {
          load_rows(p);
        } else {
          if (++ph == kPhases) {
            ph = 0;
            ++layer;
          }
          start_phase(p);
        }
      }
    }
    ring_commit();  // empty groups past the end keep the wait count uniform
  }
};

__device__ __forceinline__ unsigned ld_acquire(const unsigned* p) {
  unsigned v;
  asm volatile("ld.acquire.gpu.global.u32 %0, [%1];\n" : "=r"(v) : "l"(p) : "memory");
  return v;
}

// Grid barrier (all CTAs are resident: the grid is sized from the occupancy). bar[0] counts
// arrivals, bar[1] is the generation the last arrival advances; the count is back to 0
// after every barrier, so the next launch starts clean.
__device__ __forceinline__ void grid_barrier(unsigned* bar) {
  __syncthreads();
  if (threadIdx.x == 0) {
    const unsigned* gen = bar + 1;
    const unsigned my_gen = ld_acquire(gen);
    __threadfence();
    if (atomicAdd(bar, 1u) == gridDim.x - 1) {
      atomicExch(bar, 0u);
      __threadfence();
      atomicAdd(bar + 1, 1u);
    } else {
      while (ld_acquire(gen) == my_gen) __nanosleep(32);
    }
    __threadfence();
  }
  __syncthreads();
}

struct Smem {
  float part[2][kWarps][kRows];
  float red[32];
  float cos[kD / 2], sin[kD / 2];
  float q[kMaxGroup][kD];  // the item's q rows; the combine's split weights
  float buf[kBufFloats];   // scores [group][kSplitMax], then P V partials
  int slot[kSplitMax];     // cache slot of each position of the item
  float m[kMaxGroup], l[kMaxGroup];
  int last;
};

__device__ __forceinline__ void stamp(const StackParams& p, int layer, int event) {
  if (p.prof != nullptr && threadIdx.x == 0) {
    unsigned long long t;
    asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
    p.prof[(static_cast<int64_t>(layer) * kStackEvents + event) * gridDim.x + blockIdx.x] = t;
  }
}

// 1 / rms of the residual row (every CTA computes it; the row is 8-24 KB in L2).
__device__ float residual_inv_rms(const StackParams& p, Smem& sm) {
  const int chunks = p.hidden / 8;
  float ss = 0.0f;
  for (int c = threadIdx.x; c < chunks; c += kThreads) {
    float a[8];
    unpack8(ld_act(static_cast<const uint4*>(p.residual) + c), a);
#pragma unroll
    for (int j = 0; j < 8; ++j) ss += a[j] * a[j];
  }
  return rsqrtf(block_sum(ss, sm.red) / static_cast<float>(p.hidden) + p.eps);
}

// The arithmetic side of one GEMV phase: this CTA's row groups, each step from the ring.
template <int kPh>
__device__ __forceinline__ void gemv_phase(const StackParams& p, const StackLayer& L, WeightStream& ws,
                           uint32_t ring, const uint4* s_ring, Smem& sm, int& parity,
                           int& c_slot) {
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  int k, groups;
  phase_shape(p, kPh, k, groups);
  const int chunks = k / 8;
  const int steps = (chunks + kThreads - 1) / kThreads;
  constexpr bool kNorm = kPh == kQkv || kPh == kGu;
  const float inv_rms = kNorm ? residual_inv_rms(p, sm) : 0.0f;
  const void* x = kPh == kQkv || kPh == kGu ? p.residual : (kPh == kO ? p.attn : p.act);
  const void* norm_w = kPh == kQkv ? L.in_norm : L.post_norm;

  for (int g = blockIdx.x; g < groups; g += gridDim.x) {
    float acc[kRows];
#pragma unroll
    for (int r = 0; r < kRows; ++r) acc[r] = 0.0f;
    for (int s = 0; s < steps; ++s) {
      ring_wait<kStages - 1>();
      const int c = s * kThreads + tid;
      if (c < chunks) {
        const uint4* slot = s_ring + c_slot * kRows * kThreads + tid;
        float wf[kRows][8];
#pragma unroll
        for (int r = 0; r < kRows; ++r) unpack8(slot[r * kThreads], wf[r]);
        float xf[8];
        unpack8(ld_act(static_cast<const uint4*>(x) + c), xf);
        if constexpr (kNorm) {
          float w8[8];
          unpack8(__ldg(static_cast<const uint4*>(norm_w) + c), w8);
#pragma unroll
          for (int j = 0; j < 8; ++j) xf[j] = round_bf16(w8[j] * (xf[j] * inv_rms));
        }
#pragma unroll
        for (int r = 0; r < kRows; ++r)
#pragma unroll
          for (int j = 0; j < 8; ++j) acc[r] = fmaf(wf[r][j], xf[j], acc[r]);
      }
      ws.issue(p, ring, tid);  // the next step of the stream into the slot just read
      if (++c_slot == kStages) c_slot = 0;
    }
#pragma unroll
    for (int r = 0; r < kRows; ++r) {
      const float v = warp_sum(acc[r]);
      if (lane == 0) sm.part[parity][warp][r] = v;
    }
    __syncthreads();
    if constexpr (kPh == kGu) {
      if (tid < kRows / 2) {
        float gate = 0.0f, up = 0.0f;
#pragma unroll
        for (int q = 0; q < kWarps; ++q) {
          gate += sm.part[parity][q][tid];
          up += sm.part[parity][q][tid + kRows / 2];
        }
        const int row = g * (kRows / 2) + tid;
        if (row < p.inter)
          static_cast<bf16*>(p.act)[row] = __float2bfloat16(silu_mul(round_bf16(gate), round_bf16(up)));
      }
    } else if (tid < kRows) {
      float v = 0.0f;
#pragma unroll
      for (int q = 0; q < kWarps; ++q) v += sm.part[parity][q][tid];
      const int row = g * kRows + tid;
      if constexpr (kPh == kQkv) {
        if (row < (p.heads + 2 * p.kv_heads) * kD) static_cast<bf16*>(p.qkv)[row] = __float2bfloat16(v);
      } else {
        if (row < p.hidden) {
          // residual += bf16(out), rounded to bf16 (the op-by-op GEMV's residual epilogue).
          bf16* res = static_cast<bf16*>(p.residual) + row;
          const float old = __bfloat162float(*res);
          *res = __float2bfloat16(old + round_bf16(v));
        }
      }
    }
    parity ^= 1;
  }
}

// Attention of the step's token at one layer: items (kv head, split), then the combine by
// the last item of each kv head.
__device__ void attention_phase(const StackParams& p, const StackLayer& L, Smem& sm) {
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int group = p.heads / p.kv_heads;
  const int ctx = p.context_lens[0];
  const int new_pos = ctx - 1;
  // Split size from the context: a multiple of 16, at most kSplitMax, about one item per
  // CTA while that allows.
  const int per_head = max(1, static_cast<int>(gridDim.x) / p.kv_heads);
  int split = (ctx + per_head - 1) / per_head;
  split = min(kSplitMax, max(16, (split + 15) / 16 * 16));
  const int n_splits = (ctx + split - 1) / split;
  const int items = n_splits * p.kv_heads;
  const int64_t slot_elems = static_cast<int64_t>(p.kv_heads) * kD;
  const bf16* qkv = static_cast<const bf16*>(p.qkv);
  const int32_t* table = p.block_tables;
  const int bs = p.block_size;

  for (int item = blockIdx.x; item < items; item += gridDim.x) {
    const int kvh = item % p.kv_heads, si = item / p.kv_heads;
    const int start = si * split, end = min(ctx, start + split), n = end - start;
    // q rows (and the k row where this item holds the new position): norm + RoPE.
    constexpr int TPR = kD / 16;
    const bool owner = new_pos >= start && new_pos < end;
    const int32_t slot_w = p.slot_mapping[0];
    {
      const int row = tid / TPR, pc = tid % TPR;
      const bool is_q = row < group;
      const bool is_k = row == group && owner;
      const bf16* src = is_q ? qkv + (kvh * group + row) * kD
                             : qkv + (p.heads + kvh) * kD;
      uint4 lo = make_uint4(0, 0, 0, 0), hi = lo;
      if (is_q || is_k) {
        lo = ld_act(reinterpret_cast<const uint4*>(src) + pc);
        hi = ld_act(reinterpret_cast<const uint4*>(src + kD / 2) + pc);
      }
      if (tid < ((kMaxGroup + 1) * TPR + 31) / 32 * 32) {  // whole warps: shuffles span the warp
        norm_rope_chunks<TPR>(lo, hi, static_cast<const bf16*>(is_k ? L.k_norm : L.q_norm), pc, kD,
                              p.eps, sm.cos, sm.sin);
      }
      if (is_q) {
        float a[8], b[8];
        unpack8(lo, a);
        unpack8(hi, b);
#pragma unroll
        for (int j = 0; j < 8; ++j) {
          sm.q[row][pc * 8 + j] = a[j];
          sm.q[row][kD / 2 + pc * 8 + j] = b[j];
        }
      } else if (is_k && slot_w >= 0) {
        bf16* dst = static_cast<bf16*>(L.k_cache) + static_cast<int64_t>(slot_w) * slot_elems + kvh * kD;
        reinterpret_cast<uint4*>(dst)[pc] = lo;
        reinterpret_cast<uint4*>(dst + kD / 2)[pc] = hi;
      }
      if (owner && slot_w >= 0 && tid >= 128 && tid < 128 + kD / 8) {
        const int c = tid - 128;
        const uint4 vv = ld_act(reinterpret_cast<const uint4*>(qkv + (p.heads + p.kv_heads + kvh) * kD) + c);
        bf16* dst = static_cast<bf16*>(L.v_cache) + static_cast<int64_t>(slot_w) * slot_elems + kvh * kD;
        reinterpret_cast<uint4*>(dst)[c] = vv;
      }
    }
    __syncthreads();  // q in shared memory; the new cache row visible to the CTA

    // Scores: two threads per position, 64 dims each (8 loads in flight per thread).
    const float qk_scale = p.scale * kLog2e;
    {
      const int j = tid >> 1, h2 = tid & 1;
      float dot[kMaxGroup];
#pragma unroll
      for (int h = 0; h < kMaxGroup; ++h) dot[h] = 0.0f;
      if (j < n) {
        const int pos = start + j;
        const int slot = table[pos / bs] * bs + pos % bs;
        if (h2 == 0) sm.slot[j] = slot;
        const uint4* krow = reinterpret_cast<const uint4*>(static_cast<const bf16*>(L.k_cache) +
                                                           slot * slot_elems + kvh * kD + h2 * 64);
        uint4 kv[8];
#pragma unroll
        for (int c = 0; c < 8; ++c) kv[c] = __ldcg(krow + c);
#pragma unroll
        for (int c = 0; c < 8; ++c) {
          float kf[8];
          unpack8(kv[c], kf);
#pragma unroll
          for (int h = 0; h < kMaxGroup; ++h) {
            if (h < group) {
#pragma unroll
              for (int e = 0; e < 8; ++e) dot[h] = fmaf(sm.q[h][h2 * 64 + c * 8 + e], kf[e], dot[h]);
            }
          }
        }
      }
#pragma unroll
      for (int h = 0; h < kMaxGroup; ++h) dot[h] += __shfl_xor_sync(0xffffffffu, dot[h], 1);
      if (j < n && h2 == 0) {
#pragma unroll
        for (int h = 0; h < kMaxGroup; ++h)
          if (h < group) sm.buf[h * kSplitMax + j] = dot[h] * qk_scale;
      }
    }
    __syncthreads();
    // Softmax per head (log2 domain): warp h.
    if (warp < group) {
      const float2 ml = warp_exp2_normalize(sm.buf + warp * kSplitMax, n, lane);
      if (lane == 0) {
        sm.m[warp] = ml.x;
        sm.l[warp] = ml.y;
      }
    }
    __syncthreads();
    // O = P V: warp w owns dims 16w..16w+15; lane = (position lane pl = lane / 2, 8 dims at
    // 16w + 8 (lane % 2)). A thread's V chunks (positions pl, pl + 16, ...: <= 8) are all
    // loaded at once, the 16 position lanes reduced by shuffles.
    {
      constexpr int kLanesP = 16, kMaxPer = kSplitMax / kLanesP;
      constexpr int kHp = 1;  // heads per pass (registers: 8 V chunks + kHp x 8 sums)
      const int pl = lane >> 1, d0 = warp * 16 + (lane & 1) * 8;
      uint4 vv[kMaxPer];
#pragma unroll
      for (int u = 0; u < kMaxPer; ++u) {
        const int j = pl + u * kLanesP;
        vv[u] = j < n ? __ldcg(reinterpret_cast<const uint4*>(static_cast<const bf16*>(L.v_cache) +
                                                               static_cast<int64_t>(sm.slot[j]) * slot_elems +
                                                               kvh * kD + d0))
                      : make_uint4(0, 0, 0, 0);
      }
      for (int h0 = 0; h0 < group; h0 += kHp) {
        float acc[kHp][8];
#pragma unroll
        for (int h = 0; h < kHp; ++h)
#pragma unroll
          for (int e = 0; e < 8; ++e) acc[h][e] = 0.0f;
#pragma unroll
        for (int u = 0; u < kMaxPer; ++u) {
          const int j = pl + u * kLanesP;
          if (j < n) {
            float vf[8];
            unpack8(vv[u], vf);
#pragma unroll
            for (int h = 0; h < kHp; ++h) {
              const float pj = h0 + h < group ? sm.buf[(h0 + h) * kSplitMax + j] : 0.0f;
#pragma unroll
              for (int e = 0; e < 8; ++e) acc[h][e] = fmaf(pj, vf[e], acc[h][e]);
            }
          }
        }
#pragma unroll
        for (int h = 0; h < kHp; ++h)
#pragma unroll
          for (int e = 0; e < 8; ++e)
#pragma unroll
            for (int off = 2; off < 32; off <<= 1)
              acc[h][e] += __shfl_xor_sync(0xffffffffu, acc[h][e], off);
        if (pl == 0) {
#pragma unroll
          for (int h = 0; h < kHp; ++h) {
            if (h0 + h >= group) break;
            const int qh = kvh * group + h0 + h;
            const float inv_l = 1.0f / sm.l[h0 + h];
            float4* dst = reinterpret_cast<float4*>(p.part_o + (static_cast<int64_t>(qh) * p.max_splits + si) * kD + d0);
            dst[0] = make_float4(acc[h][0] * inv_l, acc[h][1] * inv_l, acc[h][2] * inv_l, acc[h][3] * inv_l);
            dst[1] = make_float4(acc[h][4] * inv_l, acc[h][5] * inv_l, acc[h][6] * inv_l, acc[h][7] * inv_l);
          }
        }
      }
      if (tid < group) p.part_lse[(kvh * group + tid) * p.max_splits + si] = sm.m[tid] + __log2f(sm.l[tid]);
    }
    // The last item of this kv head combines its splits.
    __threadfence();
    __syncthreads();
    if (tid == 0) {
      const unsigned done = atomicAdd(p.counters + kvh, 1u);
      sm.last = done == static_cast<unsigned>(n_splits - 1);
      if (sm.last) p.counters[kvh] = 0u;  // self-resetting for the next layer and step
    }
    __syncthreads();
    if (sm.last) {
      __threadfence();
      // Split weights in sm.q (free now), the heads in passes of what fits; each output
      // chunk (4 dims of a head) summed over its splits by `lanes` threads (all loads of a
      // thread in flight together, 8 at a time), then reduced through sm.buf.
      float* wts = &sm.q[0][0];
      constexpr int kWts = kMaxGroup * kD;
      const int hp = max(1, min(group, kWts / n_splits));
      for (int h0 = 0; h0 < group; h0 += hp) {
        const int hn = min(hp, group - h0);
        for (int i = tid; i < hn * n_splits; i += kThreads) {
          const int h = h0 + i / n_splits, sp = i % n_splits;
          wts[i] = __ldcg(p.part_lse + (kvh * group + h) * p.max_splits + sp);
        }
        __syncthreads();
        if (warp < hn) {
          const float2 ml = warp_exp2_normalize(wts + warp * n_splits, n_splits, lane);
          if (lane == 0) sm.l[warp] = 1.0f / ml.y;
        }
        __syncthreads();
        constexpr int kInFlight = 4;  // float4 loads per thread in flight
        const int chunks = hn * (kD / 4);
        const int lanes = max(1, kThreads / chunks);
        const int ci = tid % chunks, li = tid / chunks;
        float4 o = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
        if (tid < chunks * lanes) {
          const int hl = ci / (kD / 4), c4 = ci % (kD / 4);
          const int qh = kvh * group + h0 + hl;
          const float* w = wts + hl * n_splits;
          const float4* po = reinterpret_cast<const float4*>(p.part_o + static_cast<int64_t>(qh) * p.max_splits * kD) + c4;
          for (int sp0 = li; sp0 < n_splits; sp0 += kInFlight * lanes) {
            float4 x[kInFlight];
#pragma unroll
            for (int u = 0; u < kInFlight; ++u) {
              const int sp = sp0 + u * lanes;
              x[u] = sp < n_splits ? __ldcg(po + sp * (kD / 4)) : make_float4(0.0f, 0.0f, 0.0f, 0.0f);
            }
#pragma unroll
            for (int u = 0; u < kInFlight; ++u) {
              const int sp = sp0 + u * lanes;
              const float wu = sp < n_splits ? w[sp] : 0.0f;
              o.x = fmaf(wu, x[u].x, o.x);
              o.y = fmaf(wu, x[u].y, o.y);
              o.z = fmaf(wu, x[u].z, o.z);
              o.w = fmaf(wu, x[u].w, o.w);
            }
          }
        }
        float4* red = reinterpret_cast<float4*>(sm.buf);  // [lanes][chunks] (<= 8 KB)
        if (tid < chunks * lanes) red[li * chunks + ci] = o;
        __syncthreads();
        if (tid < chunks) {
          float4 sum = red[tid];
          for (int k = 1; k < lanes; ++k) {
            const float4 r = red[k * chunks + tid];
            sum.x += r.x;
            sum.y += r.y;
            sum.z += r.z;
            sum.w += r.w;
          }
          const int hl = tid / (kD / 4), c4 = tid % (kD / 4);
          const int qh = kvh * group + h0 + hl;
          const float inv = sm.l[hl];
          bf16* out = static_cast<bf16*>(p.attn) + qh * kD + c4 * 4;
          out[0] = __float2bfloat16(sum.x * inv);
          out[1] = __float2bfloat16(sum.y * inv);
          out[2] = __float2bfloat16(sum.z * inv);
          out[3] = __float2bfloat16(sum.w * inv);
        }
        __syncthreads();
      }
    }
    __syncthreads();  // shared memory is reused by the next item
  }
}

__global__ void __launch_bounds__(kThreads, 2) decode_stack_kernel(const StackParams p) {
  extern __shared__ uint4 s_ring[];  // [kStages][kRows][kThreads]
  __shared__ Smem sm;
  const uint32_t ring = smem_addr(s_ring);
  const int tid = threadIdx.x;

  WeightStream ws;
  ws.start_phase(p);
  // The whole ring before the wait on the previous kernel (the embedding): weights only.
#pragma unroll
  for (int s = 0; s < kStages; ++s) ws.issue(p, ring, tid);
  pdl_wait();
  rope_tables(p.rope, static_cast<float>(p.positions[0]), kD / 2, sm.cos, sm.sin);
  __syncthreads();

  int parity = 0, c_slot = 0;
  for (int l = 0; l < p.num_layers; ++l) {
    const StackLayer& L = p.layers[l];
    if (l > 0) grid_barrier(p.barrier);  // residual complete (the previous down)
    stamp(p, l, 0);
    gemv_phase<kQkv>(p, L, ws, ring, s_ring, sm, parity, c_slot);
    stamp(p, l, 1);
    grid_barrier(p.barrier);
    // Every CTA is resident once the first barrier is passed: the next kernel may launch.
    if (l == p.num_layers - 1) pdl_trigger();
    stamp(p, l, 2);
    attention_phase(p, L, sm);
    stamp(p, l, 3);
    grid_barrier(p.barrier);
    stamp(p, l, 4);
    gemv_phase<kO>(p, L, ws, ring, s_ring, sm, parity, c_slot);
    stamp(p, l, 5);
    grid_barrier(p.barrier);
    stamp(p, l, 6);
    gemv_phase<kGu>(p, L, ws, ring, s_ring, sm, parity, c_slot);
    stamp(p, l, 7);
    grid_barrier(p.barrier);
    stamp(p, l, 8);
    gemv_phase<kDown>(p, L, ws, ring, s_ring, sm, parity, c_slot);
    stamp(p, l, 9);
  }
  ring_wait<0>();  // nothing may be in flight into shared memory at exit
}

}  // namespace

int decode_stack_grid() {
  static const int grid = [] {
    int dev = 0, sms = 0, per_sm = 0;
    if (cudaGetDevice(&dev) != cudaSuccess ||
        cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev) != cudaSuccess)
      return 0;
    if (cudaFuncSetAttribute(decode_stack_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                             static_cast<int>(kRingBytes)) != cudaSuccess ||
        cudaFuncSetAttribute(decode_stack_kernel, cudaFuncAttributePreferredSharedMemoryCarveout,
                             static_cast<int>(cudaSharedmemCarveoutMaxShared)) != cudaSuccess ||
        cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, decode_stack_kernel, kThreads,
                                                      kRingBytes) != cudaSuccess) {
      (void)cudaGetLastError();
      return 0;
    }
    return per_sm * sms;
  }();
  return grid;
}

int decode_stack_max_splits(int capacity, int grid, int kv_heads) {
  // The kernel's split count for a context <= capacity: at most grid / kv_heads while a
  // split of <= kSplitMax positions allows, else ceil(context / kSplitMax).
  const int per_head = std::max(1, grid / std::max(kv_heads, 1));
  return std::max(per_head, (std::max(capacity, 1) + kSplitMax - 1) / kSplitMax);
}

cudaError_t launch_decode_stack(const StackParams& p, cudaStream_t stream) {
  const int grid = decode_stack_grid();
  if (grid <= 0 || p.num_layers < 1 || p.head_dim != kD || p.kv_heads < 1 ||
      p.heads % p.kv_heads != 0 || p.heads / p.kv_heads > kMaxGroup || p.hidden % 8 != 0 ||
      p.inter % 8 != 0 || p.max_splits < 1 || p.max_splits > kMaxGroup * kD ||
      !aligned16(p.residual) || !aligned16(p.qkv) || !aligned16(p.attn) || !aligned16(p.act))
    return cudaErrorInvalidValue;
  return launch_pdl(decode_stack_kernel, dim3(static_cast<unsigned>(grid)), dim3(kThreads),
                    kRingBytes, stream, p);
}

}  // namespace hearth::cuda
