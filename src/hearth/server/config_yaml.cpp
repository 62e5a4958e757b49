// config.yaml loading (kept apart from ServerConfig::validate so that the fuzzer and tools can
// use it without the engine).
#include "hearth/server/server_config.h"

#include <yaml-cpp/yaml.h>

#include <fstream>
#include <sstream>

#include "hearth/core/error.h"

namespace hearth::server {
namespace {

struct Where {
  const std::string& file;
  std::string key;
  int line;
};

[[noreturn]] void bad(const Where& w, const std::string& why) {
  fail("{}:{}: inference.{}: {}", w.file, w.line, w.key, why);
}

template <typename T>
T scalar(const YAML::Node& node, const Where& w, const char* expected) {
  if (!node.IsScalar()) bad(w, std::string("expected ") + expected);
  try {
    return node.as<T>();
  } catch (const YAML::Exception&) {
    bad(w, std::string("expected ") + expected + ", found '" + node.Scalar() + "'");
  }
}

int positive_int(const YAML::Node& node, const Where& w) {
  const long long v = scalar<long long>(node, w, "a positive integer");
  if (v < 1 || v > (1LL << 31) - 1) bad(w, "expected a positive integer, found " + node.Scalar());
  return static_cast<int>(v);
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>((c >= 'A' && c <= 'Z') ? c + 32 : c);
  return s;
}

}  // namespace

std::vector<std::string> split_list(std::string_view text) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i <= text.size()) {
    size_t j = text.find(',', i);
    if (j == std::string_view::npos) j = text.size();
    std::string_view item = text.substr(i, j - i);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (!item.empty()) out.emplace_back(item);
    i = j + 1;
  }
  return out;
}

void apply_config_yaml(const std::string& path, ServerConfig& config) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("--config: cannot open '{}'", path);
  std::ostringstream ss;
  ss << in.rdbuf();
  apply_config_yaml_text(ss.str(), path, config);
}

void apply_config_yaml_text(std::string_view text, const std::string& what, ServerConfig& config) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(text));
  } catch (const YAML::Exception& e) {
    fail("{}:{}:{}: invalid YAML: {}", what, e.mark.line + 1, e.mark.column + 1, e.msg);
  }
  if (root.IsNull()) return;  // an empty file
  if (!root.IsMap()) fail("{}: expected a mapping with an 'inference:' section", what);
  YAML::Node inference;
  for (const auto& kv : root) {
    const std::string key = kv.first.IsScalar() ? kv.first.Scalar() : std::string("?");
    if (key != "inference")
      fail("{}:{}: unknown top-level key '{}' (expected 'inference')", what, kv.first.Mark().line + 1, key);
    inference = kv.second;
  }
  if (!inference || inference.IsNull()) return;
  if (!inference.IsMap()) fail("{}:{}: inference: expected a mapping", what, inference.Mark().line + 1);

  std::optional<int> max_num_seqs, max_batch_size;
  for (const auto& kv : inference) {
    const std::string key = kv.first.IsScalar() ? kv.first.Scalar() : std::string("?");
    const YAML::Node& v = kv.second;
    const Where w{what, key, kv.first.Mark().line + 1};
    if (key == "model") {
      config.model = scalar<std::string>(v, w, "a model path or random:<preset>");
    } else if (key == "quantization") {
      const std::string q = v.IsNull() ? std::string() : lower(scalar<std::string>(v, w, "a string or null"));
      if (!q.empty() && q != "none")
        bad(w, "'" + q + "' is not supported (hearth serves unquantized bf16 weights: use null or none)");
      config.quantization = q;
    } else if (key == "dtype") {
      const std::string d = lower(scalar<std::string>(v, w, "a string"));
      if (d != "auto" && d != "bfloat16" && d != "bf16")
        bad(w, "'" + d + "' is not supported (auto or bfloat16: hearth computes in bf16 on CUDA, fp32 on the CPU)");
      config.dtype = d;
    } else if (key == "max_model_len") {
      config.engine.max_model_len = positive_int(v, w);
    } else if (key == "gpu_memory_utilization") {
      const double g = scalar<double>(v, w, "a number in (0, 1]");
      if (!(g > 0.0 && g <= 1.0)) bad(w, "expected a number in (0, 1], found " + v.Scalar());
      config.device.gpu_memory_utilization = g;
    } else if (key == "max_num_seqs") {
      max_num_seqs = positive_int(v, w);
    } else if (key == "max_batch_size") {
      max_batch_size = positive_int(v, w);
    } else if (key == "max_num_batched_tokens") {
      config.engine.max_num_batched_tokens = positive_int(v, w);
    } else if (key == "enable_prefix_caching") {
      config.engine.enable_prefix_caching = scalar<bool>(v, w, "true or false");
    } else if (key == "enable_chunked_prefill") {
      config.engine.enable_chunked_prefill = scalar<bool>(v, w, "true or false");
    } else if (key == "enforce_eager") {
      config.enforce_eager = scalar<bool>(v, w, "true or false");
    } else if (key == "kv_cache_dtype") {
      const std::string d = lower(scalar<std::string>(v, w, "a string"));
      if (d != "auto" && d != "fp8" && d != "fp8_e4m3") bad(w, "'" + d + "' is not one of auto, fp8, fp8_e4m3");
      config.engine.kv_cache_dtype = d;
    } else if (key == "max_tokens") {
      config.default_max_tokens = positive_int(v, w);
    } else if (key == "temperature") {
      const double t = scalar<double>(v, w, "a number >= 0");
      if (!(t >= 0.0 && t <= 1e6)) bad(w, "expected a number >= 0, found " + v.Scalar());
      config.default_temperature = static_cast<float>(t);
    } else if (key == "power_limit") {
      if (v.IsNull()) {
        config.power_limit_watts.reset();
      } else {
        const double p = scalar<double>(v, w, "a power in watts (a number > 0) or null");
        if (!(p > 0.0 && p < 1e5)) bad(w, "expected a power in watts (a number > 0), found " + v.Scalar());
        config.power_limit_watts = p;
      }
    } else if (key == "attention_backend") {
      const std::string a = lower(scalar<std::string>(v, w, "a string"));
      if (a != "auto" && a != "fa2" && a != "sm90") bad(w, "'" + a + "' is not one of auto, fa2, sm90");
      config.attention_backend = a;
    } else {
      fail("{}:{}: unknown key 'inference.{}' (known: model, quantization, dtype, max_model_len, "
           "gpu_memory_utilization, max_num_seqs, max_batch_size, max_num_batched_tokens, enable_prefix_caching, "
           "enable_chunked_prefill, enforce_eager, kv_cache_dtype, max_tokens, temperature, power_limit, attention_backend)",
           what, w.line, key);
    }
  }
  if (max_num_seqs && max_batch_size && *max_num_seqs != *max_batch_size)
    fail("{}: inference.max_num_seqs ({}) and its alias max_batch_size ({}) disagree", what, *max_num_seqs,
         *max_batch_size);
  if (max_num_seqs) config.engine.max_num_seqs = *max_num_seqs;
  else if (max_batch_size) config.engine.max_num_seqs = *max_batch_size;
}

}  // namespace hearth::server
