#include <gtest/gtest.h>

#include "hearth/model/config.h"
#include "model_test_util.h"

namespace hearth {
namespace {

using test::expect_error;
using test::json;
using test::tiny_config;

// Qwen/Qwen3-0.6B config.json as published on the hub (transformers 4.51 dialect).
constexpr const char* kHubQwen3_06B = R"({
  "architectures": ["Qwen3ForCausalLM"],
  "attention_bias": false,
  "attention_dropout": 0.0,
  "bos_token_id": 151643,
  "eos_token_id": 151645,
  "head_dim": 128,
  "hidden_act": "silu",
  "hidden_size": 1024,
  "initializer_range": 0.02,
  "intermediate_size": 3072,
  "max_position_embeddings": 40960,
  "max_window_layers": 28,
  "model_type": "qwen3",
  "num_attention_heads": 16,
  "num_hidden_layers": 28,
  "num_key_value_heads": 8,
  "rms_norm_eps": 1e-06,
  "rope_scaling": null,
  "rope_theta": 1000000,
  "sliding_window": null,
  "tie_word_embeddings": true,
  "torch_dtype": "bfloat16",
  "transformers_version": "4.51.0",
  "use_cache": true,
  "use_sliding_window": false,
  "vocab_size": 151936
})";

// What transformers 5 writes for a small Qwen3 (rope_parameters, dtype, layer_types).
constexpr const char* kTransformers5 = R"({
  "architectures": ["Qwen3ForCausalLM"],
  "attention_bias": false,
  "attention_dropout": 0.0,
  "bos_token_id": null,
  "dtype": "float32",
  "eos_token_id": [7, 9],
  "head_dim": 24,
  "hidden_act": "silu",
  "hidden_size": 64,
  "initializer_range": 0.02,
  "intermediate_size": 96,
  "layer_types": ["full_attention", "full_attention", "full_attention"],
  "max_position_embeddings": 512,
  "max_window_layers": 28,
  "model_type": "qwen3",
  "num_attention_heads": 4,
  "num_hidden_layers": 3,
  "num_key_value_heads": 4,
  "pad_token_id": null,
  "rms_norm_eps": 1e-05,
  "rope_parameters": {"rope_theta": 250000.0, "rope_type": "default"},
  "sliding_window": null,
  "tie_word_embeddings": false,
  "transformers_version": "5.0.0",
  "use_cache": true,
  "use_sliding_window": false,
  "vocab_size": 300
})";

TEST(ModelConfig, HubDialect) {
  const ModelConfig c = parse_model_config(kHubQwen3_06B, "hub/config.json");
  EXPECT_EQ(c.architecture, "Qwen3ForCausalLM");
  EXPECT_EQ(c.vocab_size, 151936);
  EXPECT_EQ(c.hidden_size, 1024);
  EXPECT_EQ(c.intermediate_size, 3072);
  EXPECT_EQ(c.num_hidden_layers, 28);
  EXPECT_EQ(c.num_attention_heads, 16);
  EXPECT_EQ(c.num_key_value_heads, 8);
  EXPECT_EQ(c.head_dim, 128);
  EXPECT_EQ(c.q_dim(), 2048);
  EXPECT_EQ(c.kv_dim(), 1024);
  EXPECT_FLOAT_EQ(c.rms_norm_eps, 1e-6f);
  EXPECT_DOUBLE_EQ(c.rope.theta, 1e6);
  EXPECT_EQ(c.rope.type, "default");
  EXPECT_EQ(c.max_position_embeddings, 40960);
  EXPECT_TRUE(c.tie_word_embeddings);
  EXPECT_EQ(c.dtype, DType::BF16);
  EXPECT_EQ(c.eos_token_ids, std::vector<int>{151645});
  EXPECT_EQ(c.bos_token_id, 151643);
  // The published config must describe the same model as the preset.
  const ModelConfig p = preset_config("qwen3-0.6b");
  EXPECT_EQ(c.num_parameters(), p.num_parameters());
}

