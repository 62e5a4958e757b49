#include "hearth/sampling/constrained_decoder.h"

#include <algorithm>
#include <bit>
#include <limits>

#include "hearth/core/error.h"

namespace hearth {

void Constraint::validate(int vocab_size) const {
  if (!grammar) fail("constraint has no grammar");
  if (!vocabulary) fail("constraint has no vocabulary (the model's tokenizer is needed)");
  if (vocabulary->size() == 0 || vocabulary->size() > static_cast<size_t>(vocab_size))
    fail("constraint vocabulary has {} tokens; the model's vocabulary has {}", vocabulary->size(), vocab_size);
  if (start_after_token < -1 || start_after_token >= vocab_size)
    fail("constraint start token {} is outside the vocabulary [0, {})", start_after_token, vocab_size);
  // A grammar with no value at all (an unsatisfiable schema the compiler let through) is
  // refused here, before any compute; one that dead-ends later ends its request with an error.
  grammar::Matcher m(grammar, vocabulary);
  const std::vector<uint32_t> mask = m.next_token_bitmask();
  if (!m.is_complete() && std::all_of(mask.begin(), mask.end(), [](uint32_t w) { return w == 0; }))
    fail("output constraint: no token can start a value (is the schema satisfiable?)");
}

ConstrainedDecoder::ConstrainedDecoder(std::shared_ptr<const Constraint> constraint, std::span<const int> eos_ids)
    : constraint_(std::move(constraint)),
      matcher_(constraint_->grammar, constraint_->vocabulary),
      eos_ids_(eos_ids.begin(), eos_ids.end()),
      started_(constraint_->start_after_token < 0) {
  const grammar::Vocabulary& v = *constraint_->vocabulary;
  for (int32_t id : v.stop_ids()) stop_ids_.push_back(id);
  for (int id : eos_ids_)
    if (id >= 0 && static_cast<size_t>(id) < v.size()) stop_ids_.push_back(id);
  std::sort(stop_ids_.begin(), stop_ids_.end());
  stop_ids_.erase(std::unique(stop_ids_.begin(), stop_ids_.end()), stop_ids_.end());
  if (started_) refresh();
}

bool ConstrainedDecoder::is_stop(int32_t token) const {
  if (std::find(eos_ids_.begin(), eos_ids_.end(), token) != eos_ids_.end()) return true;
  const auto& v = *constraint_->vocabulary;
  return token >= 0 && static_cast<size_t>(token) < v.size() && v.is_stop(token);
}

void ConstrainedDecoder::refresh() {
  const grammar::Vocabulary& v = *constraint_->vocabulary;
  mask_.assign(v.mask_words(), 0);
  matcher_.fill_next_token_bitmask(mask_.data());
  const bool complete = matcher_.is_complete();
  // The model's EOS ids follow the value's completeness whatever the vocabulary's stop list.
  for (int id : eos_ids_) {
    if (id < 0 || static_cast<size_t>(id) >= v.size()) continue;
    uint32_t& w = mask_[static_cast<size_t>(id) / 32];
    const uint32_t bit = 1u << (static_cast<uint32_t>(id) % 32);
    w = complete ? (w | bit) : (w & ~bit);
  }
  // Whether any token but a stop token is allowed: the first word with such a bit ends the
  // scan (at once for a dense mask); no popcount (a library call without -mpopcnt, 4,748
  // of them per accept for Qwen3).
  bool other = false;
  size_t s = 0;  // stop_ids_ is sorted: those in word w are stop_ids_[s ..)
  for (size_t w = 0; w < mask_.size() && !other; ++w) {
    uint32_t bits = mask_[w];
    if (bits == 0) continue;
    while (s < stop_ids_.size() && static_cast<size_t>(stop_ids_[s]) / 32 < w) ++s;
    for (size_t k = s; k < stop_ids_.size() && static_cast<size_t>(stop_ids_[k]) / 32 == w; ++k)
      bits &= ~(1u << (static_cast<uint32_t>(stop_ids_[k]) % 32));
    other = bits != 0;
  }
  // Finished when complete and every allowed token is a stop token: nothing can extend the
  // value, so the request ends now rather than waiting for the model to pick EOS.
  finished_ = complete && !other;
  bool any_stop = false;
  for (int32_t id : stop_ids_)
    any_stop = any_stop || (mask_[static_cast<size_t>(id) / 32] >> (static_cast<uint32_t>(id) % 32) & 1u) != 0;
  dead_end_ = !other && !any_stop && !complete;
}

void ConstrainedDecoder::apply(std::span<float> logits) const {
  constexpr float kNegInf = -std::numeric_limits<float>::infinity();
  if (!started_) {
    // Free text until the start token, but no ending there: the request owes a value.
    for (int32_t id : stop_ids_)
      if (static_cast<size_t>(id) < logits.size()) logits[static_cast<size_t>(id)] = kNegInf;
    return;
  }
  HEARTH_CHECK(!finished_ && !dead_end_, "constrained decoder asked for a mask after the value {}",
               finished_ ? "finished" : "reached a dead end");
  const size_t n = logits.size();
  const size_t covered = std::min(n, constraint_->vocabulary->size());
  for (size_t w = 0; w * 32 < covered; ++w) {
    const uint32_t bits = mask_[w];
    if (bits == 0xffffffffu) continue;
    const size_t end = std::min(covered, w * 32 + 32);
    for (size_t i = w * 32; i < end; ++i)
      if (!(bits >> (i % 32) & 1u)) logits[i] = kNegInf;
  }
  for (size_t i = covered; i < n; ++i) logits[i] = kNegInf;
}

void ConstrainedDecoder::accept(int32_t token) {
  if (!started_) {
    if (token == constraint_->start_after_token) {
      started_ = true;
      refresh();
    }
    return;
  }
  HEARTH_CHECK(!finished_ || is_stop(token), "constrained decoder got token {} after the value finished", token);
  if (is_stop(token)) {
    if (!matcher_.is_complete()) fail("constraint: stop token {} before the value is complete", token);
    finished_ = true;
    return;
  }
  if (!matcher_.accept_token(token)) fail("constraint: token {} is not allowed here", token);
  refresh();
}

std::vector<int32_t> ConstrainedDecoder::forced_tokens(size_t max_tokens) {
  if (!started_ || finished_ || dead_end_) return {};
  return matcher_.forced_tokens(max_tokens);
}

void ConstrainedDecoder::accept_forced(std::span<const int32_t> tokens) {
  if (tokens.empty()) return;
  HEARTH_CHECK(started_ && !finished_, "constrained decoder got forced tokens {}", started_ ? "after the value finished" : "before the start token");
  for (int32_t token : tokens) {
    if (is_stop(token) || !matcher_.accept_token(token)) fail("constraint: forced token {} is not allowed here", token);
  }
  refresh();
}

}  // namespace hearth
