// Turns one row of fp32 logits into the next token: penalties -> temperature ->
// min-p / top-k / top-p -> seeded draw (greedy when temperature == 0).
// Logprobs are the log-softmax of the raw logits (before any processing, the output
// constraint's mask included), in fp32. With params.constraint, disallowed tokens are masked
// to -inf first (constrained_decoder.h).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <utility>
#include <vector>

#include "hearth/core/rng.h"
#include "hearth/sampling/constrained_decoder.h"
#include "hearth/sampling/logits_processors.h"
#include "hearth/sampling/row_sampler.h"
#include "hearth/sampling/sample_row.h"
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
  // eos_ids: the model's EOS ids, which a constraint allows only when its value is complete.
  Sampler(const SamplingParams& params, std::span<const int32_t> prompt_ids, std::span<const int> eos_ids = {});

  // Picks the next token. `logits` ([vocab]) is scratch: it may be modified.
  // Fills *lp when params.logprobs > 0 or lp is non-null. Same token as a backend's
  // enqueue_sample given export_row's row (both run sample_row).
  int sample(std::span<float> logits, TokenLogprobs* lp = nullptr);
  // This step as a device-sampling row (backend.h: SampleBatch), for a model of vocab_size
  // tokens: appends the row's penalty list (distinct tokens, sorted, with their generated
  // counts; only the tokens an active penalty touches) to penalty_tokens / penalty_counts
  // and, when constrained, its mask ((vocab_size + 31) / 32 words) to masks; the returned
  // row points at them (penalty_begin/end, mask_row). Draws u from the Rng only when
  // temperature > 0, as sample() does, so one call replaces one sample() in the sequence's
  // random stream. Views of the appended data stay the caller's.
  SampleRow export_row(int vocab_size, std::vector<int32_t>& penalty_tokens,
                       std::vector<int32_t>& penalty_counts, std::vector<uint32_t>& masks);
  // Records a generated token (for penalties). sample() does not do it itself so that
  // forced tokens (grammar fast-forward) are recorded the same way.
  // With a constraint, the token must be one it allows (hearth::Error otherwise).
  void accept(int token);
  // The constrained value is complete and nothing but a stop token may follow: the
  // request is done ("stop"). False without a constraint.
  bool constraint_finished() const { return constraint_ && constraint_->finished(); }
  // The constraint allows no token and its value is not complete: end the request with an
  // error (kConstraintDeadEnd says why).
  bool constraint_dead_end() const { return constraint_ && constraint_->dead_end(); }
  const ConstrainedDecoder* constraint() const { return constraint_.get(); }

  const SamplingParams& params() const { return params_; }

 private:
  SamplingParams params_;
  Rng rng_;
  std::vector<int32_t> prompt_ids_;  // distinct prompt ids, sorted
  std::vector<std::pair<int32_t, int32_t>> output_counts_;  // (token, count), sorted by token
  std::vector<int32_t> penalized_;  // distinct prompt + generated ids, sorted (repetition)
  // The step's mask (ConstrainedDecoder::apply's rule as bits) appended to `masks`.
  void append_mask(int vocab_size, std::vector<uint32_t>& masks) const;

  // Scratch reused across calls so that sampling a token does not allocate.
  std::vector<float> raw_logits_;
  std::vector<Candidate> candidates_;
  std::vector<int32_t> step_tokens_, step_counts_;
  std::vector<uint32_t> step_mask_;
  std::unique_ptr<ConstrainedDecoder> constraint_;  // null when unconstrained
  std::vector<int32_t> constraint_stop_ids_;        // forbidden before the start token
};

inline constexpr const char* kConstraintDeadEnd =
    "output constraint: no token can continue the value and it is not complete (is the schema satisfiable?)";

// log-softmax top-K of raw logits; also the logprob of `chosen`.
TokenLogprobs compute_logprobs(std::span<const float> logits, int chosen, int k);

}  // namespace hearth
