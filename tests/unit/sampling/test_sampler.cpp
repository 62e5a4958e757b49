#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <numeric>
#include <random>
#include <vector>

#include "hearth/sampling/sampler.h"

namespace hearth {
namespace {

std::vector<float> random_logits(int vocab, uint32_t seed, float scale = 3.0f) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> normal(0.0f, scale);
  std::vector<float> v(static_cast<size_t>(vocab));
  for (float& x : v) x = normal(gen);
  return v;
}

// Draws n tokens with fresh copies of `logits` (sample() may modify its input).
std::vector<int> histogram(Sampler& s, const std::vector<float>& logits, int n) {
  std::vector<int> counts(logits.size(), 0);
  for (int i = 0; i < n; ++i) {
    std::vector<float> scratch = logits;
    ++counts[static_cast<size_t>(s.sample(scratch))];
  }
  return counts;
}

// Each count within 5 standard deviations of n * expected (binomial), and zero where the
// expected probability is zero.
void expect_follows(const std::vector<int>& counts, const std::vector<double>& expected, int n) {
  ASSERT_EQ(counts.size(), expected.size());
  for (size_t i = 0; i < counts.size(); ++i) {
    if (expected[i] == 0.0) {
      EXPECT_EQ(counts[i], 0) << "token " << i << " should be excluded";
      continue;
    }
    const double mean = n * expected[i];
    const double sd = std::sqrt(n * expected[i] * (1.0 - expected[i]));
    EXPECT_NEAR(counts[i], mean, 5.0 * sd + 1.0) << "token " << i;
  }
}

std::vector<float> logits_of_probs(const std::vector<double>& p) {
  std::vector<float> l;
  for (double x : p) l.push_back(x > 0 ? static_cast<float>(std::log(x)) : -30.0f);
  return l;
}

TEST(Sampler, GreedyIsArgmaxWithLowestIdOnTies) {
  SamplingParams p;
  p.temperature = 0.0f;
  Sampler s(p, {});
  for (uint32_t seed = 0; seed < 20; ++seed) {
    std::vector<float> logits = random_logits(1000, seed);
    const int expected = static_cast<int>(std::max_element(logits.begin(), logits.end()) -
                                          logits.begin());
    EXPECT_EQ(s.sample(logits), expected);
  }
  std::vector<float> tie = {0.0f, 5.0f, 1.0f, 5.0f};
  EXPECT_EQ(s.sample(tie), 1);
}

TEST(Sampler, TopKOneEqualsGreedy) {
  for (uint32_t seed = 0; seed < 50; ++seed) {
    SamplingParams p;
    p.temperature = 1.3f;
    p.top_k = 1;
    p.seed = seed;
    Sampler s(p, {});
    std::vector<float> logits = random_logits(5000, seed + 100, 1.0f);
    const int expected = static_cast<int>(std::max_element(logits.begin(), logits.end()) -
                                          logits.begin());
    EXPECT_EQ(s.sample(logits), expected);
  }
}

TEST(Sampler, TemperatureFollowsSoftmax) {
  const std::vector<float> logits = {1.0f, 0.2f, -0.5f, 2.0f, 0.0f, -3.0f};
  for (float t : {0.5f, 1.0f, 2.0f}) {
    SamplingParams p;
    p.temperature = t;
    p.seed = 42;
    Sampler s(p, {});
    std::vector<double> expected;
    double z = 0;
    for (float x : logits) z += std::exp(x / t);
    for (float x : logits) expected.push_back(std::exp(x / t) / z);
    const int n = 40000;
    expect_follows(histogram(s, logits, n), expected, n);
  }
}

TEST(Sampler, TopKRestrictsAndRenormalizes) {
  const std::vector<double> probs = {0.05, 0.3, 0.1, 0.25, 0.2, 0.1};
  SamplingParams p;
  p.top_k = 3;
  p.seed = 1;
  Sampler s(p, {});
  const std::vector<double> expected = {0, 0.3 / 0.75, 0, 0.25 / 0.75, 0.2 / 0.75, 0};
  const int n = 30000;
  expect_follows(histogram(s, logits_of_probs(probs), n), expected, n);
}

TEST(Sampler, TopPExcludesTheTail) {
  const std::vector<double> probs = {0.1, 0.4, 0.2, 0.3};
  SamplingParams p;
  p.top_p = 0.65f;  // keeps 0.4 + 0.3
  p.seed = 2;
  Sampler s(p, {});
  const int n = 30000;
  expect_follows(histogram(s, logits_of_probs(probs), n), {0, 0.4 / 0.7, 0, 0.3 / 0.7}, n);
}

TEST(Sampler, MinPExcludesUnlikelyTokens) {
  const std::vector<double> probs = {0.4, 0.3, 0.2, 0.1};
  SamplingParams p;
  p.min_p = 0.6f;  // threshold 0.24
  p.seed = 3;
  Sampler s(p, {});
  const int n = 30000;
  expect_follows(histogram(s, logits_of_probs(probs), n), {0.4 / 0.7, 0.3 / 0.7, 0, 0}, n);
}

TEST(Sampler, FiltersComposeInVllmOrder) {
  // temperature 0.5 squares the probabilities (renormalized): 16, 9, 4, 1 (/30);
  // min_p 0.2 drops 1/30 (< 0.2 * 16/30); top_k 3 keeps {0,1,2}; top_p 0.8 over
  // 16/29, 9/29, 4/29 keeps {0, 1} (16/29 < 0.8 <= 25/29).
  const std::vector<double> probs = {0.4, 0.3, 0.2, 0.1};
  SamplingParams p;
  p.temperature = 0.5f;
  p.min_p = 0.2f;
  p.top_k = 3;
  p.top_p = 0.8f;
  p.seed = 4;
  Sampler s(p, {});
  const int n = 30000;
  expect_follows(histogram(s, logits_of_probs(probs), n), {16.0 / 25, 9.0 / 25, 0, 0}, n);
}

TEST(Sampler, RepetitionPenaltyCoversPromptAndOutput) {
  SamplingParams p;
  p.temperature = 0.0f;
  p.repetition_penalty = 1.5f;
  const std::vector<int32_t> prompt = {0, 0, 7};
  Sampler s(p, prompt);
  // 3.0 / 1.5 = 2.0 < 2.5: the prompt token loses.
  std::vector<float> logits = {3.0f, 2.5f, -1.0f, -1.0f};
  EXPECT_EQ(s.sample(logits), 1);
  EXPECT_FLOAT_EQ(logits[0], 2.0f);  // penalized once although it occurs twice
  s.accept(1);
  // Now 1 is penalized too: 2.5 / 1.5 = 1.67 < 1.9; negative logits are multiplied.
  logits = {1.0f, 2.5f, 1.9f, -1.0f};
  EXPECT_EQ(s.sample(logits), 2);
  EXPECT_FLOAT_EQ(logits[1], 2.5f / 1.5f);
  EXPECT_FLOAT_EQ(logits[3], -1.0f);
}

TEST(Sampler, FrequencyAndPresencePenaltiesCoverOutputOnly) {
  SamplingParams p;
  p.temperature = 0.0f;
  p.frequency_penalty = 0.5f;
  p.presence_penalty = 0.25f;
  const std::vector<int32_t> prompt = {2};
  Sampler s(p, prompt);
  s.accept(0);
  s.accept(0);
  s.accept(1);
  std::vector<float> logits = {3.0f, 3.0f, 3.0f, 1.0f};
  s.sample(logits);
  EXPECT_FLOAT_EQ(logits[0], 3.0f - 0.5f * 2 - 0.25f);
  EXPECT_FLOAT_EQ(logits[1], 3.0f - 0.5f * 1 - 0.25f);
  EXPECT_FLOAT_EQ(logits[2], 3.0f);  // prompt tokens are not penalized by these
  EXPECT_FLOAT_EQ(logits[3], 1.0f);
}

TEST(Sampler, TinyTemperaturesActGreedy) {
  for (float t : {1e-30f, 1e-45f}) {  // the second is denormal
    SamplingParams p;
    p.temperature = t;
    Sampler s(p, {});
    std::vector<float> logits = random_logits(1000, 8);
    const int expected = static_cast<int>(std::max_element(logits.begin(), logits.end()) -
                                          logits.begin());
    EXPECT_EQ(s.sample(logits), expected) << t;
  }
}

TEST(Sampler, SeededDrawsAreReproducible) {
  auto run = [](uint64_t seed) {
    SamplingParams p;
    p.temperature = 0.9f;
    p.top_p = 0.95f;
    p.top_k = 40;
    p.seed = seed;
    Sampler s(p, {});
    std::vector<int> out;
    for (uint32_t i = 0; i < 200; ++i) {
      std::vector<float> logits = random_logits(2000, i, 1.5f);
      out.push_back(s.sample(logits));
      s.accept(out.back());
    }
    return out;
  };
  const std::vector<int> a = run(123);
  EXPECT_EQ(a, run(123));
  EXPECT_NE(a, run(124));
}

TEST(Sampler, LogprobsAreNormalizedLogSoftmax) {
  const std::vector<float> logits = random_logits(3000, 9, 4.0f);
  const TokenLogprobs all = compute_logprobs(logits, 17, 3000);
  ASSERT_EQ(all.top.size(), 3000u);
  double max = -1e300;
  for (const auto& [id, lp] : all.top) max = std::max(max, static_cast<double>(lp));
  double sum = 0;
  for (const auto& [id, lp] : all.top) sum += std::exp(static_cast<double>(lp) - max);
  EXPECT_NEAR(max + std::log(sum), 0.0, 1e-5);

  // Against an independent double-precision log-softmax.
  double m = *std::max_element(logits.begin(), logits.end());
  double z = 0;
  for (float x : logits) z += std::exp(static_cast<double>(x) - m);
  const double lse = m + std::log(z);
  EXPECT_EQ(all.id, 17);
  EXPECT_NEAR(all.logprob, logits[17] - lse, 1e-5);
  for (size_t i = 1; i < all.top.size(); ++i) ASSERT_GE(all.top[i - 1].second, all.top[i].second);
  for (const auto& [id, lp] : all.top) ASSERT_NEAR(lp, logits[static_cast<size_t>(id)] - lse, 1e-5);
}

TEST(Sampler, LogprobsTopKIsSortedWithLowerIdOnTies) {
  const std::vector<float> logits = {1.0f, 3.0f, 2.0f, 3.0f, -1.0f, 2.0f};
  const TokenLogprobs lp = compute_logprobs(logits, 4, 4);
  ASSERT_EQ(lp.top.size(), 4u);
  EXPECT_EQ(lp.top[0].first, 1);
  EXPECT_EQ(lp.top[1].first, 3);
  EXPECT_EQ(lp.top[2].first, 2);
  EXPECT_EQ(lp.top[3].first, 5);
  EXPECT_FLOAT_EQ(lp.top[0].second, lp.top[1].second);
  EXPECT_EQ(lp.id, 4);
  EXPECT_TRUE(compute_logprobs(logits, 0, 0).top.empty());
  EXPECT_EQ(compute_logprobs(logits, 0, 100).top.size(), logits.size());
}

TEST(Sampler, SampleReportsLogprobsOfRawLogits) {
  SamplingParams p;
  p.temperature = 0.3f;
  p.repetition_penalty = 2.0f;
  p.frequency_penalty = 1.0f;
  p.top_k = 5;
  p.logprobs = 5;
  p.seed = 11;
  const std::vector<int32_t> prompt = {1, 2, 3};
  Sampler s(p, prompt);
  s.accept(4);
  const std::vector<float> raw = random_logits(500, 3);
  std::vector<float> scratch = raw;
  TokenLogprobs lp;
  const int chosen = s.sample(scratch, &lp);
  const TokenLogprobs expected = compute_logprobs(raw, chosen, 5);
  EXPECT_EQ(lp.id, chosen);
  EXPECT_EQ(lp.logprob, expected.logprob);
  EXPECT_EQ(lp.top, expected.top);
}

TEST(Sampler, FullVocabularyRowsWork) {
  // vocab of Qwen3: all paths (greedy, filters, logprobs) on a realistic row.
  const std::vector<float> logits = random_logits(151936, 5, 3.0f);
  const int argmax = static_cast<int>(std::max_element(logits.begin(), logits.end()) -
                                      logits.begin());
  SamplingParams p;
  p.temperature = 0.0f;
  std::vector<float> scratch = logits;
  EXPECT_EQ(Sampler(p, {}).sample(scratch), argmax);
  p.temperature = 0.7f;
  p.top_p = 0.9f;
  p.logprobs = 20;
  Sampler s(p, {});
  for (int i = 0; i < 5; ++i) {
    scratch = logits;
    TokenLogprobs lp;
    const int t = s.sample(scratch, &lp);
    ASSERT_GE(t, 0);
    ASSERT_LT(t, 151936);
    ASSERT_EQ(lp.top.size(), 20u);
    EXPECT_EQ(lp.top[0].first, argmax);
  }
}

}  // namespace
}  // namespace hearth
