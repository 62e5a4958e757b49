#include "hearth/grammar/matcher.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <functional>
#include <unordered_map>

#include "hearth/core/error.h"
#include "hearth/grammar/mask.h"
#include "hearth/grammar/stepper.h"

namespace hearth::grammar {

Matcher::Matcher(std::shared_ptr<const Grammar> grammar, std::shared_ptr<const Vocabulary> vocab,
                 size_t max_rollback)
    : grammar_(std::move(grammar)), vocab_(std::move(vocab)), max_rollback_(max_rollback) {
  if (!grammar_) fail("matcher: no grammar");
  reset();
}

Matcher::~Matcher() = default;

void Matcher::reset() {
  mask_.reset();
  stepper_.reset();
  arena_ = std::make_unique<Arena>();
  stepper_ = std::make_unique<Stepper>(grammar_->data(), *arena_);
  if (vocab_) mask_ = std::make_unique<MaskComputer>(*vocab_, grammar_->data(), *arena_, *stepper_);
  state_.clear();
  history_.clear();
  history_terminated_.clear();
  terminated_ = false;
  if (grammar_->data().root_kind == RootKind::Raw || grammar_->data().root != kNoNode) {
    state_.push_back(stepper_->initial());
  }
}

bool Matcher::advance(std::string_view bytes, std::vector<const Frame*>& state) {
  StepOut a, b;
  a.n = 0;
  for (const Frame* f : state) a.push(f);
  for (char c : bytes) {
    b.clear();
    for (uint32_t k = 0; k < a.n; ++k) stepper_->step(a.cfg[k], static_cast<uint8_t>(c), b);
    if (b.n == 0) return false;
    a.n = 0;
    for (uint32_t k = 0; k < b.n; ++k) {
      bool dup = false;
      for (uint32_t j = 0; j < a.n && !dup; ++j) dup = Stepper::same_stack(a.cfg[j], b.cfg[k], grammar_->data());
      if (!dup) a.cfg[a.n++] = b.cfg[k];
    }
  }
  state.assign(a.cfg, a.cfg + a.n);
  return true;
}

bool Matcher::accept_bytes(std::string_view bytes) {
  if (terminated_) return false;
  std::vector<const Frame*> next = state_;
  if (!advance(bytes, next)) return false;
  history_.push_back(std::move(state_));
  history_terminated_.push_back(0);
  if (history_.size() > max_rollback_) {
    history_.erase(history_.begin());
    history_terminated_.erase(history_terminated_.begin());
  }
  state_ = std::move(next);
  maybe_compact();
  return true;
}

bool Matcher::accept_token(int32_t id) {
  if (terminated_ || !vocab_ || id < 0 || static_cast<size_t>(id) >= vocab_->size()) return false;
  if (vocab_->is_stop(id)) {
    if (!is_complete()) return false;
    history_.push_back(state_);
    history_terminated_.push_back(0);
    terminated_ = true;
    return true;
  }
  if (vocab_->is_special(id) || vocab_->token(id).empty()) return false;
  return accept_bytes(vocab_->token(id));
}

bool Matcher::is_complete() const {
  for (const Frame* f : state_) {
    if (stepper_->accepts_eos(f)) return true;
  }
  return false;
}

void Matcher::fill_next_token_bitmask(uint32_t* words) {
  if (!vocab_) fail("matcher: no vocabulary for token masks");
  std::memset(words, 0, vocab_->mask_words() * 4);
  if (terminated_) return;
  const Arena::Mark mark = arena_->mark();
  for (const Frame* f : state_) mask_->add_config(f, words);
  arena_->reset(mark);
  if (is_complete()) {
    for (int32_t id : vocab_->stop_ids()) words[id >> 5] |= 1u << (id & 31);
  }
}

std::vector<uint32_t> Matcher::next_token_bitmask() {
  std::vector<uint32_t> w(vocab_ ? vocab_->mask_words() : 0);
  fill_next_token_bitmask(w.data());
  return w;
}

bool Matcher::rollback(size_t n) {
  if (n > history_.size()) return false;
  for (size_t i = 0; i < n; ++i) {
    state_ = std::move(history_.back());
    history_.pop_back();
    history_terminated_.pop_back();
  }
  terminated_ = false;
  return true;
}

std::string Matcher::jump_forward_bytes(size_t max_bytes) {
  std::string out;
  if (terminated_) return out;
  const Arena::Mark mark = arena_->mark();
  StepOut cur, next;
  for (const Frame* f : state_) cur.push(f);
  while (out.size() < max_bytes) {
    bool complete = false;
    for (uint32_t k = 0; k < cur.n && !complete; ++k) complete = stepper_->accepts_eos(cur.cfg[k]);
    if (complete) break;
    // Canonical bytes only: an escape or whitespace is never forced on the model.
    int only = -1;
    for (int b = 0; b < 256 && only != -2; ++b) {
      if (b == '\\' || b == ' ' || b == '\n' || b == '\t' || b == '\r') continue;
      StepOut probe;
      const Arena::Mark before = arena_->mark();
      for (uint32_t k = 0; k < cur.n; ++k) stepper_->step(cur.cfg[k], static_cast<uint8_t>(b), probe);
      if (probe.n == 0) {
        arena_->reset(before);
        continue;
      }
      if (only >= 0) {
        only = -2;
        break;
      }
      only = b;
      next.clear();
      for (uint32_t k = 0; k < probe.n; ++k) {
        bool dup = false;
        for (uint32_t j = 0; j < next.n && !dup; ++j) dup = Stepper::same_stack(next.cfg[j], probe.cfg[k], grammar_->data());
        if (!dup) next.push(probe.cfg[k]);
      }
    }
    if (only < 0) break;
    out += static_cast<char>(only);
    std::swap(cur.cfg, next.cfg);
    std::swap(cur.n, next.n);
  }
  arena_->reset(mark);
  return out;
}

bool Matcher::subtree_accepts(uint32_t node, const std::vector<const Frame*>& state) {
  const TokenTrie& t = vocab_->trie();
  const uint32_t base = t.depth[node];
  // levels[d]: the stacks after the subtree path's first d bytes.
  std::vector<std::vector<const Frame*>> levels{state};
  StepOut out;
  for (uint32_t i = node + 1; i < t.skip[node];) {
    const uint32_t d = t.depth[i] - base;
    levels.resize(d);
    out.clear();
    for (const Frame* f : levels[d - 1]) stepper_->step(f, t.byte[i], out);
    if (out.n == 0) {
      i = t.skip[i];
      continue;
    }
    if (t.tok_begin[i + 1] > t.tok_begin[i]) return true;
    levels.emplace_back(out.cfg, out.cfg + out.n);
    ++i;
  }
  return false;
}

std::vector<int32_t> Matcher::forced_tokens(size_t max_tokens, size_t max_bytes) {
  std::vector<int32_t> out;
  if (terminated_ || !vocab_ || max_tokens == 0) return out;
  const std::string forced = jump_forward_bytes(max_bytes);
  if (forced.empty()) return out;
  const Arena::Mark mark = arena_->mark();
  std::vector<const Frame*> after = state_;  // the stacks after all the forced bytes
  HEARTH_CHECK(advance(forced, after), "matcher: forced bytes rejected");
  const TokenTrie& t = vocab_->trie();
  size_t pos = 0;
  while (pos < forced.size() && out.size() < max_tokens) {
    // Down the trie along the forced text: the longest token inside it, and the node of the
    // whole remainder when the remainder is a token prefix.
    uint32_t node = 0, rem_node = 0;
    int32_t best = -1;
    size_t best_len = 0;
    for (size_t k = pos; k < forced.size(); ++k) {
      uint32_t child = node + 1, found = 0;
      const uint8_t b = static_cast<uint8_t>(forced[k]);
      while (child < t.skip[node]) {
        if (t.byte[child] == b) {
          found = child;
          break;
        }
        child = t.skip[child];
      }
      if (!found) break;
      node = found;
      if (t.tok_begin[node + 1] > t.tok_begin[node]) {
        best = t.tok_ids[t.tok_begin[node]];
        best_len = k + 1 - pos;
      }
      if (k + 1 == forced.size()) rem_node = node;
    }
    if (best < 0) break;
    // A longer allowed token starting here spans forced and free bytes: the model's choice.
    if (rem_node && subtree_accepts(rem_node, after)) break;
    out.push_back(best);
    pos += best_len;
  }
  arena_->reset(mark);
  return out;
}

size_t Matcher::stack_depth() const {
  size_t best = SIZE_MAX;
  for (const Frame* f : state_) {
    size_t d = 0;
    for (const Frame* x = f; x; x = x->parent) ++d;
    best = std::min(best, d);
  }
  return best == SIZE_MAX ? 0 : best;
}

int32_t Matcher::forced_token() {
  std::vector<uint32_t> w = next_token_bitmask();
  int32_t found = -1;
  for (size_t i = 0; i < w.size(); ++i) {
    if (!w[i]) continue;
    if ((w[i] & (w[i] - 1)) != 0 || found >= 0) return -1;
    found = static_cast<int32_t>(i * 32 + static_cast<size_t>(__builtin_ctz(w[i])));
  }
  return found;
}

void Matcher::maybe_compact() {
  // Committed frames accumulate in the arena (one or two per byte); past a few MiB, copy the
  // live stacks (current and rollback history) into a fresh arena.
  if (arena_->used() < (size_t{8} << 20)) return;
  auto fresh = std::make_unique<Arena>();
  std::unordered_map<const Frame*, const Frame*> moved;
  const GrammarData& g = grammar_->data();
  std::function<const Frame*(const Frame*)> copy = [&](const Frame* f) -> const Frame* {
    if (!f || f->kind == FrameKind::Exit) return f;
    auto it = moved.find(f);
    if (it != moved.end()) return it->second;
    Frame* r = fresh->copy(f);
    size_t n = Stepper::ext_bytes(f, g);
    if (n && f->ext) {
      void* e = fresh->alloc(n);
      std::memcpy(e, f->ext, n);
      r->ext = e;
    }
    r->parent = copy(f->parent);
    moved.emplace(f, r);
    return r;
  };
  for (const Frame*& f : state_) f = copy(f);
  for (auto& h : history_) {
    for (const Frame*& f : h) f = copy(f);
  }
  mask_.reset();
  stepper_.reset();
  arena_ = std::move(fresh);
  stepper_ = std::make_unique<Stepper>(g, *arena_);
  if (vocab_) mask_ = std::make_unique<MaskComputer>(*vocab_, g, *arena_, *stepper_);
}

}  // namespace hearth::grammar
