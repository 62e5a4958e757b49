#include <gtest/gtest.h>

#include <fmt/format.h>

#include <atomic>
#include <thread>

#include "engine_test_util.h"
#include "gated_backend.h"
#include "hearth/core/error.h"
#include "hearth/engine.h"
#include "sim.h"

using namespace hearth;
using namespace hearth::testing;

namespace {

EngineOptions small_options() {
  EngineOptions o;
  o.max_model_len = 128;
  o.max_num_seqs = 8;
  o.max_num_batched_tokens = 24;
  o.num_kv_blocks = 24;
  return o;
}

GenerationResult as_result(const RequestOutput& o) {
  GenerationResult r;
  r.ids = o.token_ids;
  r.logprobs = o.logprobs;
  r.finish_reason = to_string(o.finish_reason);
  return r;
}

}  // namespace

TEST(AsyncEngine, ThreadsSubmitAndReadConcurrently) {
  TempDir dir;
  auto ckpt = tiny_checkpoint(dir);
  constexpr int kThreads = 4, kPerThread = 5;
  std::vector<GenerationRequest> reqs;
  for (int i = 0; i < kThreads * kPerThread; ++i)
    reqs.push_back(greedy_request(prompt_tokens(3 + (i * 11) % 50, i % 4), 4 + i % 9, i % 2));
  const auto want = reference_outputs(*ckpt, reqs, 128);

  auto backend = make_cpu_backend(1);
  AsyncEngine engine(*ckpt, *backend, small_options());
  EXPECT_EQ(engine.max_model_len(), 128);
  EXPECT_NE(engine.kv_cache_summary().find("24 blocks x 16 tokens"), std::string::npos);
  std::vector<RequestOutput> got(reqs.size());
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      // Submit all of this thread's requests, then read them (they run concurrently).
      std::vector<RequestStream> streams;
      for (int k = 0; k < kPerThread; ++k) streams.push_back(engine.submit(to_request(reqs[static_cast<size_t>(t * kPerThread + k)])));
      for (int k = 0; k < kPerThread; ++k) {
        int outputs = 0;
        RequestOutput all;
        while (auto out = streams[static_cast<size_t>(k)].next()) {
          ++outputs;
          all.token_ids.insert(all.token_ids.end(), out->token_ids.begin(), out->token_ids.end());
          all.logprobs.insert(all.logprobs.end(), out->logprobs.begin(), out->logprobs.end());
          all.finish_reason = out->finish_reason;
          all.usage = out->usage;
        }
        EXPECT_TRUE(streams[static_cast<size_t>(k)].done());
        EXPECT_GE(outputs, 1);
        got[static_cast<size_t>(t * kPerThread + k)] = std::move(all);
      }
    });
  }
  for (auto& th : threads) th.join();
  for (size_t i = 0; i < reqs.size(); ++i) {
    expect_same_result(want[i], as_result(got[i]), i);
    EXPECT_EQ(got[i].usage.completion_tokens, static_cast<int>(want[i].ids.size()));
    EXPECT_EQ(got[i].usage.prompt_tokens, static_cast<int>(reqs[i].prompt_ids.size()));
  }
  engine.shutdown();
  const EngineStats s = engine.stats();
  EXPECT_EQ(s.finished_requests, reqs.size());
  EXPECT_EQ(s.kv_free_blocks, 24);
}

TEST(AsyncEngine, AbortFromAnotherThreadEndsTheStream) {
  TempDir dir;
  auto ckpt = tiny_checkpoint(dir);
  GatedBackend backend(3);  // prefill + 2 decode steps, then the engine waits
  AsyncEngine engine(*ckpt, backend, small_options());
  RequestStream s = engine.submit(to_request(greedy_request(prompt_tokens(10), 1000)));  // would stop at 128
  backend.wait_until_blocked();
  auto first = s.next();
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->token_ids.size(), 3u);
  EXPECT_FALSE(first->finished());
  std::thread([&, id = s.id()] { engine.abort(id); }).join();
  backend.allow(-1);  // the step in progress ends, then the abort is taken
  const RequestOutput rest = s.collect();
  EXPECT_EQ(rest.finish_reason, FinishReason::Abort);
  EXPECT_EQ(rest.token_ids.size(), 1u);
  EXPECT_EQ(rest.usage.completion_tokens, 4);
  EXPECT_FALSE(s.next().has_value());
  // Aborting again, or an unknown id, is harmless.
  engine.abort(s.id());
  engine.abort(999);
  RequestStream t = engine.submit(to_request(greedy_request(prompt_tokens(5), 3)));
  EXPECT_EQ(t.collect().token_ids.size(), 3u);
}

