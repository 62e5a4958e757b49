#include <gtest/gtest.h>

#include <algorithm>
#include <random>

#include "hearth/core/error.h"
#include "sim.h"

using namespace hearth;
using hearth::testing::prompt_tokens;
using hearth::testing::SimEngine;

TEST(Scheduler, DecodesGoFirstThenChunkedPrefillFillsTheBudget) {
  SimEngine e(64, 4, {8, 10, true});
  Sequence* a = e.add(prompt_tokens(3), 50);
  Sequence* b = e.add(prompt_tokens(5, 1), 50);
  ScheduledBatch first = e.step();  // both prompts fit: 3 + 5 tokens
  ASSERT_EQ(first.seqs.size(), 2u);
  EXPECT_EQ(first.num_tokens, 8);
  EXPECT_TRUE(first.seqs[0].wants_logits && first.seqs[1].wants_logits);

  Sequence* c = e.add(prompt_tokens(30, 2), 5);
  const ScheduledBatch mixed = e.step();
  ASSERT_EQ(mixed.seqs.size(), 3u);
  EXPECT_EQ(mixed.seqs[0].seq, a);
  EXPECT_EQ(mixed.seqs[0].num_tokens, 1);
  EXPECT_EQ(mixed.seqs[1].seq, b);
  EXPECT_EQ(mixed.seqs[1].num_tokens, 1);
  EXPECT_EQ(mixed.seqs[2].seq, c);
  EXPECT_EQ(mixed.seqs[2].num_tokens, 8);  // the rest of the budget
  EXPECT_FALSE(mixed.seqs[2].wants_logits);
  EXPECT_EQ(mixed.num_tokens, 10);
  // c continues its prompt in 8-token chunks, then decodes with the others.
  for (int i = 0; i < 3; ++i) e.step();
  EXPECT_EQ(c->num_computed, 30);
  EXPECT_EQ(c->num_output(), 1);
  e.run_to_completion();
  for (const auto& [id, s] : e.seqs)
    EXPECT_EQ(std::vector<int32_t>(s->output_ids().begin(), s->output_ids().end()),
              SimEngine::expected_output(std::vector<int32_t>(s->tokens().begin(), s->tokens().begin() + s->prompt_len()),
                                         s->params().max_tokens));
}

TEST(Scheduler, RespectsMaxNumSeqs) {
  SimEngine e(64, 4, {2, 64, true});
  for (int i = 0; i < 5; ++i) e.add(prompt_tokens(4, i), 3);
  const ScheduledBatch b = e.step();
  EXPECT_EQ(b.seqs.size(), 2u);
  EXPECT_EQ(e.sched.num_running(), 2);
  EXPECT_EQ(e.sched.num_waiting(), 3);
  e.run_to_completion();
}

TEST(Scheduler, WithoutChunkingAPromptRunsInOneStep) {
  SimEngine e(64, 4, {4, 16, false});
  e.add(prompt_tokens(10), 2);
  Sequence* big = e.add(prompt_tokens(12, 1), 2);
  const ScheduledBatch b = e.step();
  ASSERT_EQ(b.seqs.size(), 1u);  // 10 + 12 > 16: the second waits for the next step
  const ScheduledBatch b2 = e.step();
  ASSERT_EQ(b2.seqs.size(), 2u);
  EXPECT_EQ(b2.seqs[1].seq, big);
  EXPECT_EQ(b2.seqs[1].num_tokens, 12);
  e.run_to_completion();
}

TEST(Scheduler, TheHeadOfTheQueueIsNeverOvertaken) {
  // 10 blocks of 4. A holds 6 blocks; B needs 8 and cannot be admitted; C (1 block)
  // could be, but must wait behind B.
  SimEngine e(10, 4, {8, 64, true});
  Sequence* a = e.add(prompt_tokens(24), 3);
  e.step();
  Sequence* b = e.add(prompt_tokens(32, 1), 2);
  Sequence* c = e.add(prompt_tokens(2, 2), 2);
  const ScheduledBatch s = e.step();
  ASSERT_EQ(s.seqs.size(), 1u);
  EXPECT_EQ(s.seqs[0].seq, a);
  EXPECT_EQ(b->status, SeqStatus::Waiting);
  EXPECT_EQ(c->status, SeqStatus::Waiting);
  e.run_to_completion();
  EXPECT_EQ(b->num_output(), 2);
  EXPECT_EQ(c->num_output(), 2);
}

TEST(Scheduler, PreemptsTheLatestArrivedAndRecomputesIt) {
  // 6 blocks of 4 tokens. Two sequences of 8-token prompts growing to 20 tokens each
  // cannot both fit: the later one is preempted, goes back to the front of the queue,
  // and is recomputed once the first finishes.
  SimEngine e(6, 4, {4, 64, true}, /*prefix_caching=*/false);
  Sequence* a = e.add(prompt_tokens(8), 12);
  Sequence* b = e.add(prompt_tokens(8, 1), 12);
  Sequence* late = e.add(prompt_tokens(3, 2), 1);
  bool saw_preemption = false;
  for (int i = 0; i < 100 && e.sched.has_unfinished(); ++i) {
    const ScheduledBatch s = e.step();
    if (!s.preempted.empty()) {
      saw_preemption = true;
      EXPECT_EQ(s.preempted[0], b);  // the latest running sequence, not a
      EXPECT_EQ(e.sched.waiting().front(), b);  // back at the front, ahead of `late`
      EXPECT_EQ(b->num_computed, 0);
      EXPECT_TRUE(b->kv.blocks.empty());
    }
  }
  EXPECT_TRUE(saw_preemption);
  EXPECT_GE(e.sched.num_preemptions(), 1u);
  EXPECT_GE(b->num_preemptions, 1);
  EXPECT_EQ(a->num_preemptions, 0);
  ASSERT_FALSE(e.sched.has_unfinished());
  // Preemption changes the schedule, never the result.
  for (Sequence* s : {a, b, late})
    EXPECT_EQ(std::vector<int32_t>(s->output_ids().begin(), s->output_ids().end()),
              SimEngine::expected_output(prompt_tokens(s->prompt_len(), s == a ? 0 : s == b ? 1 : 2), s->params().max_tokens));
  EXPECT_EQ(e.kv.num_free_blocks(), 6);
}

