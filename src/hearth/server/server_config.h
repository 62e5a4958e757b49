// `hearth serve` settings: defaults, then config.yaml's `inference:` section, then the
// command-line flags that were given. Unknown keys and bad values are errors naming the key
// (and the file and line for config.yaml).
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "hearth/engine.h"
#include "hearth/engine/device.h"

namespace hearth::server {

struct ServerConfig {
  // Model.
  std::string model;               // directory or random:<preset|config.json>
  std::string tokenizer;           // tokenizer directory (default: the model's)
  std::string served_model_name;   // default: `model`
  std::string quantization;        // "" / "none": hearth serves unquantized weights
  std::string dtype = "auto";      // auto | bfloat16
  std::string attention_backend = "auto";  // auto | fa2 | sm90 (CUDA prefill kernel)
  bool enforce_eager = false;      // no CUDA step graphs
  std::optional<double> power_limit_watts;  // for the governor (not present yet): recorded only
  EngineOptions engine;
  DeviceOptions device;
  uint64_t random_seed = 0;        // random: models

  // Request defaults (a request's own fields win).
  std::optional<int> default_max_tokens;      // none: up to the context
  std::optional<float> default_temperature;   // none: generation_config.json, then 1

  // HTTP.
  std::string host = "127.0.0.1";
  int port = 8000;
  std::string api_key;              // empty: no authentication
  std::vector<std::string> allowed_origins;  // CORS; "*" allows any
  int max_queued_requests = 1024;   // sequences waiting beyond max_num_seqs before 429
  std::chrono::milliseconds shutdown_timeout{30000};
  size_t max_request_bytes = 16u << 20;
  int max_connections = 1024;
  bool log_requests = true;

  // Throws hearth::Error naming the setting.
  void validate() const;
};

// Applies config.yaml (its `inference:` section) onto `config`. Throws hearth::Error naming
// the file, line and key.
void apply_config_yaml(const std::string& path, ServerConfig& config);
// The same from YAML text (tests, fuzzing); `what` names it in errors.
void apply_config_yaml_text(std::string_view text, const std::string& what, ServerConfig& config);

// "a,b , c" -> {"a", "b", "c"}.
std::vector<std::string> split_list(std::string_view text);

}  // namespace hearth::server
