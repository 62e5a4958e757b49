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
  if (params_.constraint) {
    constraint_ = std::make_unique<ConstrainedDecoder>(params_.constraint, eos_ids);
    // The ids ConstrainedDecoder forbids before its start token: the vocabulary's stops and
    // the model's EOS ids inside the vocabulary.
    const grammar::Vocabulary& v = constraint_->vocabulary();
    constraint_stop_ids_ = v.stop_ids();
    for (int id : eos_ids)
      if (id >= 0 && static_cast<size_t>(id) < v.size()) constraint_stop_ids_.push_back(id);
  }
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

void Sampler::append_mask(int vocab_size, std::vector<uint32_t>& masks) const {
  const size_t words = (static_cast<size_t>(vocab_size) + 31) / 32;
  const size_t base = masks.size();
  if (!constraint_->active()) {
    // Free text until the start token, but no ending there: the request owes a value
    // (ConstrainedDecoder::apply's rule: its stop ids are forbidden).
    masks.resize(base + words, 0xffffffffu);
    for (int32_t id : constraint_stop_ids_)
      if (id >= 0 && id < vocab_size) masks[base + static_cast<size_t>(id) / 32] &= ~(1u << (id % 32));
    return;
  }
  HEARTH_CHECK(!constraint_->finished() && !constraint_->dead_end(),
               "constrained decoder asked for a mask after the value {}",
               constraint_->finished() ? "finished" : "reached a dead end");
  const std::vector<uint32_t>& bits = constraint_->bitmask();
  const size_t covered = std::min<size_t>(static_cast<size_t>(vocab_size), constraint_->vocabulary().size());
  masks.resize(base + words, 0u);
  for (size_t w = 0; w * 32 < covered && w < bits.size(); ++w) {
    uint32_t word = bits[w];
    const size_t end = w * 32 + 32;
    if (end > covered) word &= (1u << (covered - w * 32)) - 1u;  // ids past the vocabulary
    masks[base + w] = word;
  }
}

SampleRow Sampler::export_row(int vocab_size, std::vector<int32_t>& penalty_tokens,
                              std::vector<int32_t>& penalty_counts, std::vector<uint32_t>& masks) {
  HEARTH_CHECK(vocab_size > 0, "export_row: vocabulary size {}", vocab_size);
  HEARTH_CHECK(penalty_tokens.size() == penalty_counts.size(),
               "export_row: {} penalty tokens but {} counts", penalty_tokens.size(), penalty_counts.size());
  SampleRow row;
  row.temperature = params_.temperature;
  row.top_k = params_.top_k;
  row.top_p = params_.top_p;
  row.min_p = params_.min_p;
  row.repetition_penalty = params_.repetition_penalty;
  row.presence_penalty = params_.presence_penalty;
  row.frequency_penalty = params_.frequency_penalty;
  row.penalty_begin = static_cast<int32_t>(penalty_tokens.size());
  if (params_.repetition_penalty != 1.0f) {
    // Every distinct prompt or generated token, with its generated count (0: prompt only).
    auto c = output_counts_.begin();
    for (int32_t t : penalized_) {
      while (c != output_counts_.end() && c->first < t) ++c;
      penalty_tokens.push_back(t);
      penalty_counts.push_back(c != output_counts_.end() && c->first == t ? c->second : 0);
    }
  } else if (params_.frequency_penalty != 0.0f || params_.presence_penalty != 0.0f) {
    for (const auto& [t, n] : output_counts_) {
      penalty_tokens.push_back(t);
      penalty_counts.push_back(n);
    }
  }
  row.penalty_end = static_cast<int32_t>(penalty_tokens.size());
  if (constraint_) {
    const size_t words = (static_cast<size_t>(vocab_size) + 31) / 32;
    HEARTH_CHECK(masks.size() % words == 0, "export_row: {} mask words is not a whole number of {}-word rows",
                 masks.size(), words);
    row.mask_row = static_cast<int32_t>(masks.size() / words);
    append_mask(vocab_size, masks);
  }
  if (params_.temperature > 0.0f) row.u = uniform_double(rng_);
  return row;
}

int Sampler::sample(std::span<float> logits, TokenLogprobs* lp) {
  HEARTH_CHECK(!logits.empty(), "sampler got an empty logits row");
  if (lp != nullptr) raw_logits_.assign(logits.begin(), logits.end());
  step_tokens_.clear();
  step_counts_.clear();
  step_mask_.clear();
  const SampleRow row =
      export_row(static_cast<int>(logits.size()), step_tokens_, step_counts_, step_mask_);
  const RowMask mask{row.mask_row >= 0 ? step_mask_.data() : nullptr, step_mask_.size()};
  const int chosen = sample_row(logits, row, mask, step_tokens_, step_counts_, candidates_);
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
