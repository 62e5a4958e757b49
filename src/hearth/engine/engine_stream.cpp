// RequestStream: the reader's side of a request's outputs.
#include <utility>

#include "hearth/engine.h"
#include "hearth/engine/engine_channel.h"

namespace hearth {

namespace engine_detail {

void StreamState::push(RequestOutput&& out) {
  {
    std::lock_guard lock(mutex);
    if (!has_pending) {
      pending = std::move(out);
      has_pending = true;
    } else {
      pending.token_ids.insert(pending.token_ids.end(), out.token_ids.begin(), out.token_ids.end());
      for (TokenLogprobs& lp : out.logprobs) pending.logprobs.push_back(std::move(lp));
      pending.finish_reason = out.finish_reason;
      pending.error = std::move(out.error);
      pending.usage = out.usage;
    }
  }
  ready.notify_all();
}

void Inbox::abort(RequestId id) {
  {
    std::lock_guard lock(mutex);
    if (exited) return;
    aborts.push_back(id);
  }
  wake.notify_one();
}

}  // namespace engine_detail

namespace {

// Takes the pending output (lock held on entry, released before detokenizing: the
// decoder is the reader's own).
std::optional<RequestOutput> take(engine_detail::StreamState& st, std::unique_lock<std::mutex>& lock) {
  if (!st.has_pending) return std::nullopt;
  RequestOutput out = std::move(st.pending);
  st.pending = RequestOutput{};
  st.has_pending = false;
  if (out.finished()) st.final_taken = true;
  lock.unlock();
  if (st.detokenizer) {
    for (int32_t id : out.token_ids) out.text += st.detokenizer.push(id);
    if (out.finished() && st.detokenizer.flush) out.text += st.detokenizer.flush();
  }
  return out;
}

}  // namespace

RequestStream::RequestStream(std::shared_ptr<engine_detail::StreamState> state, std::shared_ptr<engine_detail::Inbox> inbox)
    : state_(std::move(state)), inbox_(std::move(inbox)) {}

RequestStream::RequestStream(RequestStream&&) noexcept = default;

RequestStream& RequestStream::operator=(RequestStream&& other) noexcept {
  if (this != &other) {
    if (state_ && !done()) abort();
    state_ = std::move(other.state_);
    inbox_ = std::move(other.inbox_);
  }
  return *this;
}

RequestStream::~RequestStream() {
  if (state_ && !done()) abort();
}

RequestId RequestStream::id() const { return state_ ? state_->id : 0; }

bool RequestStream::done() const {
  if (!state_) return true;
  std::lock_guard lock(state_->mutex);
  return state_->final_taken;
}

std::optional<RequestOutput> RequestStream::next() {
  if (!state_) return std::nullopt;
  std::unique_lock lock(state_->mutex);
  state_->ready.wait(lock, [&] { return state_->has_pending || state_->final_taken; });
  return take(*state_, lock);
}

std::optional<RequestOutput> RequestStream::next_for(std::chrono::milliseconds timeout) {
  if (!state_) return std::nullopt;
  std::unique_lock lock(state_->mutex);
  state_->ready.wait_for(lock, timeout, [&] { return state_->has_pending || state_->final_taken; });
  return take(*state_, lock);
}

RequestOutput RequestStream::collect() {
  RequestOutput all;
  all.id = id();
  while (std::optional<RequestOutput> out = next()) {
    all.token_ids.insert(all.token_ids.end(), out->token_ids.begin(), out->token_ids.end());
    for (TokenLogprobs& lp : out->logprobs) all.logprobs.push_back(std::move(lp));
    all.text += out->text;
    all.finish_reason = out->finish_reason;
    all.error = std::move(out->error);
    all.usage = out->usage;
  }
  return all;
}

void RequestStream::abort() {
  if (state_ && inbox_) inbox_->abort(state_->id);
}

}  // namespace hearth
