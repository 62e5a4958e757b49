// config.yaml's inference: section: every key, aliases, and errors that name the key.
#include <gtest/gtest.h>

#include <string>

#include "hearth/core/error.h"
#include "hearth/server/server_config.h"

namespace hearth::server {
namespace {

std::string error_of(const std::string& yaml) {
  ServerConfig c;
  try {
    apply_config_yaml_text(yaml, "config.yaml", c);
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "accepted: " << yaml;
  return "";
}

TEST(ServerConfig, EveryKey) {
  ServerConfig c;
  apply_config_yaml_text(R"(
inference:
  model: /models/qwen3-8b
  quantization: null
  dtype: bfloat16
  max_model_len: 8192
  gpu_memory_utilization: 0.9
  max_num_seqs: 32
  max_num_batched_tokens: 8192
  enable_prefix_caching: true
  enable_chunked_prefill: false
  enforce_eager: true
  kv_cache_dtype: FP8
  max_tokens: 512
  temperature: 0.7
  power_limit: 300
  attention_backend: FA2
)", "config.yaml", c);
  EXPECT_EQ(c.model, "/models/qwen3-8b");
  EXPECT_EQ(c.dtype, "bfloat16");
  EXPECT_EQ(c.engine.max_model_len, 8192);
  EXPECT_DOUBLE_EQ(c.device.gpu_memory_utilization, 0.9);
  EXPECT_EQ(c.engine.max_num_seqs, 32);
  EXPECT_EQ(c.engine.max_num_batched_tokens, 8192);
  EXPECT_TRUE(c.engine.enable_prefix_caching);
  EXPECT_FALSE(c.engine.enable_chunked_prefill);
  EXPECT_TRUE(c.enforce_eager);
  EXPECT_EQ(c.engine.kv_cache_dtype, "fp8");
  EXPECT_EQ(*c.default_max_tokens, 512);
  EXPECT_FLOAT_EQ(*c.default_temperature, 0.7f);
  EXPECT_DOUBLE_EQ(*c.power_limit_watts, 300.0);
  EXPECT_EQ(c.attention_backend, "fa2");
}

TEST(ServerConfig, AliasAndEmptyFile) {
  ServerConfig c;
  apply_config_yaml_text("inference:\n  max_batch_size: 12\n", "c.yaml", c);
  EXPECT_EQ(c.engine.max_num_seqs, 12);
  ServerConfig d;
  apply_config_yaml_text("", "c.yaml", d);
  EXPECT_EQ(d.engine.max_num_seqs, 64);
  EXPECT_NE(error_of("inference:\n  max_batch_size: 12\n  max_num_seqs: 13\n").find("disagree"), std::string::npos);
}

TEST(ServerConfig, ErrorsNameTheKeyAndLine) {
  const std::pair<const char*, const char*> cases[] = {
      {"inference:\n  max_num_seqs: many\n", "config.yaml:2: inference.max_num_seqs"},
      {"inference:\n  max_num_seqs: 0\n", "inference.max_num_seqs"},
      {"inference:\n  max_num_seqs: 1.5\n", "inference.max_num_seqs"},
      {"inference:\n  gpu_memory_utilization: 1.5\n", "inference.gpu_memory_utilization"},
      {"inference:\n  enable_prefix_caching: maybe\n", "inference.enable_prefix_caching"},
      {"inference:\n  quantization: awq\n", "inference.quantization"},
      {"inference:\n  dtype: float64\n", "inference.dtype"},
      {"inference:\n  temperature: -1\n", "inference.temperature"},
      {"inference:\n  power_limit: -5\n", "inference.power_limit"},
      {"inference:\n  attention_backend: xformers\n", "inference.attention_backend"},
      {"inference:\n  kv_cache_dtype: int4\n", "inference.kv_cache_dtype"},
      {"inference:\n  model: [a, b]\n", "inference.model"},
      {"inference:\n  max_seqs: 4\n", "unknown key 'inference.max_seqs'"},
      {"server:\n  port: 1\n", "unknown top-level key 'server'"},
      {"inference: [1, 2]\n", "inference: expected a mapping"},
      {"inference:\n  model: [a, b\n", "invalid YAML"},
      {"- a\n- b\n", "expected a mapping"},
  };
  for (const auto& [yaml, expected] : cases) {
    const std::string e = error_of(yaml);
    EXPECT_NE(e.find(expected), std::string::npos) << yaml << " -> " << e;
  }
}

TEST(ServerConfig, Validate) {
  ServerConfig c;
  EXPECT_THROW(c.validate(), Error);  // no model
  c.model = "random:qwen3-0.6b";
  EXPECT_NO_THROW(c.validate());
  c.port = 70000;
  EXPECT_THROW(c.validate(), Error);
  c.port = 0;
  c.attention_backend = "flashinfer";
  EXPECT_THROW(c.validate(), Error);
  c.attention_backend = "auto";
  c.engine.max_num_seqs = 0;
  EXPECT_THROW(c.validate(), Error);
}

TEST(ServerConfig, SplitList) {
  EXPECT_EQ(split_list(" a, b ,,c "), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_TRUE(split_list("").empty());
}

}  // namespace
}  // namespace hearth::server
