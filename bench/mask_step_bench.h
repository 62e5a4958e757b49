// The constrained-decoding mask work of engine steps without a model (`hearth bench masks`):
// `rows` constrained greedy Samplers (one shared Constraint, as `hearth bench throughput
// --json-schema` runs) go through `steps` steps; each step picks every row's token as a
// random-weight model's argmax would (uniform among the allowed tokens: the argmax of i.i.d.
// random logits over the allowed set), then accepts the picks (each computes its next mask)
// on a TaskGroup of `workers` threads plus the calling thread, as Engine::step does while a
// forward pass runs. Reports the accept phase's wall time per step, per worker count, each
// run on a fresh Constraint (cold mask cache) with the same seed, and the slowest accepts
// with the text before them (which grammar states are slow).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>
#include <nlohmann/json.hpp>

#include "hearth/sampling/constrained_decoder.h"

namespace hearth::bench {

struct MaskStepSpec {
  int rows = 64;
  int steps = 256;
  uint64_t seed = 0;
  std::vector<int> workers = {1, 4, 15};
  int slowest = 12;  // slowest accepts listed per run
  // The forward pass the accepts overlap (the H200's 64-row qwen3-8b decode step: ~8.9 ms):
  // reported is how far each step's accepts outlast it, measured and modeled.
  double forward_ms = 8.9;
  // Threads of the modeled wall; 0: each run's workers + 1. With fewer cores than threads,
  // run --workers 0 (uncontended durations) and model the engine's 5 threads.
  int model_threads = 0;
  void validate() const;  // throws hearth::Error naming the flag
};

struct SlowAccept {
  double us = 0;
  int step = 0, row = 0;
  std::string before;  // the row's output before the token (its last 48 bytes)
  std::string token;
};

struct MaskStepRun {
  int workers = 0;
  int model_threads = 0;
  int steps_run = 0;  // steps with at least one row still going
  double rows_per_step = 0;
  double step_ms_mean = 0, step_ms_p50 = 0, step_ms_p99 = 0, step_ms_max = 0;
  double first16_ms_mean = 0, rest_ms_mean = 0;  // cold-cache start vs the rest
  double cpu_ms_per_step = 0;                    // summed accept durations
  // Mean over steps of max(0, step wall - forward_ms), and the steps where it is > 0:
  // measured (the wall above) and modeled (the step's accept durations list-scheduled in
  // index order on model_threads threads: what a machine with that many free cores would
  // see, e.g. when this one has fewer).
  double over_forward_ms = 0, modeled_over_forward_ms = 0;
  int over_forward_steps = 0, modeled_over_forward_steps = 0;
  double accept_us_mean = 0, accept_us_p99 = 0, accept_us_max = 0;
  int finished_rows = 0;  // values completed (a stop token picked or nothing else allowed)
  uint64_t output_bytes = 0;
  std::vector<SlowAccept> slowest;
  nlohmann::json to_json() const;
};

// make_constraint: a fresh Constraint (its own Vocabulary, so an empty mask cache) per run;
// eos_ids: the model's EOS ids (the Samplers' stop tokens).
std::vector<MaskStepRun> run_mask_steps(const MaskStepSpec& spec,
                                        const std::function<std::shared_ptr<const Constraint>()>& make_constraint,
                                        const std::vector<int>& eos_ids);

}  // namespace hearth::bench
