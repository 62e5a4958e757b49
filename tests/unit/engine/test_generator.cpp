#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "common/tiny_model.h"
#include "hearth/core/error.h"
#include "hearth/engine/generator.h"

using namespace hearth;
using hearth::testing::TempDir;

namespace {

std::unique_ptr<Checkpoint> tiny(const TempDir& dir, nlohmann::json cfg = hearth::testing::tiny_config_json()) {
  const std::string path = dir.write("config.json", cfg.dump());
  LoadOptions opts;
  opts.random_seed = 7;
  opts.random_dtype = DType::BF16;
  return Checkpoint::open("random:" + path, opts);
}

GenerationRequest greedy(std::vector<int32_t> prompt, int max_tokens, int logprobs = 0) {
  GenerationRequest r;
  r.prompt_ids = std::move(prompt);
  r.params.temperature = 0.0f;
  r.params.max_tokens = max_tokens;
  r.params.ignore_eos = true;
  r.params.logprobs = logprobs;
  return r;
}

std::vector<int32_t> prompt_of(int n) {
  std::vector<int32_t> p;
  for (int i = 0; i < n; ++i) p.push_back((i * 37 + 11) % 300);
  return p;
}

}  // namespace

TEST(Generator, ChunkedPrefillMatchesOneShotPrefill) {
  TempDir dir;
  auto ckpt = tiny(dir);
  auto b1 = make_cpu_backend(2), b2 = make_cpu_backend(2);
  Generator whole(*ckpt, *b1);
  GeneratorOptions chunked_opts;
  chunked_opts.prefill_chunk = 7;  // not a multiple of the 16-token KV block
  Generator chunked(*ckpt, *b2, chunked_opts);
  const auto req = greedy(prompt_of(45), 12, 3);
  const GenerationResult a = whole.generate(req), b = chunked.generate(req);
  ASSERT_EQ(a.ids.size(), 12u);
  EXPECT_EQ(a.ids, b.ids);
  ASSERT_EQ(a.logprobs.size(), b.logprobs.size());
  for (size_t i = 0; i < a.logprobs.size(); ++i) {
    // Same arithmetic in another grouping of tokens: only fp32 summation order may differ.
    EXPECT_NEAR(a.logprobs[i].logprob, b.logprobs[i].logprob, 1e-4) << i;
    EXPECT_EQ(a.logprobs[i].top.size(), 3u);
  }
  EXPECT_EQ(a.finish_reason, "length");
}

TEST(Generator, RepeatedRequestsAreIndependent) {
  TempDir dir;
  auto ckpt = tiny(dir);
  auto backend = make_cpu_backend(1);
  Generator g(*ckpt, *backend);
  const auto first = g.generate(greedy(prompt_of(20), 8));
  g.generate(greedy(prompt_of(40), 30));  // grows the KV cache in between
  EXPECT_EQ(g.generate(greedy(prompt_of(20), 8)).ids, first.ids);
}

TEST(Generator, StopsOnEosAndStopTokens) {
  TempDir dir;
  auto ckpt = tiny(dir);
  auto backend = make_cpu_backend(1);
  const auto free_run = Generator(*ckpt, *backend).generate(greedy(prompt_of(10), 10));
  // Cut at the last token that appears there for the first time: with it as EOS the
  // run must stop exactly there.
  size_t k = 0;
  for (size_t i = 1; i < free_run.ids.size(); ++i) {
    const auto first = free_run.ids.begin(), here = first + static_cast<long>(i);
    if (std::find(first, here, free_run.ids[i]) == here) k = i;
  }
  ASSERT_LT(k, free_run.ids.size());
  const int stop_id = free_run.ids[k];

  auto cfg = hearth::testing::tiny_config_json();
  cfg["eos_token_id"] = stop_id;
  TempDir dir2;
  auto with_eos = tiny(dir2, cfg);
  auto backend2 = make_cpu_backend(1);
  Generator g(*with_eos, *backend2);
  auto req = greedy(prompt_of(10), 10);
  req.params.ignore_eos = false;
  const auto stopped = g.generate(req);
  EXPECT_EQ(stopped.finish_reason, "stop");
  EXPECT_EQ(stopped.ids, std::vector<int32_t>(free_run.ids.begin(), free_run.ids.begin() + static_cast<long>(k) + 1));

  // --ignore-eos runs to max_tokens; stop_token_ids stop even then.
  req.params.ignore_eos = true;
  EXPECT_EQ(g.generate(req).ids, free_run.ids);
  req.params.stop_token_ids = {stop_id};
  EXPECT_EQ(g.generate(req).finish_reason, "stop");
}

TEST(Generator, StopsAtTheContextLength) {
  TempDir dir;
  auto ckpt = tiny(dir);
  auto backend = make_cpu_backend(1);
  GeneratorOptions opts;
  opts.max_model_len = 24;
  Generator g(*ckpt, *backend, opts);
  const auto r = g.generate(greedy(prompt_of(20), 100));
  EXPECT_EQ(r.ids.size(), 4u);  // prompt + output == max_model_len
  EXPECT_EQ(r.finish_reason, "length");
}

TEST(Generator, RejectsBadRequestsWithClearErrors) {
  TempDir dir;
  auto ckpt = tiny(dir);
  auto backend = make_cpu_backend(1);
  GeneratorOptions opts;
  opts.max_model_len = 32;
  Generator g(*ckpt, *backend, opts);
  auto expect_error = [&](const GenerationRequest& r, const std::string& needle) {
    try {
      g.generate(r);
      ADD_FAILURE() << "no error for " << needle;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  expect_error(greedy({}, 4), "empty");
  expect_error(greedy({1, 300}, 4), "token 300 at index 1 is outside the vocabulary");
  expect_error(greedy({1, -1}, 4), "token -1");
  expect_error(greedy(prompt_of(32), 4), "context is 32 tokens");
  auto bad = greedy({1, 2}, 4);
  bad.params.top_p = 0.0f;
  expect_error(bad, "top_p");
}

TEST(Generator, SeededSamplingIsReproducible) {
  TempDir dir;
  auto ckpt = tiny(dir);
  auto backend = make_cpu_backend(2);
  Generator g(*ckpt, *backend);
  GenerationRequest r = greedy(prompt_of(5), 24);
  r.params.temperature = 1.5f;
  r.params.seed = 1234;
  const auto a = g.generate(r), b = g.generate(r);
  EXPECT_EQ(a.ids, b.ids);
  r.params.seed = 4321;
  EXPECT_NE(g.generate(r).ids, a.ids);  // 24 draws at T=1.5 over 300 tokens: equal only by a fluke
}
