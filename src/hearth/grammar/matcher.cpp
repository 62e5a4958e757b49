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
  std::vector<const Frame*> cur = state_;
  while (out.size() < max_bytes) {
    bool complete = false;
    for (const Frame* f : cur) complete = complete || stepper_->accepts_eos(f);
    if (complete) break;
    // Canonical bytes only: an escape or whitespace is never forced on the model.
    int only = -1;
    std::vector<const Frame*> only_state;
    for (int b = 0; b < 256; ++b) {
      if (b == '\\' || b == ' ' || b == '\n' || b == '\t' || b == '\r') continue;
      std::vector<const Frame*> next = cur;
      char c = static_cast<char>(b);
      if (!advance(std::string_view(&c, 1), next)) continue;
      if (only >= 0) {
        only = -2;
        break;
      }
      only = b;
      only_state = std::move(next);
    }
    if (only < 0) break;
    out += static_cast<char>(only);
    cur = std::move(only_state);
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
