// The Qwen3 dense decoder, written once against the op interface (backend/backend.h).
// It owns its activation buffers, sized for the largest step it has seen.
#pragma once

#include <vector>

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

  // Runs one step and picks each logits row greedily, with `top_logprobs` alternatives
  // (log-softmax of the raw logits). On a backend with device picks the logits stay on the
  // device; decode steps (one token per sequence) replay a recorded step graph when the
  // backend has them (recorded on the first step of each batch shape, after an eager run
  // of it). Otherwise the logits come to the host and the CPU sampler's argmax and
  // compute_logprobs pick. `picks` gets one entry per logits row.
  void forward_greedy(const StepBatch& step, int top_logprobs, std::vector<GreedyPick>& picks);
  // Step graphs on (default) or off (eager launches; for A/B timing and debugging).
  void set_use_graphs(bool on) { use_graphs_ = on; }
  // Whether the last forward_greedy replayed or recorded a step graph.
  bool last_step_used_graph() const { return last_graph_; }

  const ModelConfig& config() const { return config_; }
  Backend& backend() { return backend_; }

 private:
  void ensure_capacity(int tokens, int rows);
  void free_buffers();
  // Enqueues the whole step up to the fp32 logits of the logits rows; returns them
  // ([rows, vocab] in backend memory; empty when no rows are wanted).
  TensorView run_step(const DeviceBatch& batch);

  ModelConfig config_;
  ModelWeights weights_;
  Backend& backend_;
  RopeTable rope_;
  int capacity_tokens_ = 0;
  int capacity_rows_ = 0;
  bool use_graphs_ = true;
  bool last_graph_ = false;
  // Activations, [capacity_tokens_, features] (rows_/logits_: [capacity_rows_, ...]).
  TensorView residual_, hidden_, proj_, q_, k_, v_, attn_out_, gate_, up_, mlp_act_, rows_, logits_;
};

}  // namespace hearth
