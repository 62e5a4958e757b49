// The HTTP serving benchmark behind `hearth bench serve`: N streaming requests against an
// OpenAI-compatible server, arriving as a Poisson process at `rate` requests/s (all at
// once for an infinite rate), at most `concurrency` in flight. Each request asks for
// output_len tokens (ignore_eos) after a prompt of input_len random token ids, so that the
// server needs no tokenizer round trip to get the prompt length right.
//
// Definitions follow vLLM's benchmark_serving so that figures compare:
//   TTFT = first streamed chunk that carries output - request sent
//   TPOT = (e2e - TTFT) / (output tokens - 1), per request
//   ITL  = gaps between consecutive output-carrying chunks, pooled over all requests
//   e2e  = end of the response - request sent
//   throughput = tokens (or requests) completed / time from the first arrival to the last end
// While the load runs, a probe thread times GET /metrics and GET /health every
// probe_interval_ms (issue 7: <= 5 ms under a 64-stream load).
#pragma once

#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "http_client.h"
#include "http_stream.h"

namespace hearth::bench {

enum class ServeEndpoint { Completions, Chat };

struct ServeSpec {
  std::string url;  // base URL, e.g. http://127.0.0.1:8000
  int requests = 64;
  double rate = std::numeric_limits<double>::infinity();  // requests/s
  int input_len = 512;
  int output_len = 256;
  int concurrency = 0;     // most requests in flight; 0: no cap
  std::string model_name;  // "": the first model of GET /v1/models
  std::string api_key;     // sent as "Authorization: Bearer <key>" when set
  uint64_t seed = 0;       // prompts and arrival times
  ServeEndpoint endpoint = ServeEndpoint::Completions;
  int probe_interval_ms = 100;  // 0: no probes
  int vocab_size = 151643;      // prompt ids drawn from [0, vocab_size): Qwen3's ordinary tokens
  double timeout_s = 300;       // longest silence tolerated within one response
  double wait_ready_s = 0;      // poll GET /health for up to this long before starting

  void validate() const;  // throws hearth::Error naming the flag
};

// What one streamed request produced, as the client saw it.
struct RequestResult {
  bool ok = false;
  std::string error;      // why it failed
  int prompt_tokens = 0;  // usage.prompt_tokens, else the prompt's length
  int output_tokens = 0;  // usage.completion_tokens, else the output-carrying chunks
  bool usage_reported = false;
  double ttft_ms = 0;
  double e2e_ms = 0;
  std::vector<double> itl_ms;
};

// Turns the SSE events of one streamed completion into a RequestResult: timestamps of the
// chunks that carry output, the usage chunk, `data: [DONE]`, and error events.
class StreamRecorder {
 public:
  StreamRecorder(Clock::time_point sent, int prompt_len) : sent_(sent) { result_.prompt_tokens = prompt_len; }
  void on_event(const SseEvent& e, Clock::time_point at);
  // The response ended at `at` (or failed with `error`, when not empty).
  RequestResult finish(Clock::time_point at, const std::string& error = {});

 private:
  void fail_with(std::string why);

  Clock::time_point sent_;
  Clock::time_point last_{};
  std::optional<Clock::time_point> finish_at_;  // a finish chunk before any output
  int chunks_ = 0;  // output-carrying chunks
  bool done_ = false;
  RequestResult result_;
};

// Latency summary in milliseconds; all zero for no samples.
struct LatencySummary {
  size_t count = 0;
  double mean = 0, p50 = 0, p99 = 0, max = 0;
  static LatencySummary of(const std::vector<double>& samples_ms);
  nlohmann::json to_json() const;
};

struct ProbeResult {
  std::string path;
  std::vector<double> latency_ms;  // successful probes
  int failed = 0;
  std::string first_error;
};

struct ServeReport {
  ServeSpec spec;
  std::string model;
  double elapsed_s = 0;
  int completed = 0;
  int failed_requests = 0;
  std::string first_error;
  int output_len_mismatches = 0;  // completed with a token count other than output_len
  int max_in_flight = 0;
  uint64_t prompt_tokens = 0, output_tokens = 0;
  double request_throughput = 0, output_tok_s = 0, total_tok_s = 0;
  LatencySummary ttft, tpot, itl, e2e;
  std::vector<std::pair<std::string, LatencySummary>> probes;
  std::vector<std::pair<int, std::string>> probe_failures;  // count, first error

  nlohmann::json to_json() const;
};

// The arithmetic of the report from per-request results (in request order).
ServeReport summarize(const ServeSpec& spec, const std::vector<RequestResult>& results, double elapsed_s,
                      const std::vector<ProbeResult>& probes = {});

// Arrival offsets in seconds from the start: 0 for the first request, then exponential gaps
// of mean 1/rate (all 0 for an infinite rate). Seeded, the same on every platform.
std::vector<double> poisson_arrivals(int n, double rate, uint64_t seed);

// The prompt token ids of each request (seeded random ids in [0, vocab_size)).
std::vector<std::vector<int32_t>> serve_prompts(const ServeSpec& spec);

// The JSON body of request `prompt` (token ids; for the chat endpoint, turned into as many
// common English words, each about one token: the chat template adds a few more).
std::string request_body(const ServeSpec& spec, const std::string& model, const std::vector<int32_t>& prompt,
                         int max_tokens);

// Runs the workload against spec.url and reports. Throws hearth::Error when the server
// cannot be reached or a first test request fails (before any load is sent).
ServeReport run_serve_bench(const ServeSpec& spec);

}  // namespace hearth::bench