TEST(ModelConfig, Transformers5Dialect) {
  const ModelConfig c = parse_model_config(kTransformers5, "t5/config.json");
  EXPECT_EQ(c.vocab_size, 300);
  EXPECT_EQ(c.head_dim, 24);
  EXPECT_EQ(c.num_key_value_heads, 4);
  EXPECT_DOUBLE_EQ(c.rope.theta, 250000.0);
  EXPECT_EQ(c.rope.type, "default");
  EXPECT_EQ(c.dtype, DType::F32);
  EXPECT_FALSE(c.tie_word_embeddings);
  EXPECT_EQ(c.eos_token_ids, (std::vector<int>{7, 9}));
  EXPECT_EQ(c.bos_token_id, -1);
  EXPECT_FLOAT_EQ(c.rms_norm_eps, 1e-5f);
}

TEST(ModelConfig, YarnHubDialect) {
  json j = json::parse(kHubQwen3_06B);
  j["rope_scaling"] = {{"rope_type", "yarn"}, {"factor", 4.0}, {"original_max_position_embeddings", 32768}};
  ModelConfig c = parse_model_config(j.dump(), "c.json");
  EXPECT_EQ(c.rope.type, "yarn");
  EXPECT_DOUBLE_EQ(c.rope.factor, 4.0);
  EXPECT_EQ(c.rope.original_max_position_embeddings, 32768);
  EXPECT_DOUBLE_EQ(c.rope.beta_fast, 32.0);
  EXPECT_DOUBLE_EQ(c.rope.beta_slow, 1.0);
  EXPECT_FALSE(c.rope.attention_factor.has_value());
  EXPECT_DOUBLE_EQ(c.rope.theta, 1e6);  // theta stays at top level in this dialect

  // Legacy key "type" instead of "rope_type".
  j["rope_scaling"] = {{"type", "yarn"}, {"factor", 2.0}, {"beta_fast", 16}, {"attention_factor", 1.5}};
  c = parse_model_config(j.dump(), "c.json");
  EXPECT_EQ(c.rope.type, "yarn");
  EXPECT_DOUBLE_EQ(c.rope.factor, 2.0);
  EXPECT_DOUBLE_EQ(c.rope.beta_fast, 16.0);
  EXPECT_DOUBLE_EQ(*c.rope.attention_factor, 1.5);
  EXPECT_EQ(c.rope.original_max_position_embeddings, 0);

  // No factor: HF infers it from max_position_embeddings / original_max_position_embeddings.
  j["rope_scaling"] = {{"rope_type", "yarn"}, {"original_max_position_embeddings", 10240}};
  c = parse_model_config(j.dump(), "c.json");
  EXPECT_DOUBLE_EQ(c.rope.factor, 40960.0 / 10240.0);
}

TEST(ModelConfig, YarnTransformers5Dialect) {
  json j = json::parse(kTransformers5);
  j["rope_parameters"] = {{"rope_theta", 5e6},
                          {"rope_type", "yarn"},
                          {"factor", 4.0},
                          {"original_max_position_embeddings", 128},
                          {"truncate", false}};
  const ModelConfig c = parse_model_config(j.dump(), "c.json");
  EXPECT_EQ(c.rope.type, "yarn");
  EXPECT_DOUBLE_EQ(c.rope.theta, 5e6);
  EXPECT_DOUBLE_EQ(c.rope.factor, 4.0);
  EXPECT_EQ(c.rope.original_max_position_embeddings, 128);
  EXPECT_FALSE(c.rope.truncate);
}

TEST(ModelConfig, DefaultsFollowHfQwen3Config) {
  json j = tiny_config();
  for (const char* k : {"head_dim", "num_key_value_heads", "rope_theta", "max_position_embeddings", "rms_norm_eps",
                        "tie_word_embeddings", "torch_dtype", "eos_token_id", "bos_token_id"})
    j.erase(k);
  const ModelConfig c = parse_model_config(j.dump(), "c.json");
  EXPECT_EQ(c.head_dim, 128);  // Qwen3Config's default, not hidden / heads
  EXPECT_EQ(c.num_key_value_heads, c.num_attention_heads);
  EXPECT_DOUBLE_EQ(c.rope.theta, 10000.0);
  EXPECT_EQ(c.max_position_embeddings, 32768);
  EXPECT_FLOAT_EQ(c.rms_norm_eps, 1e-6f);
  EXPECT_FALSE(c.tie_word_embeddings);
  EXPECT_TRUE(c.eos_token_ids.empty());
  EXPECT_EQ(c.bos_token_id, -1);
}

