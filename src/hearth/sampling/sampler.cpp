#include "hearth/sampling/sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "hearth/core/error.h"

namespace hearth {

namespace {

// 53 random bits: finer than Rng::uniform's 24, which matters when the draw walks the
// tail of a 151,936-token distribution.
double uniform_double(Rng& rng) {
  return static_cast<double>(rng.next_u64() >> 11) * (1.0 / 9007199254740992.0);
}

// Ordering of the logprobs' top list: higher logit first, lower id on ties; NaN last.
bool better_logit(float a, int ia, float b, int ib) {
  const float ka = std::isnan(a) ? -std::numeric_limits<float>::infinity() : a;
  const float kb = std::isnan(b) ? -std::numeric_limits<float>::infinity() : b;
  return ka > kb || (ka == kb && ia < ib);
}

}  // namespace

Sampler::Sampler(const SamplingParams& params, std::span<const int32_t> prompt_ids, std::span<const int> eos_ids)
    : params_(params), rng_(params.seed), prompt_ids_(prompt_ids.begin(), prompt_ids.end()) {
  if (params_.constraint) constraint_ = std::make_unique<ConstrainedDecoder>(params_.constraint, eos_ids);
  std::sort(prompt_ids_.begin(), prompt_ids_.end());
  prompt_ids_.erase(std::unique(prompt_ids_.begin(), prompt_ids_.end()), prompt_ids_.end());
  penalized_ = prompt_ids_;
}

void Sampler::accept(int token) {
  const auto t = static_cast<int32_t>(token);
  if (constraint_) constraint_->accept(t);
  auto it = std::lower_bound(output_counts_.begin(), output_counts_.end(), t,
                             [](const auto& e, int32_t v) { return e.first < v; });
  if (it != output_counts_.end() && it->first == t) {
    ++it->second;
    return;
  }
  output_counts_.insert(it, {t, 1});
  auto p = std::lower_bound(penalized_.begin(), penalized_.end(), t);
  if (p == penalized_.end() || *p != t) penalized_.insert(p, t);
}

int Sampler::sample(std::span<float> logits, TokenLogprobs* lp) {
  HEARTH_CHECK(!logits.empty(), "sampler got an empty logits row");
  if (lp != nullptr) raw_logits_.assign(logits.begin(), logits.end());
  if (constraint_) constraint_->apply(logits);

  apply_repetition_penalty(logits, penalized_, params_.repetition_penalty);
  apply_frequency_presence_penalties(logits, output_counts_, params_.frequency_penalty,
                                     params_.presence_penalty);

  int chosen;
  if (params_.temperature == 0.0f) {
    chosen = argmax_logit(logits);
  } else {
    softmax_candidates(logits, params_.temperature, candidates_);
    apply_min_p(candidates_, params_.min_p);
    apply_top_k(candidates_, params_.top_k);
    apply_top_p(candidates_, params_.top_p);
    chosen = draw_candidate(candidates_, uniform_double(rng_));
  }

  if (lp != nullptr) *lp = compute_logprobs(raw_logits_, chosen, params_.logprobs);
  return chosen;
}

TokenLogprobs compute_logprobs(std::span<const float> logits, int chosen, int k) {
  const auto vocab = static_cast<int>(logits.size());
  HEARTH_CHECK(chosen >= 0 && chosen < vocab, "chosen token {} outside the vocabulary of {}",
               chosen, vocab);
  k = std::clamp(k, 0, vocab);

  // log-softmax: x - (max + log(sum(exp(x - max)))); the sum in double so that the result
  // is the correctly rounded fp32 log-softmax even over 151,936 terms.
  float max = -std::numeric_limits<float>::infinity();
  for (float x : logits)
    if (x > max) max = x;
  double sum = 0.0;
  for (float x : logits) sum += std::exp(static_cast<double>(x) - max);
  const double lse = static_cast<double>(max) + std::log(sum);
  auto logprob = [&](int i) {
    return static_cast<float>(static_cast<double>(logits[static_cast<size_t>(i)]) - lse);
  };

  TokenLogprobs out;
  out.id = chosen;
  out.logprob = logprob(chosen);

  // Top k: one pass with a small sorted list (k <= 20 from the API), a partial sort when
  // a caller asks for many.
  std::vector<int> top;
  if (k <= 32) {
    top.reserve(static_cast<size_t>(k) + 1);
    for (int i = 0; i < vocab && k > 0; ++i) {
      const float x = logits[static_cast<size_t>(i)];
      if (static_cast<int>(top.size()) == k &&
          !better_logit(x, i, logits[static_cast<size_t>(top.back())], top.back()))
        continue;
      auto pos = std::upper_bound(top.begin(), top.end(), i, [&](int a, int b) {
        return better_logit(logits[static_cast<size_t>(a)], a, logits[static_cast<size_t>(b)], b);
      });
      top.insert(pos, i);
      if (static_cast<int>(top.size()) > k) top.pop_back();
    }
  } else {
    top.resize(static_cast<size_t>(vocab));
    for (int i = 0; i < vocab; ++i) top[static_cast<size_t>(i)] = i;
    std::partial_sort(top.begin(), top.begin() + k, top.end(), [&](int a, int b) {
      return better_logit(logits[static_cast<size_t>(a)], a, logits[static_cast<size_t>(b)], b);
    });
    top.resize(static_cast<size_t>(k));
  }
  out.top.reserve(top.size());
  for (int i : top) out.top.emplace_back(i, logprob(i));
  return out;
}

}  // namespace hearth
