// The per-request rules every generation path applies, so that the one-at-a-time
// Generator and the batched Engine agree token for token: request validation, the
// context length, EOS ids, when to stop, and when the device can pick greedily.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "hearth/engine.h"
#include "hearth/model/checkpoint.h"
#include "hearth/sampling/sampler.h"
#include "hearth/sampling/sampling_params.h"

namespace hearth {

// The context: `requested` if > 0 (at most max_position_embeddings), else the model's.
int resolve_max_model_len(const ModelConfig& config, int requested);

// EOS ids: generation_config.json's, then config.json's not already there.
std::vector<int> merged_eos_token_ids(const Checkpoint& checkpoint);

// Throws hearth::Error naming the problem: empty prompt, an id outside the vocabulary, a
// prompt at or past the context, bad sampling parameters.
void validate_request(std::span<const int32_t> prompt_ids, const SamplingParams& params,
                      int vocab_size, int max_model_len);

// After `token` was appended as the output_len-th generated token: Stop on an EOS id
// (unless ignore_eos) or a stop id; Length when max_tokens are generated or prompt +
// output reach the context (vLLM's rule); None otherwise. With the sequence's sampler: Stop
// when its constrained value is complete and cannot continue, Error (kConstraintDeadEnd)
// when no token can continue it.
FinishReason check_stop(const SamplingParams& params, std::span<const int> eos_ids, int32_t token,
                        int prompt_len, int output_len, int max_model_len, const Sampler* sampler = nullptr);

// Greedy with nothing the device pick cannot do (penalties, > 32 logprobs, a constraint).
bool device_greedy_eligible(const SamplingParams& params);

}  // namespace hearth
