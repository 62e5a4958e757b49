#include "hearth/tokenizer/chat_template.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "hearth/core/error.h"
#include "hearth/tokenizer/py_json.h"

namespace hearth {
namespace {

namespace fs = std::filesystem;

// Fingerprints of the canonical forms (see canonical_form) of the templates rendered here.
// kQwen3: ../shared/tokenizer/qwen3/tokenizer_config.json (all Qwen3 April-2025 models).
// kQwen3Thinking2507: tests/golden/tokenizer/qwen3_thinking_2507.jinja, written by
// tools/make_tokenizer_refs.py from the Qwen3 template with the 2507 changes.
constexpr uint64_t kQwen3Fingerprint = 0x99620ea7635aadafull;
constexpr uint64_t kQwen3Thinking2507Fingerprint = 0x2f3c8de7e7aa5fdbull;

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// The template with everything that cannot change its output removed: whitespace inside
// tags, whitespace-only text that a '-' marker strips, comments; string literals decoded.
// Two templates with the same canonical form render the same (for the constructs these
// templates use), so recognizing a template never depends on its indentation.
std::string canonical_form(std::string_view src) {
  if (!src.empty() && src.back() == '\n') src.remove_suffix(1);  // Jinja drops one final newline
  std::string out;
  const size_t n = src.size();
  size_t i = 0;
  bool strip_after_prev = false;
  while (i <= n) {
    size_t t = i;
    while (t + 1 < n && !(src[t] == '{' && (src[t + 1] == '{' || src[t + 1] == '%' || src[t + 1] == '#'))) ++t;
    if (t + 1 >= n) t = n;
    const std::string_view data = src.substr(i, t - i);
    const bool strip_before_next = t + 2 < n && src[t + 2] == '-';
    if (!data.empty()) {
      bool ws_only = true;
      for (char c : data) ws_only = ws_only && is_space(c);
      if (!(ws_only && (strip_after_prev || strip_before_next))) {
        out += "\x01";
        out += data;
        out += "\x01";
      }
    }
    if (t >= n) break;
    const char kind = src[t + 1];
    const std::string_view close = kind == '{' ? "}}" : kind == '%' ? "%}" : "#}";
    size_t j = t + 2;
    if (j < n && (src[j] == '-' || src[j] == '+')) ++j;
    if (kind == '#') {
      const size_t end = src.find("#}", j);
      if (end == std::string_view::npos) return out + "\x03";
      strip_after_prev = end > 0 && src[end - 1] == '-';
      i = end + 2;
      continue;
    }
    out += '{';
    out += kind;
    bool strip_right = false;
    bool closed = false;
    while (j < n) {
      const char c = src[j];
      if (c == '\'' || c == '"') {
        std::string lit;
        ++j;
        while (j < n && src[j] != c) {
          if (src[j] == '\\' && j + 1 < n) {
            const char e = src[j + 1];
            switch (e) {
              case 'n': lit += '\n'; break;
              case 't': lit += '\t'; break;
              case 'r': lit += '\r'; break;
              case '\\': lit += '\\'; break;
              case '\'': lit += '\''; break;
              case '"': lit += '"'; break;
              default: lit += '\\'; lit += e; break;
            }
            j += 2;
          } else {
            lit += src[j++];
          }
        }
        if (j >= n) return out + "\x03";
        ++j;
        out += "\x02";
        out += lit;
        out += "\x02";
        continue;
      }
      if (src.compare(j, 2, close) == 0) {
        closed = true;
        break;
      }
      if ((c == '-' || c == '+') && src.compare(j + 1, 2, close) == 0) {
        strip_right = c == '-';
        ++j;
        continue;
      }
      if (!is_space(c)) out += c;
      ++j;
    }
    if (!closed) return out + "\x03";
    out += kind;
    out += '}';
    i = j + 2;
    strip_after_prev = strip_right;
  }
  return out;
}

std::string read_text(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) fail("{}: cannot open", p.string());
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// ---- rendering -------------------------------------------------------------------------

std::string_view after_last(std::string_view s, std::string_view sep) {
  const size_t p = s.rfind(sep);
  return p == std::string_view::npos ? s : s.substr(p + sep.size());
}
std::string_view before_first(std::string_view s, std::string_view sep) {
  const size_t p = s.find(sep);
  return p == std::string_view::npos ? s : s.substr(0, p);
}
std::string_view lstrip_nl(std::string_view s) {
  while (!s.empty() && s.front() == '\n') s.remove_prefix(1);
  return s;
}
std::string_view rstrip_nl(std::string_view s) {
  while (!s.empty() && s.back() == '\n') s.remove_suffix(1);
  return s;
}
bool starts_with(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }
bool ends_with(std::string_view s, std::string_view p) {
  return s.size() >= p.size() && s.substr(s.size() - p.size()) == p;
}

// Python truthiness of a JSON value.
template <typename Json>
bool truthy(const Json& j) {
  switch (j.type()) {
    case nlohmann::json::value_t::null: return false;
    case nlohmann::json::value_t::boolean: return j.template get<bool>();
    case nlohmann::json::value_t::number_integer: return j.template get<int64_t>() != 0;
    case nlohmann::json::value_t::number_unsigned: return j.template get<uint64_t>() != 0;
    case nlohmann::json::value_t::number_float: return j.template get<double>() != 0.0;
    case nlohmann::json::value_t::string: return !j.template get_ref<const std::string&>().empty();
    default: return !j.empty();
  }
}

template <typename Json>
const Json* member(const Json& obj, const char* key) {
  auto it = obj.find(key);
  return it == obj.end() ? nullptr : &*it;
}

template <typename Json>
class Renderer {
 public:
  Renderer(ChatTemplate::Kind kind, const Json& messages, const ChatOptions& opts)
      : qwen3_(kind == ChatTemplate::Kind::kQwen3), msgs_(messages), opts_(opts) {}

