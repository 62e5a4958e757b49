// `hearth schema check` and `hearth schema bench`: the issue-6 CLI contract. Scripts and
// tests depend on the flags, exit codes and output format: keep them stable.
//
//   hearth schema check --schema S.json --instance I.json
//     exit 0: the matcher accepts the instance's compact serialization; 1: it rejects it;
//     2: the schema is refused (unsupported keyword, invalid schema) or an input cannot be
//     read; the message goes to stderr.
//   hearth schema check --batch-file F.jsonl
//     lines {"schema": ..., "instance": ...}; prints one
//     {"result": "accept"|"reject"|"unsupported", "error": "..."} per line, in order
//     ("error" is empty on accept, says where on reject, why on unsupported).
//   hearth schema bench --tokenizer DIR --data F.jsonl[.gz] [--threads N] [--max-schemas N]
//     prints JSON: compile time p50/p99, mask time per token p50/p99/mean (token by token over
//     each valid instance tokenized with the tokenizer), valid accepted %, invalid rejected %,
//     refused schemas.
// Options shared by both: --flexible-whitespace, --strict-formats.
// A file name "-" reads standard input.
#include <cstdio>
#include <fstream>
#include <iostream>
#include <list>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <unordered_map>
#include <vector>

#include "cli_io.h"
#include "commands.h"
#include "hearth/core/error.h"
#include "hearth/grammar/grammar.h"
#include "hearth/grammar/maskbench.h"
#include "hearth/grammar/matcher.h"
#include "grammar_vocabulary.h"
#include "hearth/tokenizer/tokenizer.h"

namespace hearth::cli {
namespace {

using nlohmann::json;
namespace gr = hearth::grammar;

struct Decision {
  std::string result;  // accept, reject, unsupported
  std::string error;
};

Decision decide(const std::shared_ptr<const gr::Grammar>& g, const json& instance) {
  const std::string text = instance.dump();
  gr::Matcher m(g, nullptr);
  // Byte by byte, to say where a rejected instance went wrong.
  for (size_t i = 0; i < text.size(); ++i) {
    if (!m.accept_bytes(std::string_view(text).substr(i, 1))) {
      return {"reject", fmt::format("rejected at byte {} of the compact serialization", i)};
    }
  }
  if (!m.is_complete()) return {"reject", "the value is incomplete for the schema"};
  return {"accept", ""};
}

// Compiled grammars of a batch, by schema text (batches often repeat a schema).
class GrammarCache {
 public:
  explicit GrammarCache(gr::CompileOptions opts) : opts_(opts) {}
  std::shared_ptr<const gr::Grammar> get(const json& schema) {
    std::string key = schema.dump();
    auto it = map_.find(key);
    if (it != map_.end()) return it->second;
    auto g = gr::Grammar::from_json_schema(schema, opts_);
    if (map_.size() > 256) map_.clear();
    map_.emplace(std::move(key), g);
    return g;
  }

