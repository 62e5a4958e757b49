#include "hearth/server/metrics.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace hearth::server {
namespace {

std::string number(double v) {
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  return fmt::format("{}", v);
}

void family(std::string& out, const char* name, const char* type, const char* help) {
  out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
}

}  // namespace

std::string prometheus_escape(const std::string& value) {
  std::string out;
  for (char c : value) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

Histogram::Histogram(std::vector<double> upper_bounds) : bounds_(std::move(upper_bounds)), counts_(bounds_.size() + 1, 0) {}

void Histogram::observe(double v, uint64_t times) {
  if (!(v >= 0.0)) v = 0.0;  // NaN or a clock step backwards
  const size_t i = static_cast<size_t>(std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin());
  std::lock_guard lock(mutex_);
  counts_[i] += times;
  sum_ += v * static_cast<double>(times);
  total_ += times;
}

uint64_t Histogram::count() const {
  std::lock_guard lock(mutex_);
  return total_;
}

void Histogram::render(const std::string& name, const std::string& labels, std::string& out) const {
  std::lock_guard lock(mutex_);
  uint64_t cumulative = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    cumulative += counts_[i];
    const double le = i < bounds_.size() ? bounds_[i] : INFINITY;
    out += fmt::format("{}_bucket{{{},le=\"{}\"}} {}\n", name, labels, number(le), cumulative);
  }
  out += fmt::format("{}_sum{{{}}} {}\n{}_count{{{}}} {}\n", name, labels, number(sum_), name, labels, total_);
}

// Buckets: vLLM's (v0.10); the inter-token buckets add 1, 2.5 and 5 ms in front, where a
// GPU's decode steps land.
Metrics::Metrics(std::string model_name)
    : model_label_("model_name=\"" + prometheus_escape(model_name) + "\""),
      ttft_({0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0,
             80.0, 160.0, 640.0, 2560.0}),
      itl_({0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5,
            10.0, 20.0, 40.0, 80.0}),
      e2e_({0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0, 120.0, 240.0, 480.0,
            960.0, 1920.0, 7680.0}) {
  for (const char* r : {"stop", "length", "abort"}) finished_[r] = 0;
}

void Metrics::observe_inter_token(double seconds, int tokens) {
  if (tokens <= 0) return;
  itl_.observe(seconds / tokens, static_cast<uint64_t>(tokens));
}

void Metrics::add_tokens(int prompt_tokens, int generation_tokens) {
  std::lock_guard lock(mutex_);
  prompt_tokens_ += static_cast<uint64_t>(std::max(0, prompt_tokens));
  generation_tokens_ += static_cast<uint64_t>(std::max(0, generation_tokens));
}

void Metrics::on_finished(const std::string& reason, double e2e_seconds) {
  e2e_.observe(e2e_seconds);
  std::lock_guard lock(mutex_);
  ++finished_[reason];
}

void Metrics::on_rejected(const std::string& reason) {
  std::lock_guard lock(mutex_);
  ++rejected_[reason];
}

std::string Metrics::render(const EngineStats& s, const ServerGauges& g) const {
  std::string out;
  out.reserve(8192);
  const std::string& L = model_label_;
  family(out, "vllm:num_requests_running", "gauge", "Number of requests in model execution batches.");
  out += fmt::format("vllm:num_requests_running{{{}}} {}\n", L, s.running);
  family(out, "vllm:num_requests_waiting", "gauge", "Number of requests waiting to be processed.");
  out += fmt::format("vllm:num_requests_waiting{{{}}} {}\n", L, s.waiting);
  family(out, "vllm:kv_cache_usage_perc", "gauge", "KV-cache usage. 1 means 100 percent usage.");
  const double usage = s.kv_blocks > 0 ? 1.0 - static_cast<double>(s.kv_free_blocks) / s.kv_blocks : 0.0;
  out += fmt::format("vllm:kv_cache_usage_perc{{{}}} {}\n", L, number(usage));
  {
    std::lock_guard lock(mutex_);
    family(out, "vllm:prompt_tokens", "counter", "Number of prefill tokens processed.");
    out += fmt::format("vllm:prompt_tokens_total{{{}}} {}\n", L, prompt_tokens_);
    family(out, "vllm:generation_tokens", "counter", "Number of generation tokens processed.");
    out += fmt::format("vllm:generation_tokens_total{{{}}} {}\n", L, generation_tokens_);
    family(out, "vllm:request_success", "counter", "Count of successfully processed requests.");
    for (const auto& [reason, n] : finished_)
      out += fmt::format("vllm:request_success_total{{{},finished_reason=\"{}\"}} {}\n", L, prometheus_escape(reason), n);
    family(out, "hearth_requests_rejected", "counter", "Requests refused before generation (queue full, shutting down).");
    for (const auto& [reason, n] : rejected_)
      out += fmt::format("hearth_requests_rejected_total{{{},reason=\"{}\"}} {}\n", L, prometheus_escape(reason), n);
  }
  family(out, "vllm:prefix_cache_queries", "counter", "Prefix cache queries, in terms of number of queried tokens.");
  out += fmt::format("vllm:prefix_cache_queries_total{{{}}} {}\n", L, s.prefix_query_tokens);
  family(out, "vllm:prefix_cache_hits", "counter", "Prefix cache hits, in terms of number of cached tokens.");
  out += fmt::format("vllm:prefix_cache_hits_total{{{}}} {}\n", L, s.prefix_hit_tokens);
  family(out, "vllm:num_preemptions", "counter", "Cumulative number of preemptions from the engine.");
  out += fmt::format("vllm:num_preemptions_total{{{}}} {}\n", L, s.preemptions);
  family(out, "vllm:time_to_first_token_seconds", "histogram", "Histogram of time to first token in seconds.");
  ttft_.render("vllm:time_to_first_token_seconds", L, out);
  family(out, "vllm:inter_token_latency_seconds", "histogram", "Histogram of inter-token latency in seconds.");
  itl_.render("vllm:inter_token_latency_seconds", L, out);
  family(out, "vllm:e2e_request_latency_seconds", "histogram", "Histogram of e2e request latency in seconds.");
  e2e_.render("vllm:e2e_request_latency_seconds", L, out);
  family(out, "hearth_gpu_memory_peak_bytes", "gauge", "Device memory held after start-up (weights, KV cache, activations).");
  out += fmt::format("hearth_gpu_memory_peak_bytes{{{}}} {}\n", L, g.gpu_memory_peak_bytes);
  family(out, "hearth_gpu_memory_budget_bytes", "gauge", "Device memory budget (0: a fraction of the device).");
  out += fmt::format("hearth_gpu_memory_budget_bytes{{{}}} {}\n", L, g.gpu_memory_budget_bytes);
  family(out, "hearth_kv_cache_blocks", "gauge", "KV cache blocks in all.");
  out += fmt::format("hearth_kv_cache_blocks{{{}}} {}\n", L, s.kv_blocks);
  family(out, "hearth_engine_steps", "counter", "Engine steps run.");
  out += fmt::format("hearth_engine_steps_total{{{}}} {}\n", L, s.steps);
  family(out, "hearth_http_connections", "gauge", "Open HTTP connections.");
  out += fmt::format("hearth_http_connections{{{}}} {}\n", L, g.http_connections);
  family(out, "hearth_http_requests_in_flight", "gauge", "Generation requests being served over HTTP.");
  out += fmt::format("hearth_http_requests_in_flight{{{}}} {}\n", L, g.requests_in_flight);
  return out;
}

}  // namespace hearth::server
