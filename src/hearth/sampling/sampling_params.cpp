#include "hearth/sampling/sampling_params.h"

#include <cmath>

#include "hearth/core/error.h"
#include "hearth/sampling/constrained_decoder.h"

namespace hearth {

// Comparisons are written so that NaN fails them (NaN compares false to everything).
void SamplingParams::validate(int vocab_size) const {
  if (!(std::isfinite(temperature) && temperature >= 0.0f))
    fail("sampling parameter 'temperature' must be finite and >= 0, got {}", temperature);
  if (top_k < -1)
    fail("sampling parameter 'top_k' must be -1 or 0 (off) or a positive count, got {}", top_k);
  if (!(top_p > 0.0f && top_p <= 1.0f))
    fail("sampling parameter 'top_p' must be in (0, 1], got {}", top_p);
  if (!(min_p >= 0.0f && min_p <= 1.0f))
    fail("sampling parameter 'min_p' must be in [0, 1], got {}", min_p);
  if (!(std::isfinite(repetition_penalty) && repetition_penalty > 0.0f))
    fail("sampling parameter 'repetition_penalty' must be finite and > 0, got {}",
         repetition_penalty);
  if (!(presence_penalty >= -2.0f && presence_penalty <= 2.0f))
    fail("sampling parameter 'presence_penalty' must be in [-2, 2], got {}", presence_penalty);
  if (!(frequency_penalty >= -2.0f && frequency_penalty <= 2.0f))
    fail("sampling parameter 'frequency_penalty' must be in [-2, 2], got {}", frequency_penalty);
  if (max_tokens < 1) fail("sampling parameter 'max_tokens' must be >= 1, got {}", max_tokens);
  if (logprobs < 0 || logprobs > 20)
    fail("sampling parameter 'logprobs' must be in [0, 20], got {}", logprobs);
  for (int id : stop_token_ids) {
    if (id < 0 || id >= vocab_size)
      fail("sampling parameter 'stop_token_ids' holds {}, outside the vocabulary [0, {})", id,
           vocab_size);
  }
  if (constraint) {
    if (ignore_eos)
      fail("sampling parameter 'ignore_eos' cannot be combined with an output constraint: a "
           "constrained request ends when its value is complete");
    constraint->validate(vocab_size);
  }
}

}  // namespace hearth