TEST(Scheduler, ASequenceThatIsTheLatestPreemptsItself) {
  // A is earlier and decoding; B prefills in chunks and runs out of blocks: B is the
  // latest, so it gives its own blocks back rather than taking A's.
  SimEngine e(5, 4, {2, 4, true}, false);
  Sequence* a = e.add(prompt_tokens(4), 8);
  e.step();
  Sequence* b = e.add(prompt_tokens(16, 1), 2);
  bool b_preempted = false;
  for (int i = 0; i < 200 && e.sched.has_unfinished(); ++i) {
    const ScheduledBatch s = e.step();
    for (Sequence* p : s.preempted) {
      EXPECT_EQ(p, b);
      b_preempted = true;
    }
  }
  EXPECT_TRUE(b_preempted);
  EXPECT_EQ(a->num_preemptions, 0);
  EXPECT_EQ(b->num_output(), 2);
}

TEST(Scheduler, PrefixHitsSkipCachedTokens) {
  SimEngine e(32, 4, {4, 64, true});
  Sequence* a = e.add(prompt_tokens(17), 1);
  e.run_to_completion();
  EXPECT_EQ(a->first_cached_tokens, 0);
  auto p = prompt_tokens(16);
  p.push_back(5);
  p.push_back(6);
  Sequence* b = e.add(p, 1);
  const ScheduledBatch s = e.step();
  ASSERT_EQ(s.seqs.size(), 1u);
  EXPECT_EQ(s.seqs[0].start, 16);
  EXPECT_EQ(s.seqs[0].num_tokens, 2);
  EXPECT_EQ(b->first_cached_tokens, 16);
  EXPECT_EQ(e.kv.stats().hit_tokens, 16u);
}

TEST(Scheduler, AbortWorksInEveryState) {
  SimEngine e(16, 4, {2, 6, true});
  Sequence* a = e.add(prompt_tokens(20), 5);
  Sequence* b = e.add(prompt_tokens(4, 1), 5);
  Sequence* c = e.add(prompt_tokens(4, 2), 5);
  e.step();  // a is mid-prefill (6 of 20); b, c wait
  ASSERT_EQ(a->status, SeqStatus::Running);
  ASSERT_GT(a->kv.blocks.size(), 0u);
  e.sched.abort(a);
  EXPECT_EQ(a->status, SeqStatus::Finished);
  EXPECT_EQ(a->finish_reason, FinishReason::Abort);
  EXPECT_TRUE(a->kv.blocks.empty());
  e.sched.check_invariants();
  e.sched.abort(c);  // waiting
  e.sched.abort(c);  // already finished: no-op
  e.sched.check_invariants();
  e.run_to_completion();
  EXPECT_EQ(b->num_output(), 5);
  EXPECT_EQ(e.kv.num_free_blocks(), 16);
}

TEST(Scheduler, RejectsABudgetSmallerThanTheSequenceLimit) {
  KvCacheManager kv(8, 4);
  EXPECT_THROW(Scheduler({8, 4, true}, kv), Error);
  EXPECT_THROW(Scheduler({0, 4, true}, kv), Error);
}

TEST(Scheduler, PropertyRandomOperationsKeepEveryInvariant) {
  // 10,000 random submit / abort / step operations on a small pool (preemptions, chunks,
  // prefix hits, aborts everywhere); invariants (no leaked block, no double free,
  // ordered queues) are checked after every one, and every sequence that finishes
  // normally has exactly the output it would have alone.
  std::mt19937 rng(12345);
  SimEngine e(24, 4, {6, 12, true});
  std::vector<std::vector<int32_t>> prompts;
  int aborted = 0, finished = 0;
  for (int op = 0; op < 10000; ++op) {
    const int kind = static_cast<int>(rng() % 10);
    if (kind < 3) {
      // Shared prefixes: a few families of prompts.
      const int family = static_cast<int>(rng() % 4);
      auto p = prompt_tokens(static_cast<int>(rng() % 30) + 1, family);
      if (rng() % 2) p.push_back(static_cast<int32_t>(rng() % 300));
      e.add(p, static_cast<int>(rng() % 20) + 1);
      prompts.push_back(p);
    } else if (kind < 4) {
      std::vector<Sequence*> live;
      for (const auto& [id, s] : e.seqs)
        if (s->status != SeqStatus::Finished) live.push_back(s.get());
      if (!live.empty()) {
        e.sched.abort(live[rng() % live.size()]);
        ++aborted;
      }
    } else {
      e.step();
    }
    e.sched.check_invariants();
  }
  e.run_to_completion();
  for (const auto& [id, s] : e.seqs) {
    if (s->finish_reason == FinishReason::Abort) continue;
    ++finished;
    EXPECT_EQ(std::vector<int32_t>(s->output_ids().begin(), s->output_ids().end()),
              SimEngine::expected_output(prompts[id], s->params().max_tokens)) << id;
  }
  EXPECT_EQ(e.kv.num_free_blocks(), 24);
  e.kv.check_invariants({});
  EXPECT_GT(e.sched.num_preemptions(), 0u);
  EXPECT_GT(e.kv.stats().hit_tokens, 0u);
  EXPECT_GT(aborted, 100);
  EXPECT_GT(finished, 100);
}
