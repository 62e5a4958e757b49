// Prometheus metrics with vLLM's names and label (model_name), so that dashboards and
// routers written for vLLM read hearth unchanged. Counters are exposed as prometheus_client
// does for vLLM: family `vllm:prompt_tokens`, sample `vllm:prompt_tokens_total`.
// Thread-safe: request threads record, the /metrics handler renders.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "hearth/engine.h"

namespace hearth::server {

class Histogram {
 public:
  explicit Histogram(std::vector<double> upper_bounds);
  void observe(double v, uint64_t times = 1);
  // Appends `name`_bucket/_sum/_count lines with `labels` (e.g. model_name="m").
  void render(const std::string& name, const std::string& labels, std::string& out) const;
  uint64_t count() const;

 private:
  mutable std::mutex mutex_;
  std::vector<double> bounds_;
  std::vector<uint64_t> counts_;  // per bucket (not cumulative), +Inf last
  double sum_ = 0.0;
  uint64_t total_ = 0;
};

// Gauges the server knows besides the engine's statistics.
struct ServerGauges {
  uint64_t gpu_memory_peak_bytes = 0;    // weights + KV cache + activations after start-up
  uint64_t gpu_memory_budget_bytes = 0;  // 0: none set
  int http_connections = 0;
  int requests_in_flight = 0;            // HTTP generation requests being served
};

class Metrics {
 public:
  explicit Metrics(std::string model_name);

  void observe_ttft(double seconds) { ttft_.observe(seconds); }
  // `tokens` tokens arrived `seconds` after the previous ones: each counts one gap of
  // seconds / tokens (vLLM observes one sample per token).
  void observe_inter_token(double seconds, int tokens);
  // Tokens as they are produced (counters move while long requests run, as vLLM's do):
  // a sequence's prompt when its first token arrives, generated tokens with each output.
  void add_tokens(int prompt_tokens, int generation_tokens);
  // A request (one sequence) finished: its reason ("stop", "length", "abort", "error") and
  // end-to-end latency.
  void on_finished(const std::string& reason, double e2e_seconds);
  void on_rejected(const std::string& reason);  // 429 / 503 refusals, by reason

  std::string render(const EngineStats& stats, const ServerGauges& gauges) const;

 private:
  std::string model_label_;
  Histogram ttft_, itl_, e2e_;
  mutable std::mutex mutex_;
  uint64_t prompt_tokens_ = 0;
  uint64_t generation_tokens_ = 0;
  std::map<std::string, uint64_t> finished_;
  std::map<std::string, uint64_t> rejected_;
};

// A Prometheus label value with \, " and newline escaped.
std::string prometheus_escape(const std::string& value);

}  // namespace hearth::server
