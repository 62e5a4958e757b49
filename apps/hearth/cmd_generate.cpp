// `hearth generate`: the issue-2 CLI contract (see docs/cli.md). Scripts and tests depend
// on its flags and its --json output: keep them stable.
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "commands.h"
#include "device_flags.h"
#include "hearth/core/error.h"
#include "hearth/engine/device.h"
#include "hearth/engine/engine.h"
#include "hearth/engine/generator.h"
#include "hearth/engine/request_rules.h"
#include "hearth/grammar/grammar.h"
#include "hearth/sampling/constrained_decoder.h"
#include "hearth/model/checkpoint.h"
#include "grammar_vocabulary.h"
#include "hearth/tokenizer/tokenizer.h"

namespace hearth::cli {
namespace {

using nlohmann::json;

struct GenerateArgs {
  std::string model;
  std::string prompt;
  std::string prompt_ids;
  std::string batch_file;
  int max_tokens = 128;
  float temperature = 1.0f;
  int top_k = 0;
  float top_p = 1.0f;
  float min_p = 0.0f;
  float repetition_penalty = 1.0f;
  float presence_penalty = 0.0f;
  float frequency_penalty = 0.0f;
  std::vector<int> stop_token_ids;
  uint64_t seed = 0;
  int logprobs = 0;
  bool ignore_eos = false;
  DeviceFlags device;
  int max_model_len = 0;
  int max_num_seqs = 64;
  int max_num_batched_tokens = 16384;
  std::string kv_cache_dtype = "auto";
  bool json_out = false;
  std::string tokenizer_dir;   // --tokenizer: instead of the model directory's files
  std::string json_schema;     // --json-schema: a schema file constraining every output
  bool json_object = false;    // --json-object: any JSON object
  bool constrain_after_think = false;
  // Options given on the command line (others fall back to generation_config.json).
  CLI::Option *o_temperature = nullptr, *o_top_k = nullptr, *o_top_p = nullptr, *o_min_p = nullptr,
              *o_rep = nullptr;
};

std::vector<int32_t> parse_id_list(const std::string& s, const std::string& what) {
  std::vector<int32_t> ids;
  size_t i = 0;
  while (i <= s.size()) {
    size_t j = s.find(',', i);
    if (j == std::string::npos) j = s.size();
    std::string item = s.substr(i, j - i);
    while (!item.empty() && item.front() == ' ') item.erase(item.begin());
    while (!item.empty() && item.back() == ' ') item.pop_back();
    if (item.empty()) fail("{}: empty item at position {} in '{}'", what, ids.size(), s);
    size_t used = 0;
    long long v = 0;
    try {
      v = std::stoll(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != item.size() || v < 0 || v > INT32_MAX) fail("{}: '{}' is not a token id", what, item);
    ids.push_back(static_cast<int32_t>(v));
    i = j + 1;
  }
  return ids;
}

SamplingParams base_params(const GenerateArgs& a, const GenerationConfig& gen) {
  SamplingParams p;
  p.max_tokens = a.max_tokens;
  p.temperature = a.o_temperature->count() ? a.temperature : gen.temperature.value_or(1.0f);
  if (!a.o_temperature->count() && gen.do_sample.has_value() && !*gen.do_sample) p.temperature = 0.0f;
  p.top_k = a.o_top_k->count() ? a.top_k : gen.top_k.value_or(0);
  p.top_p = a.o_top_p->count() ? a.top_p : gen.top_p.value_or(1.0f);
  p.min_p = a.o_min_p->count() ? a.min_p : gen.min_p.value_or(0.0f);
  p.repetition_penalty = a.o_rep->count() ? a.repetition_penalty : gen.repetition_penalty.value_or(1.0f);
  p.presence_penalty = a.presence_penalty;
  p.frequency_penalty = a.frequency_penalty;
  p.stop_token_ids = a.stop_token_ids;
  p.seed = a.seed;
  p.logprobs = a.logprobs;
  p.ignore_eos = a.ignore_eos;
  return p;
}

// One line of --batch-file: {"prompt_ids": [...]} or {"prompt": "..."}, with optional
// max_tokens, temperature, seed, json_schema. Everything else is an error naming the line
// and key.
struct BatchLine {
  std::vector<int32_t> ids;
  std::optional<std::string> prompt;
  SamplingParams params;
  std::optional<json> json_schema;
};

std::vector<BatchLine> read_batch_file(const std::string& path, const SamplingParams& defaults) {
  std::ifstream in(path);
  if (!in) fail("--batch-file: cannot open '{}'", path);
  std::vector<BatchLine> lines;
  std::string text;
  int lineno = 0;
  while (std::getline(in, text)) {
    ++lineno;
    if (text.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::string where = path + ":" + std::to_string(lineno);
    json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) fail("{}: not valid JSON", where);
    if (!j.is_object()) fail("{}: expected a JSON object", where);
    BatchLine line;
    line.params = defaults;
    for (auto& [key, v] : j.items()) {
      if (key == "prompt_ids") {
        if (!v.is_array()) fail("{}: prompt_ids: expected an array of token ids", where);
        for (size_t i = 0; i < v.size(); ++i) {
          if (!v[i].is_number_integer() || v[i].get<int64_t>() < 0 || v[i].get<int64_t>() > INT32_MAX)
            fail("{}: prompt_ids[{}]: expected a non-negative integer token id", where, i);
          line.ids.push_back(v[i].get<int32_t>());
        }
      } else if (key == "prompt") {
        if (!v.is_string()) fail("{}: prompt: expected a string", where);
        line.prompt = v.get<std::string>();
      } else if (key == "max_tokens") {
        if (!v.is_number_integer() || v.get<int64_t>() < 1 || v.get<int64_t>() > INT32_MAX)
          fail("{}: max_tokens: expected a positive integer", where);
        line.params.max_tokens = v.get<int>();
      } else if (key == "temperature") {
        if (!v.is_number()) fail("{}: temperature: expected a number", where);
        line.params.temperature = v.get<float>();
      } else if (key == "seed") {
        if (!v.is_number_unsigned()) fail("{}: seed: expected a non-negative integer", where);
        line.params.seed = v.get<uint64_t>();
      } else if (key == "json_schema") {
        if (!v.is_object() && !v.is_boolean()) fail("{}: json_schema: expected a JSON Schema (an object)", where);
        line.json_schema = v;
      } else {
        fail("{}: unknown key '{}' (expected prompt_ids or prompt, max_tokens, temperature, seed, json_schema)",
             where, key);
      }
    }
    const bool has_ids = j.contains("prompt_ids"), has_prompt = j.contains("prompt");
    if (has_ids == has_prompt)
      fail("{}: {}", where, has_ids ? "give prompt_ids or prompt, not both" : "needs prompt_ids or prompt");
    lines.push_back(std::move(line));
  }
  if (lines.empty()) fail("--batch-file: '{}' has no requests", path);
  return lines;
}

json result_json(const GenerationResult& r, const std::string& text, bool with_logprobs) {
  json o;
  o["ids"] = r.ids;
  o["text"] = text;
  o["finish_reason"] = r.finish_reason;
  if (with_logprobs) {
    json lps = json::array();
    for (const TokenLogprobs& lp : r.logprobs) {
      json top = json::array();
      for (const auto& [id, l] : lp.top) top.push_back({id, l});
      lps.push_back({{"id", lp.id}, {"logprob", lp.logprob}, {"top", top}});
    }
    o["logprobs"] = lps;
  }
  return o;
}

json read_schema_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) fail("--json-schema: cannot open '{}'", path);
  json j = json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) fail("--json-schema: '{}' is not valid JSON", path);
  return j;
}

