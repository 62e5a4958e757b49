// Runs generation requests one at a time on one model (issue 2's reference loop).
// The serving engine (continuous batching over a paged cache) replaces this as the
// path for many requests; this class stays the simple, obviously-correct reference.
#pragma once

#include <memory>
#include <span>
#include <string>
#include <vector>

#include "hearth/backend/backend.h"
#include "hearth/backend/kv_fp8.h"
#include "hearth/engine/qwen3.h"
#include "hearth/engine/step_sampling.h"
#include "hearth/model/checkpoint.h"
#include "hearth/sampling/sampler.h"

namespace hearth {

struct GenerationRequest {
  std::vector<int32_t> prompt_ids;
  SamplingParams params;
};

struct GenerationResult {
  std::vector<int32_t> ids;            // generated ids, the stop token included
  std::string finish_reason;           // "stop" | "length"
  std::vector<TokenLogprobs> logprobs; // one per generated token when params.logprobs > 0
};

struct GeneratorOptions {
  int max_model_len = 0;   // 0: the model's max_position_embeddings
  int block_size = 16;
  int prefill_chunk = 2048;  // longest prompt slice per forward step
  // Accept a constrained token (compute its next mask) while the next forward pass runs;
  // false: right after sampling it (the reference order). Same outputs either way.
  bool overlap_masks = true;
  bool device_sampling = true;  // false: sample on the host even where the backend can
  KvCacheDtype kv_cache_dtype = KvCacheDtype::Auto;  // backend/kv_fp8.h
};

// A StepBatch for one sequence that owns KV blocks 0..kv_blocks-1 in order (slot ==
// position), feeding `tokens` at positions [cached, cached + tokens.size()); the logits of
// the last token are wanted when `want_logits`.
StepBatch single_sequence_step(std::span<const int32_t> tokens, int cached, int kv_blocks, bool want_logits);

class Generator {
 public:
  // Uploads the checkpoint's weights to `backend`. Both must outlive the Generator.
  Generator(const Checkpoint& checkpoint, Backend& backend, GeneratorOptions opts = {});

  // Validates the request (ids in range, prompt shorter than the context, sampling
  // parameters), then generates. Throws hearth::Error naming the problem.
  GenerationResult generate(const GenerationRequest& req);
  void validate(const GenerationRequest& req) const;

  const ModelConfig& config() const { return model_.config(); }
  int max_model_len() const { return max_model_len_; }
  const std::vector<int>& eos_token_ids() const { return eos_ids_; }

 private:
  void ensure_kv_capacity(int tokens);

  Backend& backend_;
  GeneratorOptions opts_;
  Qwen3Model model_;
  StepSampling sampling_;
  int max_model_len_ = 0;
  int kv_blocks_ = 0;
  std::vector<int> eos_ids_;
};

}  // namespace hearth
