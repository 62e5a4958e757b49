// Helpers for hearth/model tests: temp directories, tiny Qwen3 configs, checkpoints written
// with the project's own safetensors writer, and error-message assertions.
#pragma once

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <initializer_list>
#include <string>
#include <vector>

#include "hearth/core/dtype.h"
#include "hearth/core/error.h"
#include "hearth/model/config.h"
#include "hearth/model/safetensors.h"
#include "hearth/model/weight_layout.h"

namespace hearth::test {

namespace fs = std::filesystem;
using json = nlohmann::json;

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "hearth_model_XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return (fs::path(path_) / name).string(); }

 private:
  std::string path_;
};

inline void write_text(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary);
  f << text;
  ASSERT_TRUE(f.good()) << path;
}

inline void write_bytes(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(f.good()) << path;
}

// Runs fn, expects a hearth::Error whose message contains every one of `parts`.
inline void expect_error(const std::function<void()>& fn, std::initializer_list<std::string> parts) {
  try {
    fn();
  } catch (const hearth::Error& e) {
    const std::string msg = e.what();
    for (const auto& p : parts) EXPECT_NE(msg.find(p), std::string::npos) << "message: " << msg << "\nmissing: " << p;
    return;
  } catch (const std::exception& e) {
    ADD_FAILURE() << "expected hearth::Error, got another exception: " << e.what();
    return;
  }
  ADD_FAILURE() << "expected hearth::Error, nothing was thrown";
}

// A tiny Qwen3: GQA (4 heads, 2 kv heads), head_dim 16 != hidden/heads (8), 2 layers.
inline json tiny_config(bool tied = true) {
  return json{{"architectures", {"Qwen3ForCausalLM"}},
              {"model_type", "qwen3"},
              {"vocab_size", 64},
              {"hidden_size", 32},
              {"intermediate_size", 48},
              {"num_hidden_layers", 2},
              {"num_attention_heads", 4},
              {"num_key_value_heads", 2},
              {"head_dim", 16},
              {"rms_norm_eps", 1e-6},
              {"rope_theta", 1000000.0},
              {"rope_scaling", nullptr},
              {"max_position_embeddings", 128},
              {"tie_word_embeddings", tied},
              {"torch_dtype", "bfloat16"},
              {"hidden_act", "silu"},
              {"use_sliding_window", false},
              {"sliding_window", nullptr},
              {"max_window_layers", 2},
              {"bos_token_id", 1},
              {"eos_token_id", 2}};
}

// Deterministic bytes for a tensor of n elements of a float dtype.
inline std::vector<uint8_t> tensor_bytes(const std::string& dtype, int64_t n, uint32_t salt) {
  std::vector<uint8_t> out;
  uint32_t s = salt * 2654435761u + 1;
  for (int64_t i = 0; i < n; ++i) {
    s = s * 1664525u + 1013904223u;
    const float x = static_cast<float>(static_cast<int>(s >> 9) - (1 << 22)) / static_cast<float>(1 << 28);
    if (dtype == "F32") {
      uint8_t b[4];
      std::memcpy(b, &x, 4);
      out.insert(out.end(), b, b + 4);
    } else {
      const uint16_t h = dtype == "BF16" ? f32_to_bf16(x) : f32_to_f16(x);
      out.push_back(static_cast<uint8_t>(h & 0xff));
      out.push_back(static_cast<uint8_t>(h >> 8));
    }
  }
  return out;
}

// All tensors a config expects, as writer entries. dtype_for picks each tensor's dtype.
inline std::vector<SafetensorsEntry> checkpoint_entries(
    const json& cfg_json, const std::function<std::string(const std::string&)>& dtype_for = nullptr) {
  const ModelConfig cfg = parse_model_config(cfg_json.dump(), "test-config");
  std::vector<SafetensorsEntry> entries;
  uint32_t salt = 0;
  for (const TensorSpec& s : expected_tensors(cfg)) {
    const std::string dtype = dtype_for ? dtype_for(s.name) : "BF16";
    std::vector<int64_t> shape(s.shape.dims.begin(), s.shape.dims.begin() + s.shape.ndim);
    entries.push_back({s.name, dtype, shape, tensor_bytes(dtype, s.shape.numel(), ++salt)});
  }
  return entries;
}

inline SafetensorsEntry* find_entry(std::vector<SafetensorsEntry>& entries, const std::string& name) {
  for (auto& e : entries)
    if (e.name == name) return &e;
  return nullptr;
}

// A model directory: config.json (+ generation_config.json when given) + model.safetensors.
inline void write_model_dir(const std::string& dir, const json& cfg, const std::vector<SafetensorsEntry>& entries,
                            const json& generation = nullptr) {
  write_text((fs::path(dir) / "config.json").string(), cfg.dump(2));
  if (!generation.is_null()) write_text((fs::path(dir) / "generation_config.json").string(), generation.dump(2));
  write_safetensors((fs::path(dir) / "model.safetensors").string(), entries);
}

// A raw safetensors file from a header text and a data region.
inline std::vector<uint8_t> raw_safetensors(const std::string& header, size_t data_bytes, uint64_t declared_len) {
  std::vector<uint8_t> out;
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<uint8_t>(declared_len >> (8 * i)));
  out.insert(out.end(), header.begin(), header.end());
  out.resize(out.size() + data_bytes, 0);
  return out;
}
inline std::vector<uint8_t> raw_safetensors(const std::string& header, size_t data_bytes) {
  return raw_safetensors(header, data_bytes, header.size());
}

}  // namespace hearth::test