int run_generate(const GenerateArgs& a) {
  const int sources = !a.prompt.empty() + !a.prompt_ids.empty() + !a.batch_file.empty();
  if (sources != 1) fail("give exactly one of --prompt, --prompt-ids, --batch-file");
  if (!a.json_schema.empty() && a.json_object) fail("give --json-schema or --json-object, not both");
  const DeviceOptions device = a.device.resolve();

  auto checkpoint = Checkpoint::open(a.model);
  SamplingParams defaults = base_params(a, checkpoint->generation_config());

  std::unique_ptr<Tokenizer> tokenizer;
  if (!a.tokenizer_dir.empty()) {
    if (!Tokenizer::has_tokenizer_files(a.tokenizer_dir)) fail("--tokenizer: no tokenizer files in '{}'", a.tokenizer_dir);
    tokenizer = Tokenizer::load(a.tokenizer_dir);
  } else if (!checkpoint->is_random() && Tokenizer::has_tokenizer_files(checkpoint->directory())) {
    tokenizer = Tokenizer::load(checkpoint->directory());
  }
  auto encode = [&](const std::string& text) {
    if (!tokenizer) fail("model '{}' has no tokenizer files; use --prompt-ids (or --tokenizer DIR)", a.model);
    return tokenizer->encode(text);
  };
  // Output constraints need the vocabulary's token bytes; built once, shared by every request.
  std::shared_ptr<const grammar::Vocabulary> vocab;
  auto make_constraint = [&](std::shared_ptr<const grammar::Grammar> g, const std::string& what) {
    if (!tokenizer)
      fail("{} needs the model's tokenizer (its token bytes); model '{}' has none: give --tokenizer DIR", what, a.model);
    if (!vocab) vocab = grammar_vocabulary(*tokenizer, merged_eos_token_ids(*checkpoint));
    auto c = std::make_shared<Constraint>();
    c->grammar = std::move(g);
    c->vocabulary = vocab;
    if (a.constrain_after_think) {
      const auto id = tokenizer->token_to_id("</think>");
      if (!id) fail("--constrain-after-think: the tokenizer has no </think> token");
      c->start_after_token = *id;
    }
    return std::shared_ptr<const Constraint>(std::move(c));
  };
  auto decode = [&](const std::vector<int32_t>& ids) {
    return tokenizer ? tokenizer->decode(ids, /*skip_special_tokens=*/true) : std::string();
  };
  if (a.constrain_after_think && a.json_schema.empty() && !a.json_object && a.batch_file.empty())
    fail("--constrain-after-think needs --json-schema or --json-object");
  auto compile = [&](const json& schema, const std::string& what) {
    try {
      return grammar::Grammar::from_json_schema(schema);
    } catch (const Error& e) {
      fail("{}: {}", what, e.what());
    }
  };
  if (!a.json_schema.empty())
    defaults.constraint = make_constraint(compile(read_schema_file(a.json_schema), "--json-schema " + a.json_schema),
                                          "--json-schema");
  else if (a.json_object)
    defaults.constraint = make_constraint(grammar::Grammar::any_json_object(), "--json-object");

  // Validate every request before any compute, so a bad line loses no work.
  std::vector<GenerationRequest> requests;
  if (!a.batch_file.empty()) {
    size_t index = 0;
    for (BatchLine& line : read_batch_file(a.batch_file, defaults)) {
      ++index;
      if (line.json_schema) {
        const std::string what = fmt::format("{}: request {}: json_schema", a.batch_file, index);
        line.params.constraint = make_constraint(compile(*line.json_schema, what), what);
      }
      requests.push_back({line.prompt ? encode(*line.prompt) : std::move(line.ids), line.params});
    }
  } else {
    requests.push_back({a.prompt.empty() ? parse_id_list(a.prompt_ids, "--prompt-ids") : encode(a.prompt), defaults});
  }

  auto backend = make_backend(device);
  std::vector<GenerationResult> results;
  if (a.batch_file.empty()) {
    // One request: the reference loop.
    GeneratorOptions gopts;
    gopts.max_model_len = a.max_model_len;
    gopts.kv_cache_dtype = parse_kv_cache_dtype(a.kv_cache_dtype);
    Generator generator(*checkpoint, *backend, gopts);
    results.push_back(generator.generate(requests[0]));
  } else {
    // A batch file: every line in flight at once through the serving engine. It validates
    // every request before running any (errors name the request's index).
    EngineOptions eopts;
    eopts.max_model_len = a.max_model_len;
    eopts.max_num_seqs = a.max_num_seqs;
    eopts.max_num_batched_tokens = a.max_num_batched_tokens;
    eopts.kv_cache_dtype = a.kv_cache_dtype;
    Engine engine(*checkpoint, *backend, eopts);
    try {
      results = engine.generate_all(requests);
    } catch (const Error& e) {
      fail("{}: {}", a.batch_file, e.what());
    }
  }

  for (size_t i = 0; i < requests.size(); ++i) {
    const GenerationRequest& req = requests[i];
    const GenerationResult& r = results[i];
    const std::string text = decode(r.ids);
    if (a.json_out || !a.batch_file.empty()) {
      std::cout << result_json(r, text, req.params.logprobs > 0).dump() << "\n";
    } else if (!text.empty()) {
      std::cout << text << "\n";
    } else {
      std::cout << json(r.ids).dump() << "\n";
    }
    std::cout.flush();
  }
  return 0;
}

}  // namespace