TEST(ModelConfig, ArchitectureFromModelTypeAlone) {
  json j = tiny_config();
  j.erase("architectures");
  EXPECT_EQ(parse_model_config(j.dump(), "c.json").architecture, "Qwen3ForCausalLM");
}

TEST(ModelConfig, EosForms) {
  json j = tiny_config();
  j["eos_token_id"] = json::array({5, 6, 5});
  EXPECT_EQ(parse_model_config(j.dump(), "c").eos_token_ids, (std::vector<int>{5, 6}));
  j["eos_token_id"] = nullptr;
  EXPECT_TRUE(parse_model_config(j.dump(), "c").eos_token_ids.empty());
  j["eos_token_id"] = 9;
  EXPECT_EQ(parse_model_config(j.dump(), "c").eos_token_ids, std::vector<int>{9});
}

// Each case: a mutation of the tiny config, and the fragments the error must contain.
struct BadConfig {
  const char* what;
  std::function<void(json&)> mutate;
  std::vector<std::string> expect;
};

TEST(ModelConfig, RefusesBadConfigsWithFieldNamed) {
  const std::vector<BadConfig> cases = {
      {"unknown architecture", [](json& j) { j["architectures"] = {"LlamaForCausalLM"}; },
       {"model/config.json: architectures: ", "LlamaForCausalLM"}},
      {"moe model type", [](json& j) { j["model_type"] = "qwen3_moe"; }, {"model_type", "qwen3_moe"}},
      {"no architecture at all", [](json& j) { j.erase("architectures"); j.erase("model_type"); }, {"architectures"}},
      {"missing vocab", [](json& j) { j.erase("vocab_size"); }, {"vocab_size: missing"}},
      {"zero hidden", [](json& j) { j["hidden_size"] = 0; }, {"hidden_size", "0"}},
      {"negative layers", [](json& j) { j["num_hidden_layers"] = -3; }, {"num_hidden_layers", "-3"}},
      {"string size", [](json& j) { j["hidden_size"] = "32"; }, {"hidden_size: expected an integer"}},
      {"fractional size", [](json& j) { j["intermediate_size"] = 48.5; }, {"intermediate_size"}},
      {"heads not multiple of kv", [](json& j) { j["num_key_value_heads"] = 3; },
       {"num_attention_heads: 4 is not a multiple of num_key_value_heads (3)"}},
      {"odd head_dim", [](json& j) { j["head_dim"] = 15; }, {"head_dim", "odd"}},
      {"unknown dtype", [](json& j) { j["torch_dtype"] = "float8"; }, {"torch_dtype: unknown dtype \"float8\""}},
      {"unknown dtype t5", [](json& j) { j["dtype"] = "int4"; }, {"dtype: unknown dtype \"int4\""}},
      {"sliding window", [](json& j) { j["use_sliding_window"] = true; j["sliding_window"] = 4096; j["max_window_layers"] = 1; },
       {"use_sliding_window", "sliding-window attention", "not supported"}},
      {"sliding layer type", [](json& j) { j["layer_types"] = {"full_attention", "sliding_attention"}; },
       {"layer_types: layer 1 uses sliding-window attention"}},
      {"layer_types length", [](json& j) { j["layer_types"] = {"full_attention"}; }, {"layer_types: has 1 entries"}},
      {"rope linear", [](json& j) { j["rope_scaling"] = {{"rope_type", "linear"}, {"factor", 2.0}}; },
       {"rope_scaling.rope_type: unsupported RoPE type \"linear\""}},
      {"rope llama3 t5", [](json& j) { j["rope_parameters"] = {{"rope_type", "llama3"}, {"rope_theta", 1e4}}; },
       {"rope_parameters.rope_type", "llama3"}},
      {"yarn no factor", [](json& j) { j["rope_scaling"] = {{"rope_type", "yarn"}}; }, {"rope_scaling.factor: missing"}},
      {"yarn factor < 1", [](json& j) { j["rope_scaling"] = {{"rope_type", "yarn"}, {"factor", 0.5}}; },
       {"rope_scaling.factor", ">= 1"}},
      {"rope_scaling not object", [](json& j) { j["rope_scaling"] = "yarn"; }, {"rope_scaling: expected an object"}},
      {"rope theta 1", [](json& j) { j["rope_theta"] = 1; }, {"rope_theta"}},
      {"rope theta huge", [](json& j) { j["rope_theta"] = 1e70; }, {"rope_theta", "1e+70"}},
      {"yarn negative mscale", [](json& j) { j["rope_scaling"] = {{"rope_type", "yarn"}, {"factor", 4.0}, {"mscale", -10}, {"mscale_all_dim", 1}}; },
       {"rope_scaling.mscale"}},
      {"negative eps", [](json& j) { j["rms_norm_eps"] = -1e-6; }, {"rms_norm_eps"}},
      {"attention bias", [](json& j) { j["attention_bias"] = true; }, {"attention_bias"}},
      {"activation", [](json& j) { j["hidden_act"] = "gelu"; }, {"hidden_act", "gelu"}},
      {"eos string", [](json& j) { j["eos_token_id"] = "</s>"; }, {"eos_token_id"}},
      {"eos negative", [](json& j) { j["eos_token_id"] = {1, -2}; }, {"eos_token_id", "-2"}},
      {"tie not bool", [](json& j) { j["tie_word_embeddings"] = 1; }, {"tie_word_embeddings: expected true or false"}},
      {"absurd size", [](json& j) { j["hidden_size"] = 1 << 20; j["intermediate_size"] = 1 << 22; j["num_hidden_layers"] = 4096; },
       {"parameters; refusing"}},
  };
  for (const BadConfig& bc : cases) {
    SCOPED_TRACE(bc.what);
    json j = tiny_config();
    bc.mutate(j);
    const std::string text = j.dump();
    try {
      parse_model_config(text, "model/config.json");
      ADD_FAILURE() << "accepted: " << text;
    } catch (const Error& e) {
      const std::string msg = e.what();
      EXPECT_EQ(msg.rfind("model/config.json: ", 0), 0u) << msg;
      for (const auto& part : bc.expect) EXPECT_NE(msg.find(part), std::string::npos) << msg << "\nmissing: " << part;
    }
  }
}

