// RoPE inverse frequencies, computed the way HF transformers computes them
// (modeling_rope_utils.py: _compute_default_rope_parameters, _compute_yarn_parameters),
// including its float32 rounding steps, so that the CPU reference matches HF's tables.
// The one ulp of slack left is torch's vectorized powf versus std::pow rounded to float.
#include <algorithm>
#include <cmath>

#include "hearth/core/error.h"
#include "hearth/model/config.h"

namespace hearth {

namespace {

constexpr double kPi = 3.14159265358979323846;

// torch: base ** (arange(0, dim, 2).float() / dim) -- exponent and result are float32.
float pos_freq(double base, int i, int dim) {
  const float exponent = static_cast<float>(2 * i) / static_cast<float>(dim);
  return static_cast<float>(std::pow(static_cast<double>(static_cast<float>(base)), static_cast<double>(exponent)));
}

// YaRN's inverse dimension formula: the dimension whose wavelength fits `rotations`
// turns into `positions`.
double correction_dim(double rotations, int dim, double base, double positions) {
  return (dim * std::log(positions / (rotations * 2 * kPi))) / (2 * std::log(base));
}

double yarn_mscale(double scale, double mscale) {
  if (scale <= 1) return 1.0;
  return 0.1 * mscale * std::log(scale) + 1.0;
}

}  // namespace

RopeTable make_rope_table(const ModelConfig& cfg) {
  const int dim = cfg.head_dim;
  if (dim < 2 || dim % 2 != 0) fail("make_rope_table: head_dim {} must be even and >= 2", dim);
  const int half = dim / 2;
  const RopeParams& r = cfg.rope;
  RopeTable t;
  t.inv_freq.resize(static_cast<size_t>(half));

  if (r.type == "default") {
    for (int i = 0; i < half; ++i) t.inv_freq[static_cast<size_t>(i)] = 1.0f / pos_freq(r.theta, i, dim);
    t.attention_scaling = 1.0f;
    return t;
  }
  if (r.type != "yarn") fail("make_rope_table: unsupported RoPE type \"{}\"", r.type);

  const double factor = r.factor;
  const double orig = r.original_max_position_embeddings > 0 ? r.original_max_position_embeddings
                                                             : cfg.max_position_embeddings;
  double attention = 0;
  if (r.attention_factor) {
    attention = *r.attention_factor;
  } else if (r.mscale && r.mscale_all_dim && *r.mscale != 0 && *r.mscale_all_dim != 0) {
    attention = yarn_mscale(factor, *r.mscale) / yarn_mscale(factor, *r.mscale_all_dim);
  } else {
    attention = yarn_mscale(factor, 1.0);  // 0.1 * ln(factor) + 1
  }
  const double beta_fast = r.beta_fast != 0 ? r.beta_fast : 32.0;
  const double beta_slow = r.beta_slow != 0 ? r.beta_slow : 1.0;

  double low = correction_dim(beta_fast, dim, r.theta, orig);
  double high = correction_dim(beta_slow, dim, r.theta, orig);
  if (r.truncate) {
    low = std::floor(low);
    high = std::ceil(high);
  }
  low = std::max(low, 0.0);
  high = std::min(high, static_cast<double>(dim - 1));
  if (low == high) high += 0.001;  // HF: prevent a division by zero

  // linear_ramp_factor runs in float32: (arange(half) - low) / (high - low), clamped.
  const float low_f = static_cast<float>(low);
  const float span_f = static_cast<float>(high - low);
  const float factor_f = static_cast<float>(factor);
  for (int i = 0; i < half; ++i) {
    const float ramp = std::clamp((static_cast<float>(i) - low_f) / span_f, 0.0f, 1.0f);
    const float extrapolation = 1.0f - ramp;  // weight of the unscaled frequency
    const float p = pos_freq(r.theta, i, dim);
    const float inv_extrapolation = 1.0f / p;
    const float inv_interpolation = 1.0f / (factor_f * p);
    t.inv_freq[static_cast<size_t>(i)] =
        inv_interpolation * (1.0f - extrapolation) + inv_extrapolation * extrapolation;
  }
  t.attention_scaling = static_cast<float>(attention);
  return t;
}

}  // namespace hearth
