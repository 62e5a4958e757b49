// Which sequences run in the next step, and how many tokens each.
//
// Per step, within max_num_batched_tokens tokens and max_num_seqs sequences:
// 1. every running sequence that is decoding gets its one token (arrival order);
// 2. running sequences part-way through their prompt get the next chunk (arrival order);
// 3. if nothing was preempted, waiting sequences are admitted first-come-first-served
//    with a prefix-cache lookup and a first chunk, until the budget, the sequence limit or
//    the KV blocks run out; the head of the queue is never overtaken (no starvation).
// When a running sequence needs a block and none is free, the latest-arrived running
// sequence is preempted (its blocks freed; recomputed later) and goes back to the front
// of the waiting queue; if that is the sequence itself, it waits. The earliest-arrived
// running sequence can always proceed, since the cache holds a full-context sequence.
#pragma once

#include <cstdint>
#include <deque>
#include <span>
#include <vector>

#include "hearth/engine/sequence.h"
#include "hearth/kv/kv_cache_manager.h"

namespace hearth {

struct SchedulerConfig {
  int max_num_seqs = 64;
  int max_num_batched_tokens = 16384;
  bool enable_chunked_prefill = true;
};

struct ScheduledSeq {
  Sequence* seq = nullptr;
  int start = 0;             // first token fed (== seq->num_computed when scheduled)
  int num_tokens = 0;        // tokens fed: tokens()[start, start + num_tokens)
  bool wants_logits = false; // the feed reaches the end of the sequence: sample after it
};

struct ScheduledBatch {
  std::vector<ScheduledSeq> seqs;  // decodes first, then prefill chunks
  int num_tokens = 0;
  std::vector<Sequence*> preempted;  // preempted while scheduling this step
  bool empty() const { return seqs.empty(); }
};

class Scheduler {
 public:
  Scheduler(const SchedulerConfig& config, KvCacheManager& kv);

  const SchedulerConfig& config() const { return config_; }
  // Queues a new sequence (status Waiting, holding no blocks).
  void add(Sequence* seq);
  ScheduledBatch schedule();
  // After the model ran `batch`: advances each sequence's num_computed and offers its
  // newly full blocks to the prefix cache.
  void complete(const ScheduledBatch& batch);
  // Ends a sequence (stop rule hit; running, or preempted when the rule is decided a step
  // late): frees its blocks.
  void finish(Sequence* seq, FinishReason reason);
  // Ends a sequence wherever it is (waiting, preempted, running): frees its blocks.
  void abort(Sequence* seq);

  int num_running() const { return static_cast<int>(running_.size()); }
  int num_waiting() const { return static_cast<int>(waiting_.size()); }
  bool has_unfinished() const { return !running_.empty() || !waiting_.empty(); }
  uint64_t num_preemptions() const { return preemptions_; }
  std::span<Sequence* const> running() const { return running_; }
  const std::deque<Sequence*>& waiting() const { return waiting_; }

  // Throws (internal check) unless the queues are ordered by arrival, statuses and
  // progress are consistent, and the KV cache's reference counts match the block tables
  // of the running sequences exactly.
  void check_invariants() const;

 private:
  void preempt_latest(ScheduledBatch& out, int& budget);
  void insert_waiting(Sequence* seq);
  void insert_running(Sequence* seq);
  void remove(Sequence* seq);

  SchedulerConfig config_;
  KvCacheManager& kv_;
  std::vector<Sequence*> running_;   // by arrival
  std::deque<Sequence*> waiting_;    // by arrival (preempted sequences come back in front)
  uint64_t preemptions_ = 0;
};

}  // namespace hearth
