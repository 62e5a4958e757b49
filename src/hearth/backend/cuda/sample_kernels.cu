// Greedy pick and top-K log-probabilities on the device, so that a decode step hands the
// host a few ids instead of a 600 KB logits row.
//
// Two kernels. Pass 1, one CTA per (row, chunk of kChunk logits): the chunk's max and
// sum of exp(x - max), and its `top` best entries. Pass 2, one CTA per row: the row's
// log-sum-exp from the chunk pairs, and the `top` best of the chunks' candidates.
// Entries are ranked through one 64-bit key, (order-preserving float bits << 32) | ~id, so
// a plain max picks the higher logit and, among equal logits, the lower id; the k-th best
// is the max of the keys below the (k-1)-th. NaN ranks as -inf (the CPU sampler's order).
#include <cfloat>

#include "hearth/backend/cuda/device_utils.cuh"
#include "hearth/backend/cuda/kernels.h"

namespace hearth::cuda {

namespace {

constexpr int kThreads = 256;
constexpr int kPerThread = 8;
constexpr int kChunk = kThreads * kPerThread;

__device__ __forceinline__ unsigned long long make_key(float v, int id) {
  if (v != v) v = -INFINITY;  // NaN
  if (v == 0.0f) v = 0.0f;    // -0 ties with +0 (the CPU's strict >: the lower id wins)
  const uint32_t u = __float_as_uint(v);
  const uint32_t ordered = (u & 0x80000000u) ? ~u : (u | 0x80000000u);
  return (static_cast<unsigned long long>(ordered) << 32) | static_cast<uint32_t>(~static_cast<uint32_t>(id));
}
__device__ __forceinline__ float key_value(unsigned long long key) {
  const auto ordered = static_cast<uint32_t>(key >> 32);
  return __uint_as_float((ordered & 0x80000000u) ? (ordered & 0x7fffffffu) : ~ordered);
}
__device__ __forceinline__ int key_id(unsigned long long key) {
  return static_cast<int>(~static_cast<uint32_t>(key & 0xffffffffu));
}

// Max over the block; every thread gets it. scratch: kThreads / 32 entries.
__device__ __forceinline__ unsigned long long block_max_key(unsigned long long v,
                                                            unsigned long long* scratch) {
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

__device__ __forceinline__ float block_max_f(float v, float* scratch) {
  v = warp_max(v);
  __syncthreads();
  if ((threadIdx.x & 31) == 0) scratch[threadIdx.x >> 5] = v;
  __syncthreads();
  v = -INFINITY;
#pragma unroll
  for (int w = 0; w < kThreads / 32; ++w) v = fmaxf(v, scratch[w]);
  return v;
}

int chunks_for(int vocab) { return (vocab + kChunk - 1) / kChunk; }

// keys: [rows, chunks, top]; stats: [rows, chunks] (max, sum of exp(x - max)).
__global__ void __launch_bounds__(kThreads)
    greedy_partial_kernel(const float* __restrict__ logits, int vocab, int top,
                          unsigned long long* __restrict__ keys, float2* __restrict__ stats) {
  __shared__ unsigned long long s_key[kThreads / 32];
  __shared__ float s_f[kThreads / 32];
  pdl_wait();
  pdl_trigger();
  const int chunk = blockIdx.x, row = blockIdx.y, chunks = gridDim.x;
  const float* lr = logits + static_cast<int64_t>(row) * vocab;
  const int begin = chunk * kChunk;
  float v[kPerThread];
  unsigned long long key[kPerThread];
  float mx = -INFINITY;
#pragma unroll
  for (int j = 0; j < kPerThread; ++j) {
    const int i = begin + j * kThreads + static_cast<int>(threadIdx.x);
    const bool in = i < vocab;
    v[j] = in ? lr[i] : -INFINITY;
    key[j] = in ? make_key(v[j], i) : 0ull;  // 0 ranks below every real entry
    mx = fmaxf(mx, v[j]);                     // fmaxf ignores NaN
  }
  mx = block_max_f(mx, s_f);
  float sum = 0.0f;
  if (mx != -INFINITY) {
#pragma unroll
    for (int j = 0; j < kPerThread; ++j) sum += expf(v[j] - mx);  // NaN stays NaN, as on the CPU
  }
  sum = block_sum(sum, s_f);
  if (threadIdx.x == 0) stats[static_cast<int64_t>(row) * chunks + chunk] = make_float2(mx, sum);

  unsigned long long* out = keys + (static_cast<int64_t>(row) * chunks + chunk) * top;
  unsigned long long bound = ~0ull;
  for (int k = 0; k < top; ++k) {
    unsigned long long best = 0;
#pragma unroll
    for (int j = 0; j < kPerThread; ++j)
      if (key[j] < bound && key[j] > best) best = key[j];
    best = block_max_key(best, s_key);
    if (threadIdx.x == 0) out[k] = best;
    bound = best;
  }
}

__global__ void __launch_bounds__(kThreads)
    greedy_final_kernel(const unsigned long long* __restrict__ keys,
                        const float2* __restrict__ stats, int chunks, int top, int report,
                        int32_t* __restrict__ results, float* __restrict__ lse_out) {
  __shared__ unsigned long long s_key[kThreads / 32];
  __shared__ float s_f[kThreads / 32];
  pdl_wait();
  pdl_trigger();
  const int row = blockIdx.x;
  const float2* st = stats + static_cast<int64_t>(row) * chunks;
  float mx = -INFINITY;
  for (int c = threadIdx.x; c < chunks; c += kThreads) mx = fmaxf(mx, st[c].x);
  mx = block_max_f(mx, s_f);
  float sum = 0.0f;
  if (mx != -INFINITY)
    for (int c = threadIdx.x; c < chunks; c += kThreads)
      if (st[c].x != -INFINITY) sum += st[c].y * expf(st[c].x - mx);
  sum = block_sum(sum, s_f);
  const float lse = mx + logf(sum);
  if (lse_out != nullptr && threadIdx.x == 0) lse_out[row] = lse;

  const unsigned long long* cand = keys + static_cast<int64_t>(row) * chunks * top;
  const int n = chunks * top;
  int32_t* res = results + static_cast<int64_t>(row) * kGreedyResultInts;
  unsigned long long bound = ~0ull;
  for (int k = 0; k < top; ++k) {
    unsigned long long best = 0;
    for (int i = threadIdx.x; i < n; i += kThreads) {
      const unsigned long long c = cand[i];
      if (c < bound && c > best) best = c;
    }
    best = block_max_key(best, s_key);
    bound = best;
    if (threadIdx.x == 0) {
      const int id = key_id(best);
      const float lp = key_value(best) - lse;
      if (k == 0) {
        // The argmax: a logit above -inf (NaN and -inf never win, as in argmax_logit).
        res[0] = key_value(best) > -INFINITY ? id : -1;
        res[1] = __float_as_int(lp);
        res[2] = report;
      }
      if (k < report) {
        res[3 + 2 * k] = id;
        res[4 + 2 * k] = __float_as_int(lp);
      }
    }
  }
}

}  // namespace

size_t greedy_scratch_bytes(int rows, int vocab, int top) {
  const size_t cells = static_cast<size_t>(rows) * chunks_for(vocab);
  const size_t k = top < 1 ? 1 : static_cast<size_t>(top);
  return cells * k * sizeof(unsigned long long) + cells * sizeof(float2);
}

cudaError_t launch_greedy(const float* logits, int rows, int vocab, int top, void* scratch,
                          int32_t* results, cudaStream_t stream, float* lse) {
  if (rows <= 0) return cudaGetLastError();
  if (vocab <= 0 || top < 0 || top > kGreedyMaxTop) return cudaErrorInvalidValue;
  const int chunks = chunks_for(vocab);
  const int k = top < 1 ? 1 : top;  // the argmax is the first of the ranking
  auto* keys = static_cast<unsigned long long*>(scratch);
  auto* stats = reinterpret_cast<float2*>(keys + static_cast<size_t>(rows) * chunks * k);
  cudaError_t e = launch_pdl(greedy_partial_kernel, dim3(chunks, rows), dim3(kThreads), 0, stream,
                             logits, vocab, k, keys, stats);
  if (e != cudaSuccess) return e;
  return launch_pdl(greedy_final_kernel, dim3(rows), dim3(kThreads), 0, stream,
                    static_cast<const unsigned long long*>(keys),
                    static_cast<const float2*>(stats), chunks, k, top, results, lse);
}

}  // namespace hearth::cuda
