// The serving throughput benchmark behind `hearth bench throughput`: N requests of
// input_len random prompt tokens (the first shared_prefix_len shared by all) and
// output_len generated tokens (EOS ignored), at most `concurrency` in flight (closed loop:
// a client thread per slot submits its next request when the previous one finishes).
// Measures what a user sees through the engine API: time to first token, time per
// output token after it, and throughput over the whole run.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <nlohmann/json.hpp>

#include "hearth/engine.h"
#include "percentile.h"
#include "hearth/sampling/constrained_decoder.h"

namespace hearth::bench {

struct ThroughputSpec {
  int requests = 64;
  int input_len = 512;
  int output_len = 256;
  int concurrency = 0;        // 0: all requests at once
  int shared_prefix_len = 0;  // leading prompt tokens common to every request
  uint64_t seed = 0;          // prompt tokens (and, + request index, each request's sampling seed)
  // Sampling of every request: greedy by default; temperature > 0 exercises the sampling
  // path (on the device where the backend can).
  float temperature = 0.0f;
  float top_p = 1.0f;
  int top_k = 0;
  // Output constraint of every request (--json-schema); null: unconstrained. Constrained
  // requests end when their value is complete, so they may produce fewer tokens.
  std::shared_ptr<const Constraint> constraint;
  void validate(int vocab_size, int max_model_len) const;  // throws hearth::Error naming the flag
};

struct ThroughputReport {
  ThroughputSpec spec;
  double elapsed_s = 0;
  uint64_t prompt_tokens = 0;
  uint64_t output_tokens = 0;
  double output_tok_s = 0;
  double total_tok_s = 0;       // (prompt + output tokens) / elapsed
  double ttft_p50_ms = 0, ttft_p99_ms = 0;
  double tpot_p50_ms = 0, tpot_p99_ms = 0;  // (last - first token time) / (tokens - 1), per request
  // Inter-token latency: every gap between consecutive tokens of a request, all requests
  // pooled. Its median is the decode step as a client sees it. TPOT is not: a request's
  // TPOT spreads every prefill step run after its first token over its tokens, and with
  // all requests arriving at once the half that got their first token in the first step
  // wait through the second half's prefill (64 x 512/256 on the H200: TPOT p50 8.3 ms,
  // decode step 7.0 ms; src/hearth/backend/cuda/NOTES.md, "Batch-64 decode step").
  double itl_p50_ms = 0, itl_p99_ms = 0;
  double ttft_first_ms = 0;     // the first request's (a cold prefix, for --shared-prefix-len)
  double ttft_rest_p50_ms = 0;  // the others' (a warm prefix)
  double prefix_cache_hit_rate = 0;  // over this run
  uint64_t preemptions = 0;          // during this run
  int failed_requests = 0;
  std::string first_error;  // the error (or finish reason) of the first failed request
  // Engine steps during this run, and the device's idle time between them as the engine
  // thread sees it (EngineStats::gpu_idle_ms: picks read -> next step queued).
  uint64_t steps = 0;
  uint64_t graph_steps = 0;
  uint64_t padded_rows = 0;
  double gpu_idle_ms = 0;
  double gpu_busy_ms = 0;
  // The engine thread's time per step by phase over this run (EngineStats::phases): where a
  // step's time goes on the host, e.g. masks not ready when the forward pass ends.
  StepPhaseStats phases;
  int mask_threads = 0;
  double gpu_idle_fraction() const {
    return gpu_idle_ms + gpu_busy_ms > 0 ? gpu_idle_ms / (gpu_idle_ms + gpu_busy_ms) : 0.0;
  }

  nlohmann::json to_json() const;
};

// The prompts of `spec`: seeded random ids in [0, vocab_size).
std::vector<std::vector<int32_t>> make_prompts(const ThroughputSpec& spec, int vocab_size);


// Runs the workload on `engine` (which must be otherwise idle) and reports.
ThroughputReport run_throughput(AsyncEngine& engine, const ThroughputSpec& spec, int vocab_size);

}  // namespace hearth::bench