TEST(ModelConfig, OverflowingNumbersAreRefused) {
  // 1e999 overflows a double: it must be refused, not read as infinity or crash.
  std::string text = kHubQwen3_06B;
  text.replace(text.find("1e-06"), 5, "1e999");
  try {
    parse_model_config(text, "c.json");
    ADD_FAILURE() << "accepted rms_norm_eps 1e999";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()).rfind("c.json: ", 0), 0u) << e.what();
  }
  text = kHubQwen3_06B;
  text.replace(text.find("151936"), 6, "99999999999999999999999");
  expect_error([&] { parse_model_config(text, "c.json"); }, {"c.json: vocab_size"});
}

TEST(ModelConfig, MalformedJsonNamesThePath) {
  for (const char* text : {"", "{", "{\"vocab_size\": }", "not json", "{\"a\":1}}", "\xff\xfe"}) {
    SCOPED_TRACE(text);
    expect_error([&] { parse_model_config(text, "m/config.json"); }, {"m/config.json: malformed JSON"});
  }
  expect_error([&] { parse_model_config("[1, 2]", "m/config.json"); }, {"m/config.json: expected a JSON object"});
}

TEST(ModelConfig, LoadFromFile) {
  test::TempDir dir;
  test::write_text(dir.file("config.json"), tiny_config().dump());
  EXPECT_EQ(load_model_config(dir.file("config.json")).hidden_size, 32);
  expect_error([&] { load_model_config(dir.file("nope.json")); }, {dir.file("nope.json"), "cannot open"});
}

TEST(GenerationConfig, Qwen3Defaults) {
  // Qwen/Qwen3-0.6B generation_config.json.
  const GenerationConfig g = parse_generation_config(R"({
    "bos_token_id": 151643, "do_sample": true, "eos_token_id": [151645, 151643],
    "pad_token_id": 151643, "temperature": 0.6, "top_k": 20, "top_p": 0.95,
    "transformers_version": "4.51.0"})", "g.json");
  EXPECT_EQ(g.eos_token_ids, (std::vector<int>{151645, 151643}));
  EXPECT_FLOAT_EQ(*g.temperature, 0.6f);
  EXPECT_EQ(*g.top_k, 20);
  EXPECT_FLOAT_EQ(*g.top_p, 0.95f);
  EXPECT_TRUE(*g.do_sample);
  EXPECT_FALSE(g.min_p.has_value());
  EXPECT_FALSE(g.repetition_penalty.has_value());

  const GenerationConfig e = parse_generation_config("{}", "g.json");
  EXPECT_TRUE(e.eos_token_ids.empty());
  EXPECT_FALSE(e.temperature.has_value());
}

