#include <gtest/gtest.h>

#include <map>

#include "engine_test_util.h"
#include "hearth/core/error.h"
#include "hearth/engine/memory_plan.h"
#include "sim.h"

using namespace hearth;
using namespace hearth::testing;

namespace {

// Steps `engine` to the end, checking invariants after every step; collects results.
std::map<RequestId, GenerationResult> run_checked(Engine& engine, std::map<RequestId, Usage>* usage = nullptr) {
  std::map<RequestId, GenerationResult> results;
  int steps = 0;
  while (engine.has_unfinished()) {
    for (RequestOutput& o : engine.step()) {
      GenerationResult& r = results[o.id];
      r.ids.insert(r.ids.end(), o.token_ids.begin(), o.token_ids.end());
      for (auto& lp : o.logprobs) r.logprobs.push_back(std::move(lp));
      if (o.finished()) {
        r.finish_reason = to_string(o.finish_reason);
        if (usage) (*usage)[o.id] = o.usage;
      }
    }
    engine.check_invariants();
    if (++steps > 100000) {
      ADD_FAILURE() << "engine did not finish";
      break;
    }
  }
  return results;
}

}  // namespace

TEST(Engine, BatchedGreedyMatchesOneAtATimeWithChunksAndPreemption) {
  TempDir dir;
  auto ckpt = tiny_checkpoint(dir);
  std::vector<GenerationRequest> reqs;
  for (int i = 0; i < 14; ++i)
    reqs.push_back(greedy_request(prompt_tokens(1 + (i * 13) % 60, i), 1 + (i * 7) % 30, i % 3 == 0 ? 3 : 0));
  const auto want = reference_outputs(*ckpt, reqs, 96);

  auto backend = make_cpu_backend(1);
  EngineOptions o;
  o.max_model_len = 96;
  o.max_num_seqs = 6;
  o.max_num_batched_tokens = 16;  // prompts up to 60 tokens: chunked prefill
  o.num_kv_blocks = 9;            // 144 slots for 6 sequences of up to 90: preemption
  o.enable_prefix_caching = false;
  Engine engine(*ckpt, *backend, o);
  for (const auto& r : reqs) engine.add_request(to_request(r));
  const auto got = run_checked(engine);
  ASSERT_EQ(got.size(), reqs.size());
  for (size_t i = 0; i < reqs.size(); ++i) expect_same_result(want[i], got.at(i), i);
  const EngineStats s = engine.stats();
  EXPECT_GT(s.preemptions, 0u);
  EXPECT_EQ(s.kv_free_blocks, 9);
  EXPECT_EQ(s.finished_requests, reqs.size());
}

TEST(Engine, PrefixCacheHitsGiveTheSameOutputs) {
  TempDir dir;
  auto ckpt = tiny_checkpoint(dir);
  const auto shared = prompt_tokens(40, 3);
  std::vector<GenerationRequest> reqs;
  for (int i = 0; i < 8; ++i) {
    auto p = shared;
    for (int j = 0; j <= i; ++j) p.push_back((i * 17 + j * 5) % 300);
    reqs.push_back(greedy_request(p, 6 + i, 2));
  }
  reqs.push_back(reqs[2]);  // an exact repeat: fully cached but its last block
  reqs.push_back(greedy_request(prompt_tokens(48, 3), 5));  // 3 whole blocks of the prefix
  const auto want = reference_outputs(*ckpt, reqs, 256);

  auto backend = make_cpu_backend(1);
  EngineOptions o;
  o.max_model_len = 256;
  o.max_num_seqs = 4;
  o.max_num_batched_tokens = 24;
  Engine engine(*ckpt, *backend, o);
  // The first alone (nothing cached), then the rest at once.
  engine.add_request(to_request(reqs[0]));
  std::map<RequestId, Usage> usage;
  auto got = run_checked(engine, &usage);
  for (size_t i = 1; i < reqs.size(); ++i) engine.add_request(static_cast<RequestId>(i), to_request(reqs[i]));
  auto rest = run_checked(engine, &usage);
  got.insert(rest.begin(), rest.end());
  ASSERT_EQ(got.size(), reqs.size());
  for (size_t i = 0; i < reqs.size(); ++i) expect_same_result(want[i], got.at(i), i);
  EXPECT_EQ(usage.at(0).cached_tokens, 0);
  EXPECT_EQ(usage.at(1).cached_tokens, 32);  // 40 shared tokens = 2 whole blocks of 16 ...
  EXPECT_GE(usage.at(8).cached_tokens, 32);  // ... plus whatever was cached of reqs[2]
  EXPECT_EQ(usage.at(9).cached_tokens, 32);
  EXPECT_EQ(usage.at(3).prompt_tokens, 44);
  EXPECT_EQ(usage.at(3).completion_tokens, 9);
  const EngineStats s = engine.stats();
  EXPECT_GT(s.prefix_hit_tokens, 9u * 32u - 1u);
  EXPECT_GT(s.prefix_cache_hit_rate(), 0.5);
}

