#include <gtest/gtest.h>

#include <cmath>
#include <numbers>

#include "hearth/model/config.h"

namespace hearth {
namespace {

ModelConfig rope_config(int head_dim, double theta, int max_pos) {
  ModelConfig c = preset_config("qwen3-0.6b");
  c.head_dim = head_dim;
  c.rope.theta = theta;
  c.max_position_embeddings = max_pos;
  return c;
}

// Relative tolerance: HF computes in float32 (pow, then a division); 1 ulp of float32
// is 6e-8 relative, so two roundings stay below 2.5e-7.
constexpr double kRel = 2.5e-7;

TEST(Rope, DefaultFrequencies) {
  const ModelConfig c = rope_config(128, 1e6, 40960);
  const RopeTable t = make_rope_table(c);
  ASSERT_EQ(t.inv_freq.size(), 64u);
  EXPECT_EQ(t.attention_scaling, 1.0f);
  for (int i = 0; i < 64; ++i) {
    const double want = std::pow(1e6, -2.0 * i / 128.0);
    EXPECT_NEAR(t.inv_freq[static_cast<size_t>(i)], want, want * kRel) << i;
  }
  EXPECT_EQ(t.inv_freq[0], 1.0f);
}

// Qwen3's documented YaRN setting: factor 4 over a 32768-token pre-training context,
// head_dim 128, theta 1e6. By hand (HF's find_correction_dim):
//   low  = floor(128 * ln(32768 / (32 * 2pi)) / (2 ln 1e6)) = floor(23.596) = 23
//   high = ceil (128 * ln(32768 / ( 1 * 2pi)) / (2 ln 1e6)) = ceil (39.651) = 40
// so dimensions 0..23 keep their frequency, 40..63 are divided by 4, and in between the
// weight of the original frequency falls linearly: 1 - (i - 23) / 17.
// attention_factor = 0.1 * ln 4 + 1 = 1.1386294.
TEST(Rope, YarnMatchesHandComputation) {
  ModelConfig c = rope_config(128, 1e6, 40960);
  c.rope.type = "yarn";
  c.rope.factor = 4.0;
  c.rope.original_max_position_embeddings = 32768;
  const RopeTable t = make_rope_table(c);
  ASSERT_EQ(t.inv_freq.size(), 64u);
  EXPECT_NEAR(t.attention_scaling, 1.1386294, 1e-6);
  for (int i = 0; i < 64; ++i) {
    const double base = std::pow(1e6, -2.0 * i / 128.0);
    double keep = 1.0;  // weight of the unscaled frequency
    if (i >= 40) keep = 0.0;
    else if (i > 23) keep = 1.0 - (i - 23) / 17.0;
    const double want = base / 4.0 * (1.0 - keep) + base * keep;
    EXPECT_NEAR(t.inv_freq[static_cast<size_t>(i)], want, want * 4 * kRel) << "i=" << i;
  }
  // Spot values, independent of the formula above.
  EXPECT_EQ(t.inv_freq[0], 1.0f);
  EXPECT_NEAR(t.inv_freq[63], std::pow(1e6, -126.0 / 128.0) / 4.0, 1e-12);
}

// A small head where the correction range clamps at 0: dim 16, theta 1e4, 64 positions:
//   low = floor(-0.994) -> 0 after clamping, high = ceil(2.016) = 3.
TEST(Rope, YarnClampsAndHonoursOverrides) {
  ModelConfig c = rope_config(16, 1e4, 256);
  c.rope.type = "yarn";
  c.rope.factor = 4.0;
  c.rope.original_max_position_embeddings = 64;
  c.rope.attention_factor = 0.75;
  RopeTable t = make_rope_table(c);
  EXPECT_FLOAT_EQ(t.attention_scaling, 0.75f);
  for (int i = 0; i < 8; ++i) {
    const double base = std::pow(1e4, -2.0 * i / 16.0);
    const double keep = i >= 3 ? 0.0 : 1.0 - i / 3.0;
    const double want = base / 4.0 * (1.0 - keep) + base * keep;
    EXPECT_NEAR(t.inv_freq[static_cast<size_t>(i)], want, want * 4 * kRel) << "i=" << i;
  }

  // original_max_position_embeddings unset: max_position_embeddings is the pre-training
  // length (HF's standardisation), here 256 -> high = ceil(16 ln(256/2pi) / (2 ln 1e4)) = 4.
  c.rope.original_max_position_embeddings = 0;
  c.rope.attention_factor.reset();
  t = make_rope_table(c);
  EXPECT_NEAR(t.attention_scaling, 1.1386294, 1e-6);
  const double high = std::ceil(16 * std::log(256 / (2 * std::numbers::pi)) / (2 * std::log(1e4)));
  ASSERT_EQ(high, 4.0);
  EXPECT_NEAR(t.inv_freq[4], std::pow(1e4, -8.0 / 16.0) / 4.0, 1e-9);
  EXPECT_GT(t.inv_freq[3], std::pow(1e4, -6.0 / 16.0) / 4.0 * 1.01);

  // DeepSeek-style mscale pair: attention = (0.1*1*ln4+1) / (0.1*0.5*ln4+1).
  c.rope.mscale = 1.0;
  c.rope.mscale_all_dim = 0.5;
  t = make_rope_table(c);
  EXPECT_NEAR(t.attention_scaling, (0.1 * std::log(4.0) + 1) / (0.05 * std::log(4.0) + 1), 1e-6);
}

TEST(Rope, FactorOneKeepsFrequencies) {
  ModelConfig c = rope_config(64, 1e6, 4096);
  c.rope.type = "yarn";
  c.rope.factor = 1.0;
  const RopeTable t = make_rope_table(c);
  const RopeTable d = make_rope_table(rope_config(64, 1e6, 4096));
  EXPECT_EQ(t.attention_scaling, 1.0f);
  for (size_t i = 0; i < d.inv_freq.size(); ++i) EXPECT_FLOAT_EQ(t.inv_freq[i], d.inv_freq[i]);
}

}  // namespace
}  // namespace hearth