  std::string run() {
    if (!msgs_.is_array()) fail("chat template: messages must be a JSON array");
    if (msgs_.empty()) fail("chat template: messages must not be empty");
    n_ = msgs_.size();
    for (size_t i = 0; i < n_; ++i) {
      if (!msgs_[i].is_object()) fail("chat template: messages[{}] must be a JSON object", i);
    }
    system_and_tools();
    find_last_query();
    for (size_t i = 0; i < n_; ++i) message(i);
    if (opts_.add_generation_prompt) {
      if (qwen3_) {
        out_ += "<|im_start|>assistant\n";
        if (opts_.enable_thinking.has_value() && !*opts_.enable_thinking) out_ += "<think>\n\n</think>\n\n";
      } else {
        out_ += "<|im_start|>assistant\n<think>\n";
      }
    }
    return std::move(out_);
  }

 private:
  std::string role(size_t i) const {
    const Json* r = member(msgs_[i], "role");
    return r && r->is_string() ? r->template get<std::string>() : std::string();
  }

  bool content_is_string(size_t i) const {
    const Json* c = member(msgs_[i], "content");
    return c && c->is_string();
  }

  // The content as the template sees it (see the header for null/missing).
  std::string content(size_t i) const {
    const Json* c = member(msgs_[i], "content");
    if (c && c->is_string()) return c->template get<std::string>();
    if (!qwen3_ || c == nullptr || c->is_null()) return {};
    fail("chat template: messages[{}].content must be a string, found {}", i, c->type_name());
  }

  void system_and_tools() {
    const bool first_system = role(0) == "system";
    const bool has_tools = opts_.tools.has_value() && truthy(*opts_.tools);
    if (has_tools) {
      if (!opts_.tools->is_array()) fail("chat template: tools must be a JSON array");
      out_ += "<|im_start|>system\n";
      if (first_system) out_ += content(0) + "\n\n";
      out_ +=
          "# Tools\n\nYou may call one or more functions to assist with the user query.\n\n"
          "You are provided with function signatures within <tools></tools> XML tags:\n<tools>";
      for (const auto& tool : *opts_.tools) {
        out_ += "\n";
        tok_detail::python_json_dump(tool, out_);
      }
      out_ +=
          "\n</tools>\n\nFor each function call, return a json object with function name and arguments "
          "within <tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": <function-name>, "
          "\"arguments\": <args-json-object>}\n</tool_call><|im_end|>\n";
    } else if (first_system) {
      out_ += "<|im_start|>system\n" + content(0) + "<|im_end|>\n";
    }
  }

