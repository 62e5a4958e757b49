// RMSNorm (plain and fused with the residual add) and the q/k head norm + NeoX RoPE.
#include <algorithm>
#include <cmath>
#include <vector>

#include "hearth/backend/cpu/cpu_kernels.h"

namespace hearth::cpu {

namespace {

// (x * rsqrt(mean(x^2) + eps)) * w over one row, in the order HF's Qwen3RMSNorm multiplies.
void rms_norm_row(const float* x, const float* w, float eps, int64_t n, float* out) {
  const float mean_sq = dot_f32(x, x, n) / static_cast<float>(n);
  const float inv_rms = 1.0f / std::sqrt(mean_sq + eps);
  for (int64_t i = 0; i < n; ++i) out[i] = w[i] * (x[i] * inv_rms);
}

// Rows per task: enough work to amortize the dispatch.
int64_t rows_grain(int64_t cols) {
  return std::max<int64_t>(1, 16384 / std::max<int64_t>(1, cols));
}

}  // namespace

void rms_norm(ThreadPool& pool, const float* x, const Weight& w, float eps, int64_t rows,
              int64_t cols, float* out) {
  const std::vector<float> wf = load_vector_f32(w);
  pool.parallel_for(rows, rows_grain(cols), [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r)
      rms_norm_row(x + r * cols, wf.data(), eps, cols, out + r * cols);
  });
}

void add_rms_norm(ThreadPool& pool, float* residual, const float* x, const Weight& w, float eps,
                  int64_t rows, int64_t cols, float* out) {
  const std::vector<float> wf = load_vector_f32(w);
  pool.parallel_for(rows, rows_grain(cols), [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      float* res = residual + r * cols;
      const float* xr = x + r * cols;
      for (int64_t i = 0; i < cols; ++i) res[i] += xr[i];
      rms_norm_row(res, wf.data(), eps, cols, out + r * cols);
    }
  });
}

void qk_norm_rope(ThreadPool& pool, float* q, int heads, float* k, int kv_heads, int head_dim,
                  const Weight& q_norm, const Weight& k_norm, float eps, const RopeTable& rope,
                  std::span<const int32_t> positions) {
  const std::vector<float> qw = load_vector_f32(q_norm);
  const std::vector<float> kw = load_vector_f32(k_norm);
  const int half = head_dim / 2;
  const auto tokens = static_cast<int64_t>(positions.size());

  pool.parallel_for(tokens, 1, [&](int64_t begin, int64_t end) {
    std::vector<float> cos(half), sin(half);
    std::vector<float> normed(head_dim);
    // Norm then rotate one head in place. NeoX pairs element i with i + head_dim/2:
    // out = x * cos + rotate_half(x) * sin, rotate_half(x) = [-x2, x1].
    auto norm_rope_head = [&](float* x, const std::vector<float>& w) {
      rms_norm_row(x, w.data(), eps, head_dim, normed.data());
      for (int i = 0; i < half; ++i) {
        const float x1 = normed[i];
        const float x2 = normed[i + half];
        x[i] = x1 * cos[i] - x2 * sin[i];
        x[i + half] = x2 * cos[i] + x1 * sin[i];
      }
    };
    for (int64_t t = begin; t < end; ++t) {
      // HF computes the angle as an fp32 product position * inv_freq, then cos/sin in fp32
      // scaled by attention_scaling. Rounding the angle the same way matters at large
      // positions, where one fp32 ulp of the angle is already ~1e-2 radians.
      const float pos = static_cast<float>(positions[t]);
      for (int i = 0; i < half; ++i) {
        const float angle = pos * rope.inv_freq[i];
        cos[i] = std::cos(angle) * rope.attention_scaling;
        sin[i] = std::sin(angle) * rope.attention_scaling;
      }
      for (int h = 0; h < heads; ++h) norm_rope_head(q + (t * heads + h) * head_dim, qw);
      for (int h = 0; h < kv_heads; ++h) norm_rope_head(k + (t * kv_heads + h) * head_dim, kw);
    }
  });
}

}  // namespace hearth::cpu
