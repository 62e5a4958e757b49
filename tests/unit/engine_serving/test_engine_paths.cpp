// The engine's alternative paths give the outputs of the one-at-a-time reference: decode
// steps padded to buckets, sampling on the host instead of the backend's, outputs handed
// over while the next step runs.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <map>

#include "engine_test_util.h"
#include "throughput_bench.h"
#include "hearth/core/error.h"
#include "sim.h"

using namespace hearth;
using namespace hearth::testing;

namespace {

std::vector<GenerationRequest> mixed_requests() {
  std::vector<GenerationRequest> reqs;
  for (int i = 0; i < 11; ++i) {
    GenerationRequest r = greedy_request(prompt_tokens(3 + (i * 7) % 40, i), 5 + (i * 5) % 19, i % 3 == 0 ? 4 : 0);
    if (i % 2 == 1) {  // seeded sampling with every filter and penalty
      r.params.temperature = 0.8f + 0.1f * static_cast<float>(i % 4);
      r.params.top_k = i % 4 == 1 ? 30 : 0;
      r.params.top_p = 0.92f;
      r.params.min_p = i % 5 == 3 ? 0.05f : 0.0f;
      r.params.repetition_penalty = 1.15f;
      r.params.frequency_penalty = i % 4 == 3 ? 0.4f : 0.0f;
      r.params.seed = 77 + static_cast<uint64_t>(i);
    }
    reqs.push_back(r);
  }
  return reqs;
}

EngineOptions small(int pad_decode, bool device_sampling) {
  EngineOptions o;
  o.max_model_len = 96;
  o.max_num_seqs = 7;
  o.max_num_batched_tokens = 20;
  o.num_kv_blocks = 12;  // 192 slots for 7 sequences of up to 62: some preemption
  o.pad_decode = pad_decode;
  o.device_sampling = device_sampling;
  return o;
}

}  // namespace

TEST(EnginePaths, PaddedBucketsAndHostSamplingGiveTheReferenceOutputs) {
  TempDir dir;
  auto ckpt = tiny_checkpoint(dir);
  const auto reqs = mixed_requests();
  const auto want = reference_outputs(*ckpt, reqs, 96);
  for (const int pad : {0, 1}) {
    for (const bool device : {true, false}) {
      SCOPED_TRACE(fmt::format("pad_decode {} device_sampling {}", pad, device));
      auto backend = make_cpu_backend(1);
      Engine engine(*ckpt, *backend, small(pad, device));
      const auto got = engine.generate_all(reqs);
      for (size_t i = 0; i < reqs.size(); ++i) expect_same_result(want[i], got[i], i);
      const EngineStats s = engine.stats();
      if (pad == 1)
        EXPECT_GT(s.padded_rows, 0u);  // 7 sequences run as a bucket of 8, 3 as 4, ...
      else
        EXPECT_EQ(s.padded_rows, 0u);
      EXPECT_EQ(s.kv_free_blocks, 12);
    }
  }
}

TEST(EnginePaths, GeneratorOnTheHostPathMatchesTheBackendPath) {
  TempDir dir;
  auto ckpt = tiny_checkpoint(dir);
  const auto reqs = mixed_requests();
  const auto want = reference_outputs(*ckpt, reqs, 96);
  auto backend = make_cpu_backend(1);
  GeneratorOptions go;
  go.max_model_len = 96;
  go.device_sampling = false;
  Generator host(*ckpt, *backend, go);
  for (size_t i = 0; i < reqs.size(); ++i) expect_same_result(want[i], host.generate(reqs[i]), i);
}

TEST(EnginePaths, StepGapsAreTimedOnlyBetweenBusySteps) {
  TempDir dir;
  auto ckpt = tiny_checkpoint(dir);
  auto backend = make_cpu_backend(1);
  Engine engine(*ckpt, *backend, small(-1, true));
  const std::vector<GenerationRequest> reqs = {greedy_request(prompt_tokens(10), 6), greedy_request(prompt_tokens(12, 1), 4)};
  engine.generate_all(reqs);
  const EngineStats a = engine.stats();
  EXPECT_EQ(a.timed_gaps + 1, a.steps);  // every step but the first follows a busy one
  EXPECT_GT(a.gpu_busy_ms, 0.0);
  EXPECT_GE(a.gpu_idle_ms, 0.0);
  engine.generate_all(reqs);  // the idle time between the two runs is not a gap
  const EngineStats b = engine.stats();
  EXPECT_EQ(b.timed_gaps + 2, b.steps);
}

TEST(EnginePaths, PipelinedOutputsReachTheReadersUnchanged) {
  TempDir dir;
  auto ckpt = tiny_checkpoint(dir);
  const auto reqs = mixed_requests();
  const auto want = reference_outputs(*ckpt, reqs, 96);
  auto backend = make_cpu_backend(1);
  EngineOptions o = small(-1, true);
  o.pipeline_outputs = 1;
  AsyncEngine engine(*ckpt, *backend, o);
  std::vector<RequestStream> streams;
  for (const auto& r : reqs) streams.push_back(engine.submit(to_request(r)));
  for (size_t i = 0; i < reqs.size(); ++i) {
    const RequestOutput out = streams[i].collect();
    GenerationResult got;
    got.ids = out.token_ids;
    got.logprobs = out.logprobs;
    got.finish_reason = to_string(out.finish_reason);
    expect_same_result(want[i], got, i);
  }
  // A later request on the idle engine is delivered in full (nothing held back).
  RequestStream late = engine.submit(to_request(reqs[0]));
  EXPECT_EQ(late.collect().token_ids, want[0].ids);
  engine.shutdown();
}

// The throughput bench's closed loop (requests arriving as others finish, batch sizes
// changing every few steps) over padded decode buckets: nothing fails, every token arrives.
TEST(EnginePaths, ClosedLoopBenchOverPaddedBucketsCompletesEveryRequest) {
  TempDir dir;
  auto ckpt = tiny_checkpoint(dir);
  auto backend = make_cpu_backend(1);
  EngineOptions o;
  o.max_model_len = 64;
  o.max_num_seqs = 16;
  o.max_num_batched_tokens = 64;
  o.pad_decode = 1;
  o.pipeline_outputs = 1;
  AsyncEngine engine(*ckpt, *backend, o);
  bench::ThroughputSpec spec;
  spec.requests = 30;
  spec.concurrency = 11;
  spec.input_len = 9;
  spec.output_len = 7;
  const bench::ThroughputReport rep = bench::run_throughput(engine, spec, ckpt->config().vocab_size);
  EXPECT_EQ(rep.failed_requests, 0);
  EXPECT_EQ(rep.output_tokens, 30u * 7u);
  EXPECT_GT(rep.padded_rows, 0u);
  EXPECT_GT(rep.steps, 7u);
  engine.shutdown();
}
