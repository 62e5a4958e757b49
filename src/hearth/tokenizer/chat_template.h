// Chat templates of the Qwen3 family, rendered natively and byte-identical to
// transformers' apply_chat_template(..., tokenize=False) with the model's Jinja template.
//
// Only templates recognized exactly (after removing Jinja whitespace that cannot render)
// are accepted; any other template is refused with a message, rather than rendered wrong:
//   kQwen3               Qwen3 (April 2025) models: enable_thinking=false writes an empty
//                        think block; reasoning kept only after the last user query.
//   kQwen3Thinking2507   Qwen3-*-Thinking-2507: the generation prompt opens "<think>\n"
//                        itself; non-string content renders as empty.
//
// Where transformers would raise (a null or missing content in a user, system or assistant
// message of the Qwen3 template), hearth renders the content as empty instead; a tool
// message's null content renders as "None", as transformers does. Messages and tools are
// written with `tojson` in their key order: parse them into nlohmann::ordered_json to keep
// the order a client sent (nlohmann::json sorts keys).
#pragma once

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <string_view>

namespace hearth {

struct ChatOptions {
  bool add_generation_prompt = true;
  std::optional<bool> enable_thinking;           // absent: the template's default
  std::optional<nlohmann::ordered_json> tools;   // array of tool definitions
};

class ChatTemplate {
 public:
  enum class Kind { kQwen3, kQwen3Thinking2507 };

  // The template of a model directory: chat_template.jinja when present (transformers
  // prefers it), else tokenizer_config.json's "chat_template". Throws hearth::Error when
  // there is none or it is not one hearth renders.
  static ChatTemplate load(const std::string& model_dir);
  static bool has_chat_template(const std::string& model_dir);
  // Recognizes Jinja source; `what` names it in errors.
  static ChatTemplate from_source(std::string_view jinja, const std::string& what);
  static ChatTemplate of_kind(Kind kind) { return ChatTemplate(kind); }
  // Whether the source is one of the known templates (no exception).
  static std::optional<Kind> recognize(std::string_view jinja);

  Kind kind() const { return kind_; }
  std::string_view name() const;

  // messages: array of {"role", "content", optional "reasoning_content", "tool_calls"}.
  // Throws hearth::Error naming the message for input the template cannot render.
  std::string render(const nlohmann::json& messages, const ChatOptions& opts) const;
  std::string render(const nlohmann::ordered_json& messages, const ChatOptions& opts) const;

  // 64-bit hash of a template's canonical form (exposed for tests and for adding variants).
  static uint64_t fingerprint(std::string_view jinja);

 private:
  explicit ChatTemplate(Kind kind) : kind_(kind) {}
  Kind kind_;
};

}  // namespace hearth
