#include "hearth/sampling/logits_processors.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "hearth/core/error.h"

namespace hearth {

void apply_repetition_penalty(std::span<float> logits, std::span<const int32_t> distinct_tokens,
                              float penalty) {
  if (penalty == 1.0f) return;
  const auto vocab = static_cast<int64_t>(logits.size());
  for (int32_t t : distinct_tokens) {
    if (t < 0 || t >= vocab) continue;
    float& x = logits[static_cast<size_t>(t)];
    x = x > 0.0f ? x / penalty : x * penalty;
  }
}

void apply_frequency_presence_penalties(std::span<float> logits,
                                        std::span<const std::pair<int32_t, int32_t>> counts,
                                        float frequency, float presence) {
  if (frequency == 0.0f && presence == 0.0f) return;
  const auto vocab = static_cast<int64_t>(logits.size());
  for (const auto& [t, n] : counts) {
    if (t < 0 || t >= vocab || n <= 0) continue;
    logits[static_cast<size_t>(t)] -= frequency * static_cast<float>(n) + presence;
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
    // (x - max) / t <= 0, so exp never overflows, even for tiny temperatures. A division
    // rather than a multiply by 1/t: 1/t overflows for denormal t, and 0 * inf is NaN.
    const float p = std::exp((logits[i] - max) / temperature);
    out[i] = {p >= 0.0f ? p : 0.0f, static_cast<int32_t>(i)};  // NaN -> 0
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
  double total = 0.0;
  for (const Candidate& x : c) total += x.p;
  const double target = static_cast<double>(top_p) * total;
  // Sort only the best m candidates; widen m until their mass reaches the target.
  // Typical distributions put top_p of the mass in a few hundred tokens.
  size_t m = std::min<size_t>(c.size(), 256);
  for (;;) {
    if (m < c.size()) std::nth_element(c.begin(), c.begin() + static_cast<ptrdiff_t>(m - 1),
                                       c.end(), better_candidate);
    std::sort(c.begin(), c.begin() + static_cast<ptrdiff_t>(m), better_candidate);
    double cum = 0.0;
    for (size_t i = 0; i < m; ++i) {
      cum += c[i].p;
      if (cum >= target) {
        c.resize(i + 1);
        return;
      }
    }
    if (m == c.size()) return;  // rounding left the sum just short of the target: keep all
    m = std::min(c.size(), m * 8);
  }
}

int draw_candidate(const std::vector<Candidate>& c, double u) {
  double total = 0.0;
  for (const Candidate& x : c) total += x.p;
  HEARTH_CHECK(total > 0.0, "no candidate token has a positive probability ({} candidates)",
               c.size());
  const double target = u * total;
  double cum = 0.0;
  int last_positive = -1;
  for (const Candidate& x : c) {
    if (x.p <= 0.0f) continue;
    cum += x.p;
    last_positive = x.id;
    if (cum > target) return x.id;
  }
  return last_positive;  // u * total rounded up to the full sum
}

}  // namespace hearth
