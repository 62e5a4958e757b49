// OpenAI request bodies (POST /v1/chat/completions, /v1/completions) parsed and validated
// into an ApiRequest, independent of any model: every error is an ApiError (400) naming the
// field as a path ("messages[2].content[0].type"). Fields hearth does not know are ignored,
// as OpenAI-compatible servers do; a known field with a wrong type or value is an error.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace hearth::server {

using OrderedJson = nlohmann::ordered_json;

enum class Endpoint { kChat, kCompletions };

struct ResponseFormat {
  enum class Kind { kText, kJsonObject, kJsonSchema };
  Kind kind = Kind::kText;
  nlohmann::json schema;  // kJsonSchema
  std::string name;
  bool strict = false;
};

enum class ToolChoice { kNone, kAuto, kRequired, kNamed };

struct PromptInput {
  std::optional<std::string> text;  // else ids
  std::vector<int32_t> ids;
};

struct ApiRequest {
  Endpoint endpoint = Endpoint::kChat;
  std::string model;  // empty: the served model

  // Chat: messages normalized for the chat template (content as strings, "developer" as
  // "system", "reasoning" as "reasoning_content"), in the client's key order.
  OrderedJson messages = OrderedJson::array();
  std::optional<OrderedJson> tools;  // array of {"type": "function", "function": {...}}
  ToolChoice tool_choice = ToolChoice::kAuto;
  std::string tool_name;             // kNamed
  std::optional<bool> enable_thinking;
  bool add_generation_prompt = true;

  // Completions.
  std::vector<PromptInput> prompts;

  // Sampling (absent: the model's generation_config.json, then the server's defaults).
  std::optional<int> max_tokens;
  std::optional<float> temperature, top_p, min_p, repetition_penalty;
  std::optional<int> top_k;
  float presence_penalty = 0.0f;
  float frequency_penalty = 0.0f;
  std::optional<uint64_t> seed;
  std::vector<std::string> stop;
  std::vector<int> stop_token_ids;
  bool ignore_eos = false;
  bool skip_special_tokens = true;
  int n = 1;

  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage
  bool logprobs = false;
  int top_logprobs = 0;  // alternatives per token (chat: top_logprobs; completions: logprobs)

  ResponseFormat response_format;
};

inline constexpr int kMaxN = 64;
inline constexpr int kMaxTopLogprobs = 20;
inline constexpr int kMaxStops = 16;
inline constexpr int kMaxJsonDepth = 64;

// Parses a request body as JSON (key order kept); ApiError 400 for invalid JSON, nesting past
// kMaxJsonDepth, or a body that is not an object.
OrderedJson parse_json_body(std::string_view body);

ApiRequest parse_chat_request(const OrderedJson& body);
ApiRequest parse_completion_request(const OrderedJson& body);

}  // namespace hearth::server
