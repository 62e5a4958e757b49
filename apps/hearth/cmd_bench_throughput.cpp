// `hearth bench throughput`: many concurrent requests through the serving engine,
// printed as one JSON object (bench/throughput_bench.h says what is measured).
#include <iostream>
#include <memory>

#include "throughput_bench.h"
#include "commands.h"
#include "device_flags.h"
#include "hearth/engine.h"
#include "hearth/model/checkpoint.h"
#include "cli_io.h"
#include "grammar_vocabulary.h"
#include "hearth/engine/request_rules.h"
#include "hearth/grammar/grammar.h"
#include "hearth/tokenizer/tokenizer.h"

namespace hearth::cli {
namespace {

struct ThroughputArgs {
  std::string model;
  bench::ThroughputSpec spec;
  DeviceFlags device;
  EngineOptions engine;
  std::string kv_cache_text;
  std::string json_schema;
  std::string tokenizer_dir;
};

// --json-schema: one compiled constraint shared by every request, over the tokenizer's bytes.
std::shared_ptr<const Constraint> bench_constraint(const ThroughputArgs& a, const Checkpoint& checkpoint) {
  if (a.tokenizer_dir.empty())
    fail("--json-schema needs --tokenizer DIR (the vocabulary's token bytes the grammar masks)");
  const auto tokenizer = load_tokenizer_dir(a.tokenizer_dir);
  return json_schema_constraint(*tokenizer, a.json_schema, merged_eos_token_ids(checkpoint));
}

int run_throughput(ThroughputArgs& a) {
  const DeviceOptions device = a.device.resolve();
  if (!a.kv_cache_text.empty()) a.engine.kv_cache_bytes = parse_byte_size(a.kv_cache_text, "--kv-cache-memory");
  a.engine.validate();
  auto checkpoint = Checkpoint::open(a.model);
  if (!a.json_schema.empty()) a.spec.constraint = bench_constraint(a, *checkpoint);
  auto backend = make_backend(device);
  AsyncEngine engine(*checkpoint, *backend, a.engine);
  std::cerr << engine.kv_cache_summary() << "\n";
  a.spec.validate(checkpoint->config().vocab_size, engine.max_model_len());
  bench::ThroughputReport report = bench::run_throughput(engine, a.spec, checkpoint->config().vocab_size);
  nlohmann::json j = report.to_json();
  j["bench"] = "throughput";
  j["model"] = a.model;
  j["device"] = backend->name();
  j["peak_memory_bytes"] = backend->peak_memory_bytes();
  j["kv_cache"] = engine.kv_cache_summary();
  std::cout << j.dump() << std::endl;
  engine.shutdown(true);
  return report.failed_requests == 0 ? 0 : 1;
}

}  // namespace

void register_bench_throughput(CLI::App& bench, Runner& runner) {
  auto a = std::make_shared<ThroughputArgs>();
  CLI::App* cmd = bench.add_subcommand("throughput", "concurrent requests through the serving engine (JSON)");
  cmd->add_option("--model", a->model, "model directory or random:<preset>")->required();
  cmd->add_option("--requests", a->spec.requests, "requests in all");
  cmd->add_option("--input-len", a->spec.input_len, "prompt tokens per request (random ids)");
  cmd->add_option("--output-len", a->spec.output_len, "generated tokens per request (EOS ignored)");
  cmd->add_option("--concurrency", a->spec.concurrency, "requests in flight at most (0 = all)");
  cmd->add_option("--shared-prefix-len", a->spec.shared_prefix_len, "leading prompt tokens shared by all requests");
  cmd->add_option("--seed", a->spec.seed, "seed of the random prompts and of the requests' sampling");
  cmd->add_option("--temperature", a->spec.temperature, "sampling temperature of every request (0: greedy)");
  cmd->add_option("--top-p", a->spec.top_p, "nucleus sampling of every request (1: off)");
  cmd->add_option("--top-k", a->spec.top_k, "top-k sampling of every request (0: off)");
  cmd->add_option("--json-schema", a->json_schema, "constrain every output to this JSON Schema file");
  cmd->add_option("--tokenizer", a->tokenizer_dir, "tokenizer directory (needed by --json-schema)");
  cmd->add_option("--max-num-seqs", a->engine.max_num_seqs, "sequences running at once");
  cmd->add_option("--max-num-batched-tokens", a->engine.max_num_batched_tokens, "tokens per engine step");
  cmd->add_option("--max-model-len", a->engine.max_model_len, "context length (default: the model's)");
  cmd->add_option("--kv-cache-memory", a->kv_cache_text, "KV cache size, e.g. 8GiB (default: planned)");
  cmd->add_option("--kv-cache-dtype", a->engine.kv_cache_dtype, "KV cache element type: auto (the activation dtype) or fp8 (e4m3)");
  cmd->add_flag("!--no-prefix-caching", a->engine.enable_prefix_caching, "turn the prefix cache off");
  cmd->add_flag("--enforce-eager", a->engine.enforce_eager, "no CUDA step graphs (every step eager; A/B of the graphs)");
  cmd->add_option("--mask-threads", a->engine.mask_threads,
                  "output-constraint mask workers besides the engine thread (-1: the default)");
  a->device.add_to(cmd);
  cmd->callback([a, &runner] { runner = [a] { return run_throughput(*a); }; });
}

}  // namespace hearth::cli
