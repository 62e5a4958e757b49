// config.json / generation_config.json parsing. Unset optional fields take the defaults of
// HF's Qwen3Config (so a file HF accepts means the same model here); everything hearth
// cannot run (other architectures, sliding windows, RoPE types other than default/yarn,
// attention biases) is refused with the field named, never silently approximated.
#include <algorithm>
#include <climits>
#include <cmath>
#include <string>
#include <vector>

#include "hearth/core/error.h"
#include "hearth/model/config.h"
#include "hearth/model/json_util.h"

namespace hearth {

using model_detail::describe;
using model_detail::json;
using model_detail::JsonFields;

namespace {

constexpr const char* kArchitecture = "Qwen3ForCausalLM";

// HF Qwen3Config defaults for fields a config.json may omit.
constexpr int kDefaultHeadDim = 128;
constexpr int kDefaultMaxPositions = 32768;
constexpr double kDefaultRopeTheta = 10000.0;
constexpr double kDefaultRmsEps = 1e-6;
constexpr int kDefaultMaxWindowLayers = 28;

// Bounds far above any real model, low enough that shape products cannot overflow int64.
constexpr int64_t kMaxVocab = int64_t{1} << 24;
constexpr int64_t kMaxHidden = int64_t{1} << 20;
constexpr int64_t kMaxIntermediate = int64_t{1} << 22;
constexpr int64_t kMaxLayers = 4096;
constexpr int64_t kMaxHeads = 1024;
constexpr int64_t kMaxHeadDim = 1024;
constexpr int64_t kMaxPositions = int64_t{1} << 30;
constexpr double kMaxParameters = 1099511627776.0;  // 2^40
constexpr double kMaxRopeTheta = 1e12;
constexpr double kMaxRopeFactor = 1e6;

std::optional<DType> dtype_from_config_name(const std::string& s) {
  if (s == "bfloat16" || s == "bf16" || s == "torch.bfloat16") return DType::BF16;
  if (s == "float16" || s == "fp16" || s == "half" || s == "torch.float16") return DType::F16;
  if (s == "float32" || s == "fp32" || s == "float" || s == "torch.float32") return DType::F32;
  return std::nullopt;
}

// eos_token_id: an int, a list of ints, or absent/null.
std::vector<int> parse_token_ids(const JsonFields& f, std::string_view key) {
  std::vector<int> ids;
  const json* v = f.get(key);
  if (v == nullptr) return ids;
  auto one = [&](const json& x) {
    const auto id = model_detail::as_int(x, 0, INT_MAX);
    if (!id) f.fail_field(key, fmt::format("expected a non-negative token id, got {}", describe(x)));
    if (std::find(ids.begin(), ids.end(), static_cast<int>(*id)) == ids.end()) ids.push_back(static_cast<int>(*id));
  };
  if (v->is_array()) {
    for (const json& x : *v) one(x);
  } else if (v->is_number()) {
    one(*v);
  } else {
    f.fail_field(key, fmt::format("expected a token id or a list of token ids, got {}", describe(*v)));
  }
  return ids;
}

void parse_architecture(const JsonFields& f, ModelConfig& c) {
  const auto model_type = f.opt_string("model_type");
  std::vector<std::string> archs;
  if (const json* a = f.opt_array("architectures")) {
    for (const json& x : *a) {
      if (!x.is_string()) f.fail_field("architectures", fmt::format("expected a list of strings, found {}", describe(x)));
      archs.push_back(x.get<std::string>());
    }
  }
  if (!archs.empty()) {
    if (std::find(archs.begin(), archs.end(), kArchitecture) == archs.end()) {
      std::string list;
      for (const auto& s : archs) list += (list.empty() ? "" : ", ") + s;
      f.fail_field("architectures", fmt::format("unsupported architecture {} (hearth runs {})", list, kArchitecture));
    }
  } else if (!model_type) {
    fail("{}: architectures: missing, and no model_type either (hearth runs {} / model_type \"qwen3\")",
         f.source(), kArchitecture);
  }
  if (model_type && *model_type != "qwen3")
    f.fail_field("model_type", fmt::format("unsupported model type \"{}\" (hearth runs \"qwen3\")", *model_type));
  c.architecture = kArchitecture;
}

// Hub configs carry rope_theta at top level and an optional rope_scaling object;
// transformers 5 configs carry rope_parameters {rope_theta, rope_type, ...}.
void parse_rope(const JsonFields& f, ModelConfig& c) {
  c.rope = RopeParams{};
  c.rope.theta = f.opt_number("rope_theta").value_or(kDefaultRopeTheta);
  const json* rp = f.opt_object("rope_parameters");
  const json* rs = f.opt_object("rope_scaling");
  const json* params = rp != nullptr ? rp : rs;
  std::string prefix = rp != nullptr ? "rope_parameters." : "rope_scaling.";
  if (params == nullptr) return;
  // Per-layer-type form {"full_attention": {...}}: hearth runs full attention only.
  if (const auto it = params->find("full_attention"); it != params->end() && it->is_object()) {
    params = &*it;
    prefix += "full_attention.";
  }
  const JsonFields p(*params, f.source(), prefix);
  if (const auto t = p.opt_number("rope_theta")) c.rope.theta = *t;
  if (const auto prf = p.opt_number("partial_rotary_factor"); prf && *prf != 1.0)
    p.fail_field("partial_rotary_factor", fmt::format("{} is not supported (Qwen3 rotates the whole head)", *prf));
  std::string type = "default";
  std::string type_key = "rope_type";
  if (const auto t = p.opt_string("rope_type")) {
    type = *t;
  } else if (const auto t2 = p.opt_string("type")) {
    type = *t2;
    type_key = "type";
  }
  c.rope.type = type;
  if (type == "default") return;
  if (type != "yarn")
    p.fail_field(type_key, fmt::format("unsupported RoPE type \"{}\" (hearth supports \"default\" and \"yarn\")", type));

  const auto factor = p.opt_number("factor");
  const auto orig = p.opt_int("original_max_position_embeddings", 1, kMaxPositions);
  if (factor) {
    c.rope.factor = *factor;
  } else if (orig) {
    // HF infers the factor from the context extension when it is not given.
    c.rope.factor = static_cast<double>(c.max_position_embeddings) / static_cast<double>(*orig);
  } else {
    p.fail_field("factor", "missing (required for yarn)");
  }
  if (!(c.rope.factor >= 1.0)) p.fail_field("factor", fmt::format("must be >= 1 for yarn, got {}", c.rope.factor));
  c.rope.original_max_position_embeddings = static_cast<int>(orig.value_or(0));
  if (const auto af = p.opt_number("attention_factor")) {
    if (!(*af > 0)) p.fail_field("attention_factor", fmt::format("must be > 0, got {}", *af));
    c.rope.attention_factor = *af;
  }
  // HF reads these with `get(...) or default`, so 0 also means "default".
  if (const auto bf = p.opt_number("beta_fast"); bf && *bf != 0) c.rope.beta_fast = *bf;
  if (const auto bs = p.opt_number("beta_slow"); bs && *bs != 0) c.rope.beta_slow = *bs;
  c.rope.mscale = p.opt_number("mscale");
  c.rope.mscale_all_dim = p.opt_number("mscale_all_dim");
  c.rope.truncate = p.opt_bool("truncate").value_or(true);
}

void check_full_attention(const JsonFields& f, const ModelConfig& c) {
  const auto use_sw = f.opt_bool("use_sliding_window");
  const auto window = f.opt_int("sliding_window", 0, INT64_MAX);
  const auto max_window_layers = f.opt_int("max_window_layers", 0, INT64_MAX);
  if (const json* lt = f.opt_array("layer_types")) {
    if (lt->size() != static_cast<size_t>(c.num_hidden_layers))
      f.fail_field("layer_types", fmt::format("has {} entries but num_hidden_layers is {}", lt->size(), c.num_hidden_layers));
    for (size_t i = 0; i < lt->size(); ++i) {
      const json& t = (*lt)[i];
      if (!t.is_string()) f.fail_field("layer_types", fmt::format("entry {} is {}, expected a string", i, describe(t)));
      const auto s = t.get<std::string>();
      if (s == "full_attention") continue;
      if (s == "sliding_attention")
        f.fail_field("layer_types", fmt::format("layer {} uses sliding-window attention, which hearth does not support", i));
      f.fail_field("layer_types", fmt::format("layer {} has unknown attention type \"{}\"", i, s));
    }
    return;
  }
  // HF Qwen3Config: layers from max_window_layers on slide when use_sliding_window is set.
  if (use_sw.value_or(false) && window &&
      max_window_layers.value_or(kDefaultMaxWindowLayers) < c.num_hidden_layers) {
    f.fail_field("use_sliding_window",
                 fmt::format("sliding-window attention (window {} from layer {}) is not supported; hearth runs "
                             "full attention only",
                             *window, max_window_layers.value_or(kDefaultMaxWindowLayers)));
  }
}

ModelConfig parse_model_config_impl(std::string_view text, const std::string& source) {
  const json j = model_detail::parse_json(text, source);
  if (!j.is_object()) fail("{}: expected a JSON object, got {}", source, describe(j));
  const JsonFields f(j, source);
  ModelConfig c;
  parse_architecture(f, c);

  c.vocab_size = static_cast<int>(f.req_int("vocab_size", 1, kMaxVocab));
  c.hidden_size = static_cast<int>(f.req_int("hidden_size", 1, kMaxHidden));
  c.intermediate_size = static_cast<int>(f.req_int("intermediate_size", 1, kMaxIntermediate));
  c.num_hidden_layers = static_cast<int>(f.req_int("num_hidden_layers", 1, kMaxLayers));
  c.num_attention_heads = static_cast<int>(f.req_int("num_attention_heads", 1, kMaxHeads));
  c.num_key_value_heads =
      static_cast<int>(f.opt_int("num_key_value_heads", 1, kMaxHeads).value_or(c.num_attention_heads));
  c.head_dim = static_cast<int>(f.opt_int("head_dim", 1, kMaxHeadDim).value_or(kDefaultHeadDim));
  c.rms_norm_eps = static_cast<float>(f.opt_number("rms_norm_eps").value_or(kDefaultRmsEps));
  c.max_position_embeddings =
      static_cast<int>(f.opt_int("max_position_embeddings", 1, kMaxPositions).value_or(kDefaultMaxPositions));
  c.tie_word_embeddings = f.opt_bool("tie_word_embeddings").value_or(false);
  c.attention_bias = f.opt_bool("attention_bias").value_or(false);
  if (c.attention_bias) f.fail_field("attention_bias", "true is not supported (released Qwen3 models have no q/k/v/o biases)");
  if (const auto act = f.opt_string("hidden_act"); act && *act != "silu")
    f.fail_field("hidden_act", fmt::format("unsupported activation \"{}\" (Qwen3 uses silu)", *act));
  if (const auto prf = f.opt_number("partial_rotary_factor"); prf && *prf != 1.0)
    f.fail_field("partial_rotary_factor", fmt::format("{} is not supported (Qwen3 rotates the whole head)", *prf));

  // transformers 5 writes "dtype"; hub checkpoints "torch_dtype".
  const char* dtype_key = f.has("dtype") ? "dtype" : "torch_dtype";
  if (const auto d = f.opt_string(dtype_key)) {
    const auto t = dtype_from_config_name(*d);
    if (!t) f.fail_field(dtype_key, fmt::format("unknown dtype \"{}\" (expected bfloat16, float16 or float32)", *d));
    c.dtype = *t;
  }
  c.eos_token_ids = parse_token_ids(f, "eos_token_id");
  c.bos_token_id = static_cast<int>(f.opt_int("bos_token_id", 0, INT_MAX).value_or(-1));

  parse_rope(f, c);
  check_full_attention(f, c);
  validate_model_config(c, source);
  return c;
}

GenerationConfig parse_generation_config_impl(std::string_view text, const std::string& source) {
  const json j = model_detail::parse_json(text, source);
  if (!j.is_object()) fail("{}: expected a JSON object, got {}", source, describe(j));
  const JsonFields f(j, source);
  GenerationConfig g;
  g.eos_token_ids = parse_token_ids(f, "eos_token_id");
  if (const auto t = f.opt_number("temperature")) {
    if (*t < 0) f.fail_field("temperature", fmt::format("must be >= 0, got {}", *t));
    g.temperature = static_cast<float>(*t);
  }
  if (const auto p = f.opt_number("top_p")) {
    if (!(*p > 0 && *p <= 1)) f.fail_field("top_p", fmt::format("must be in (0, 1], got {}", *p));
    g.top_p = static_cast<float>(*p);
  }
  if (const auto k = f.opt_int("top_k", 0, INT_MAX)) g.top_k = static_cast<int>(*k);
  if (const auto m = f.opt_number("min_p")) {
    if (!(*m >= 0 && *m <= 1)) f.fail_field("min_p", fmt::format("must be in [0, 1], got {}", *m));
    g.min_p = static_cast<float>(*m);
  }
  if (const auto r = f.opt_number("repetition_penalty")) {
    if (!(*r > 0)) f.fail_field("repetition_penalty", fmt::format("must be > 0, got {}", *r));
    g.repetition_penalty = static_cast<float>(*r);
  }
  g.do_sample = f.opt_bool("do_sample");
  return g;
}

}  // namespace

int64_t ModelConfig::num_parameters() const {
  // Unsigned arithmetic: defined even for a nonsense config that was never validated.
  const uint64_t h = static_cast<uint64_t>(hidden_size);
  const uint64_t per_layer = 2 * h                                              // norms
                             + static_cast<uint64_t>(q_dim()) * h * 2           // q, o
                             + static_cast<uint64_t>(kv_dim()) * h * 2          // k, v
                             + 2 * static_cast<uint64_t>(head_dim)              // q/k norms
                             + 3 * static_cast<uint64_t>(intermediate_size) * h;  // mlp
  const uint64_t embed = static_cast<uint64_t>(vocab_size) * h;
  return static_cast<int64_t>(embed * (tie_word_embeddings ? 1 : 2) + h +
                              per_layer * static_cast<uint64_t>(num_hidden_layers));
}

void validate_model_config(const ModelConfig& c, const std::string& source) {
  auto bad = [&](const char* field, const std::string& problem) { fail("{}: {}: {}", source, field, problem); };
  auto in_range = [&](const char* field, int64_t v, int64_t lo, int64_t hi) {
    if (v < lo || v > hi) bad(field, fmt::format("{} is out of range [{}, {}]", v, lo, hi));
  };
  if (c.architecture != kArchitecture)
    bad("architectures", fmt::format("unsupported architecture {} (hearth runs {})", c.architecture, kArchitecture));
  in_range("vocab_size", c.vocab_size, 1, kMaxVocab);
  in_range("hidden_size", c.hidden_size, 1, kMaxHidden);
  in_range("intermediate_size", c.intermediate_size, 1, kMaxIntermediate);
  in_range("num_hidden_layers", c.num_hidden_layers, 1, kMaxLayers);
  in_range("num_attention_heads", c.num_attention_heads, 1, kMaxHeads);
  in_range("num_key_value_heads", c.num_key_value_heads, 1, kMaxHeads);
  in_range("head_dim", c.head_dim, 2, kMaxHeadDim);
  in_range("max_position_embeddings", c.max_position_embeddings, 1, kMaxPositions);
  if (c.num_attention_heads % c.num_key_value_heads != 0)
    bad("num_attention_heads", fmt::format("{} is not a multiple of num_key_value_heads ({})", c.num_attention_heads,
                                           c.num_key_value_heads));
  if (c.head_dim % 2 != 0) bad("head_dim", fmt::format("{} is odd; RoPE rotates pairs of dimensions", c.head_dim));
  if (!(c.rms_norm_eps > 0 && std::isfinite(c.rms_norm_eps)))
    bad("rms_norm_eps", fmt::format("must be a positive finite number, got {}", c.rms_norm_eps));
  if (c.dtype != DType::BF16 && c.dtype != DType::F16 && c.dtype != DType::F32)
    bad("torch_dtype", fmt::format("{} is not a floating-point weight type", dtype_name(c.dtype)));
  if (c.attention_bias) bad("attention_bias", "true is not supported");
  for (const int id : c.eos_token_ids)
    if (id < 0) bad("eos_token_id", fmt::format("{} is negative", id));

  const RopeParams& r = c.rope;
  // Upper bounds keep every float32 frequency normal and every scale finite (real models
  // use theta <= 1e7, yarn factors <= 64).
  auto positive_up_to = [&](const char* field, double v, double lo_exclusive, double hi) {
    if (!(std::isfinite(v) && v > lo_exclusive && v <= hi))
      bad(field, fmt::format("must be in ({}, {}], got {}", lo_exclusive, hi, v));
  };
  positive_up_to("rope_theta", r.theta, 1.0, kMaxRopeTheta);
  if (r.type == "yarn") {
    if (!(std::isfinite(r.factor) && r.factor >= 1.0 && r.factor <= kMaxRopeFactor))
      bad("rope_scaling.factor", fmt::format("must be in [1, {}], got {}", kMaxRopeFactor, r.factor));
    positive_up_to("rope_scaling.beta_fast", r.beta_fast, 0.0, kMaxRopeFactor);
    positive_up_to("rope_scaling.beta_slow", r.beta_slow, 0.0, kMaxRopeFactor);
    if (r.original_max_position_embeddings < 0)
      bad("rope_scaling.original_max_position_embeddings", fmt::format("{} is negative", r.original_max_position_embeddings));
    if (r.attention_factor) positive_up_to("rope_scaling.attention_factor", *r.attention_factor, 0.0, kMaxRopeFactor);
    // mscale 0 means "unset" to HF; negative values could make the ratio infinite.
    for (const auto& [field, v] : {std::pair{"rope_scaling.mscale", r.mscale},
                                   std::pair{"rope_scaling.mscale_all_dim", r.mscale_all_dim}})
      if (v && !(*v >= 0 && *v <= kMaxRopeFactor))
        bad(field, fmt::format("must be in [0, {}], got {}", kMaxRopeFactor, *v));
  } else if (r.type != "default") {
    bad("rope_scaling.rope_type", fmt::format("unsupported RoPE type \"{}\" (hearth supports \"default\" and \"yarn\")", r.type));
  }
  // Bounded dims keep this product far from overflow; the cap refuses absurd random: models.
  const double params = static_cast<double>(c.num_parameters());
  if (params > kMaxParameters)
    bad("hidden_size", fmt::format("the model would have {:.3g} parameters; refusing (limit {:.3g})", params, kMaxParameters));
}

ModelConfig parse_model_config(std::string_view json_text, const std::string& source) {
  try {
    return parse_model_config_impl(json_text, source);
  } catch (const json::exception& e) {  // defensive: no nlohmann exception leaves the parser
    fail("{}: {}", source, e.what());
  }
}

ModelConfig load_model_config(const std::string& path) {
  return parse_model_config(model_detail::read_text_file(path), path);
}

GenerationConfig parse_generation_config(std::string_view json_text, const std::string& source) {
  try {
    return parse_generation_config_impl(json_text, source);
  } catch (const json::exception& e) {
    fail("{}: {}", source, e.what());
  }
}

GenerationConfig load_generation_config(const std::string& path) {
  return parse_generation_config(model_detail::read_text_file(path), path);
}

}  // namespace hearth
