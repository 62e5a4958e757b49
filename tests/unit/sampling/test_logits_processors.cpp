#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <set>
#include <vector>

#include "hearth/core/error.h"
#include "hearth/sampling/logits_processors.h"
#include "hearth/sampling/sample_row.h"

namespace hearth {
namespace {

std::set<int> ids_of(const std::vector<Candidate>& c) {
  std::set<int> s;
  for (const Candidate& x : c) s.insert(x.id);
  return s;
}

std::vector<Candidate> from_probs(const std::vector<float>& p) {
  std::vector<Candidate> c;
  for (size_t i = 0; i < p.size(); ++i) c.push_back({p[i], static_cast<int32_t>(i)});
  return c;
}

TEST(LogitsProcessors, RepetitionPenaltyDividesPositiveAndMultipliesNegative) {
  std::vector<float> logits = {2.0f, -1.0f, 0.5f, 3.0f, 0.0f};
  const std::vector<int32_t> seen = {0, 1, 4, 99, -3};  // out-of-vocab ids are ignored
  apply_repetition_penalty(logits, seen, 2.0f);
  EXPECT_FLOAT_EQ(logits[0], 1.0f);
  EXPECT_FLOAT_EQ(logits[1], -2.0f);
  EXPECT_FLOAT_EQ(logits[2], 0.5f);
  EXPECT_FLOAT_EQ(logits[3], 3.0f);
  EXPECT_FLOAT_EQ(logits[4], 0.0f);
}

TEST(LogitsProcessors, FrequencyAndPresencePenalties) {
  std::vector<float> logits = {1.0f, 1.0f, 1.0f, 1.0f};
  const std::vector<int32_t> tokens = {1, 2, 3}, counts = {1, 3, 0};  // count 0: untouched
  apply_frequency_presence_penalties(logits, tokens, counts, 0.5f, 0.25f);
  EXPECT_FLOAT_EQ(logits[0], 1.0f);
  EXPECT_FLOAT_EQ(logits[1], 1.0f - 0.5f * 1 - 0.25f);
  EXPECT_FLOAT_EQ(logits[2], 1.0f - 0.5f * 3 - 0.25f);
  EXPECT_FLOAT_EQ(logits[3], 1.0f);
  // Negative values reward repetition.
  apply_frequency_presence_penalties(logits, tokens, counts, -1.0f, 0.0f);
  EXPECT_FLOAT_EQ(logits[2], 1.0f - 0.5f * 3 - 0.25f + 3.0f);
}

TEST(LogitsProcessors, ArgmaxTakesLowestIdOnTiesAndSkipsNaN) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float ninf = -std::numeric_limits<float>::infinity();
  EXPECT_EQ(argmax_logit(std::vector<float>{1.0f, 3.0f, 2.0f, 3.0f}), 1);
  EXPECT_EQ(argmax_logit(std::vector<float>{nan, -5.0f, nan}), 1);
  EXPECT_EQ(argmax_logit(std::vector<float>{ninf, ninf, -1e30f}), 2);
  EXPECT_THROW(argmax_logit(std::vector<float>{ninf, ninf}), Error);
}

TEST(LogitsProcessors, SoftmaxCandidatesAreScaledSoftmax) {
  const std::vector<float> logits = {0.5f, -1.0f, 2.0f, 2.0f,
                                     -std::numeric_limits<float>::infinity()};
  const float t = 0.7f;
  std::vector<Candidate> c;
  softmax_candidates(logits, t, c);
  ASSERT_EQ(c.size(), logits.size());
  double z = 0;
  for (float x : logits) z += std::exp(x / t);
  double total = 0;
  for (const Candidate& x : c) total += x.p;
  for (size_t i = 0; i < logits.size(); ++i) {
    EXPECT_EQ(c[i].id, static_cast<int>(i));
    EXPECT_NEAR(c[i].p / total, std::exp(logits[i] / t) / z, 1e-6);
  }
  EXPECT_EQ(c[2].p, 1.0f);  // the max gets exactly 1
  EXPECT_EQ(c[4].p, 0.0f);  // masked token
}

TEST(LogitsProcessors, MinPDropsTokensBelowFractionOfMax) {
  auto c = from_probs({0.4f, 0.3f, 0.2f, 0.1f});
  apply_min_p(c, 0.6f);  // threshold 0.24
  EXPECT_EQ(ids_of(c), (std::set<int>{0, 1}));
  c = from_probs({0.4f, 0.3f, 0.2f, 0.1f});
  apply_min_p(c, 0.4f);  // threshold 0.16
  EXPECT_EQ(ids_of(c), (std::set<int>{0, 1, 2}));
  c = from_probs({0.4f, 0.3f, 0.2f, 0.1f});
  apply_min_p(c, 0.0f);
  EXPECT_EQ(c.size(), 4u);
}

TEST(LogitsProcessors, TopKKeepsBestAndLowerIdsOnTies) {
  auto c = from_probs({0.1f, 0.3f, 0.2f, 0.3f, 0.1f});
  apply_top_k(c, 3);
  EXPECT_EQ(ids_of(c), (std::set<int>{1, 2, 3}));
  c = from_probs({0.1f, 0.3f, 0.2f, 0.3f, 0.1f});
  apply_top_k(c, 1);
  EXPECT_EQ(ids_of(c), (std::set<int>{1}));
  c = from_probs({0.25f, 0.25f, 0.25f, 0.25f});
  apply_top_k(c, 2);
  EXPECT_EQ(ids_of(c), (std::set<int>{0, 1}));
  c = from_probs({0.5f, 0.5f});
  apply_top_k(c, 0);
  EXPECT_EQ(c.size(), 2u);
  apply_top_k(c, 10);
  EXPECT_EQ(c.size(), 2u);
}

TEST(LogitsProcessors, TopPKeepsSmallestPrefixReachingMass) {
  auto c = from_probs({0.1f, 0.4f, 0.2f, 0.3f});
  apply_top_p(c, 0.65f);  // 0.4 < 0.65 <= 0.4 + 0.3
  EXPECT_EQ(ids_of(c), (std::set<int>{1, 3}));
  EXPECT_EQ(c[0].id, 1);  // sorted best first
  c = from_probs({0.1f, 0.4f, 0.2f, 0.3f});
  apply_top_p(c, 0.75f);
  EXPECT_EQ(ids_of(c), (std::set<int>{1, 2, 3}));
  c = from_probs({0.1f, 0.4f, 0.2f, 0.3f});
  apply_top_p(c, 0.01f);  // always at least one token
  EXPECT_EQ(ids_of(c), (std::set<int>{1}));
  // Unnormalized input: the mass is relative to the total.
  c = from_probs({1.0f, 4.0f, 2.0f, 3.0f});
  apply_top_p(c, 0.65f);
  EXPECT_EQ(ids_of(c), (std::set<int>{1, 3}));
}

// On a full-size vocabulary, where the partial sort has to widen several times, the kept
// set equals the one a full sort gives.
TEST(LogitsProcessors, TopPOnLargeVocabularyMatchesFullSort) {
  std::mt19937 gen(7);
  std::normal_distribution<float> normal(0.0f, 2.0f);
  std::vector<float> logits(151936);
  for (float& x : logits) x = normal(gen);
  for (float top_p : {0.1f, 0.5f, 0.9f, 0.999f}) {
    std::vector<Candidate> c;
    softmax_candidates(logits, 1.0f, c);
    std::vector<Candidate> reference = c;
    apply_top_p(c, top_p);

    // Exact integer masses (sample_math::weight), so the order of the sum does not matter.
    uint64_t total = 0;
    for (const Candidate& x : reference) total += sample_math::weight(x.p);
    std::sort(reference.begin(), reference.end(), better_candidate);
    const uint64_t target = sample_math::top_p_target(top_p, total);
    uint64_t cum = 0;
    size_t keep = 0;
    while (keep < reference.size()) {
      cum += sample_math::weight(reference[keep++].p);
      if (cum >= target) break;
    }
    // The integer target sits within 1e-6 of the float definition top_p * (sum of p).
    double exact = 0;
    for (const Candidate& x : reference) exact += x.p;
    EXPECT_NEAR(static_cast<double>(target) / 35184372088832.0, top_p * exact, 1e-6 * exact);
    ASSERT_EQ(c.size(), keep) << "top_p " << top_p;
    for (size_t i = 0; i < keep; ++i) ASSERT_EQ(c[i].id, reference[i].id);
  }
}

TEST(LogitsProcessors, DrawWalksTheCumulativeDistribution) {
  auto c = from_probs({0.0f, 0.25f, 0.0f, 0.75f, 0.0f});
  EXPECT_EQ(draw_candidate(c, 0.0), 1);
  EXPECT_EQ(draw_candidate(c, 0.2499), 1);
  EXPECT_EQ(draw_candidate(c, 0.2501), 3);
  EXPECT_EQ(draw_candidate(c, 0.999999999), 3);
  EXPECT_EQ(draw_candidate(c, std::nextafter(1.0, 0.0)), 3);  // u * total rounds to total
}

// The draw walks ascending ids whatever order the filters left the candidates in.
TEST(LogitsProcessors, DrawWalksAscendingIds) {
  auto c = from_probs({0.5f, 0.25f, 0.25f});
  std::vector<Candidate> best_first = {c[0], c[2], c[1]};
  for (double u : {0.0, 0.49, 0.51, 0.74, 0.76, 0.99}) {
    auto a = c, b = best_first;
    EXPECT_EQ(draw_candidate(a, u), draw_candidate(b, u)) << u;
  }
  auto b = best_first;
  EXPECT_EQ(draw_candidate(b, 0.6), 1);  // [0, 0.5) -> 0, [0.5, 0.75) -> 1, [0.75, 1) -> 2
  b = best_first;
  EXPECT_EQ(draw_candidate(b, 0.8), 2);
  std::vector<Candidate> zeros = {{0.0f, 0}, {0.0f, 1}};
  EXPECT_THROW(draw_candidate(zeros, 0.5), Error);
}

}  // namespace
}  // namespace hearth
