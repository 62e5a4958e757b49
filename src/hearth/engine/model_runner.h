// Turns a ScheduledBatch into one forward step and samples each sequence that wanted
// logits. Owns the model (its activations) and, through the backend, the paged KV cache.
//
// Decode steps on a backend with step graphs are padded to a batch-size bucket (1, 2, 4, 8,
// 16, 24, 32, 48, 64, 96, 128, ... up to max_num_seqs) and their block tables to a width
// bucket (a power of two of blocks), so that sequences finishing or growing do not force a
// new recording every step: one recording per (bucket, width, picks variant). Padding rows
// feed token 0 at position 0 with KV slot -1 (never written) and a one-token context in
// block 0 (read, never used); their picks are dropped.
#pragma once

#include <chrono>
#include <cstdint>
#include <span>
#include <vector>

#include "hearth/backend/backend.h"
#include "hearth/engine/qwen3.h"
#include "hearth/engine/scheduler.h"
#include "hearth/backend/kv_fp8.h"
#include "hearth/engine/step_sampling.h"
#include "hearth/model/checkpoint.h"
#include "hearth/sampling/sampler.h"

namespace hearth {

struct ModelRunnerOptions {
  int num_blocks = 0;       // 0: no KV cache yet (init_kv_cache later, e.g. after a warm-up)
  int block_size = 16;
  int max_model_len = 0;
  int max_num_seqs = 64;    // the largest decode bucket
  // Pad decode steps to buckets: -1 (default) when the backend records step graphs, 0 never,
  // 1 always (tests run the padding on the CPU backend).
  int pad_decode = -1;
  bool device_sampling = true;  // false: sample on the host (A/B, tests)
  KvCacheDtype kv_cache_dtype = KvCacheDtype::Auto;  // backend/kv_fp8.h
  bool use_graphs = true;  // false: every step eager (--enforce-eager)
};

// The StepBatch of `batch`: each sequence's fed tokens and positions, the KV slot of each
// token from its block table, and a logits row for each sequence that wants one. Block
// tables are `table_width` wide (-1 padded). With padded_seqs > batch.seqs.size() (a decode
// batch only), padding sequences follow (module comment).
StepBatch make_step_batch(const ScheduledBatch& batch, int block_size, int table_width, int padded_seqs = 0);

// The decode bucket for n sequences: the smallest of 1, 2, 4, 8, 16, 24, 32, 48, 64, 96, 128,
// 192, 256, ... at least n, capped at max_seqs (n <= max_seqs).
int decode_bucket(int n, int max_seqs);

class ModelRunner {
 public:
  // Uploads the weights and, with opts.num_blocks > 0, allocates the KV cache on `backend`;
  // both must outlive it.
  ModelRunner(const Checkpoint& checkpoint, Backend& backend, const ModelRunnerOptions& opts);

  // Allocates the paged KV cache (replacing any previous one).
  void init_kv_cache(int num_blocks);

  // Runs the step and returns one SampledToken per sequence with wants_logits, in batch
  // order. Each sequence samples with its own Sampler (not yet told of the token).
  std::vector<SampledToken> execute(const ScheduledBatch& batch) {
    launch(batch, true);
    return finish({});
  }
  // The same in two halves, so that the caller can work while the step runs (on a GPU
  // backend launch() returns once the step is queued). picks_with_forward: every wanting
  // sequence's Sampler is final now, so the picks go into the same launch (and a decode
  // graph); false: finish() exports them (a caller still accepting tokens into Samplers).
  void launch(const ScheduledBatch& batch, bool picks_with_forward);
  // Picks the launched step's tokens. drop[i] (i over the wanting sequences, in order; empty:
  // none dropped): the sequence is done, its row's pick is dropped (token -1).
  std::vector<SampledToken> finish(std::span<const bool> drop);

  const ModelConfig& config() const { return model_.config(); }
  Qwen3Model& model() { return model_; }
  Backend& backend() { return backend_; }
  const Backend& backend() const { return backend_; }
  int table_width() const { return table_width_; }
  const ModelRunnerOptions& options() const { return opts_; }
  // Rows the last step ran (padding included) and whether it replayed/recorded a graph.
  int last_step_rows() const { return last_rows_; }
  bool last_step_used_graph() const { return model_.last_step_used_graph(); }
  // When the last launch began handing work to the backend (after the host built its
  // batch): the end of the device's idle gap before that step, as the host sees it.
  std::chrono::steady_clock::time_point last_launch_start() const { return launch_start_; }
  // The last finish()'s blocking read of the picks, ms (StepSampling::last_read_ms).
  double last_pick_read_ms() const { return sampling_.last_read_ms(); }

 private:
  bool pad_decode() const;

  Backend& backend_;
  Qwen3Model model_;
  ModelRunnerOptions opts_;
  int table_width_ = 0;
  StepSampling sampling_;
  // The launched step, between launch() and finish().
  std::vector<Sequence*> wanting_;
  std::vector<PickRow> rows_;
  TensorView logits_;
  bool launched_ = false;
  bool picks_launched_ = false;
  int last_rows_ = 0;
  std::chrono::steady_clock::time_point launch_start_{};
};

}  // namespace hearth
