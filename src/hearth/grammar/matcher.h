// One constrained generation: feed it the tokens the model produced, ask it for the mask of
// tokens allowed next. Not thread safe (one per request); the Grammar and Vocabulary it uses
// are shared and immutable (the vocabulary's mask cache is internally synchronized).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "hearth/grammar/frame.h"
#include "hearth/grammar/grammar.h"
#include "hearth/grammar/vocabulary.h"

namespace hearth::grammar {

class Stepper;
class MaskComputer;

class Matcher {
 public:
  // vocab may be null for byte-level use only (accept_bytes, is_complete).
  Matcher(std::shared_ptr<const Grammar> grammar, std::shared_ptr<const Vocabulary> vocab,
          size_t max_rollback = 64);
  ~Matcher();
  Matcher(const Matcher&) = delete;
  Matcher& operator=(const Matcher&) = delete;

  // Accepts the token (returns true) or leaves the state unchanged (false). A stop token is
  // accepted only when the value is complete; it terminates the matcher.
  bool accept_token(int32_t id);
  // Accepts all the bytes or none.
  bool accept_bytes(std::string_view bytes);
  // Bit i of words[i / 32] is set when token i may come next; `words` holds
  // ceil(vocab_size / 32) words.
  void fill_next_token_bitmask(uint32_t* words);
  std::vector<uint32_t> next_token_bitmask();
  // The output so far is a complete value (a stop token may come now).
  bool is_complete() const;
  bool is_terminated() const { return terminated_; }
  // Undoes the last n accepted tokens (at most max_rollback).
  bool rollback(size_t n_tokens);
  // The bytes the grammar forces next (only one byte possible at each step), up to max_bytes;
  // the engine may append their tokens without running the model. Whitespace and escapes
  // never count as alternatives: forced text is written compactly and unescaped.
  std::string jump_forward_bytes(size_t max_bytes = 256);
  // Forced-token fast-forward: the tokens that spell the forced bytes (jump_forward_bytes),
  // at most max_tokens, chosen greedily (at each position the longest vocabulary token that
  // lies inside the forced text). A token is emitted only if no longer allowed token starts
  // at the same position: when the forced text ends in a prefix of tokens the grammar also
  // allows (`":"` before a free string, which `":"x` would extend), the rest is left to the
  // model, so the tokens returned are ones it could have sampled and greedy tokenization
  // never takes a choice away from it. Caveat: BPE is not greedy longest-match, so this
  // spelling can differ from the tokenizer's for the same text (a valid but non-canonical
  // tokenization, as any sampled sequence can be). The state is unchanged; the caller
  // accepts the tokens (accept_token) after appending them. Empty when nothing is forced.
  std::vector<int32_t> forced_tokens(size_t max_tokens = 16, size_t max_bytes = 256);
  // Frames on the shallowest stack (open values and lexemes); smaller is closer to done.
  size_t stack_depth() const;
  // The token the mask would allow alone, or -1.
  int32_t forced_token();
  void reset();

  const MaskComputer& mask_computer() const { return *mask_; }

 private:
  bool advance(std::string_view bytes, std::vector<const Frame*>& state);
  // Whether some token of the trie subtree below `node` (tokens longer than the path to it)
  // is accepted from `state` (stacks after the path's bytes).
  bool subtree_accepts(uint32_t node, const std::vector<const Frame*>& state);
  void maybe_compact();

  std::shared_ptr<const Grammar> grammar_;
  std::shared_ptr<const Vocabulary> vocab_;
  size_t max_rollback_;
  std::unique_ptr<Arena> arena_;
  std::unique_ptr<Stepper> stepper_;
  std::unique_ptr<MaskComputer> mask_;
  std::vector<const Frame*> state_;
  std::vector<std::vector<const Frame*>> history_;
  std::vector<uint8_t> history_terminated_;
  bool terminated_ = false;
};

}  // namespace hearth::grammar
