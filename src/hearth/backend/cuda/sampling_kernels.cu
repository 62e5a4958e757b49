// General sampling on the device: sample_row (sampling/row_sampler.h) for every row of a
// [rows, vocab] fp32 logits batch, with sample_row.h's arithmetic, so the pick equals the
// CPU reference's exactly.
//
// The kept set of a sampled row is a prefix of one order: the rank key (p's bits, then
// lower id; sample_math::rank_key, 48 bits) over the candidates (p >= min_p). top-k is
// "the k largest keys", top-p "the largest keys until their integer weight reaches
// top_p_target"; both are a threshold key, found without sorting by a radix descent over the
// key's digits (10, 10, 10 bits of p, then 9, 9 bits of id): per level a histogram (count
// and u64 weight per digit) of the keys that share the prefix fixed so far, then one scan
// that fixes the next digit. The draw walks the kept tokens in id order: per-chunk weight
// sums, a scan over the chunks, a block scan inside the chosen chunk.
//
// Kernels, all over a (chunk of kChunk logits, row) grid except prep, in a fixed sequence so
// that a step graph can record it (a row that has finished a phase skips the later kernels):
//   prep        one CTA per row: save the raw logits of penalty tokens, apply the penalties
//               in place, clear the row's histogram;
//   max         the processed logits' max and argmax (greedy rows end here);
//   level x 10  one radix level of the top-k descent, then of the top-p descent;
//   draw_mass   per-chunk weight of the kept tokens; the row's draw target and its chunk;
//   draw_pick   the chunk's block scan: the pick; writes the pick and its raw logprob.
// Row-level steps run in the last CTA of each row to finish a kernel (a per-row counter,
// left at zero for the next kernel), so no kernel waits for another inside a launch.
// Cross-CTA data (histograms, partial sums) is reduced with integer atomics: the result does
// not depend on the order in which CTAs run.
#include <cub/block/block_scan.cuh>

#include <cfloat>

#include "hearth/backend/cuda/device_utils.cuh"
#include "hearth/backend/cuda/kernels.h"
#include "hearth/sampling/sample_row.h"