void register_generate(CLI::App& app, Runner& runner) {
  auto a = std::make_shared<GenerateArgs>();
  CLI::App* cmd = app.add_subcommand("generate", "generate text from a prompt");
  cmd->add_option("--model", a->model, "model directory, or random:<preset|config.json>")->required();
  cmd->add_option("--prompt", a->prompt, "prompt text (needs the model's tokenizer)");
  cmd->add_option("--prompt-ids", a->prompt_ids, "prompt as comma-separated token ids");
  cmd->add_option("--batch-file", a->batch_file, "JSONL file: one request per line");
  cmd->add_option("--max-tokens", a->max_tokens, "tokens to generate at most")->check(CLI::Range(1, 1 << 30));
  a->o_temperature = cmd->add_option("--temperature", a->temperature, "0 = greedy")->check(CLI::Range(0.0, 1e6));
  a->o_top_k = cmd->add_option("--top-k", a->top_k, "keep the k most likely tokens (0 = off)");
  a->o_top_p = cmd->add_option("--top-p", a->top_p, "nucleus sampling mass (1 = off)");
  a->o_min_p = cmd->add_option("--min-p", a->min_p, "drop tokens below min_p * max prob (0 = off)");
  a->o_rep = cmd->add_option("--repetition-penalty", a->repetition_penalty, "1 = off");
  cmd->add_option("--presence-penalty", a->presence_penalty, "0 = off");
  cmd->add_option("--frequency-penalty", a->frequency_penalty, "0 = off");
  cmd->add_option("--stop-token-ids", a->stop_token_ids, "extra token ids that end generation")->delimiter(',');
  cmd->add_option("--seed", a->seed, "sampling seed");
  cmd->add_option("--logprobs", a->logprobs, "report the top K logprobs of each generated token");
  cmd->add_flag("--ignore-eos", a->ignore_eos, "do not stop at end-of-sequence tokens");
  a->device.add_to(cmd);
  cmd->add_option("--max-model-len", a->max_model_len, "context length (default: the model's)");
  cmd->add_option("--max-num-seqs", a->max_num_seqs, "batch file: sequences running at once");
  cmd->add_option("--max-num-batched-tokens", a->max_num_batched_tokens, "batch file: tokens per engine step");
  cmd->add_option("--kv-cache-dtype", a->kv_cache_dtype, "KV cache element type: auto (the activation dtype) or fp8 (e4m3)");
  cmd->add_flag("--json", a->json_out, "print one JSON object per request");
  cmd->add_option("--tokenizer", a->tokenizer_dir, "tokenizer directory (default: the model's)");
  cmd->add_option("--json-schema", a->json_schema, "constrain every output to this JSON Schema file");
  cmd->add_flag("--json-object", a->json_object, "constrain every output to a JSON object");
  cmd->add_flag("--constrain-after-think", a->constrain_after_think,
                "thinking models: the constraint starts after the generated </think> token");
  cmd->callback([a, &runner] { runner = [a] { return run_generate(*a); }; });
}

}  // namespace hearth::cli
