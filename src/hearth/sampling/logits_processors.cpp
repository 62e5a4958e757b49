#include "hearth/sampling/logits_processors.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "hearth/core/error.h"
#include "hearth/sampling/sample_row.h"

namespace hearth {

void apply_repetition_penalty(std::span<float> logits, std::span<const int32_t> distinct_tokens,
                              float penalty) {
  if (penalty == 1.0f) return;
  const auto vocab = static_cast<int64_t>(logits.size());
  for (int32_t t : distinct_tokens) {
    if (t < 0 || t >= vocab) continue;
    float& x = logits[static_cast<size_t>(t)];
    x = sample_math::repetition(x, penalty);
  }
}

void apply_frequency_presence_penalties(std::span<float> logits, std::span<const int32_t> tokens,
                                        std::span<const int32_t> counts, float frequency,
                                        float presence) {
  if (frequency == 0.0f && presence == 0.0f) return;
  HEARTH_CHECK(tokens.size() == counts.size(), "{} penalty tokens but {} counts", tokens.size(),
               counts.size());
  const auto vocab = static_cast<int64_t>(logits.size());
  for (size_t i = 0; i < tokens.size(); ++i) {
    const int32_t t = tokens[i], n = counts[i];
    if (t < 0 || t >= vocab || n <= 0) continue;
    float& x = logits[static_cast<size_t>(t)];
    x = sample_math::frequency_presence(x, n, frequency, presence);
  }
}

int argmax_logit(std::span<const float> logits) {
  int best = -1;
  float best_value = -std::numeric_limits<float>::infinity();
  for (size_t i = 0; i < logits.size(); ++i) {
    if (logits[i] > best_value) {  // strict: the lowest id wins ties; NaN never wins
      best_value = logits[i];
      best = static_cast<int>(i);
    }
  }
  if (best < 0) fail("sampler: every token of the {}-token vocabulary is masked", logits.size());
  return best;
}

void softmax_candidates(std::span<const float> logits, float temperature,
                        std::vector<Candidate>& out) {
  const int best = argmax_logit(logits);
  const float max = logits[static_cast<size_t>(best)];
  out.resize(logits.size());
  for (size_t i = 0; i < logits.size(); ++i) {
    // (x - max) / t <= 0, so exp never overflows, even for tiny temperatures; NaN -> 0.
    out[i] = {sample_math::probability(logits[i], max, temperature), static_cast<int32_t>(i)};
  }
}

void apply_min_p(std::vector<Candidate>& c, float min_p) {
  if (min_p <= 0.0f || c.empty()) return;
  float max_p = 0.0f;
  for (const Candidate& x : c) max_p = std::max(max_p, x.p);
  const float threshold = min_p * max_p;
  std::erase_if(c, [&](const Candidate& x) { return x.p < threshold; });
}

void apply_top_k(std::vector<Candidate>& c, int k) {
  if (k <= 0 || static_cast<size_t>(k) >= c.size()) return;
  std::nth_element(c.begin(), c.begin() + (k - 1), c.end(), better_candidate);
  c.resize(static_cast<size_t>(k));
}

void apply_top_p(std::vector<Candidate>& c, float top_p) {
  if (top_p >= 1.0f || c.empty()) return;
  uint64_t total = 0;
  for (const Candidate& x : c) total += sample_math::weight(x.p);
  const uint64_t target = sample_math::top_p_target(top_p, total);
  // Sort only the best m candidates; widen m until their mass reaches the target.
  // Typical distributions put top_p of the mass in a few hundred tokens.
  size_t m = std::min<size_t>(c.size(), 256);
  for (;;) {
    if (m < c.size()) std::nth_element(c.begin(), c.begin() + static_cast<ptrdiff_t>(m - 1),
                                       c.end(), better_candidate);
    std::sort(c.begin(), c.begin() + static_cast<ptrdiff_t>(m), better_candidate);
    uint64_t cum = 0;
    for (size_t i = 0; i < m; ++i) {
      cum += sample_math::weight(c[i].p);
      if (cum >= target) {
        c.resize(i + 1);
        return;
      }
    }
    if (m == c.size()) return;  // not reached: target <= total
    m = std::min(c.size(), m * 8);
  }
}

int draw_candidate(std::vector<Candidate>& c, double u) {
  const auto by_id = [](const Candidate& a, const Candidate& b) { return a.id < b.id; };
  if (!std::is_sorted(c.begin(), c.end(), by_id)) std::sort(c.begin(), c.end(), by_id);
  uint64_t total = 0;
  for (const Candidate& x : c) total += sample_math::weight(x.p);
  if (total == 0) fail("sampler: no candidate token has a positive probability ({} candidates)", c.size());
  const uint64_t target = sample_math::draw_target(u, total);
  uint64_t cum = 0;
  for (const Candidate& x : c) {
    cum += sample_math::weight(x.p);
    if (cum > target) return x.id;
  }
  return c.back().id;  // not reached: cum ends at total > target
}

}  // namespace hearth
