// Shapes of the released dense Qwen3 models, copied from their config.json files on the
// Hugging Face hub (Qwen/Qwen3-0.6B ... Qwen/Qwen3-14B, Qwen/Qwen3-4B-Instruct-2507), so
// that random:<preset> benchmarks move exactly the bytes the real model would.
#include <algorithm>
#include <cctype>
#include <string>

#include "hearth/core/error.h"
#include "hearth/model/config.h"

namespace hearth {

namespace {

struct Preset {
  const char* name;
  int hidden, intermediate, layers, heads, kv_heads;
  bool tied;
  double rope_theta;
  int max_positions;
};

// Every Qwen3 dense model uses head_dim 128, vocab 151936, rms eps 1e-6, bf16 weights.
constexpr Preset kPresets[] = {
    {"qwen3-0.6b", 1024, 3072, 28, 16, 8, true, 1e6, 40960},
    {"qwen3-1.7b", 2048, 6144, 28, 16, 8, true, 1e6, 40960},
    {"qwen3-4b", 2560, 9728, 36, 32, 8, true, 1e6, 40960},
    {"qwen3-8b", 4096, 12288, 36, 32, 8, false, 1e6, 40960},
    {"qwen3-14b", 5120, 17408, 40, 40, 8, false, 1e6, 40960},
    // The 2507 refresh: same shapes as 4B, 256K native context from a larger RoPE base.
    {"qwen3-4b-2507", 2560, 9728, 36, 32, 8, true, 5e6, 262144},
};

std::string normalize(std::string_view name) {
  std::string s(name);
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
  if (s.rfind("qwen/", 0) == 0) s = s.substr(5);
  if (s.rfind("qwen3-", 0) != 0) s = "qwen3-" + s;  // "random:0.6b" works too
  if (s == "qwen3-4b-instruct-2507" || s == "qwen3-4b-thinking-2507") s = "qwen3-4b-2507";
  return s;
}

}  // namespace

ModelConfig preset_config(std::string_view name) {
  const std::string key = normalize(name);
  for (const Preset& p : kPresets) {
    if (key != p.name) continue;
    ModelConfig c;
    c.architecture = "Qwen3ForCausalLM";
    c.vocab_size = 151936;
    c.hidden_size = p.hidden;
    c.intermediate_size = p.intermediate;
    c.num_hidden_layers = p.layers;
    c.num_attention_heads = p.heads;
    c.num_key_value_heads = p.kv_heads;
    c.head_dim = 128;
    c.rms_norm_eps = 1e-6f;
    c.rope = RopeParams{};
    c.rope.theta = p.rope_theta;
    c.max_position_embeddings = p.max_positions;
    c.tie_word_embeddings = p.tied;
    c.attention_bias = false;
    c.dtype = DType::BF16;
    c.eos_token_ids = {151645, 151643};  // <|im_end|>, <|endoftext|>
    c.bos_token_id = 151643;
    return c;
  }
  std::string known;
  for (const Preset& p : kPresets) known += (known.empty() ? "" : ", ") + std::string(p.name);
  fail("unknown model preset \"{}\" (known: {})", name, known);
}

std::vector<std::string> preset_names() {
  std::vector<std::string> names;
  for (const Preset& p : kPresets) names.emplace_back(p.name);
  return names;
}

}  // namespace hearth