  // The last user message that is a real query (not tool output wrapped by the client).
  void find_last_query() {
    last_query_ = n_ - 1;
    for (size_t k = n_; k-- > 0;) {
      if (role(k) != "user") continue;
      if (!qwen3_ && !content_is_string(k)) continue;
      const std::string c = content(k);
      if (starts_with(c, "<tool_response>") && ends_with(c, "</tool_response>")) continue;
      last_query_ = k;
      return;
    }
  }

  void message(size_t i) {
    const std::string r = role(i);
    if (r == "user" || (r == "system" && i != 0)) {
      out_ += "<|im_start|>" + r + "\n" + content(i) + "<|im_end|>\n";
    } else if (r == "assistant") {
      assistant(i);
    } else if (r == "tool") {
      if (i == 0 || role(i - 1) != "tool") out_ += "<|im_start|>user";
      out_ += "\n<tool_response>\n";
      const Json* c = member(msgs_[i], "content");
      // Jinja prints None for a null content in the Qwen3 template.
      out_ += (qwen3_ && c && c->is_null()) ? std::string("None") : content(i);
      out_ += "\n</tool_response>";
      if (i + 1 == n_ || role(i + 1) != "tool") out_ += "<|im_end|>\n";
    }
  }

  void assistant(size_t i) {
    const Json& m = msgs_[i];
    const std::string original = content(i);
    std::string text = original;
    std::string reasoning;
    const Json* rc = member(m, "reasoning_content");
    bool explicit_reasoning = false;
    if (qwen3_) {
      if (rc && !rc->is_null()) {
        if (!rc->is_string()) fail("chat template: messages[{}].reasoning_content must be a string", i);
        explicit_reasoning = true;
      }
    } else {
      explicit_reasoning = rc && rc->is_string();
    }
    if (explicit_reasoning) {
      reasoning = rc->template get<std::string>();
    } else if (original.find("</think>") != std::string::npos) {
      text = std::string(lstrip_nl(after_last(original, "</think>")));
      reasoning = std::string(lstrip_nl(after_last(rstrip_nl(before_first(original, "</think>")), "<think>")));
    }
    if (i > last_query_ && (i + 1 == n_ || !reasoning.empty())) {
      std::string_view rs = lstrip_nl(rstrip_nl(reasoning));
      out_ += "<|im_start|>assistant\n<think>\n";
      out_ += rs;
      out_ += "\n</think>\n\n";
      out_ += lstrip_nl(text);
    } else {
      out_ += "<|im_start|>assistant\n" + text;
    }
    const Json* calls = member(m, "tool_calls");
    if (calls && truthy(*calls)) {
      if (!calls->is_array()) fail("chat template: messages[{}].tool_calls must be an array", i);
      for (size_t k = 0; k < calls->size(); ++k) {
        if ((k == 0 && !text.empty()) || k > 0) out_ += "\n";
        const Json* call = &(*calls)[k];
        if (!call->is_object()) fail("chat template: messages[{}].tool_calls[{}] must be an object", i, k);
        if (const Json* f = member(*call, "function"); f && truthy(*f)) {
          if (!f->is_object()) fail("chat template: messages[{}].tool_calls[{}].function must be an object", i, k);
          call = f;
        }
        out_ += "<tool_call>\n{\"name\": \"";
        if (const Json* name = member(*call, "name"); name) {
          if (!name->is_string()) fail("chat template: messages[{}].tool_calls[{}]: name must be a string", i, k);
          out_ += name->template get<std::string>();
        }
        out_ += "\", \"arguments\": ";
        const Json* args = member(*call, "arguments");
        if (!args) fail("chat template: messages[{}].tool_calls[{}]: arguments missing", i, k);
        if (args->is_string()) {
          out_ += args->template get<std::string>();
        } else {
          tok_detail::python_json_dump(*args, out_);
        }
        out_ += "}\n</tool_call>";
      }
    }
    out_ += "<|im_end|>\n";
  }

