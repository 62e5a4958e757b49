// A model-free engine loop for scheduler tests: the "model" appends a token derived from
// the sequence's last one, so runs are deterministic and checkable.
#pragma once

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <vector>

#include "hearth/engine/scheduler.h"
#include "hearth/engine/sequence.h"
#include "hearth/kv/kv_cache_manager.h"

namespace hearth::testing {

class SimEngine {
 public:
  SimEngine(int num_blocks, int block_size, SchedulerConfig cfg, bool prefix_caching = true)
      : kv(num_blocks, block_size, prefix_caching), sched(cfg, kv) {}

  Sequence* add(std::vector<int32_t> prompt, int max_tokens) {
    SamplingParams p;
    p.temperature = 0.0f;
    p.max_tokens = max_tokens;
    auto s = std::make_unique<Sequence>(next_id, next_id, std::move(prompt), p);
    ++next_id;
    Sequence* raw = s.get();
    sched.add(raw);
    seqs.emplace(raw->id(), std::move(s));
    return raw;
  }

  static int32_t next_token(const Sequence& s) { return (s.tokens().back() * 31 + 7) % 1000; }

  // One step: schedule, "run", append a token to every sequence that wanted logits,
  // finish those at max_tokens. Returns the batch (pointers stay valid: sequences are
  // kept after they finish).
  ScheduledBatch step() {
    ScheduledBatch b = sched.schedule();
    sched.complete(b);
    for (const ScheduledSeq& e : b.seqs) {
      if (!e.wants_logits) continue;
      e.seq->append_token(next_token(*e.seq));
      if (e.seq->num_output() >= e.seq->params().max_tokens) sched.finish(e.seq, FinishReason::Length);
    }
    sched.check_invariants();
    return b;
  }

  void run_to_completion(int max_steps = 100000) {
    for (int i = 0; i < max_steps && sched.has_unfinished(); ++i) step();
    ASSERT_FALSE(sched.has_unfinished()) << "did not finish in " << max_steps << " steps";
  }

  // The output a sequence must end with, whatever the schedule.
  static std::vector<int32_t> expected_output(const std::vector<int32_t>& prompt, int max_tokens) {
    std::vector<int32_t> out;
    int32_t last = prompt.back();
    for (int i = 0; i < max_tokens; ++i) out.push_back(last = (last * 31 + 7) % 1000);
    return out;
  }

  KvCacheManager kv;
  Scheduler sched;
  std::map<RequestId, std::unique_ptr<Sequence>> seqs;
  RequestId next_id = 0;
};

inline std::vector<int32_t> prompt_tokens(int n, int salt = 0) {
  std::vector<int32_t> p;
  for (int i = 0; i < n; ++i) p.push_back((i * 37 + 11 + salt * 101) % 300);
  return p;
}

}  // namespace hearth::testing
