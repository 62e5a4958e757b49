// Per-request sampling parameters (vLLM semantics; see docs/architecture.md).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace hearth {

struct Constraint;  // constrained_decoder.h

struct SamplingParams {
  float temperature = 1.0f;         // 0: greedy
  int top_k = 0;                    // <= 0: off
  float top_p = 1.0f;               // 1: off
  float min_p = 0.0f;               // 0: off
  float repetition_penalty = 1.0f;  // 1: off; prompt + generated tokens (HF/vLLM semantics)
  float presence_penalty = 0.0f;    // generated tokens only
  float frequency_penalty = 0.0f;   // generated tokens only
  uint64_t seed = 0;
  int max_tokens = 16;
  std::vector<int> stop_token_ids;
  bool ignore_eos = false;
  int logprobs = 0;  // number of top alternatives to report per generated token (0: none)
  // Output constraint (JSON Schema, json_object, ...); null: unconstrained. Shared,
  // immutable: one compiled grammar serves many requests. See constrained_decoder.h.
  std::shared_ptr<const Constraint> constraint;

  // Throws hearth::Error naming the field when a value is out of range.
  void validate(int vocab_size) const;
};

}  // namespace hearth
