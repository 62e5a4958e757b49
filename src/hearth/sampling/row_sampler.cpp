#include "hearth/sampling/row_sampler.h"

#include <algorithm>
#include <limits>

#include "hearth/core/error.h"

namespace hearth {

void apply_mask(std::span<float> logits, RowMask mask) {
  if (mask.words == nullptr) return;
  constexpr float kNegInf = -std::numeric_limits<float>::infinity();
  const size_t covered = std::min(logits.size(), mask.num_words * 32);
  for (size_t w = 0; w * 32 < covered; ++w) {
    const uint32_t bits = mask.words[w];
    if (bits == 0xffffffffu) continue;
    const size_t end = std::min(covered, w * 32 + 32);
    for (size_t i = w * 32; i < end; ++i)
      if (!(bits >> (i % 32) & 1u)) logits[i] = kNegInf;
  }
  for (size_t i = covered; i < logits.size(); ++i) logits[i] = kNegInf;
}

int sample_row(std::span<float> logits, const SampleRow& row, RowMask mask,
               std::span<const int32_t> penalty_tokens, std::span<const int32_t> penalty_counts,
               std::vector<Candidate>& scratch) {
  HEARTH_CHECK(!logits.empty(), "sampler got an empty logits row");
  HEARTH_CHECK(logits.size() <= static_cast<size_t>(sample_math::kMaxVocab),
               "sampling supports vocabularies of up to {} tokens, got {}", sample_math::kMaxVocab,
               logits.size());
  apply_mask(logits, mask);
  apply_repetition_penalty(logits, penalty_tokens, row.repetition_penalty);
  apply_frequency_presence_penalties(logits, penalty_tokens, penalty_counts, row.frequency_penalty,
                                     row.presence_penalty);
  if (row.temperature == 0.0f) return argmax_logit(logits);
  softmax_candidates(logits, row.temperature, scratch);
  apply_min_p(scratch, row.min_p);
  apply_top_k(scratch, row.top_k);
  apply_top_p(scratch, row.top_p);
  return draw_candidate(scratch, row.u);
}

}  // namespace hearth
