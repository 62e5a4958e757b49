// The Qwen3 dense decoder, written once against the op interface (backend/backend.h).
// It owns its activation buffers, sized for the largest step it has seen.
#pragma once

#include "hearth/backend/backend.h"
#include "hearth/model/config.h"
#include "hearth/model/weights.h"

namespace hearth {

class Qwen3Model {
 public:
  // `weights` must be resident on `backend` (Backend::upload_weights).
  Qwen3Model(const ModelConfig& config, ModelWeights weights, Backend& backend);
  ~Qwen3Model();
  Qwen3Model(const Qwen3Model&) = delete;
  Qwen3Model& operator=(const Qwen3Model&) = delete;

  // Runs one step over batch.host().token_ids and writes the fp32 logits of the rows
  // batch.host().logits_rows to `logits` ([rows, vocab], host memory).
  void forward(const DeviceBatch& batch, float* logits);

  const ModelConfig& config() const { return config_; }
  Backend& backend() { return backend_; }

 private:
  void ensure_capacity(int tokens, int rows);
  void free_buffers();

  ModelConfig config_;
  ModelWeights weights_;
  Backend& backend_;
  RopeTable rope_;
  int capacity_tokens_ = 0;
  int capacity_rows_ = 0;
  // Activations, [capacity_tokens_, features] (rows_/logits_: [capacity_rows_, ...]).
  TensorView residual_, hidden_, proj_, q_, k_, v_, attn_out_, gate_, up_, mlp_act_, rows_, logits_;
};

}  // namespace hearth