  bool qwen3_;
  const Json& msgs_;
  const ChatOptions& opts_;
  size_t n_ = 0;
  size_t last_query_ = 0;
  std::string out_;
};

}  // namespace

uint64_t ChatTemplate::fingerprint(std::string_view jinja) {
  const std::string c = canonical_form(jinja);
  uint64_t h = 0xcbf29ce484222325ull;  // FNV-1a
  for (unsigned char b : c) {
    h ^= b;
    h *= 0x100000001b3ull;
  }
  return h;
}

std::optional<ChatTemplate::Kind> ChatTemplate::recognize(std::string_view jinja) {
  const uint64_t f = fingerprint(jinja);
  if (f == kQwen3Fingerprint) return Kind::kQwen3;
  if (f == kQwen3Thinking2507Fingerprint) return Kind::kQwen3Thinking2507;
  return std::nullopt;
}

ChatTemplate ChatTemplate::from_source(std::string_view jinja, const std::string& what) {
  const auto kind = recognize(jinja);
  if (!kind) {
    fail("{}: unsupported chat template (fingerprint {:016x}): hearth renders the Qwen3 and "
         "Qwen3-Thinking-2507 templates exactly and refuses others rather than render them wrong",
         what, fingerprint(jinja));
  }
  return ChatTemplate(*kind);
}

bool ChatTemplate::has_chat_template(const std::string& model_dir) {
  std::error_code ec;
  const fs::path d(model_dir);
  if (fs::is_regular_file(d / "chat_template.jinja", ec)) return true;
  if (!fs::is_regular_file(d / "tokenizer_config.json", ec)) return false;
  try {
    const auto cfg = nlohmann::json::parse(read_text(d / "tokenizer_config.json"));
    return cfg.is_object() && cfg.contains("chat_template");
  } catch (const std::exception&) {
    return false;
  }
}

ChatTemplate ChatTemplate::load(const std::string& model_dir) {
  const fs::path d(model_dir);
  std::error_code ec;
  const fs::path jinja = d / "chat_template.jinja";
  if (fs::is_regular_file(jinja, ec)) return from_source(read_text(jinja), jinja.string());
  const fs::path cfg_path = d / "tokenizer_config.json";
  if (!fs::is_regular_file(cfg_path, ec)) {
    fail("{}: no chat template (neither chat_template.jinja nor tokenizer_config.json)", model_dir);
  }
  nlohmann::json cfg;
  try {
    cfg = nlohmann::json::parse(read_text(cfg_path));
  } catch (const nlohmann::json::exception& e) {
    fail("{}: invalid JSON: {}", cfg_path.string(), e.what());
  }
  if (!cfg.is_object() || !cfg.contains("chat_template")) fail("{}: no chat_template", cfg_path.string());
  const auto& ct = cfg["chat_template"];
  if (ct.is_string()) return from_source(ct.get<std::string>(), cfg_path.string() + " /chat_template");
  if (ct.is_array()) {
    // Named templates: transformers uses the one named "default".
    for (const auto& t : ct) {
      if (t.is_object() && t.value("name", "") == "default" && t.contains("template") && t["template"].is_string()) {
        return from_source(t["template"].get<std::string>(), cfg_path.string() + " /chat_template (default)");
      }
    }
    fail("{}: /chat_template: no template named \"default\"", cfg_path.string());
  }
  fail("{}: /chat_template: expected a string or a list of named templates", cfg_path.string());
}

std::string_view ChatTemplate::name() const {
  return kind_ == Kind::kQwen3 ? "qwen3" : "qwen3-thinking-2507";
}

std::string ChatTemplate::render(const nlohmann::json& messages, const ChatOptions& opts) const {
  return Renderer<nlohmann::json>(kind_, messages, opts).run();
}

std::string ChatTemplate::render(const nlohmann::ordered_json& messages, const ChatOptions& opts) const {
  return Renderer<nlohmann::ordered_json>(kind_, messages, opts).run();
}

}  // namespace hearth
