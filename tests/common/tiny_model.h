// Helpers shared by tests: a temp directory and tiny Qwen3 config.json files for
// random:<config.json> models.
#pragma once

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <string>

namespace hearth::testing {

class TempDir {
 public:
  TempDir() {
    std::random_device rd;
    path_ = std::filesystem::temp_directory_path() /
            ("hearth_test_" + std::to_string(rd()) + "_" + std::to_string(rd()));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  std::string write(const std::string& name, const std::string& text) const {
    std::ofstream(path_ / name, std::ios::binary) << text;
    return file(name);
  }

 private:
  std::filesystem::path path_;
};

// A tiny Qwen3 config (GQA, head_dim != hidden/heads) in the transformers-5 dialect.
inline nlohmann::json tiny_config_json() {
  return {{"architectures", {"Qwen3ForCausalLM"}},
          {"model_type", "qwen3"},
          {"vocab_size", 300},
          {"hidden_size", 64},
          {"intermediate_size", 128},
          {"num_hidden_layers", 2},
          {"num_attention_heads", 4},
          {"num_key_value_heads", 2},
          {"head_dim", 32},
          {"rms_norm_eps", 1e-6},
          {"max_position_embeddings", 512},
          {"tie_word_embeddings", false},
          {"rope_parameters", {{"rope_theta", 10000.0}, {"rope_type", "default"}}},
          {"dtype", "float32"}};
}

// tiny_config_json() with other sizes (the GPU tests' models).
struct TinySizes {
  int vocab, hidden, intermediate, heads, kv_heads, head_dim;
  int max_positions = 1024;
};
inline nlohmann::json sized_config_json(const TinySizes& s) {
  nlohmann::json cfg = tiny_config_json();
  cfg["vocab_size"] = s.vocab;
  cfg["hidden_size"] = s.hidden;
  cfg["intermediate_size"] = s.intermediate;
  cfg["num_attention_heads"] = s.heads;
  cfg["num_key_value_heads"] = s.kv_heads;
  cfg["head_dim"] = s.head_dim;
  cfg["max_position_embeddings"] = s.max_positions;
  return cfg;
}

}  // namespace hearth::testing
