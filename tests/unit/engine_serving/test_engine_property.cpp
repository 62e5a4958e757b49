// 10,000 random submit / abort / step operations on a real (tiny) model with a small KV
// pool: after every operation the engine's invariants hold (queues ordered, block tables
// and reference counts agree exactly: no leaked block, no double free); at the end every
// block is free and every request that was not aborted produced exactly what it
// produces alone.
#include <gtest/gtest.h>

#include <map>
#include <random>

#include "engine_test_util.h"
#include "hearth/grammar/grammar.h"
#include "hearth/sampling/constrained_decoder.h"
#include "sim.h"

using namespace hearth;
using namespace hearth::testing;

namespace {

// A JSON array of small integers over a made-up 300-token vocabulary (digits, two-digit
// numbers, brackets, comma, letters; id 299 a stop token): constrained requests for the tiny
// model, whose next masks the engine computes during the following forward pass.
std::shared_ptr<const Constraint> tiny_array_constraint() {
  std::vector<std::string> bytes(300);
  for (int i = 0; i < 300; ++i) {
    if (i < 10) bytes[static_cast<size_t>(i)] = std::string(1, static_cast<char>('0' + i));
    else if (i < 100) bytes[static_cast<size_t>(i)] = std::to_string(i);
    else if (i == 100) bytes[100] = "[";
    else if (i == 101) bytes[101] = "]";
    else if (i == 102) bytes[102] = ",";
    else if (i == 103) bytes[103] = "[1";
    else if (i == 104) bytes[104] = "]\n";
    else bytes[static_cast<size_t>(i)] = std::string(1, static_cast<char>('a' + i % 26)) + std::to_string(i);
  }
  auto c = std::make_shared<Constraint>();
  c->grammar = grammar::Grammar::from_json_schema(
      nlohmann::json::parse(R"({"type": "array", "items": {"type": "integer", "minimum": 0, "maximum": 99},
                                "maxItems": 3})"));
  c->vocabulary = std::make_shared<const grammar::Vocabulary>(std::move(bytes), std::vector<int32_t>{299},
                                                              std::vector<int32_t>{});
  return c;
}

}  // namespace

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

  const auto array_constraint = tiny_array_constraint();
  std::mt19937 rng(2024);
  int constrained = 0;
  std::vector<RequestId> constrained_ids;
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
      if (rng() % 4 == 0) {  // deferred accepts meet aborts, preemption and prefix hits
        r.params.constraint = array_constraint;
        r.params.ignore_eos = false;
        r.params.max_tokens += 8;
        ++constrained;
      }
      const RequestId id = engine.add_request(to_request(r));
      if (r.params.constraint) constrained_ids.push_back(id);
      submitted.emplace(id, r);
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
  EXPECT_GT(constrained, 100);
  // Some constrained values completed (the constraint's stop, decided a step late).
  int completed = 0;
  for (RequestId id : constrained_ids) completed += results[id].finish_reason == "stop";
  EXPECT_GT(completed, 20);

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
