// 10,000 random submit / abort / step operations on a real (tiny) model with a small KV
// pool: after every operation the engine's invariants hold (queues ordered, block tables
// and reference counts agree exactly: no leaked block, no double free); at the end every
// block is free and every request that was not aborted produced exactly what it
// produces alone.
#include <gtest/gtest.h>

#include <map>
#include <random>

#include "engine_test_util.h"
#include "sim.h"

using namespace hearth;
using namespace hearth::testing;

TEST(EngineProperty, RandomSubmitAbortStepKeepsEveryInvariant) {
  TempDir dir;
  auto ckpt = tiny_checkpoint(dir);
  auto backend = make_cpu_backend(1);
  EngineOptions o;
  o.max_model_len = 64;
  o.max_num_seqs = 6;
  o.max_num_batched_tokens = 12;
  o.num_kv_blocks = 10;  // 160 slots: 6 sequences of up to 64 overflow it
  Engine engine(*ckpt, *backend, o);

  std::mt19937 rng(2024);
  std::map<RequestId, GenerationRequest> submitted;
  std::map<RequestId, GenerationResult> results;
  int aborts = 0;
  for (int op = 0; op < 10000; ++op) {
    const int kind = static_cast<int>(rng() % 20);
    if (kind < 4) {
      // A few prompt families, so that prefixes are shared.
      auto p = prompt_tokens(static_cast<int>(rng() % 40) + 1, static_cast<int>(rng() % 3));
      if (rng() % 2) p.push_back(static_cast<int32_t>(rng() % 300));
      GenerationRequest r = greedy_request(p, static_cast<int>(rng() % 12) + 1, rng() % 4 == 0 ? 2 : 0);
      if (rng() % 3 == 0) {
        r.params.temperature = 0.8f;
        r.params.seed = rng();
      }
      submitted.emplace(engine.add_request(to_request(r)), r);
    } else if (kind < 6) {
      const std::vector<RequestId> live = engine.unfinished_ids();
      if (!live.empty()) {
        const RequestId id = live[rng() % live.size()];
        ASSERT_TRUE(engine.abort(id).has_value());
        results[id].finish_reason = "abort";
        ++aborts;
      }
    } else {
      for (RequestOutput& out : engine.step()) {
        GenerationResult& r = results[out.id];
        r.ids.insert(r.ids.end(), out.token_ids.begin(), out.token_ids.end());
        for (auto& lp : out.logprobs) r.logprobs.push_back(std::move(lp));
        if (out.finished()) r.finish_reason = to_string(out.finish_reason);
      }
    }
    engine.check_invariants();
  }
  while (engine.has_unfinished()) {
    for (RequestOutput& out : engine.step()) {
      GenerationResult& r = results[out.id];
      r.ids.insert(r.ids.end(), out.token_ids.begin(), out.token_ids.end());
      for (auto& lp : out.logprobs) r.logprobs.push_back(std::move(lp));
      if (out.finished()) r.finish_reason = to_string(out.finish_reason);
    }
    engine.check_invariants();
  }
  const EngineStats s = engine.stats();
  EXPECT_EQ(s.kv_free_blocks, 10);
  EXPECT_EQ(s.running + s.waiting, 0);
  EXPECT_GT(s.preemptions, 0u);
  EXPECT_GT(s.prefix_hit_tokens, 0u);
  EXPECT_GT(aborts, 100);

  std::vector<GenerationRequest> finished;
  std::vector<RequestId> ids;
  for (const auto& [id, req] : submitted) {
    if (results[id].finish_reason == "abort") continue;
    finished.push_back(req);
    ids.push_back(id);
  }
  ASSERT_GT(finished.size(), 300u);
  const auto want = reference_outputs(*ckpt, finished, 64);
  for (size_t i = 0; i < finished.size(); ++i) expect_same_result(want[i], results.at(ids[i]), ids[i]);
}
