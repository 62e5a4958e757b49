// Turns one row of fp32 logits into the next token: penalties -> temperature ->
// min-p / top-k / top-p -> seeded draw (greedy when temperature == 0).
// Logprobs are the log-softmax of the raw logits (before any processing), in fp32.
#pragma once

#include <cstdint>
#include <span>
#include <utility>
#include <vector>

#include "hearth/core/rng.h"
#include "hearth/sampling/logits_processors.h"
#include "hearth/sampling/sampling_params.h"

namespace hearth {

struct TokenLogprobs {
  int id = 0;
  float logprob = 0.0f;
  std::vector<std::pair<int, float>> top;  // K best (id, logprob), best first
};

// Per-sequence sampling state (its RNG and token counts for penalties).
class Sampler {
 public:
  Sampler(const SamplingParams& params, std::span<const int32_t> prompt_ids);

  // Picks the next token. `logits` ([vocab]) is scratch: it may be modified.
  // Fills *lp when params.logprobs > 0 or lp is non-null.
  int sample(std::span<float> logits, TokenLogprobs* lp = nullptr);
  // Records a generated token (for penalties). sample() does not do it itself so that
  // forced tokens (grammar fast-forward) are recorded the same way.
  void accept(int token);

  const SamplingParams& params() const { return params_; }

 private:
  SamplingParams params_;
  Rng rng_;
  std::vector<int32_t> prompt_ids_;  // distinct prompt ids, sorted
  std::vector<std::pair<int32_t, int32_t>> output_counts_;  // (token, count), sorted by token
  std::vector<int32_t> penalized_;  // distinct prompt + generated ids, sorted (repetition)
  // Scratch reused across calls so that sampling a token does not allocate.
  std::vector<float> raw_logits_;
  std::vector<Candidate> candidates_;
};

// log-softmax top-K of raw logits; also the logprob of `chosen`.
TokenLogprobs compute_logprobs(std::span<const float> logits, int chosen, int k);

}  // namespace hearth
