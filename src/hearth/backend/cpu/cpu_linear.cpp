// out = x @ w^T with fp32 accumulation from F32/F16/BF16 weights.
//
// Work is split over output rows (each thread owns a range of weight rows); tokens are
// processed in blocks of kTokenBlock so that each weight row is read (and, for 16-bit
// weights, converted) once per block rather than once per token, while the block's
// activations stay in cache. Four tokens share each load of the weight row.
//
// Every token's dot product is summed in the same order whatever the batch size or thread
// count (same lanes, same reduction tree), so a token's output is bitwise independent of
// the other tokens in the batch.
#include <algorithm>
#include <vector>

#include "hearth/backend/cpu/cpu_kernels.h"

namespace hearth::cpu {

namespace {

// An AVX2 clone of the micro-kernel, picked at load time when the CPU has it. The lanes
// and the reduction order are explicit and AVX2 brings no FMA, so both clones compute
// bitwise identical results; AVX2 only makes the vectors twice as wide (1.5x on prefill).
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define HEARTH_CPU_KERNEL_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define HEARTH_CPU_KERNEL_CLONES
#endif

constexpr int64_t kTokenBlock = 16;
constexpr int kLanes = 8;

// out[t * out_stride] = dot(w, x_t) for NT tokens x_t = x + t * n, with dot_f32's order.
template <int NT>
void dot_tokens(const float* w, const float* x, int64_t n, float* out, int64_t out_stride) {
  float acc[NT][kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    for (int l = 0; l < kLanes; ++l) {
      const float wv = w[i + l];
      for (int t = 0; t < NT; ++t) acc[t][l] += wv * x[t * n + i + l];
    }
  }
  for (int t = 0; t < NT; ++t) {
    float tail = 0.0f;
    for (int64_t j = i; j < n; ++j) tail += w[j] * x[t * n + j];
    const float* a = acc[t];
    out[t * out_stride] =
        ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7])) + tail;
  }
}

// One weight row against `count` consecutive tokens.
HEARTH_CPU_KERNEL_CLONES
void row_times_tokens(const float* w, const float* x, int64_t n, int64_t count, float* out,
                      int64_t out_stride) {
  int64_t t = 0;
  for (; t + 4 <= count; t += 4) dot_tokens<4>(w, x + t * n, n, out + t * out_stride, out_stride);
  for (; t < count; ++t) dot_tokens<1>(w, x + t * n, n, out + t * out_stride, out_stride);
}

}  // namespace

void linear(ThreadPool& pool, const float* x, int64_t tokens, const Weight& w, float* out) {
  const int64_t n_out = w.t.shape[0];
  const int64_t n_in = w.t.shape[1];
  const bool f32_weights = w.t.dtype == DType::F32;

  pool.parallel_for(n_out, 4, [&](int64_t row_begin, int64_t row_end) {
    std::vector<float> converted(f32_weights ? 0 : static_cast<size_t>(n_in));
    for (int64_t t0 = 0; t0 < tokens; t0 += kTokenBlock) {
      const int64_t count = std::min(kTokenBlock, tokens - t0);
      for (int64_t o = row_begin; o < row_end; ++o) {
        const float* wrow;
        if (f32_weights) {
          wrow = w.t.as<const float>() + o * n_in;
        } else {
          load_row_f32(w.t, o, n_in, converted.data());
          wrow = converted.data();
        }
        row_times_tokens(wrow, x + t0 * n_in, n_in, count, out + t0 * n_out + o, n_out);
      }
    }
  });
}

}  // namespace hearth::cpu
