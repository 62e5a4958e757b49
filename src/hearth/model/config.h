// Model hyper-parameters (config.json) and generation defaults (generation_config.json).
// Both config.json dialects are read: hub checkpoints (top-level rope_theta,
// rope_scaling, torch_dtype) and transformers 5 (rope_parameters, dtype, layer_types).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "hearth/core/dtype.h"

namespace hearth {

// RoPE frequency parameters. type "default" is plain NeoX RoPE; "yarn" follows HF's
// _compute_yarn_parameters (factor, original_max_position_embeddings, beta_fast/slow).
struct RopeParams {
  double theta = 1000000.0;
  std::string type = "default";
  double factor = 1.0;
  int original_max_position_embeddings = 0;
  double beta_fast = 32.0;
  double beta_slow = 1.0;
  std::optional<double> attention_factor;  // yarn mscale override
  // Optional yarn keys (DeepSeek-style): attention_factor = mscale(f, mscale) / mscale(f, all_dim).
  std::optional<double> mscale;
  std::optional<double> mscale_all_dim;
  bool truncate = true;  // yarn: round the correction range to whole dimensions (HF default)
};

struct ModelConfig {
  std::string architecture = "Qwen3ForCausalLM";
  int vocab_size = 0;
  int hidden_size = 0;
  int intermediate_size = 0;
  int num_hidden_layers = 0;
  int num_attention_heads = 0;
  int num_key_value_heads = 0;
  // config "head_dim". When config.json omits it, HF's Qwen3Config uses 128 (its class
  // default), not hidden_size / num_attention_heads; we do the same so that a checkpoint HF
  // loads is read with the same shapes.
  int head_dim = 0;
  float rms_norm_eps = 1e-6f;
  RopeParams rope;
  int max_position_embeddings = 0;
  bool tie_word_embeddings = false;
  bool attention_bias = false;
  DType dtype = DType::BF16;  // torch_dtype / dtype: the checkpoint's storage type
  std::vector<int> eos_token_ids;  // from config.json; may be empty
  int bos_token_id = -1;

  int q_dim() const { return num_attention_heads * head_dim; }
  int kv_dim() const { return num_key_value_heads * head_dim; }
  // Number of weight elements (lm_head counted once when tied).
  int64_t num_parameters() const;
};

struct GenerationConfig {
  std::vector<int> eos_token_ids;  // union of generation_config and config eos ids
  std::optional<float> temperature;
  std::optional<float> top_p;
  std::optional<int> top_k;
  std::optional<float> min_p;
  std::optional<float> repetition_penalty;
  std::optional<bool> do_sample;
};

// Parses config.json text; `source` (a path) prefixes every error message.
// Validates every field (positive sizes, heads divisible by kv heads, known architecture).
ModelConfig parse_model_config(std::string_view json_text, const std::string& source);
ModelConfig load_model_config(const std::string& path);
GenerationConfig parse_generation_config(std::string_view json_text, const std::string& source);
GenerationConfig load_generation_config(const std::string& path);
// Checks a ModelConfig built in code (presets, tests) with the same rules as config.json;
// `source` prefixes the error message.
void validate_model_config(const ModelConfig& cfg, const std::string& source);

// Exact shapes of released Qwen3 models: "qwen3-0.6b", "qwen3-1.7b", "qwen3-4b",
// "qwen3-8b", "qwen3-14b" (and "qwen3-4b-2507"). Throws for an unknown name.
ModelConfig preset_config(std::string_view name);
std::vector<std::string> preset_names();

// inv_freq[i] for i in [0, head_dim/2) and the attention scaling factor (1 unless yarn).
struct RopeTable {
  std::vector<float> inv_freq;
  float attention_scaling = 1.0f;
};
RopeTable make_rope_table(const ModelConfig& cfg);

}  // namespace hearth
