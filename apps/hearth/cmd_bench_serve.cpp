// `hearth bench serve`: streaming requests against a running OpenAI-compatible server
// (hearth serve, vLLM, ...), printed as one JSON object (bench/serve_bench.h says what is
// measured and how).
#include <cmath>
#include <iostream>
#include <limits>
#include <memory>

#include "commands.h"
#include "hearth/core/error.h"
#include "serve_bench.h"

namespace hearth::cli {
namespace {

struct ServeBenchArgs {
  bench::ServeSpec spec;
  std::string rate_text = "inf";
  std::string endpoint = "completions";
};

double parse_rate(const std::string& text) {
  if (text == "inf" || text == "infinity") return std::numeric_limits<double>::infinity();
  size_t used = 0;
  double r = 0;
  try {
    r = std::stod(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != text.size() || !std::isfinite(r) || r <= 0) fail("--rate must be a positive number or inf, got '{}'", text);
  return r;
}

int run_bench_serve(ServeBenchArgs& a) {
  a.spec.rate = parse_rate(a.rate_text);
  a.spec.endpoint = a.endpoint == "chat" ? bench::ServeEndpoint::Chat : bench::ServeEndpoint::Completions;
  const bench::ServeReport report = bench::run_serve_bench(a.spec);
  std::cout << report.to_json().dump() << std::endl;
  return report.failed_requests == 0 ? 0 : 1;
}

}  // namespace

void register_bench_serve(CLI::App& bench, Runner& runner) {
  auto a = std::make_shared<ServeBenchArgs>();
  CLI::App* cmd = bench.add_subcommand("serve", "streaming requests against an OpenAI-compatible server (JSON)");
  cmd->add_option("--url", a->spec.url, "server base URL, e.g. http://127.0.0.1:8000")->required();
  cmd->add_option("--requests", a->spec.requests, "requests in all");
  cmd->add_option("--rate", a->rate_text, "Poisson arrival rate in requests/s, or inf (all at once)");
  cmd->add_option("--input-len", a->spec.input_len, "prompt tokens per request (random ids)");
  cmd->add_option("--output-len", a->spec.output_len, "generated tokens per request (ignore_eos)");
  cmd->add_option("--concurrency", a->spec.concurrency, "requests in flight at most (0 = no cap)");
  cmd->add_option("--model-name", a->spec.model_name, "model field of the requests (default: GET /v1/models)");
  cmd->add_option("--api-key", a->spec.api_key, "sent as Authorization: Bearer");
  cmd->add_option("--seed", a->spec.seed, "seed of the prompts and arrival times");
  cmd->add_option("--endpoint", a->endpoint, "completions (token-id prompts) or chat (word prompts)")
      ->check(CLI::IsMember({"completions", "chat"}));
  cmd->add_option("--probe-interval-ms", a->spec.probe_interval_ms, "GET /metrics and /health every P ms during the load (0 = off)");
  cmd->add_option("--vocab-size", a->spec.vocab_size, "prompt ids are drawn from [0, V)");
  cmd->add_option("--timeout", a->spec.timeout_s, "seconds of silence after which a request fails");
  cmd->add_option("--wait-ready", a->spec.wait_ready_s, "wait up to S seconds for GET /health to answer 200");
  cmd->callback([a, &runner] { runner = [a] { return run_bench_serve(*a); }; });
}

}  // namespace hearth::cli
