// The steps of Sampler::sample as separate functions, so that each one can be tested on
// its own and reused (e.g. by a batched sampler later). vLLM semantics throughout.
#pragma once

#include <cstdint>
#include <span>
#include <utility>
#include <vector>

namespace hearth {

// HF/vLLM repetition penalty: for each token in `distinct_tokens` (no duplicates; ids
// outside the vocabulary are ignored), logit > 0 ? logit / penalty : logit * penalty.
void apply_repetition_penalty(std::span<float> logits, std::span<const int32_t> distinct_tokens,
                              float penalty);

// OpenAI/vLLM penalties over generated tokens: logit -= frequency * count + presence *
// (count > 0). `counts` holds (token, count) pairs with distinct tokens.
void apply_frequency_presence_penalties(std::span<float> logits,
                                        std::span<const std::pair<int32_t, int32_t>> counts,
                                        float frequency, float presence);

// Index of the largest logit, lowest id on ties, in one pass. NaNs are skipped.
// Throws hearth::Error when every logit is -inf or NaN (nothing can be sampled).
int argmax_logit(std::span<const float> logits);

// A token still allowed by the filters, with its unnormalized probability.
struct Candidate {
  float p;
  int32_t id;
};

// Best first: higher probability, then lower id (a strict total order, so the filters
// are deterministic).
inline bool better_candidate(const Candidate& a, const Candidate& b) {
  return a.p > b.p || (a.p == b.p && a.id < b.id);
}

// out[i] = {exp((logits[i] - max) / temperature), i}: softmax up to normalization, the
// best token gets exactly 1. temperature > 0. NaN logits get probability 0.
void softmax_candidates(std::span<const float> logits, float temperature,
                        std::vector<Candidate>& out);
// Drops tokens whose probability is below min_p * (the largest probability).
void apply_min_p(std::vector<Candidate>& c, float min_p);
// Keeps the k best tokens (k <= 0 or k >= size: no-op). Ties at the boundary keep the
// lower ids.
void apply_top_k(std::vector<Candidate>& c, int k);
// Keeps the smallest best-first prefix whose probability mass reaches top_p of the total
// (always at least one token); leaves the kept tokens sorted best first. Only the head
// of the distribution is sorted, so this stays cheap on a 151,936-token vocabulary.
void apply_top_p(std::vector<Candidate>& c, float top_p);
// Inverse-CDF draw with u in [0, 1): walks the candidates in their current order.
int draw_candidate(const std::vector<Candidate>& c, double u);

}  // namespace hearth
