// The steps of one row's sampling (row_sampler.h: sample_row, which Sampler::sample and the
// CPU backend's enqueue_sample both call) as separate functions, so that each one can be
// tested on its own. vLLM semantics throughout; the arithmetic is sample_row.h's, which the
// CUDA kernels reproduce exactly.
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

// OpenAI/vLLM penalties over generated tokens: logit -= frequency * count + presence for
// every tokens[i] with counts[i] > 0 (tokens distinct; ids outside the vocabulary ignored).
void apply_frequency_presence_penalties(std::span<float> logits, std::span<const int32_t> tokens,
                                        std::span<const int32_t> counts, float frequency,
                                        float presence);

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
// best token gets exactly 1. temperature > 0. NaN logits get probability 0. The exp is
// sample_math::probability (hearth's own, so the CUDA kernels compute the same floats).
void softmax_candidates(std::span<const float> logits, float temperature,
                        std::vector<Candidate>& out);
// Drops tokens whose probability is below min_p * (the largest probability).
void apply_min_p(std::vector<Candidate>& c, float min_p);
// Keeps the k best tokens (k <= 0 or k >= size: no-op). Ties at the boundary keep the
// lower ids.
void apply_top_k(std::vector<Candidate>& c, int k);
// Keeps the smallest best-first prefix whose probability mass reaches top_p of the total
// (always at least one token); leaves the kept tokens sorted best first. Masses are exact
// integer sums of sample_math::weight(p) (target: sample_math::top_p_target). Only the head
// of the distribution is sorted, so this stays cheap on a 151,936-token vocabulary.
void apply_top_p(std::vector<Candidate>& c, float top_p);
// Inverse-CDF draw with u in [0, 1) over the candidates in ascending id order (sorts c by
// id): the first token whose running integer weight exceeds sample_math::draw_target(u,
// total). Ascending id order is what a GPU's prefix sum walks; any fixed order gives the
// same distribution. Throws hearth::Error when every weight is 0.
int draw_candidate(std::vector<Candidate>& c, double u);

}  // namespace hearth
