// A per-request output constraint (a compiled JSON Schema, json_object mode, regex or choice
// list over the model's vocabulary) and the per-sequence decoder that enforces it. The
// Sampler owns one ConstrainedDecoder when its SamplingParams carry a Constraint, so the
// one-at-a-time Generator and the batched Engine enforce constraints through one code path:
//
//   sample():  logits of tokens the grammar forbids -> -inf (before penalties, temperature and
//              the filters); the model's EOS ids are allowed only when the value is complete;
//   accept():  the matcher consumes the sampled token, then the next step's mask is computed.
//
// Logprobs stay those of the raw logits (the model's distribution, before the mask), as for
// every other logits processor: a constrained token's reported logprob can be very low.
//
// The mask is kept as a bitmask over the vocabulary (bit i of word i / 32: token i allowed)
// so that a device backend can upload it and apply it next to the logits; today it is applied
// on the host (apply()). It is computed right after accept(), i.e. as soon as the token is
// known: that is where a thread pool can overlap it with the next step's forward pass.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "hearth/grammar/grammar.h"
#include "hearth/grammar/matcher.h"
#include "hearth/grammar/vocabulary.h"

namespace hearth {

struct Constraint {
  std::shared_ptr<const grammar::Grammar> grammar;
  // The model's tokens as bytes (tokenizer token_bytes); its size may be below the model's
  // vocab_size (padding rows), those ids are never allowed.
  std::shared_ptr<const grammar::Vocabulary> vocabulary;
  // -1: the constraint applies from the first generated token. Otherwise (thinking models:
  // the id of `</think>`) generation is free (EOS excepted) until this token is generated,
  // and the constraint applies to the tokens after it.
  int32_t start_after_token = -1;

  // Throws hearth::Error naming the field when it cannot be used with a model of vocab_size.
  void validate(int vocab_size) const;
};

class ConstrainedDecoder {
 public:
  // eos_ids: the model's EOS ids; with the vocabulary's stop ids, allowed only once the value
  // is complete.
  ConstrainedDecoder(std::shared_ptr<const Constraint> constraint, std::span<const int> eos_ids);

  // Sets the logits of disallowed tokens to -inf. Before the start token only the stop / EOS
  // ids are (the request must still produce its value). Ids at or past the vocabulary's size
  // (a model's padding rows) are disallowed.
  void apply(std::span<float> logits) const;
  // Consumes a generated token. Throws hearth::Error if the constraint forbids it (a caller
  // that samples from apply()'d logits never sees that).
  void accept(int32_t token);
  // Forced-token fast-forward (grammar::Matcher::forced_tokens): the tokens the constraint
  // forces next, at most max_tokens; empty before the start token, once finished, or when the
  // next token is a real choice. The engine may append them to the sequence and run them
  // through the model in one pass (like a prompt chunk) instead of one step each; their
  // logprobs are not sampled. Call accept_forced() with what it appends.
  std::vector<int32_t> forced_tokens(size_t max_tokens = 16);
  // Consumes tokens from forced_tokens() (or a prefix of them) with one mask refresh at the
  // end. Throws hearth::Error if one is not allowed.
  void accept_forced(std::span<const int32_t> tokens);
  // The constraint is active (the start token, if any, has been generated).
  bool active() const { return started_; }
  // The value is complete and nothing but a stop token may follow (or a stop token was
  // accepted): the request is done.
  bool finished() const { return finished_; }
  // No token can continue the value and it is not complete (an unsatisfiable schema the
  // compiler let through): the request must end with an error, not sample from nothing.
  bool dead_end() const { return dead_end_; }
  // The current mask over the vocabulary's ids (valid while active() and !finished()); ids at
  // or past vocabulary().size() are never allowed.
  const std::vector<uint32_t>& bitmask() const { return mask_; }
  const grammar::Vocabulary& vocabulary() const { return *constraint_->vocabulary; }

 private:
  bool is_stop(int32_t token) const;
  void refresh();  // mask_ and finished_ for the matcher's current state

  std::shared_ptr<const Constraint> constraint_;
  grammar::Matcher matcher_;
  std::vector<int> eos_ids_;
  std::vector<int32_t> stop_ids_;  // EOS ids and the vocabulary's stops inside it, sorted
  bool started_ = false;
  bool finished_ = false;
  bool dead_end_ = false;
  std::vector<uint32_t> mask_;
};

}  // namespace hearth
