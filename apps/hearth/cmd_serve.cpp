// `hearth serve`: the OpenAI-compatible HTTP server (docs/server.md). Settings come from
// defaults, then --config config.yaml (its inference: section), then the flags given here.
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>

#include "commands.h"
#include "hearth/core/error.h"
#include "hearth/core/units.h"
#include "hearth/server/server.h"
#include "hearth/server/server_config.h"

namespace hearth::cli {
namespace {

struct ServeArgs {
  server::ServerConfig cfg;  // flag targets; copied over the config file's values when given
  std::string config_file;
  std::string api_key_file;
  std::string allowed_origins;
  std::string kv_cache_text;
  std::string budget_text;
  double shutdown_timeout_s = 30.0;
  int max_tokens = 0;
  float temperature = 0.0f;
  double power_limit = 0.0;
  bool no_prefix_caching = false;
  bool no_chunked_prefill = false;
  bool no_request_log = false;
  size_t max_request_bytes = 16u << 20;
  std::map<std::string, CLI::Option*> given;
  bool has(const std::string& name) const {
    const auto it = given.find(name);
    return it != given.end() && it->second->count() > 0;
  }
};

std::string read_key_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("--api-key-file: cannot open '{}'", path);
  std::ostringstream ss;
  ss << in.rdbuf();
  std::string key = ss.str();
  while (!key.empty() && (key.back() == '\n' || key.back() == '\r' || key.back() == ' ')) key.pop_back();
  if (key.empty()) fail("--api-key-file: '{}' is empty", path);
  return key;
}

int run_serve(const ServeArgs& a) {
  server::ServerConfig c;
  if (!a.config_file.empty()) server::apply_config_yaml(a.config_file, c);
  const server::ServerConfig& f = a.cfg;
  if (a.has("--model")) c.model = f.model;
  if (a.has("--tokenizer")) c.tokenizer = f.tokenizer;
  if (a.has("--served-model-name")) c.served_model_name = f.served_model_name;
  if (a.has("--host")) c.host = f.host;
  if (a.has("--port")) c.port = f.port;
  if (a.has("--api-key") && a.has("--api-key-file")) fail("give --api-key or --api-key-file, not both");
  if (a.has("--api-key")) c.api_key = f.api_key;
  if (a.has("--api-key-file")) c.api_key = read_key_file(a.api_key_file);
  if (a.has("--api-key") && c.api_key.empty()) fail("--api-key: empty key");
  if (a.has("--allowed-origins")) c.allowed_origins = server::split_list(a.allowed_origins);
  if (a.has("--max-queued-requests")) c.max_queued_requests = f.max_queued_requests;
  if (a.has("--shutdown-timeout")) {
    if (!(a.shutdown_timeout_s >= 0.0 && a.shutdown_timeout_s < 1e6)) fail("--shutdown-timeout: expected seconds >= 0");
    c.shutdown_timeout = std::chrono::milliseconds(static_cast<int64_t>(a.shutdown_timeout_s * 1000.0));
  }
  if (a.has("--max-request-bytes")) c.max_request_bytes = a.max_request_bytes;
  if (a.has("--max-connections")) c.max_connections = f.max_connections;
  if (a.has("--no-request-log")) c.log_requests = false;
  if (a.has("--max-num-seqs")) c.engine.max_num_seqs = f.engine.max_num_seqs;
  if (a.has("--max-num-batched-tokens")) c.engine.max_num_batched_tokens = f.engine.max_num_batched_tokens;
  if (a.has("--max-model-len")) c.engine.max_model_len = f.engine.max_model_len;
  if (a.has("--no-prefix-caching")) c.engine.enable_prefix_caching = false;
  if (a.has("--no-chunked-prefill")) c.engine.enable_chunked_prefill = false;
  if (a.has("--kv-cache-dtype")) c.engine.kv_cache_dtype = f.engine.kv_cache_dtype;
  if (a.has("--kv-cache-memory")) c.engine.kv_cache_bytes = parse_byte_size(a.kv_cache_text, "--kv-cache-memory");
  if (a.has("--device")) c.device.device = f.device.device;
  if (a.has("--threads")) c.device.threads = f.device.threads;
  if (a.has("--gpu-memory-utilization")) c.device.gpu_memory_utilization = f.device.gpu_memory_utilization;
  if (a.has("--gpu-memory-budget")) c.device.gpu_memory_budget_bytes = parse_byte_size(a.budget_text, "--gpu-memory-budget");
  if (a.has("--seed")) c.random_seed = f.random_seed;
  if (a.has("--enforce-eager")) c.enforce_eager = true;
  if (a.has("--attention-backend")) c.attention_backend = f.attention_backend;
  if (a.has("--max-tokens")) c.default_max_tokens = a.max_tokens;
  if (a.has("--temperature")) c.default_temperature = a.temperature;
  if (a.has("--power-limit")) c.power_limit_watts = a.power_limit;
  return server::run_server(c);
}

}  // namespace

