// OpenAI response bodies: chat.completion, chat.completion.chunk, text_completion (and its
// chunks), usage and logprobs, and the SSE framing of streamed chunks.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "hearth/sampling/sampler.h"
#include "hearth/server/output_parser.h"

namespace hearth::server {

using nlohmann::json;

// Raw bytes of a token (for logprobs' "token" and "bytes").
using TokenText = std::function<std::string(int32_t)>;

struct UsageCounts {
  int prompt_tokens = 0;
  int completion_tokens = 0;
  int cached_tokens = 0;
};

json usage_json(const UsageCounts& u);

// One chat choice's whole message (non-streaming): content null when empty and tool calls
// or reasoning exist, reasoning_content / reasoning only when there is reasoning.
json chat_message_json(const ParsedDelta& total);
// A streamed delta (fields present only when non-empty; role on the first).
json chat_delta_json(const ParsedDelta& delta, bool with_role, int first_tool_index);

// Chat logprobs: {"content": [{"token", "logprob", "bytes", "top_logprobs": [...]}]}.
json chat_logprobs_entries(const std::vector<TokenLogprobs>& lps, int top, const TokenText& text);
// Completions logprobs: {"tokens", "token_logprobs", "top_logprobs", "text_offset"}.
json completion_logprobs_json(const std::vector<TokenLogprobs>& lps, int top, const TokenText& text, size_t text_offset);

// JSON text for the wire: invalid UTF-8 (a token's partial bytes) becomes U+FFFD.
std::string dump_json(const json& j);
// "data: <json>\n\n"
std::string sse_event(const json& j);
inline constexpr const char* kSseDone = "data: [DONE]\n\n";

// "chatcmpl-..." / "cmpl-..." followed by 24 random hex digits.
std::string new_response_id(const char* prefix);

}  // namespace hearth::server