TEST(Engine, SeededSamplingMatchesOneAtATimeThroughPreemption) {
  TempDir dir;
  auto ckpt = tiny_checkpoint(dir);
  std::vector<GenerationRequest> reqs;
  for (int i = 0; i < 10; ++i) {
    GenerationRequest r = greedy_request(prompt_tokens(5 + i * 4, i), 20);
    r.params.temperature = 1.3f;
    r.params.top_k = i % 2 ? 40 : 0;
    r.params.top_p = 0.9f;
    r.params.repetition_penalty = i % 3 ? 1.2f : 1.0f;
    r.params.presence_penalty = i % 4 == 1 ? 0.5f : 0.0f;
    r.params.seed = 1000 + static_cast<uint64_t>(i);
    r.params.logprobs = i % 2;
    reqs.push_back(r);
  }
  const auto want = reference_outputs(*ckpt, reqs, 80);
  auto backend = make_cpu_backend(1);
  EngineOptions o;
  o.max_model_len = 80;
  o.max_num_seqs = 8;
  o.max_num_batched_tokens = 20;
  o.num_kv_blocks = 8;  // 128 slots for 8 sequences of up to 61
  Engine engine(*ckpt, *backend, o);
  for (const auto& r : reqs) engine.add_request(to_request(r));
  const auto got = run_checked(engine);
  for (size_t i = 0; i < reqs.size(); ++i) expect_same_result(want[i], got.at(i), i);
  EXPECT_GT(engine.stats().preemptions, 0u);
}

TEST(Engine, StopRulesMatchTheGenerator) {
  TempDir dir;
  auto ckpt = tiny_checkpoint(dir);
  // Free runs first, then stop ids picked from them: every request stops part-way.
  std::vector<GenerationRequest> reqs;
  for (int i = 0; i < 6; ++i) reqs.push_back(greedy_request(prompt_tokens(3 + i * 5, i), 12));
  const auto free_runs = reference_outputs(*ckpt, reqs, 64);
  for (size_t i = 0; i < reqs.size(); ++i) reqs[i].params.stop_token_ids = {free_runs[i].ids[4 + i % 5]};
  reqs.push_back(greedy_request(prompt_tokens(60, 9), 50));  // hits the context (64) first
  const auto want = reference_outputs(*ckpt, reqs, 64);

  auto backend = make_cpu_backend(1);
  EngineOptions o;
  o.max_model_len = 64;
  o.max_num_batched_tokens = 64;
  Engine engine(*ckpt, *backend, o);
  const auto got = engine.generate_all(reqs);
  ASSERT_EQ(got.size(), reqs.size());
  for (size_t i = 0; i < reqs.size(); ++i) expect_same_result(want[i], got[i], i);
  EXPECT_EQ(got.back().finish_reason, "length");
  EXPECT_EQ(got.back().ids.size(), 4u);
  EXPECT_EQ(got[0].finish_reason, "stop");

  // EOS from config.json stops unless ignore_eos.
  auto r = greedy_request(prompt_tokens(8, 1), 12);
  const auto free_eos = reference_outputs(*ckpt, {r}, 64);
  auto cfg = tiny_config_json();
  cfg["eos_token_id"] = free_eos[0].ids[3];
  TempDir dir2;
  auto with_eos = tiny_checkpoint(dir2, cfg);
  r.params.ignore_eos = false;
  const std::vector<GenerationRequest> eos_reqs = {r};
  const auto eos_want = reference_outputs(*with_eos, eos_reqs, 64);
  auto backend2 = make_cpu_backend(1);
  Engine engine2(*with_eos, *backend2, o);
  const auto eos_got = engine2.generate_all(eos_reqs);
  expect_same_result(eos_want[0], eos_got[0], 0);
  EXPECT_EQ(eos_got[0].finish_reason, "stop");
}