namespace hearth::cuda {

namespace {

namespace sm = hearth::sample_math;

constexpr int kThreads = 256;
constexpr int kPerThread = 8;  // contiguous ids per thread: one mask word, id order in a scan
constexpr int kChunk = kThreads * kPerThread;
constexpr int kLevels = 5;
constexpr int kMaxBins = 1024;
__constant__ int kLevelShift[kLevels] = {38, 28, 18, 9, 0};
__constant__ int kLevelWidth[kLevels] = {10, 10, 10, 9, 9};

enum Phase : int32_t { kDone = 0, kSelectK = 1, kSelectP = 2, kDraw = 3 };

struct RowState {
  float max;        // largest processed logit
  int32_t phase;
  int32_t level;    // radix level of the current descent
  int32_t pick;     // kDone: the token, or -1 (nothing can be picked)
  uint64_t prefix;  // key digits fixed so far (in place; lower digits 0)
  uint64_t target;  // still to cover below the prefix: a count (top-k) or a weight (top-p)
  uint64_t key_k;   // top-k threshold key (0: every candidate)
  uint64_t key_final;   // the kept set: candidates with key >= key_final
  uint64_t draw_target;  // inside draw_chunk
  int32_t draw_chunk;
  // Prefilter: a logit below z_lo cannot reach the phase's probability floor, so the pass
  // skips it without computing its probability (see set_floor).
  float z_lo;
};

struct Scratch {
  RowState* state;          // [rows]
  unsigned long long* max;  // [rows, chunks] processed-logit keys
  unsigned int* count;      // [rows, kMaxBins]
  unsigned long long* mass; // [rows, kMaxBins]
  unsigned long long* chunk_mass;  // [rows, chunks]
  unsigned int* counter;    // [kCounterRows]: CTAs of the row done in this kernel
  float* lse;               // [rows]: log-sum-exp of the raw logits (greedy kernel)
};

int chunks_for(int vocab) { return (vocab + kChunk - 1) / kChunk; }


size_t align_up(size_t n) { return (n + 255) / 256 * 256; }

// The per-row counters sit first, at fixed offsets for every row count: they must stay zero
// between kernels, and recordings of different row counts share one scratch.
constexpr size_t kCounterRows = 65536;  // gridDim.y limit

Scratch carve(void* base, int rows, int vocab) {
  const size_t r = static_cast<size_t>(rows), c = static_cast<size_t>(chunks_for(vocab));
  char* p = static_cast<char*>(base);
  Scratch s;
  s.counter = reinterpret_cast<unsigned int*>(p);
  p += kCounterRows * sizeof(unsigned int);
  s.state = reinterpret_cast<RowState*>(p);
  p += align_up(r * sizeof(RowState));
  s.max = reinterpret_cast<unsigned long long*>(p);
  p += align_up(r * c * sizeof(unsigned long long));
  s.count = reinterpret_cast<unsigned int*>(p);
  p += align_up(r * kMaxBins * sizeof(unsigned int));
  s.mass = reinterpret_cast<unsigned long long*>(p);
  p += align_up(r * kMaxBins * sizeof(unsigned long long));
  s.chunk_mass = reinterpret_cast<unsigned long long*>(p);
  p += align_up(r * c * sizeof(unsigned long long));
  s.lse = reinterpret_cast<float*>(p);
  p += align_up(r * sizeof(float));
  return s;
}

size_t carve_bytes(int rows, int vocab) {
  const size_t r = static_cast<size_t>(rows), c = static_cast<size_t>(chunks_for(vocab));
  return kCounterRows * 4 + align_up(r * sizeof(RowState)) + align_up(r * c * 8) +
         align_up(r * kMaxBins * 4) + align_up(r * kMaxBins * 8) + align_up(r * c * 8) +
         align_up(r * 4);
}

// Processed-logit key for the argmax: higher logit, then lower id; NaN ranks as -inf and
// -0 as +0 (argmax_logit's strict > sees them as equal, so the lower id wins there too).
__device__ __forceinline__ unsigned long long logit_key(float v, int id) {
  if (v != v) v = -INFINITY;
  if (v == 0.0f) v = 0.0f;
  const uint32_t u = __float_as_uint(v);
  const uint32_t ordered = (u & 0x80000000u) ? ~u : (u | 0x80000000u);
  return (static_cast<unsigned long long>(ordered) << 32) | static_cast<uint32_t>(~static_cast<uint32_t>(id));
}
__device__ __forceinline__ float logit_key_value(unsigned long long key) {
  const auto ordered = static_cast<uint32_t>(key >> 32);
  return __uint_as_float((ordered & 0x80000000u) ? (ordered & 0x7fffffffu) : ~ordered);
}

// The thread's kPerThread processed logits (mask applied; the penalties are already in
// place) starting at id `first`; ids past the vocabulary get NaN (never a candidate, never
// the max).
__device__ __forceinline__ void load_row(const float* __restrict__ lr, const uint32_t* mrow,
                                         int mask_words, int vocab, int first, float z[kPerThread]) {
  uint32_t bits = 0xffffffffu;
  if (mrow != nullptr) {
    const int w = first >> 5;
    bits = w < mask_words ? mrow[w] : 0u;
  }
#pragma unroll
  for (int j = 0; j < kPerThread; ++j) {
    const int i = first + j;
    float v = i < vocab ? lr[i] : __int_as_float(0x7fc00000);
    if (!((bits >> (i & 31)) & 1u) && i < vocab) v = -INFINITY;
    z[j] = v;
  }
}

struct RowView {
  const SampleRow* row;
  const uint32_t* mask;  // null: unconstrained
  int mask_words;
};
__device__ __forceinline__ RowView row_view(const SampleArgs& a, int row) {
  RowView v;
  v.row = a.sample_rows + row;
  v.mask_words = a.meta[0];
  const int mr = v.row->mask_row;
  v.mask = mr >= 0 ? a.masks + static_cast<int64_t>(mr) * v.mask_words : nullptr;
  return v;
}

// Last CTA of `row` to arrive? (after this CTA's global writes). Resets the counter.
__device__ __forceinline__ bool last_cta(unsigned int* counter, int chunks) {
  __shared__ bool s_last;
  __syncthreads();
  if (threadIdx.x == 0) {
    __threadfence();
    const unsigned int prev = atomicAdd(counter, 1u);
    s_last = prev == static_cast<unsigned int>(chunks - 1);
    if (s_last) *counter = 0;
  }
  __syncthreads();
  if (s_last) __threadfence();
  return s_last;
}

__device__ __forceinline__ unsigned long long block_max_u64(unsigned long long v, unsigned long long* scratch) {
#pragma unroll
  for (int off = 16; off > 0; off >>= 1) {
    const unsigned long long o = __shfl_xor_sync(0xffffffffu, v, off);
    v = o > v ? o : v;
  }
  __syncthreads();
  if ((threadIdx.x & 31) == 0) scratch[threadIdx.x >> 5] = v;
  __syncthreads();
  v = 0;
#pragma unroll
  for (int w = 0; w < kThreads / 32; ++w) v = scratch[w] > v ? scratch[w] : v;
  return v;
}

using BlockScanU64 = cub::BlockScan<unsigned long long, kThreads>;

// ---- prep: penalties in place, histogram cleared ----
__global__ void __launch_bounds__(kThreads) prep_kernel(SampleArgs a, Scratch s) {
  pdl_wait();
  pdl_trigger();
  const int row = blockIdx.x;
  const SampleRow& sr = a.sample_rows[row];
  float* lr = a.logits + static_cast<int64_t>(row) * a.vocab;
  const bool rep = sr.repetition_penalty != 1.0f;
  const bool freq = sr.frequency_penalty != 0.0f || sr.presence_penalty != 0.0f;
  for (int i = sr.penalty_begin + static_cast<int>(threadIdx.x); i < sr.penalty_end; i += kThreads) {
    const int t = a.penalty_tokens[i];
    if (t < 0 || t >= a.vocab) continue;  // checked on the host; a replay is not
    float z = lr[t];
    a.penalty_raw[i] = z;
    if (rep) z = sm::repetition(z, sr.repetition_penalty);
    const int n = a.penalty_counts[i];
    if (freq && n > 0) z = sm::frequency_presence(z, n, sr.frequency_penalty, sr.presence_penalty);
    lr[t] = z;
  }
  for (int b = threadIdx.x; b < kMaxBins; b += kThreads) {
    s.count[static_cast<int64_t>(row) * kMaxBins + b] = 0u;
    s.mass[static_cast<int64_t>(row) * kMaxBins + b] = 0ull;
  }
}

// The prefilter of a row state: the smallest probability a token must have to take part in
// the state's next pass (its key floor: the descent's prefix, the top-k cut for top-p, the
// kept set's cut for the draw; and min_p), turned into a logit floor z_lo = max +
// temperature * ln(p_floor), lowered by a margin of 1e-3 * (|max| + temperature * |ln p| +
// 1). The exact test stays the only one that decides; the margin only has to cover the
// difference between exp_nonpositive((z - max) / t) and exp((z - max) / t): a few float
// roundings (relative ~1e-6 of the exponent), 1,000 times smaller than the margin.
__device__ void set_floor(RowState& n, const SampleRow& sr) {
  uint64_t key = 0;
  if (n.phase == kSelectK) key = n.prefix;
  if (n.phase == kSelectP) key = n.prefix > n.key_k ? n.prefix : n.key_k;
  if (n.phase == kDraw) key = n.key_final;
  uint32_t bits = static_cast<uint32_t>(key >> sm::kKeyIdBits);
  const uint32_t min_p = __float_as_uint(sr.min_p);
  if (min_p > bits) bits = min_p;
  n.z_lo = -INFINITY;
  if (bits == 0 || n.phase == kDone) return;
  // fp32: its roundings (relative 1e-7) are far inside the margin; a fp64 log would be a
  // function call (and a register spill) in the scan.
  const float lp = logf(__uint_as_float(bits));
  const float t = sr.temperature, m = n.max;
  const float zl = m + t * lp - 1e-3f * (fabsf(m) + t * fabsf(lp) + 1.0f);
  n.z_lo = zl == zl ? zl : -INFINITY;
}

// ---- max: the processed logits' argmax; the row's phase ----
__global__ void __launch_bounds__(kThreads) max_kernel(SampleArgs a, Scratch s) {
  __shared__ unsigned long long s_key[kThreads / 32];
  pdl_wait();
  pdl_trigger();
  const int chunk = blockIdx.x, row = blockIdx.y, chunks = gridDim.x;
  const RowView rv = row_view(a, row);
  const int first = chunk * kChunk + static_cast<int>(threadIdx.x) * kPerThread;
  float z[kPerThread];
  load_row(a.logits + static_cast<int64_t>(row) * a.vocab, rv.mask, rv.mask_words, a.vocab, first, z);
  unsigned long long best = 0;
#pragma unroll
  for (int j = 0; j < kPerThread; ++j) {
    if (first + j >= a.vocab) break;
    const unsigned long long k = logit_key(z[j], first + j);
    best = k > best ? k : best;
  }
  best = block_max_u64(best, s_key);
  if (threadIdx.x == 0) s.max[static_cast<int64_t>(row) * chunks + chunk] = best;
  if (!last_cta(s.counter + row, chunks)) return;

  unsigned long long m = 0;
  for (int c = threadIdx.x; c < chunks; c += kThreads) {
    const unsigned long long k = __ldcg(s.max + static_cast<int64_t>(row) * chunks + c);
    m = k > m ? k : m;
  }
  m = block_max_u64(m, s_key);
  if (threadIdx.x != 0) return;
  RowState st = {};
  const float mv = logit_key_value(m);
  const int argmax = static_cast<int>(~static_cast<uint32_t>(m & 0xffffffffu));
  st.max = mv;
  st.pick = -1;
  const SampleRow& sr = *rv.row;
  if (!(mv > -INFINITY)) {
    st.phase = kDone;  // every logit -inf or NaN (argmax_logit throws)
  } else if (sr.temperature == 0.0f) {
    st.phase = kDone;
    st.pick = argmax;
  } else if (sr.top_k > 0) {
    st.phase = kSelectK;
    st.target = static_cast<uint64_t>(sr.top_k);
  } else if (sr.top_p < 1.0f) {
    st.phase = kSelectP;
  } else {
    st.phase = kDraw;
  }
  set_floor(st, sr);
  s.state[row] = st;
}

// The candidate test and rank key of a processed logit.
struct Cand {
  bool in;
  uint64_t key;
  uint64_t w;
};
__device__ __forceinline__ Cand candidate(float z, int id, float max, float temperature, float min_p) {
  // min_p * (largest probability): the argmax's probability is exactly 1 (exp_nonpositive(0)).
  const float p = sm::probability(z, max, temperature);
  Cand c;
  c.in = p >= min_p;
  c.key = sm::rank_key(p, id);
  c.w = sm::weight(p);
  return c;
}

// ---- one radix level of the top-k or top-p descent ----
__global__ void __launch_bounds__(kThreads) level_kernel(SampleArgs a, Scratch s) {
  __shared__ unsigned int h_count[kMaxBins];
  __shared__ unsigned long long h_mass[kMaxBins];
  __shared__ typename BlockScanU64::TempStorage scan_tmp;
  pdl_wait();
  pdl_trigger();
  const int chunk = blockIdx.x, row = blockIdx.y, chunks = gridDim.x;
  const RowState st = s.state[row];
  if (st.phase != kSelectK && st.phase != kSelectP) return;
  const bool by_mass = st.phase == kSelectP;
  const int level = st.level;
  const int shift = kLevelShift[level], width = kLevelWidth[level];
  const int bins = 1 << width;
  const int above = shift + width;
  for (int b = threadIdx.x; b < bins; b += kThreads) {
    h_count[b] = 0u;
    h_mass[b] = 0ull;
  }
  __syncthreads();

  const RowView rv = row_view(a, row);
  const SampleRow& sr = *rv.row;
  const int first = chunk * kChunk + static_cast<int>(threadIdx.x) * kPerThread;
  float z[kPerThread];
  load_row(a.logits + static_cast<int64_t>(row) * a.vocab, rv.mask, rv.mask_words, a.vocab, first, z);
#pragma unroll
  for (int j = 0; j < kPerThread; ++j) {
    if (first + j >= a.vocab) break;
    if (z[j] < st.z_lo) continue;
    const Cand c = candidate(z[j], first + j, st.max, sr.temperature, sr.min_p);
    if (!c.in || (by_mass && c.key < st.key_k)) continue;
    if (above < 64 && (c.key >> above) != (st.prefix >> above)) continue;
    const int b = static_cast<int>((c.key >> shift) & static_cast<uint64_t>(bins - 1));
    atomicAdd(&h_count[b], 1u);
    if (c.w != 0) atomicAdd(&h_mass[b], static_cast<unsigned long long>(c.w));
  }
  __syncthreads();
  unsigned int* g_count = s.count + static_cast<int64_t>(row) * kMaxBins;
  unsigned long long* g_mass = s.mass + static_cast<int64_t>(row) * kMaxBins;
  for (int b = threadIdx.x; b < bins; b += kThreads) {
    if (h_count[b] != 0u) atomicAdd(g_count + b, h_count[b]);
    if (h_mass[b] != 0ull) atomicAdd(g_mass + b, h_mass[b]);
  }
  if (!last_cta(s.counter + row, chunks)) return;

  // The row's scan: bins from the highest digit down; thread t takes bins
  // [bins - (t + 1) * per, bins - t * per) in descending order.
  const int per = bins / kThreads;  // 4 or 2
  constexpr int kMaxPer = kMaxBins / kThreads;
  unsigned long long cnt[kMaxPer], ms[kMaxPer];
  unsigned long long my_cnt = 0, my_ms = 0;
#pragma unroll
  for (int q = 0; q < kMaxPer; ++q) {
    cnt[q] = ms[q] = 0;
    if (q >= per) continue;
    const int b = bins - 1 - (static_cast<int>(threadIdx.x) * per + q);
    cnt[q] = __ldcg(g_count + b);
    ms[q] = __ldcg(g_mass + b);
    my_cnt += cnt[q];
    my_ms += ms[q];
  }
  unsigned long long cnt_before = 0, ms_before = 0, total_cnt = 0, total_ms = 0;
  BlockScanU64(scan_tmp).ExclusiveSum(my_cnt, cnt_before, total_cnt);
  __syncthreads();
  BlockScanU64(scan_tmp).ExclusiveSum(my_ms, ms_before, total_ms);
  __syncthreads();
  // Clear the histogram for the next level (every CTA of the row is done with it).
  for (int b = threadIdx.x; b < bins; b += kThreads) {
    g_count[b] = 0u;
    g_mass[b] = 0ull;
  }

  uint64_t target = st.target;
  if (level == 0) {
    if (!by_mass && total_cnt <= target) {
      // k >= the number of candidates: top-k keeps them all (apply_top_k's no-op).
      if (threadIdx.x == 0) {
        RowState n = st;
        n.key_k = 0;
        n.level = 0;
        n.phase = sr.top_p < 1.0f ? kSelectP : kDraw;
        n.key_final = 0;
        n.prefix = 0;
        set_floor(n, sr);
        s.state[row] = n;
      }
      return;
    }
    if (by_mass) {
      if (total_ms == 0) {  // no candidate has a positive weight: draw_candidate throws
        if (threadIdx.x == 0) {
          RowState n = st;
          n.phase = kDone;
          n.pick = -1;
          s.state[row] = n;
        }
        return;
      }
      target = sm::top_p_target(sr.top_p, total_ms);
    }
  }
  // Exactly one bin crosses the target: before < target <= before + own.
  unsigned long long before = by_mass ? ms_before : cnt_before;
#pragma unroll
  for (int q = 0; q < kMaxPer; ++q) {
    if (q >= per) break;
    const unsigned long long own = by_mass ? ms[q] : cnt[q];
    if (before < target && target <= before + own) {
      const int b = bins - 1 - (static_cast<int>(threadIdx.x) * per + q);
      RowState n = st;
      n.prefix = st.prefix | (static_cast<uint64_t>(b) << shift);
      n.target = target - before;
      // The whole bin is kept (its smallest key is the cut), or, for top-p, the bin holds one
      // token: the prefix ends at it whatever the lower digits.
      const bool whole = n.target == own || (by_mass && cnt[q] == 1);
      if (whole || level == kLevels - 1) {
        n.level = 0;
        if (!by_mass) {
          n.key_k = n.prefix;
          n.key_final = n.prefix;
          n.phase = sr.top_p < 1.0f ? kSelectP : kDraw;
          n.prefix = 0;
          n.target = 0;
        } else {
          // A whole bin's lower bound may sit below the top-k cut inside that bin.
          n.key_final = n.prefix > st.key_k ? n.prefix : st.key_k;
          n.phase = kDraw;
        }
      } else {
        n.level = level + 1;
      }
      set_floor(n, sr);
      s.state[row] = n;
    }
    before += own;
  }
}

// ---- draw: per-chunk kept weight, then the row's target and chunk ----
__global__ void __launch_bounds__(kThreads) draw_mass_kernel(SampleArgs a, Scratch s) {
  __shared__ typename BlockScanU64::TempStorage scan_tmp;
  pdl_wait();
  pdl_trigger();
  const int chunk = blockIdx.x, row = blockIdx.y, chunks = gridDim.x;
  const RowState st = s.state[row];
  if (st.phase != kDraw) return;
  const RowView rv = row_view(a, row);
  const SampleRow& sr = *rv.row;
  const int first = chunk * kChunk + static_cast<int>(threadIdx.x) * kPerThread;
  float z[kPerThread];
  load_row(a.logits + static_cast<int64_t>(row) * a.vocab, rv.mask, rv.mask_words, a.vocab, first, z);
  unsigned long long w = 0;
#pragma unroll
  for (int j = 0; j < kPerThread; ++j) {
    if (first + j >= a.vocab) break;
    if (z[j] < st.z_lo) continue;
    const Cand c = candidate(z[j], first + j, st.max, sr.temperature, sr.min_p);
    if (c.in && c.key >= st.key_final) w += c.w;
  }
  unsigned long long before = 0, total = 0;
  BlockScanU64(scan_tmp).ExclusiveSum(w, before, total);
  if (threadIdx.x == 0) s.chunk_mass[static_cast<int64_t>(row) * chunks + chunk] = total;
  if (!last_cta(s.counter + row, chunks)) return;
  if (threadIdx.x != 0) return;
  // Chunks are few (<= 128 for 2^18 tokens): one thread walks them in id order.
  const unsigned long long* cm = s.chunk_mass + static_cast<int64_t>(row) * chunks;
  unsigned long long all = 0;
  for (int c = 0; c < chunks; ++c) all += __ldcg(cm + c);
  RowState n = st;
  if (all == 0) {
    n.phase = kDone;
    n.pick = -1;
    s.state[row] = n;
    return;
  }
  const uint64_t t = sm::draw_target(sr.u, all);
  unsigned long long cum = 0;
  for (int c = 0; c < chunks; ++c) {
    const unsigned long long m = __ldcg(cm + c);
    if (t < cum + m) {
      n.draw_chunk = c;
      n.draw_target = t - cum;
      break;
    }
    cum += m;
  }
  s.state[row] = n;
}

// ---- draw: the pick inside the chosen chunk; every row's result ----
__global__ void __launch_bounds__(kThreads) draw_pick_kernel(SampleArgs a, Scratch s) {
  __shared__ typename BlockScanU64::TempStorage scan_tmp;
  __shared__ int s_pick;
  pdl_wait();
  pdl_trigger();
  const int chunk = blockIdx.x, row = blockIdx.y;
  const RowState st = s.state[row];
  int pick = -1;
  if (st.phase == kDraw) {
    if (chunk != st.draw_chunk) return;
    const RowView rv = row_view(a, row);
    const SampleRow& sr = *rv.row;
    const int first = chunk * kChunk + static_cast<int>(threadIdx.x) * kPerThread;
    float z[kPerThread];
    load_row(a.logits + static_cast<int64_t>(row) * a.vocab, rv.mask, rv.mask_words, a.vocab, first, z);
    uint64_t w[kPerThread];
    unsigned long long mine = 0;
#pragma unroll
    for (int j = 0; j < kPerThread; ++j) {
      w[j] = 0;
      if (first + j >= a.vocab || z[j] < st.z_lo) continue;
      const Cand c = candidate(z[j], first + j, st.max, sr.temperature, sr.min_p);
      if (c.in && c.key >= st.key_final) w[j] = c.w;
      mine += w[j];
    }
    unsigned long long before = 0;
    BlockScanU64(scan_tmp).ExclusiveSum(mine, before);
    if (threadIdx.x == 0) s_pick = -1;
    __syncthreads();
    const uint64_t t = st.draw_target;
    if (before <= t && t < before + mine) {
      unsigned long long cum = before;
      for (int j = 0; j < kPerThread; ++j) {
        cum += w[j];
        if (cum > t) {
          s_pick = first + j;
          break;
        }
      }
    }
    __syncthreads();
    if (threadIdx.x != 0) return;
    pick = s_pick;
  } else {
    if (chunk != 0 || threadIdx.x != 0) return;
    if (st.phase == kDone) pick = st.pick;
  }
  // The pick's logprob from the raw logits: penalty tokens' raw values were saved by prep.
  int32_t* res = a.results + static_cast<int64_t>(row) * kGreedyResultInts;
  res[0] = pick;
  if (pick < 0) return;
  const SampleRow& sr = a.sample_rows[row];
  float raw = a.logits[static_cast<int64_t>(row) * a.vocab + pick];
  int lo = sr.penalty_begin, hi = sr.penalty_end;
  while (lo < hi) {
    const int mid = (lo + hi) >> 1;
    if (a.penalty_tokens[mid] < pick) lo = mid + 1; else hi = mid;
  }
  if (lo < sr.penalty_end && a.penalty_tokens[lo] == pick) raw = a.penalty_raw[lo];
  res[1] = __float_as_int(raw - s.lse[row]);
}

}  // namespace

size_t sample_scratch_bytes(int rows, int vocab) { return carve_bytes(rows, vocab); }

float* sample_scratch_lse(void* scratch, int rows, int vocab) { return carve(scratch, rows, vocab).lse; }

cudaError_t launch_sample(const SampleArgs& a, cudaStream_t stream) {
  if (a.rows <= 0) return cudaGetLastError();
  if (a.vocab <= 0 || a.vocab > sm::kMaxVocab) return cudaErrorInvalidValue;
  const Scratch s = carve(a.scratch, a.rows, a.vocab);
  const dim3 grid(chunks_for(a.vocab), a.rows);
  cudaError_t e = launch_pdl(prep_kernel, dim3(a.rows), dim3(kThreads), 0, stream, a, s);
  if (e != cudaSuccess) return e;
  e = launch_pdl(max_kernel, grid, dim3(kThreads), 0, stream, a, s);
  if (e != cudaSuccess) return e;
  if (a.greedy_only) return launch_pdl(draw_pick_kernel, grid, dim3(kThreads), 0, stream, a, s);
  // Up to kLevels levels for top-k and kLevels for top-p; rows that finish early skip.
  for (int l = 0; l < 2 * kLevels; ++l) {
    e = launch_pdl(level_kernel, grid, dim3(kThreads), 0, stream, a, s);
    if (e != cudaSuccess) return e;
  }
  e = launch_pdl(draw_mass_kernel, grid, dim3(kThreads), 0, stream, a, s);
  if (e != cudaSuccess) return e;
  return launch_pdl(draw_pick_kernel, grid, dim3(kThreads), 0, stream, a, s);
}

}  // namespace hearth::cuda
