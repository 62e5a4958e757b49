#include "hearth/engine/sequence.h"

#include <utility>

#include "hearth/core/error.h"

namespace hearth {

const char* to_string(SeqStatus s) {
  switch (s) {
    case SeqStatus::Waiting: return "waiting";
    case SeqStatus::Running: return "running";
    case SeqStatus::Preempted: return "preempted";
    case SeqStatus::Finished: return "finished";
  }
  return "";
}

Sequence::Sequence(RequestId id, uint64_t arrival, std::vector<int32_t> prompt_ids, const SamplingParams& params,
                   std::span<const int> eos_ids)
    : id_(id),
      arrival_(arrival),
      prompt_len_(static_cast<int>(prompt_ids.size())),
      tokens_(std::move(prompt_ids)),
      sampler_(params, tokens_, eos_ids) {}

void Sequence::append_token(int32_t token) {
  HEARTH_CHECK(!pending_accept_, "request {}: a token appended before the previous one was accepted", id_);
  tokens_.push_back(token);
  sampler_.accept(token);
}

void Sequence::append_token_deferred(int32_t token) {
  HEARTH_CHECK(!pending_accept_, "request {}: a token appended before the previous one was accepted", id_);
  tokens_.push_back(token);
  pending_accept_ = true;
}

void Sequence::accept_pending() {
  if (!pending_accept_) return;
  pending_accept_ = false;
  sampler_.accept(tokens_.back());
}

}  // namespace hearth