TEST(GenerationConfig, RefusesBadValues) {
  expect_error([] { parse_generation_config(R"({"top_p": 2})", "g.json"); }, {"g.json: top_p"});
  expect_error([] { parse_generation_config(R"({"temperature": "hot"})", "g.json"); }, {"g.json: temperature"});
  expect_error([] { parse_generation_config(R"({"top_k": -1})", "g.json"); }, {"g.json: top_k"});
  expect_error([] { parse_generation_config(R"({"eos_token_id": {}})", "g.json"); }, {"g.json: eos_token_id"});
  expect_error([] { parse_generation_config("{,}", "g.json"); }, {"g.json: malformed JSON"});
}

TEST(Presets, ShapesOfReleasedModels) {
  struct Expect {
    const char* name;
    int hidden, inter, layers, heads, kv;
    bool tied;
    // Model-card figures (hf.co/Qwen/...): total and non-embedding parameters, in billions.
    double total_b, non_embedding_b;
  };
  const Expect expect[] = {
      {"qwen3-0.6b", 1024, 3072, 28, 16, 8, true, 0.6, 0.44},
      {"qwen3-1.7b", 2048, 6144, 28, 16, 8, true, 1.7, 1.4},
      {"qwen3-4b", 2560, 9728, 36, 32, 8, true, 4.0, 3.6},
      {"qwen3-8b", 4096, 12288, 36, 32, 8, false, 8.2, 6.95},
      {"qwen3-14b", 5120, 17408, 40, 40, 8, false, 14.8, 13.2},
  };
  for (const Expect& e : expect) {
    SCOPED_TRACE(e.name);
    const ModelConfig c = preset_config(e.name);
    EXPECT_NO_THROW(validate_model_config(c, e.name));
    EXPECT_EQ(c.hidden_size, e.hidden);
    EXPECT_EQ(c.intermediate_size, e.inter);
    EXPECT_EQ(c.num_hidden_layers, e.layers);
    EXPECT_EQ(c.num_attention_heads, e.heads);
    EXPECT_EQ(c.num_key_value_heads, e.kv);
    EXPECT_EQ(c.head_dim, 128);
    EXPECT_EQ(c.tie_word_embeddings, e.tied);
    EXPECT_EQ(c.vocab_size, 151936);
    EXPECT_DOUBLE_EQ(c.rope.theta, 1e6);
    EXPECT_EQ(c.max_position_embeddings, 40960);
    EXPECT_EQ(c.dtype, DType::BF16);
    EXPECT_EQ(c.eos_token_ids, (std::vector<int>{151645, 151643}));
    const double embed = static_cast<double>(c.vocab_size) * c.hidden_size * (c.tie_word_embeddings ? 1 : 2);
    // Model cards round to 2-3 significant digits.
    EXPECT_NEAR(static_cast<double>(c.num_parameters()) / 1e9, e.total_b, 0.06);
    EXPECT_NEAR((static_cast<double>(c.num_parameters()) - embed) / 1e9, e.non_embedding_b, 0.06);
  }
  const ModelConfig c2507 = preset_config("qwen3-4b-2507");
  EXPECT_DOUBLE_EQ(c2507.rope.theta, 5e6);
  EXPECT_EQ(c2507.max_position_embeddings, 262144);
  EXPECT_EQ(c2507.hidden_size, 2560);
  EXPECT_EQ(preset_config("Qwen3-8B").hidden_size, 4096);
  EXPECT_EQ(preset_config("1.7b").hidden_size, 2048);
  EXPECT_EQ(preset_names().size(), 6u);
  expect_error([] { preset_config("qwen3-3b"); }, {"qwen3-3b", "qwen3-0.6b"});
}

}  // namespace
}  // namespace hearth