TEST(Engine, AbortMidPrefillFreesEverything) {
  TempDir dir;
  auto ckpt = tiny_checkpoint(dir);
  const std::vector<GenerationRequest> others = {greedy_request(prompt_tokens(10, 1), 8), greedy_request(prompt_tokens(20, 2), 8)};
  const auto want = reference_outputs(*ckpt, others, 256);
  auto backend = make_cpu_backend(1);
  EngineOptions o;
  o.max_model_len = 256;
  o.max_num_seqs = 4;
  o.max_num_batched_tokens = 16;
  o.num_kv_blocks = 20;
  Engine engine(*ckpt, *backend, o);
  const RequestId big = engine.add_request(to_request(greedy_request(prompt_tokens(100, 3), 8)));
  engine.step();
  engine.step();
  EXPECT_LT(engine.stats().kv_free_blocks, 20);
  const std::optional<RequestOutput> out = engine.abort(big);
  ASSERT_TRUE(out.has_value());
  EXPECT_EQ(out->finish_reason, FinishReason::Abort);
  EXPECT_TRUE(out->token_ids.empty());
  EXPECT_EQ(out->usage.prompt_tokens, 100);
  EXPECT_FALSE(engine.abort(big).has_value());  // already gone
  EXPECT_FALSE(engine.abort(12345).has_value());
  engine.check_invariants();
  EXPECT_EQ(engine.stats().kv_free_blocks, 20);  // freed (its full blocks stay cached)
  EXPECT_FALSE(engine.has_unfinished());
  const auto got = engine.generate_all(others);
  for (size_t i = 0; i < others.size(); ++i) expect_same_result(want[i], got[i], i);
}

TEST(Engine, GenerateAllValidatesEveryRequestFirst) {
  TempDir dir;
  auto ckpt = tiny_checkpoint(dir);
  auto backend = make_cpu_backend(1);
  EngineOptions o;
  o.max_model_len = 32;
  o.max_num_batched_tokens = 64;
  Engine engine(*ckpt, *backend, o);
  const std::vector<GenerationRequest> reqs = {greedy_request({1, 2}, 3), greedy_request({1, 300}, 3)};
  try {
    engine.generate_all(reqs);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("request 2: prompt token 300"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(engine.has_unfinished());  // nothing was queued
  EXPECT_THROW(engine.add_request(to_request(greedy_request(prompt_tokens(32), 3))), Error);
  EXPECT_TRUE(engine.generate_all({}).empty());
}

TEST(Engine, RejectsOptionsThatCannotWork) {
  TempDir dir;
  auto ckpt = tiny_checkpoint(dir);
  auto backend = make_cpu_backend(1);
  EngineOptions o;
  o.max_model_len = 128;
  o.num_kv_blocks = 7;  // 112 slots < one 128-token sequence
  EXPECT_THROW(Engine(*ckpt, *backend, o), Error);
  o.num_kv_blocks = 0;
  o.max_num_seqs = 8;
  o.max_num_batched_tokens = 4;
  EXPECT_THROW(Engine(*ckpt, *backend, o), Error);
  o.max_num_batched_tokens = 64;
  o.enable_chunked_prefill = false;  // a 127-token prompt could never run
  EXPECT_THROW(Engine(*ckpt, *backend, o), Error);
  o.max_model_len = 4096;  // beyond the model's 512 positions
  o.enable_chunked_prefill = true;
  EXPECT_THROW(Engine(*ckpt, *backend, o), Error);
}

// --kv-cache-dtype fp8: a bad name is refused naming the option; the same KV bytes hold
// twice the tokens; the batched engine with an fp8 cache still reproduces the one-at-a-time
// Generator with an fp8 cache token for token (both round every K/V value through e4m3).
TEST(Engine, Fp8KvCacheOption) {
  TempDir dir;
  auto ckpt = tiny_checkpoint(dir);
  EngineOptions bad;
  bad.kv_cache_dtype = "fp9";
  try {
    bad.validate();
    ADD_FAILURE() << "kv_cache_dtype fp9 accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--kv-cache-dtype"), std::string::npos) << e.what();
  }

  EngineOptions o;
  o.max_model_len = 128;
  o.kv_cache_bytes = 1u << 20;
  const KvPlan bf = plan_engine_kv_cache(o, ckpt->config(), DType::F32, o.max_model_len);
  o.kv_cache_dtype = "fp8";
  const KvPlan f8 = plan_engine_kv_cache(o, ckpt->config(), DType::F32, o.max_model_len);
  // F32 elements (the CPU backend's dtype) are 4 bytes, fp8 ones 1.
  EXPECT_GE(f8.num_blocks, 4 * bf.num_blocks);
  EXPECT_LT(f8.num_blocks, 4 * (bf.num_blocks + 1));

  std::vector<GenerationRequest> reqs;
  for (int i = 0; i < 4; ++i) reqs.push_back(greedy_request({3, 5 + i, 7, 11, 13 + 2 * i}, 6, 2));
  auto ref_backend = make_cpu_backend(1);
  GeneratorOptions gopts;
  gopts.max_model_len = 128;
  gopts.kv_cache_dtype = KvCacheDtype::Fp8E4M3;
  Generator gen(*ckpt, *ref_backend, gopts);
  auto backend = make_cpu_backend(1);
  Engine engine(*ckpt, *backend, o);
  const std::vector<GenerationResult> got = engine.generate_all(reqs);
  ASSERT_EQ(got.size(), reqs.size());
  for (size_t i = 0; i < reqs.size(); ++i) expect_same_result(gen.generate(reqs[i]), got[i], i);
}