 private:
  gr::CompileOptions opts_;
  std::unordered_map<std::string, std::shared_ptr<const gr::Grammar>> map_;
};

int run_check_one(const std::string& schema_path, const std::string& instance_path, const gr::CompileOptions& opts) {
  json schema, instance;
  try {
    schema = parse_json<json>(read_input(schema_path), schema_path);
    instance = parse_json<json>(read_input(instance_path), instance_path);
  } catch (const hearth::Error& e) {
    std::fprintf(stderr, "hearth: error: %s\n", e.what());
    return 2;
  }
  std::shared_ptr<const gr::Grammar> g;
  try {
    g = gr::Grammar::from_json_schema(schema, opts);
  } catch (const hearth::Error& e) {
    std::fprintf(stderr, "hearth: schema refused: %s\n", e.what());
    return 2;
  }
  Decision d = decide(g, instance);
  if (d.result == "accept") return 0;
  std::fprintf(stderr, "hearth: %s\n", d.error.c_str());
  return 1;
}

int run_check_batch(const std::string& path, const gr::CompileOptions& opts) {
  std::string text;
  try {
    text = read_input(path);
  } catch (const hearth::Error& e) {
    std::fprintf(stderr, "hearth: error: %s\n", e.what());
    return 2;
  }
  GrammarCache cache(opts);
  std::istringstream in(text);
  std::string line;
  size_t n = 0;
  while (std::getline(in, line)) {
    ++n;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    Decision d;
    try {
      json j = parse_json<json>(line, fmt::format("{} line {}", path, n));
      if (!j.is_object() || !j.contains("schema") || !j.contains("instance")) {
        fail("{} line {}: needs \"schema\" and \"instance\"", path, n);
      }
      std::shared_ptr<const gr::Grammar> g;
      try {
        g = cache.get(j["schema"]);
      } catch (const hearth::Error& e) {
        d = {"unsupported", e.what()};
      }
      if (g) d = decide(g, j["instance"]);
    } catch (const hearth::Error& e) {
      d = {"unsupported", e.what()};
    }
    nlohmann::ordered_json out;
    out["result"] = d.result;
    out["error"] = d.error;
    std::fputs(out.dump().c_str(), stdout);
    std::fputc('\n', stdout);
  }
  std::fflush(stdout);
  return 0;
}

std::shared_ptr<const gr::Vocabulary> vocabulary_of(const Tokenizer& tok) {
  std::vector<int> stops;
  for (const char* s : {"<|im_end|>", "<|endoftext|>"})
    if (auto id = tok.token_to_id(s)) stops.push_back(*id);
  return grammar_vocabulary(tok, stops);
}

}  // namespace

void register_schema(CLI::App& app, Runner& runner) {
  CLI::App* schema = app.add_subcommand("schema", "JSON Schema constrained decoding: check, bench");
  schema->require_subcommand(1);

  struct CheckArgs {
    std::string schema, instance, batch;
    bool flexible = false, strict_formats = false;
  };
  auto check_args = std::make_shared<CheckArgs>();
  CLI::App* check = schema->add_subcommand("check", "does the matcher accept an instance (exit 0/1, 2: refused)");
  check->add_option("--schema", check_args->schema, "JSON Schema file");
  check->add_option("--instance", check_args->instance, "instance JSON file");
  check->add_option("--batch-file", check_args->batch, "JSONL of {\"schema\", \"instance\"}");
  check->add_flag("--flexible-whitespace", check_args->flexible, "allow bounded whitespace between tokens");
  check->add_flag("--strict-formats", check_args->strict_formats, "refuse unknown format names");
  check->callback([check_args, &runner] {
    runner = [check_args]() -> int {
      gr::CompileOptions opts;
      opts.flexible_whitespace = check_args->flexible;
      opts.strict_formats = check_args->strict_formats;
      if (!check_args->batch.empty()) return run_check_batch(check_args->batch, opts);
      if (check_args->schema.empty() || check_args->instance.empty()) {
        std::fprintf(stderr, "hearth: error: schema check needs --schema and --instance, or --batch-file\n");
        return 2;
      }
      return run_check_one(check_args->schema, check_args->instance, opts);
    };
  });

  struct BenchArgs {
    std::string tokenizer, data;
    int threads = 1;
    size_t max_schemas = 0;
    bool flexible = false, strict_formats = false;
  };
  auto bench_args = std::make_shared<BenchArgs>();
  CLI::App* bench = schema->add_subcommand("bench", "MaskBench: compile and per-token mask times (JSON)");
  bench->add_option("--tokenizer", bench_args->tokenizer, "tokenizer directory (tokenizer.json)")->required();
  bench->add_option("--data", bench_args->data, "MaskBench JSONL(.gz)")->required();
  bench->add_option("--threads", bench_args->threads, "worker threads")->check(CLI::Range(1, 256));
  bench->add_option("--max-schemas", bench_args->max_schemas, "only the first N schemas");
  bench->add_flag("--flexible-whitespace", bench_args->flexible, "allow bounded whitespace between tokens");
  bench->add_flag("--strict-formats", bench_args->strict_formats, "refuse unknown format names");
  bench->callback([bench_args, &runner] {
    runner = [bench_args]() -> int {
      auto tok = Tokenizer::load(bench_args->tokenizer);
      auto vocab = vocabulary_of(*tok);
      std::vector<gr::MaskBenchCase> cases = gr::load_maskbench(bench_args->data);
      gr::MaskBenchOptions opts;
      opts.vocab = vocab.get();
      opts.encode = [&tok](const std::string& s) { return tok->encode(s); };
      opts.threads = bench_args->threads;
      opts.max_cases = bench_args->max_schemas;
      opts.compile.flexible_whitespace = bench_args->flexible;
      opts.compile.strict_formats = bench_args->strict_formats;
      gr::MaskBenchReport r = gr::run_maskbench(cases, opts);
      json out = r.to_json();
      out["threads"] = bench_args->threads;
      out["vocab_size"] = vocab->size();
      out["mask_cache_entries"] = vocab->cache_entries();
      out["mask_cache_mib"] = static_cast<double>(vocab->cache_bytes()) / (1 << 20);
      std::puts(out.dump(2).c_str());
      return 0;
    };
  });
}

}  // namespace hearth::cli
