// Token masks: for each stack on top of which the matcher sits, the tokens that stay inside
// the top frame come from a cache keyed by that frame alone (shared by all stacks, requests
// and, for scalar leaves, grammars); only the tokens that finish the top frame are tried
// against the real parent, through a trie of their remainders.
#pragma once

#include <memory>
#include <string>

#include "hearth/grammar/stepper.h"
#include "hearth/grammar/vocabulary.h"

namespace hearth::grammar {

// Whether a length-bounded free string state's token set is derived from the unbounded one
// (walking only the tokens that add enough code points to meet the bound) rather than walked
// over the whole vocabulary: on by default; off for tests comparing both (cache keys do not
// tell them apart: use a fresh Vocabulary per setting). Process-wide; set it while no mask is
// being computed.
void set_bounded_free_sets(bool on);

class MaskComputer {
 public:
  MaskComputer(const Vocabulary& vocab, const GrammarData& g, Arena& arena, Stepper& stepper);
  ~MaskComputer();

  // ORs into `words` the tokens accepted from the stack whose top is `top`.
  void add_config(const Frame* top, uint32_t* words, int depth = 0);
  // Cache statistics of this computer (hits, misses) for benchmarks.
  size_t hits() const { return hits_; }
  size_t misses() const { return misses_; }

 private:
  struct Level;
  struct Sink;
  std::shared_ptr<const MaskEntry> entry_for(const Frame* top);
  std::shared_ptr<const MaskEntry> compute_entry(const Frame* top);
  std::shared_ptr<const TokenSet> free_set(const Frame* top, uint32_t rem);
  bool is_free(const Frame* top, uint32_t& rem) const;
  std::string key_of(const Frame* top) const;
  // max_cps (with t = vocab_.trie()): skip the subtrees whose tokens add at most skip_le code
  // points (Vocabulary::trie_max_cps).
  void walk(const TokenTrie& t, uint32_t root, const Frame* const* init, uint32_t n_init, bool include_root,
            Sink& sink, const uint16_t* max_cps = nullptr, uint32_t skip_le = 0);

  const Vocabulary& vocab_;
  const GrammarData& g_;
  Arena& arena_;
  Stepper& stepper_;
  std::unique_ptr<Level[]> levels_;
  size_t hits_ = 0, misses_ = 0;
};

}  // namespace hearth::grammar
