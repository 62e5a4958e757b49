// MaskBench (JSONSchemaBench's real-world schemas with valid and invalid instances): loads the
// data set and measures what `hearth schema bench` reports and the tests assert: schemas
// compiled, instances decided as their labels say, compile time, and per-token mask time
// (token by token over each valid instance). The tokenizer is passed in as a function so the
// grammar module does not depend on it.
#pragma once

#include <nlohmann/json.hpp>

#include <functional>
#include <string>
#include <vector>

#include "hearth/grammar/grammar.h"
#include "hearth/grammar/vocabulary.h"

namespace hearth::grammar {

struct MaskBenchCase {
  std::string id;
  nlohmann::json schema;
  std::vector<std::pair<bool, nlohmann::json>> tests;  // (valid, instance)
};

// Reads a .jsonl or .jsonl.gz file of {"id", "schema", "tests": [{"valid", "data"}]} lines.
std::vector<MaskBenchCase> load_maskbench(const std::string& path);

// Reads a whole file, gunzipping it when its name ends in .gz.
std::string read_maybe_gz(const std::string& path);

struct MaskBenchOptions {
  const Vocabulary* vocab = nullptr;  // token-level timing when set
  std::function<std::vector<int32_t>(const std::string&)> encode;
  int threads = 1;
  CompileOptions compile;
  size_t max_cases = 0;  // 0: all
};

struct MaskBenchReport {
  size_t schemas = 0, compiled = 0;
  size_t valid = 0, valid_accepted = 0, invalid = 0, invalid_rejected = 0;
  std::vector<std::pair<std::string, size_t>> refused_reasons;  // most frequent first
  std::vector<std::string> invalid_accepted_ids, valid_rejected_ids;
  std::vector<double> compile_ms;
  std::vector<double> mask_us;
  size_t tokens = 0, token_mismatches = 0, eos_mismatches = 0;
  std::vector<std::string> token_mismatch_ids;
  double wall_s = 0;

  nlohmann::json to_json() const;
};

MaskBenchReport run_maskbench(const std::vector<MaskBenchCase>& cases, const MaskBenchOptions& opts);

}  // namespace hearth::grammar
