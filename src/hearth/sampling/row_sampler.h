// The one row-sampling function: Sampler::sample and the CPU backend's enqueue_sample both
// call it, and the CUDA kernels (backend/cuda/sampling_kernels.cu) implement the same steps
// with the same arithmetic (sample_row.h), so all three pick the same token.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "hearth/sampling/logits_processors.h"
#include "hearth/sampling/sample_row.h"

namespace hearth {

// A row's output constraint as a bitmask: bit (i % 32) of words[i / 32] set = token i
// allowed; ids at or past words.size() * 32 are not allowed.
struct RowMask {
  const uint32_t* words = nullptr;  // null: unconstrained
  size_t num_words = 0;
};

// Sets the logits of tokens the mask forbids to -inf.
void apply_mask(std::span<float> logits, RowMask mask);

// Picks the token of one logits row (scratch: modified in place) for `row`'s parameters
// (row.mask_row / penalty_begin / penalty_end are the caller's business: it passes the
// row's own mask and penalty lists). In order: mask -> repetition penalty (every
// penalty token) -> presence / frequency (tokens with a count > 0) -> greedy argmax
// (temperature 0), or temperature softmax -> min-p -> top-k -> top-p -> inverse-CDF draw
// with row.u over the kept tokens in id order. `scratch` is reused across calls.
// Throws hearth::Error when no token can be picked (every logit -inf / NaN or masked).
int sample_row(std::span<float> logits, const SampleRow& row, RowMask mask,
               std::span<const int32_t> penalty_tokens, std::span<const int32_t> penalty_counts,
               std::vector<Candidate>& scratch);

}  // namespace hearth