void register_serve(CLI::App& app, Runner& runner) {
  auto a = std::make_shared<ServeArgs>();
  CLI::App* cmd = app.add_subcommand("serve", "OpenAI-compatible HTTP server (see docs/server.md)");
  auto opt = [&](const std::string& name, auto& target, const std::string& help) {
    a->given[name] = cmd->add_option(name, target, help);
    return a->given[name];
  };
  auto flag = [&](const std::string& name, bool& target, const std::string& help) {
    a->given[name] = cmd->add_flag(name, target, help);
  };
  server::ServerConfig& f = a->cfg;
  opt("--model", f.model, "model directory, or random:<preset|config.json> (or inference.model in --config)");
  cmd->add_option("--config", a->config_file, "config.yaml with an inference: section (flags override it)");
  opt("--tokenizer", f.tokenizer, "tokenizer directory (default: the model's)");
  opt("--served-model-name", f.served_model_name, "the model id clients send (default: --model)");
  opt("--host", f.host, "address to listen on (default 127.0.0.1)");
  opt("--port", f.port, "TCP port (default 8000; 0: any free port)");
  opt("--api-key", f.api_key, "require 'Authorization: Bearer KEY' on /v1/*, /tokenize, /detokenize");
  opt("--api-key-file", a->api_key_file, "read the API key from this file");
  opt("--allowed-origins", a->allowed_origins, "CORS: comma-separated origins allowed, or *");
  opt("--max-queued-requests", f.max_queued_requests, "sequences waiting beyond --max-num-seqs before 429 (default 1024)");
  opt("--shutdown-timeout", a->shutdown_timeout_s, "seconds in-flight requests get to finish after SIGTERM (default 30)");
  opt("--max-request-bytes", a->max_request_bytes, "largest request body accepted, else 413 (default 16 MiB)");
  opt("--max-connections", f.max_connections, "open HTTP connections at most (default 1024)");
  flag("--no-request-log", a->no_request_log, "no per-request log line");
  opt("--max-num-seqs", f.engine.max_num_seqs, "sequences running at once (default 64)");
  opt("--max-num-batched-tokens", f.engine.max_num_batched_tokens, "tokens per engine step (default 16384)");
  opt("--max-model-len", f.engine.max_model_len, "context length (default: the model's)");
  flag("--no-prefix-caching", a->no_prefix_caching, "turn the prefix cache off");
  flag("--no-chunked-prefill", a->no_chunked_prefill, "prefill whole prompts in one step");
  opt("--kv-cache-dtype", f.engine.kv_cache_dtype, "KV cache element type: auto (the activation dtype) or fp8 (e4m3)")
      ->check(CLI::IsMember({"auto", "fp8", "fp8_e4m3"}));
  opt("--kv-cache-memory", a->kv_cache_text, "KV cache size, e.g. 8GiB (default: planned)");
  opt("--device", f.device.device, "cpu, cuda or auto (cuda when present)");
  opt("--threads", f.device.threads, "CPU backend threads (0 = all cores)");
  opt("--gpu-memory-utilization", f.device.gpu_memory_utilization, "fraction of the GPU's memory hearth may use");
  opt("--gpu-memory-budget", a->budget_text, "GPU memory hearth may use, e.g. 14GiB");
  opt("--seed", f.random_seed, "seed of random: weights");
  flag("--enforce-eager", f.enforce_eager, "no CUDA step graphs");
  opt("--attention-backend", f.attention_backend, "CUDA prefill kernel: auto, fa2 or sm90");
  opt("--max-tokens", a->max_tokens, "default max_tokens of requests that give none (default: up to the context)")
      ->check(CLI::Range(1, 1 << 30));
  opt("--temperature", a->temperature, "default temperature of requests that give none")->check(CLI::Range(0.0, 1e6));
  opt("--power-limit", a->power_limit, "GPU power limit in watts (for the governor)")->check(CLI::Range(1.0, 1e5));
  cmd->callback([a, &runner] { runner = [a] { return run_serve(*a); }; });
}

}  // namespace hearth::cli
