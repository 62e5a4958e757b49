// sample_row (the one row-sampling function) and sample_row.h's arithmetic: exp accuracy,
// integer targets, masks, and Sampler::sample agreeing with export_row + sample_row.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "hearth/core/error.h"
#include "hearth/sampling/row_sampler.h"
#include "hearth/sampling/sampler.h"

namespace hearth {
namespace {

namespace sm = sample_math;

std::vector<float> random_logits(int vocab, uint32_t seed, float scale = 3.0f) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> normal(0.0f, scale);
  std::vector<float> v(static_cast<size_t>(vocab));
  for (float& x : v) x = normal(gen);
  return v;
}

// hearth's exp is within 2 ulps of the correctly rounded exp on normal results (truncation
// error < 6e-9 plus ~8 roundings of the Horner steps at |r| <= ln2 / 2), and within one
// denormal step below 2^-126; never above 1.
TEST(SampleMath, ExpIsAccurate) {
  std::mt19937 gen(1);
  std::uniform_real_distribution<float> dist(-103.9f, 0.0f);
  double worst_ulps = 0;
  for (int i = 0; i < 200000; ++i) {
    const float y = i < 1000 ? -static_cast<float>(i) * 1e-3f : dist(gen);
    const float got = sm::exp_nonpositive(y);
    const double ref = std::exp(static_cast<double>(y));
    ASSERT_LE(got, 1.0f);
    if (ref >= std::numeric_limits<float>::min()) {
      const double ulp = std::ldexp(1.0, std::ilogb(static_cast<float>(ref)) - 23);
      worst_ulps = std::max(worst_ulps, std::abs(got - ref) / ulp);
    } else {
      ASSERT_LE(std::abs(got - ref), std::numeric_limits<float>::denorm_min()) << y;
    }
  }
  EXPECT_LE(worst_ulps, 2.0);
  EXPECT_EQ(sm::exp_nonpositive(0.0f), 1.0f);
  EXPECT_EQ(sm::exp_nonpositive(-0.0f), 1.0f);
  EXPECT_EQ(sm::exp_nonpositive(-std::numeric_limits<float>::infinity()), 0.0f);
  EXPECT_EQ(sm::exp_nonpositive(std::numeric_limits<float>::quiet_NaN()), 0.0f);
  EXPECT_EQ(sm::exp_nonpositive(-200.0f), 0.0f);
  EXPECT_EQ(sm::probability(2.0f, 2.0f, 1e-45f), 1.0f);  // denormal temperature
}

TEST(SampleMath, IntegerTargets) {
  EXPECT_EQ(sm::weight(1.0f), 1ull << 45);
  EXPECT_EQ(sm::weight(0.0f), 0u);
  EXPECT_EQ(sm::top_p_target(0.5f, 10), 5u);
  EXPECT_EQ(sm::top_p_target(0.55f, 10), 6u);    // ceil
  EXPECT_EQ(sm::top_p_target(1e-30f, 10), 1u);   // at least one unit: at least one token
  EXPECT_EQ(sm::top_p_target(1.0f, 10), 10u);
  EXPECT_EQ(sm::draw_target(0.0, 10), 0u);
  EXPECT_EQ(sm::draw_target(0.95, 10), 9u);
  for (uint64_t total : {1ull, 3ull, (1ull << 62) + 1024, (1ull << 63) - 1})
    EXPECT_LT(sm::draw_target(std::nextafter(1.0, 0.0), total), total);
  // The rank key orders by probability, then lower id.
  EXPECT_GT(sm::rank_key(0.5f, 7), sm::rank_key(0.25f, 1));
  EXPECT_GT(sm::rank_key(0.5f, 1), sm::rank_key(0.5f, 7));
  EXPECT_GT(sm::rank_key(0.0f, 0), sm::rank_key(0.0f, 1));
}

TEST(RowSampler, MaskForbidsUnsetBitsAndIdsPastTheWords) {
  std::vector<float> logits(70, 1.0f);
  const std::vector<uint32_t> words = {0x5u, 0x0u};  // tokens 0 and 2; 64.. past the words
  apply_mask(logits, RowMask{words.data(), words.size()});
  for (size_t i = 0; i < logits.size(); ++i)
    EXPECT_EQ(logits[i], i == 0 || i == 2 ? 1.0f : -std::numeric_limits<float>::infinity()) << i;
}

TEST(RowSampler, EdgeCases) {
  std::vector<Candidate> scratch;
  SampleRow row;
  row.temperature = 0.8f;
  row.u = 0.999;
  // All but one token masked: that token, greedy or sampled, whatever the filters.
  const std::vector<uint32_t> one = {1u << 5};
  for (int k : {0, 1, 5}) {
    row.top_k = k;
    std::vector<float> logits = random_logits(40, 3);
    EXPECT_EQ(sample_row(logits, row, RowMask{one.data(), 1}, {}, {}, scratch), 5);
  }
  // Everything masked, or every logit -inf / NaN: no token can be picked.
  const std::vector<uint32_t> none = {0u, 0u};
  std::vector<float> logits = random_logits(40, 3);
  EXPECT_THROW(sample_row(logits, row, RowMask{none.data(), 2}, {}, {}, scratch), Error);
  std::vector<float> nans(10, std::numeric_limits<float>::quiet_NaN());
  EXPECT_THROW(sample_row(nans, row, {}, {}, {}, scratch), Error);
  // top_k = 1 is greedy; min_p = 1 keeps only the max's ties.
  row.top_k = 1;
  logits = random_logits(1000, 4);
  std::vector<float> copy = logits;
  SampleRow greedy;
  EXPECT_EQ(sample_row(logits, row, {}, {}, {}, scratch), sample_row(copy, greedy, {}, {}, {}, scratch));
  // Huge penalties push a token out of reach.
  row = SampleRow{};
  logits = {5.0f, 4.0f, -1.0f};
  const std::vector<int32_t> tokens = {0}, counts = {3};
  row.frequency_penalty = 2.0f;
  EXPECT_EQ(sample_row(logits, row, {}, tokens, counts, scratch), 1);  // 5 - 6 < 4
}

// Sampler::sample and export_row + sample_row are one path: same tokens, same random stream.
TEST(RowSampler, SamplerAgreesWithExportedRows) {
  const int vocab = 5000;
  std::mt19937 gen(11);
  for (int trial = 0; trial < 24; ++trial) {
    SamplingParams p;
    p.temperature = trial % 4 == 0 ? 0.0f : 0.3f + 0.1f * static_cast<float>(trial % 7);
    p.top_k = trial % 3 == 0 ? 0 : 1 + trial * 3;
    p.top_p = trial % 2 == 0 ? 1.0f : 0.5f + 0.04f * static_cast<float>(trial % 10);
    p.min_p = trial % 5 == 0 ? 0.05f : 0.0f;
    p.repetition_penalty = trial % 3 == 1 ? 1.3f : 1.0f;
    p.frequency_penalty = trial % 4 == 2 ? 0.5f : 0.0f;
    p.presence_penalty = trial % 4 == 3 ? -0.7f : 0.0f;
    p.seed = static_cast<uint64_t>(trial) * 977;
    const std::vector<int32_t> prompt = {3, 17, 17, 400, 4999};
    Sampler a(p, prompt), b(p, prompt);
    std::vector<Candidate> scratch;
    for (int step = 0; step < 12; ++step) {
      std::vector<float> logits = random_logits(vocab, static_cast<uint32_t>(trial * 100 + step), 2.0f);
      std::vector<float> copy = logits;
      const int ta = a.sample(logits);
      std::vector<int32_t> tokens = {42}, counts = {9};  // rows append after what is there
      std::vector<uint32_t> masks;
      const SampleRow row = b.export_row(vocab, tokens, counts, masks);
      EXPECT_EQ(row.mask_row, -1);
      EXPECT_EQ(row.penalty_begin, 1);
      if (p.temperature == 0.0f) {
        EXPECT_EQ(row.u, 0.0);
      }
      const std::span<const int32_t> t(tokens), c(counts);
      const auto n = static_cast<size_t>(row.penalty_end - row.penalty_begin);
      const int tb = sample_row(copy, row, {}, t.subspan(1, n), c.subspan(1, n), scratch);
      ASSERT_EQ(ta, tb) << "trial " << trial << " step " << step;
      a.accept(ta);
      b.accept(tb);
    }
  }
}

TEST(RowSampler, ExportedPenaltyLists) {
  SamplingParams p;
  p.temperature = 0.0f;
  p.repetition_penalty = 1.2f;
  Sampler s(p, std::vector<int32_t>{9, 2, 9});
  s.accept(5);
  s.accept(2);
  s.accept(5);
  std::vector<int32_t> tokens, counts;
  std::vector<uint32_t> masks;
  SampleRow row = s.export_row(16, tokens, counts, masks);
  EXPECT_EQ(tokens, (std::vector<int32_t>{2, 5, 9}));
  EXPECT_EQ(counts, (std::vector<int32_t>{1, 2, 0}));
  EXPECT_EQ(row.penalty_end, 3);
  // Only frequency / presence: the generated tokens alone.
  p.repetition_penalty = 1.0f;
  p.presence_penalty = 0.5f;
  Sampler f(p, std::vector<int32_t>{9});
  f.accept(4);
  tokens.clear();
  counts.clear();
  row = f.export_row(16, tokens, counts, masks);
  EXPECT_EQ(tokens, (std::vector<int32_t>{4}));
  EXPECT_EQ(counts, (std::vector<int32_t>{1}));
  // No penalty: no list.
  Sampler none(SamplingParams{}, std::vector<int32_t>{1, 2});
  tokens.clear();
  counts.clear();
  row = none.export_row(16, tokens, counts, masks);
  EXPECT_TRUE(tokens.empty());
  EXPECT_EQ(row.penalty_begin, row.penalty_end);
  EXPECT_GE(row.u, 0.0);
  EXPECT_LT(row.u, 1.0);
}

}  // namespace
}  // namespace hearth
