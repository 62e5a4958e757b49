// Shared helpers of the tokenizer tests: the Qwen3 tokenizer from ../shared (tests skip
// when it is absent) and the HF reference fixtures in tests/golden/tokenizer/.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "hearth/tokenizer/tokenizer.h"

namespace hearth::test {

inline std::string qwen3_dir() { return std::string(HEARTH_SHARED_DIR) + "/tokenizer/qwen3"; }
inline std::string golden_dir() { return std::string(HEARTH_SOURCE_DIR) + "/tests/golden/tokenizer"; }

inline bool have_qwen3() { return std::filesystem::exists(qwen3_dir() + "/tokenizer.json"); }

#define HEARTH_REQUIRE_QWEN3()                                                              \
  do {                                                                                      \
    if (!::hearth::test::have_qwen3()) {                                                    \
      GTEST_SKIP() << "the Qwen3 tokenizer is not at " << ::hearth::test::qwen3_dir()      \
                   << " (../shared absent)";                                                \
    }                                                                                       \
  } while (0)

// Loaded once per test binary.
inline const Tokenizer& qwen3() {
  static std::unique_ptr<Tokenizer> tok = Tokenizer::load(qwen3_dir());
  return *tok;
}

inline std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline std::vector<nlohmann::ordered_json> read_jsonl(const std::string& path) {
  std::vector<nlohmann::ordered_json> rows;
  std::istringstream in(read_text(path));
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty()) rows.push_back(nlohmann::ordered_json::parse(line));
  }
  return rows;
}

inline std::string from_hex(const std::string& hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) out.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  return out;
}

inline std::vector<int32_t> ids_of(const nlohmann::ordered_json& j) { return j.get<std::vector<int32_t>>(); }

inline std::string show_ids(const std::vector<int32_t>& ids) {
  std::string s = "[";
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i) s += ',';
    s += std::to_string(ids[i]);
  }
  s += ']';
  return s;
}

}  // namespace hearth::test
