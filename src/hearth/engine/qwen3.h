// The Qwen3 dense decoder, written once against the op interface (backend/backend.h).
// It owns its activation buffers, sized for the largest step it has seen.
#pragma once

#include <memory>
#include <vector>

#include "hearth/backend/backend.h"
#include "hearth/model/config.h"
#include "hearth/model/weights.h"

namespace hearth {

// What a launched step does with its logits rows on the backend, in the same launch as the
// forward pass (so that a decode step's graph records it too).
struct StepPicks {
  enum class Kind { None, Greedy, Sample };
  Kind kind = Kind::None;
  int top_logprobs = 0;                 // Greedy: alternatives per row (<= 32)
  const SampleBatch* sample = nullptr;  // Sample: one row per logits row (uploaded by launch)

  static StepPicks none() { return {}; }
  static StepPicks greedy(int top) { return {Kind::Greedy, top, nullptr}; }
  static StepPicks sampled(const SampleBatch& b) { return {Kind::Sample, b.top_logprobs, &b}; }
  // GraphKey::variant of a recording with these picks: what the recorded kernels depend on.
  int graph_variant() const;
};

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
  // device (launch() with StepPicks::greedy); otherwise the logits come to the host and the
  // CPU sampler's argmax and compute_logprobs pick. `picks` gets one entry per logits row.
  void forward_greedy(const StepBatch& step, int top_logprobs, std::vector<GreedyPick>& picks);

  // Enqueues one step's forward pass and, unless `picks` is none, the picks of its logits rows
  // on the backend (read them with Backend::read_greedy); returns the fp32 logits ([rows,
  // vocab] in backend memory, valid until the next step; empty when no rows are wanted). On a
  // GPU backend nothing waits for the device here, so the caller can work (e.g. compute the
  // next masks) while the step runs. A decode step (one token per sequence, every row's
  // logits wanted in order) replays a recorded step graph when the backend has them: one
  // recording per (StepShape, picks variant), made on the first step of each, after an eager
  // run of it. With StepPicks::sample, the SampleBatch is uploaded before the forward pass,
  // so the recording holds the sampling kernels too.
  TensorView launch(const StepBatch& step, const StepPicks& picks);

  // Step graphs on (default) or off (eager launches; for A/B timing and debugging).
  void set_use_graphs(bool on) { use_graphs_ = on; }
  // Whether the last launch replayed or recorded a step graph.
  bool last_step_used_graph() const { return last_graph_; }
  // Whether `step` is a decode step launch() may record (one token per sequence, every row
  // wanted, in order) on this backend with graphs on.
  bool graph_eligible(const StepBatch& step) const;
  // Grows the activation buffers for steps of up to `tokens` tokens and `rows` logits rows
  // (a warm-up does it before memory planning; it drops recorded graphs when they grow).
  void reserve(int tokens, int rows) { ensure_capacity(tokens, rows); }

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
  std::unique_ptr<DeviceBatch> eager_batch_;  // the last eager step's batch (queued ops read it)
  // Activations, [capacity_tokens_, features] (rows_/logits_: [capacity_rows_, ...]).
  TensorView residual_, hidden_, proj_, q_, k_, v_, attn_out_, gate_, up_, mlp_act_, rows_, logits_;
};

}  // namespace hearth