TEST(AsyncEngine, DroppingAStreamAbortsItsRequest) {
  TempDir dir;
  auto ckpt = tiny_checkpoint(dir);
  auto backend = make_cpu_backend(1);
  AsyncEngine engine(*ckpt, *backend, small_options());
  {
    RequestStream s = engine.submit(to_request(greedy_request(prompt_tokens(10), 1000)));
    ASSERT_TRUE(s.next().has_value());
  }
  // The abort reaches the engine thread: it goes idle with every block free.
  RequestStream probe = engine.submit(to_request(greedy_request(prompt_tokens(4), 1)));
  probe.collect();
  for (int i = 0; i < 200 && engine.stats().running + engine.stats().waiting > 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_EQ(engine.stats().running + engine.stats().waiting, 0);
  EXPECT_EQ(engine.stats().kv_free_blocks, 24);
}

TEST(AsyncEngine, ShutdownDrainsOrAborts) {
  TempDir dir;
  auto ckpt = tiny_checkpoint(dir);
  {
    auto backend = make_cpu_backend(1);
    AsyncEngine engine(*ckpt, *backend, small_options());
    std::vector<RequestStream> streams;
    for (int i = 0; i < 6; ++i) streams.push_back(engine.submit(to_request(greedy_request(prompt_tokens(8, i), 10))));
    engine.shutdown(/*drain=*/true);
    for (auto& s : streams) {
      const RequestOutput all = s.collect();
      EXPECT_EQ(all.finish_reason, FinishReason::Length);
      EXPECT_EQ(all.token_ids.size(), 10u);
    }
    EXPECT_THROW(engine.submit(to_request(greedy_request({1, 2}, 2))), Error);
    engine.shutdown();  // idempotent
  }
  {
    GatedBackend backend(2);
    std::vector<RequestStream> streams;
    {
      AsyncEngine engine(*ckpt, backend, small_options());
      for (int i = 0; i < 4; ++i) streams.push_back(engine.submit(to_request(greedy_request(prompt_tokens(8, i), 100))));
      backend.wait_until_blocked();
      // Open the gate only once shutdown has begun (submit() refuses from then on), so
      // the requests are certainly in flight when it aborts them.
      std::thread opener([&] {
        for (;;) {
          try {
            engine.submit(to_request(greedy_request({1, 2}, 1)));
          } catch (const Error&) {
            break;
          }
          std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
        backend.allow(-1);
      });
      engine.shutdown(/*drain=*/false);
      opener.join();
    }
    for (auto& s : streams) {
      const RequestOutput all = s.collect();
      EXPECT_EQ(all.finish_reason, FinishReason::Abort);
      EXPECT_LE(all.token_ids.size(), 3u);
      EXPECT_TRUE(s.done());
    }
  }
}

TEST(AsyncEngine, ValidatesOnTheCallersThreadAndReportsStartUpErrors) {
  TempDir dir;
  auto ckpt = tiny_checkpoint(dir);
  auto backend = make_cpu_backend(1);
  EngineOptions bad = small_options();
  bad.num_kv_blocks = 2;  // cannot hold one 128-token sequence
  EXPECT_THROW(AsyncEngine(*ckpt, *backend, bad), Error);
  AsyncEngine engine(*ckpt, *backend, small_options());
  try {
    engine.submit(to_request(greedy_request({1, 999}, 2)));
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("token 999 at index 1"), std::string::npos) << e.what();
  }
  EXPECT_EQ(engine.stats().finished_requests, 0u);
}

TEST(AsyncEngine, AFailedStepEndsTheRequestsInFlightAndServingGoesOn) {
  TempDir dir;
  auto ckpt = tiny_checkpoint(dir);
  GatedBackend backend(0);
  AsyncEngine engine(*ckpt, backend, small_options());
  RequestStream a = engine.submit(to_request(greedy_request(prompt_tokens(10), 50)));
  backend.wait_until_blocked(0);  // step 1: a's prefill
  RequestStream b = engine.submit(to_request(greedy_request(prompt_tokens(12, 1), 50)));
  backend.allow(2);               // step 2: a's decode + b's prefill
  backend.wait_until_blocked(2);
  backend.fail_next_step();
  backend.allow(-1);
  for (RequestStream* s : {&a, &b}) {
    const RequestOutput all = s->collect();
    EXPECT_EQ(all.finish_reason, FinishReason::Error);
    EXPECT_NE(all.error.find("injected step failure"), std::string::npos) << all.error;
    EXPECT_EQ(all.token_ids.size(), s == &a ? 2u : 1u);  // the steps before the failure
  }
  const std::vector<GenerationRequest> next = {greedy_request(prompt_tokens(7, 2), 6)};
  const auto want = reference_outputs(*ckpt, next, 128);
  RequestStream c = engine.submit(to_request(next[0]));
  expect_same_result(want[0], as_result(c.collect()), 0);
  engine.shutdown();  // stats are published after each step: read them once it is over
  EXPECT_EQ(engine.stats().kv_free_blocks, 24);
}

TEST(AsyncEngine, TextHookRunsOnTheReadersSide) {
  TempDir dir;
  auto ckpt = tiny_checkpoint(dir);
  auto backend = make_cpu_backend(1);
  AsyncEngine engine(*ckpt, *backend, small_options());
  Request r = to_request(greedy_request(prompt_tokens(6), 5));
  const std::thread::id reader = std::this_thread::get_id();
  std::atomic<bool> on_reader{true};
  r.detokenizer.push = [&](int32_t id) {
    if (std::this_thread::get_id() != reader) on_reader = false;
    return fmt::format("<{}>", id);
  };
  r.detokenizer.flush = [] { return std::string("|"); };
  RequestStream s = engine.submit(std::move(r));
  const RequestOutput all = s.collect();
  std::string expected;
  for (int32_t id : all.token_ids) expected += fmt::format("<{}>", id);
  expected += "|";
  EXPECT_EQ(all.text, expected);
  EXPECT_TRUE(on_reader);
}
