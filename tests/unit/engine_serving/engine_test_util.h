// Tiny random checkpoints and the one-at-a-time reference for engine tests.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <vector>

#include "common/tiny_model.h"
#include "hearth/engine/engine.h"
#include "hearth/engine/generator.h"
#include "hearth/model/checkpoint.h"

namespace hearth::testing {

inline std::unique_ptr<Checkpoint> tiny_checkpoint(const TempDir& dir, nlohmann::json cfg = tiny_config_json()) {
  const std::string path = dir.write("config.json", cfg.dump());
  LoadOptions opts;
  opts.random_seed = 7;
  opts.random_dtype = DType::BF16;
  return Checkpoint::open("random:" + path, opts);
}

inline GenerationRequest greedy_request(std::vector<int32_t> prompt, int max_tokens, int logprobs = 0) {
  GenerationRequest r;
  r.prompt_ids = std::move(prompt);
  r.params.temperature = 0.0f;
  r.params.max_tokens = max_tokens;
  r.params.ignore_eos = true;
  r.params.logprobs = logprobs;
  return r;
}

inline Request to_request(const GenerationRequest& g) {
  Request r;
  r.prompt_ids = g.prompt_ids;
  r.params = g.params;
  return r;
}

// Each request alone through the Generator (its own backend and KV cache).
inline std::vector<GenerationResult> reference_outputs(const Checkpoint& ckpt, const std::vector<GenerationRequest>& reqs,
                                                       int max_model_len) {
  auto backend = make_cpu_backend(1);
  GeneratorOptions opts;
  opts.max_model_len = max_model_len;
  Generator g(ckpt, *backend, opts);
  std::vector<GenerationResult> out;
  for (const GenerationRequest& r : reqs) out.push_back(g.generate(r));
  return out;
}

// Token for token, and logprobs bit for bit: the CPU backend computes every token's
// row independently of the rest of the batch (cpu_linear.cpp, cpu_attention.cpp), so
// batching, chunking, preemption and prefix hits must change nothing at all.
inline void expect_same_result(const GenerationResult& want, const GenerationResult& got, size_t index) {
  EXPECT_EQ(want.ids, got.ids) << "request " << index;
  EXPECT_EQ(want.finish_reason, got.finish_reason) << "request " << index;
  ASSERT_EQ(want.logprobs.size(), got.logprobs.size()) << "request " << index;
  for (size_t i = 0; i < want.logprobs.size(); ++i) {
    EXPECT_EQ(want.logprobs[i].id, got.logprobs[i].id) << index << ":" << i;
    EXPECT_EQ(want.logprobs[i].logprob, got.logprobs[i].logprob) << index << ":" << i;
    EXPECT_EQ(want.logprobs[i].top, got.logprobs[i].top) << index << ":" << i;
  }
}

}  // namespace hearth::testing
