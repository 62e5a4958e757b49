#include "hearth/engine/scheduler.h"

#include <algorithm>

#include "hearth/core/error.h"

namespace hearth {

namespace {

bool earlier(const Sequence* a, const Sequence* b) { return a->arrival() < b->arrival(); }

}  // namespace

Scheduler::Scheduler(const SchedulerConfig& config, KvCacheManager& kv) : config_(config), kv_(kv) {
  if (config_.max_num_seqs <= 0) fail("max_num_seqs must be positive, got {}", config_.max_num_seqs);
  if (config_.max_num_batched_tokens < config_.max_num_seqs)
    fail("max_num_batched_tokens ({}) must be at least max_num_seqs ({}): every running sequence "
         "needs one token per step", config_.max_num_batched_tokens, config_.max_num_seqs);
}

void Scheduler::insert_waiting(Sequence* seq) {
  waiting_.insert(std::upper_bound(waiting_.begin(), waiting_.end(), seq, earlier), seq);
}

void Scheduler::insert_running(Sequence* seq) {
  running_.insert(std::upper_bound(running_.begin(), running_.end(), seq, earlier), seq);
}

void Scheduler::add(Sequence* seq) {
  HEARTH_CHECK(seq->status == SeqStatus::Waiting && seq->kv.blocks.empty() && seq->num_computed == 0,
               "request {} added as {}", seq->id(), to_string(seq->status));
  insert_waiting(seq);
}

void Scheduler::preempt_latest(ScheduledBatch& out, int& budget) {
  Sequence* victim = running_.back();
  running_.pop_back();
  // Already scheduled this step (a decode that arrived after a prefilling sequence):
  // unschedule it and give its tokens back.
  const auto it = std::find_if(out.seqs.begin(), out.seqs.end(), [&](const ScheduledSeq& s) { return s.seq == victim; });
  if (it != out.seqs.end()) {
    budget += it->num_tokens;
    out.num_tokens -= it->num_tokens;
    out.seqs.erase(it);
  }
  kv_.free(victim->kv);
  victim->num_computed = 0;
  victim->status = SeqStatus::Preempted;
  ++victim->num_preemptions;
  ++preemptions_;
  insert_waiting(victim);
  out.preempted.push_back(victim);
}

ScheduledBatch Scheduler::schedule() {
  ScheduledBatch out;
  int budget = config_.max_num_batched_tokens;

  // Running sequences: decodes, then prefill chunks, each pass in arrival order.
  for (const bool decode_pass : {true, false}) {
    for (size_t i = 0; i < running_.size() && budget > 0; ++i) {
      Sequence* s = running_[i];
      const int pending = s->num_pending();
      HEARTH_CHECK(pending >= 1, "running request {} has nothing to compute", s->id());
      if ((pending == 1) != decode_pass) continue;
      const int n = std::min(pending, budget);
      if (n < pending && !config_.enable_chunked_prefill) continue;
      bool self_preempted = false;
      while (!kv_.grow(s->kv, s->num_computed + n)) {
        self_preempted = running_.back() == s;
        preempt_latest(out, budget);
        if (self_preempted) break;
      }
      if (self_preempted) break;  // s was the latest: nothing after it in this pass
      out.seqs.push_back({s, s->num_computed, n, n == pending});
      out.num_tokens += n;
      budget -= n;
    }
  }

  // Waiting sequences, first come first served; none after a preemption (the memory is
  // short: admitting more would only preempt again).
  while (out.preempted.empty() && !waiting_.empty() && budget > 0 &&
         static_cast<int>(running_.size()) < config_.max_num_seqs) {
    Sequence* s = waiting_.front();
    const PrefixMatch match = kv_.match(s->tokens());
    const int cached = static_cast<int>(match.blocks.size()) * kv_.block_size();
    const int pending = s->num_tokens() - cached;
    const int n = std::min(pending, budget);
    if (n < pending && !config_.enable_chunked_prefill) break;
    if (!kv_.can_admit(match, cached + n)) break;
    kv_.admit(s->kv, match, cached + n, s->num_tokens());
    waiting_.pop_front();
    s->num_computed = cached;
    s->num_cached_tokens = cached;
    if (s->first_cached_tokens < 0) s->first_cached_tokens = cached;
    s->prefix_hit_tokens += static_cast<uint64_t>(cached);
    s->status = SeqStatus::Running;
    insert_running(s);
    out.seqs.push_back({s, cached, n, n == pending});
    out.num_tokens += n;
    budget -= n;
  }
  return out;
}

void Scheduler::complete(const ScheduledBatch& batch) {
  for (const ScheduledSeq& e : batch.seqs) {
    Sequence* s = e.seq;
    HEARTH_CHECK(s->status == SeqStatus::Running && s->num_computed == e.start,
                 "request {} changed between scheduling and completion", s->id());
    s->num_computed += e.num_tokens;
    kv_.commit(s->kv, s->tokens(), s->num_computed);
  }
}

void Scheduler::remove(Sequence* seq) {
  if (seq->status == SeqStatus::Running) {
    const auto it = std::find(running_.begin(), running_.end(), seq);
    HEARTH_CHECK(it != running_.end(), "running request {} not in the running list", seq->id());
    running_.erase(it);
  } else if (seq->status == SeqStatus::Waiting || seq->status == SeqStatus::Preempted) {
    const auto it = std::find(waiting_.begin(), waiting_.end(), seq);
    HEARTH_CHECK(it != waiting_.end(), "waiting request {} not in the waiting queue", seq->id());
    waiting_.erase(it);
  }
  kv_.free(seq->kv);
}

void Scheduler::finish(Sequence* seq, FinishReason reason) {
  // Usually running; preempted when a stop rule is decided a step late (a deferred accept).
  HEARTH_CHECK(seq->status != SeqStatus::Finished, "finishing request {} that is {}", seq->id(), to_string(seq->status));
  remove(seq);
  seq->status = SeqStatus::Finished;
  seq->finish_reason = reason;
}

void Scheduler::abort(Sequence* seq) {
  if (seq->status == SeqStatus::Finished) return;
  remove(seq);
  seq->status = SeqStatus::Finished;
  seq->finish_reason = FinishReason::Abort;
}

void Scheduler::check_invariants() const {
  HEARTH_CHECK(static_cast<int>(running_.size()) <= config_.max_num_seqs, "{} running > max_num_seqs {}",
               running_.size(), config_.max_num_seqs);
  HEARTH_CHECK(std::is_sorted(running_.begin(), running_.end(), earlier), "running list out of arrival order");
  HEARTH_CHECK(std::is_sorted(waiting_.begin(), waiting_.end(), earlier), "waiting queue out of arrival order");
  std::vector<const SeqKv*> live;
  for (const Sequence* s : running_) {
    HEARTH_CHECK(s->status == SeqStatus::Running, "request {} in the running list is {}", s->id(), to_string(s->status));
    HEARTH_CHECK(s->num_computed >= 0 && s->num_computed < s->num_tokens(), "request {}: {} computed of {}",
                 s->id(), s->num_computed, s->num_tokens());
    HEARTH_CHECK(static_cast<int>(s->kv.blocks.size()) >= kv_.blocks_for(s->num_computed),
                 "request {}: {} blocks for {} computed tokens", s->id(), s->kv.blocks.size(), s->num_computed);
    live.push_back(&s->kv);
  }
  for (const Sequence* s : waiting_) {
    HEARTH_CHECK(s->status == SeqStatus::Waiting || s->status == SeqStatus::Preempted,
                 "request {} in the waiting queue is {}", s->id(), to_string(s->status));
    HEARTH_CHECK(s->kv.blocks.empty() && s->num_computed == 0, "waiting request {} holds {} blocks",
                 s->id(), s->kv.blocks.size());
  }
  kv_.check_invariants(live);
}

}  // namespace hearth
