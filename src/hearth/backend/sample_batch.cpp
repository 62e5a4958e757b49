#include <cmath>

#include "hearth/backend/backend.h"
#include "hearth/core/error.h"

namespace hearth {

void SampleBatch::validate(int vocab_size) const {
  HEARTH_CHECK(vocab_size > 0 && vocab_size <= sample_math::kMaxVocab,
               "sample batch: vocabulary of {} tokens; device sampling supports 1..{}", vocab_size,
               sample_math::kMaxVocab);
  HEARTH_CHECK(top_logprobs >= 0 && top_logprobs <= 32, "sample batch: top_logprobs {} outside [0, 32]",
               top_logprobs);
  HEARTH_CHECK(mask_words >= 0, "sample batch: mask_words {}", mask_words);
  HEARTH_CHECK(mask_words == 0 ? masks.empty() : masks.size() % static_cast<size_t>(mask_words) == 0,
               "sample batch: {} mask words is not a whole number of {}-word rows", masks.size(), mask_words);
  const size_t mask_rows = mask_words == 0 ? 0 : masks.size() / static_cast<size_t>(mask_words);
  HEARTH_CHECK(penalty_tokens.size() == penalty_counts.size(),
               "sample batch: {} penalty tokens but {} counts", penalty_tokens.size(), penalty_counts.size());
  for (size_t r = 0; r < rows.size(); ++r) {
    const SampleRow& row = rows[r];
    HEARTH_CHECK(std::isfinite(row.temperature) && row.temperature >= 0.0f,
                 "sample batch: row {} temperature {}", r, row.temperature);
    HEARTH_CHECK(row.top_p > 0.0f && row.top_p <= 1.0f, "sample batch: row {} top_p {} outside (0, 1]", r,
                 row.top_p);
    HEARTH_CHECK(row.min_p >= 0.0f && row.min_p <= 1.0f, "sample batch: row {} min_p {} outside [0, 1]", r,
                 row.min_p);
    HEARTH_CHECK(std::isfinite(row.repetition_penalty) && row.repetition_penalty > 0.0f,
                 "sample batch: row {} repetition_penalty {}", r, row.repetition_penalty);
    HEARTH_CHECK(std::isfinite(row.presence_penalty) && std::isfinite(row.frequency_penalty),
                 "sample batch: row {} presence / frequency penalty {} / {}", r, row.presence_penalty,
                 row.frequency_penalty);
    HEARTH_CHECK(row.u >= 0.0 && row.u < 1.0, "sample batch: row {} u {} outside [0, 1)", r, row.u);
    HEARTH_CHECK(row.mask_row >= -1 && (row.mask_row < 0 || static_cast<size_t>(row.mask_row) < mask_rows),
                 "sample batch: row {} mask row {} outside [-1, {})", r, row.mask_row, mask_rows);
    HEARTH_CHECK(row.penalty_begin >= 0 && row.penalty_begin <= row.penalty_end &&
                     static_cast<size_t>(row.penalty_end) <= penalty_tokens.size(),
                 "sample batch: row {} penalty range [{}, {}) outside [0, {}]", r, row.penalty_begin,
                 row.penalty_end, penalty_tokens.size());
    for (int32_t i = row.penalty_begin; i < row.penalty_end; ++i) {
      const int32_t t = penalty_tokens[static_cast<size_t>(i)];
      HEARTH_CHECK(t >= 0 && t < vocab_size, "sample batch: row {} penalty token {} outside [0, {})", r, t,
                   vocab_size);
      HEARTH_CHECK(i == row.penalty_begin || penalty_tokens[static_cast<size_t>(i) - 1] < t,
                   "sample batch: row {} penalty tokens are not strictly increasing at {}", r, i);
      HEARTH_CHECK(penalty_counts[static_cast<size_t>(i)] >= 0, "sample batch: row {} negative count at {}", r,
                   i);
    }
  }
}

bool SampleBatch::plain_greedy() const {
  for (const SampleRow& row : rows)
    if (row.temperature != 0.0f || row.mask_row >= 0 || row.penalty_end > row.penalty_begin) return false;
  return true;
}

bool SampleBatch::greedy_only() const {
  for (const SampleRow& row : rows)
    if (row.temperature != 0.0f) return false;
  return true;
}

}  // namespace hearth
