// Turns a ScheduledBatch into one forward step and samples each sequence that wanted
// logits. Owns the model (its activations) and, through the backend, the paged KV cache.
#pragma once

#include <cstdint>
#include <vector>

#include "hearth/backend/backend.h"
#include "hearth/engine/qwen3.h"
#include "hearth/engine/scheduler.h"
#include "hearth/model/checkpoint.h"
#include "hearth/sampling/sampler.h"

namespace hearth {

struct ModelRunnerOptions {
  int num_blocks = 0;
  int block_size = 16;
  int max_model_len = 0;
};

struct SampledToken {
  int32_t token = -1;
  TokenLogprobs logprobs;  // filled when the sequence asked for logprobs
};

// The StepBatch of `batch`: each sequence's fed tokens and positions, the KV slot of each
// token from its block table, and a logits row for each sequence that wants one.
// Block tables are `table_width` wide (-1 padded) whatever the batch, so that decode
// steps of one batch size have one shape (one recorded step graph).
StepBatch make_step_batch(const ScheduledBatch& batch, int block_size, int table_width);

class ModelRunner {
 public:
  // Uploads the weights and allocates the KV cache on `backend`; both must outlive it.
  ModelRunner(const Checkpoint& checkpoint, Backend& backend, const ModelRunnerOptions& opts);

  // Runs the step and returns one SampledToken per sequence with wants_logits, in batch
  // order. Each sequence samples with its own Sampler (not yet told of the token).
  std::vector<SampledToken> execute(const ScheduledBatch& batch);

  const ModelConfig& config() const { return model_.config(); }
  Qwen3Model& model() { return model_; }
  int table_width() const { return table_width_; }

 private:
  Backend& backend_;
  Qwen3Model model_;
  ModelRunnerOptions opts_;
  int table_width_ = 0;
  std::vector<float> logits_;  // [rows, vocab] host logits of the last step
  std::vector<GreedyPick> picks_;
};

}  // namespace hearth
