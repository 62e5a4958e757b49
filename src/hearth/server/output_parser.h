// A choice's generated text, split as it streams:
//   - StopStrings: cuts the text at the first stop string (OpenAI `stop`), holding back any
//     tail that could still become one;
//   - OutputParser: Qwen3 reasoning ("<think>...</think>") into reasoning_content, never
//     content; tool calls ("<tool_call>{"name": ..., "arguments": {...}}</tool_call>") into
//     tool_calls. A tag split across deltas is held back until it is decided; a tool block
//     whose JSON does not parse stays content (as vLLM's hermes parser does).
// Concatenating every delta's fields equals the non-streaming result.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace hearth::server {

struct ToolCall {
  std::string id;         // "call_..." (random)
  std::string name;
  std::string arguments;  // JSON text
};

struct ParsedDelta {
  std::string reasoning;
  std::string content;
  std::vector<ToolCall> tool_calls;
  bool empty() const { return reasoning.empty() && content.empty() && tool_calls.empty(); }
};

class StopStrings {
 public:
  explicit StopStrings(std::vector<std::string> stops) : stops_(std::move(stops)) {}
  // Returns the text that can be emitted now.
  std::string push(std::string_view text);
  // End of output: what was held back (nothing once stopped).
  std::string flush();
  bool stopped() const { return stopped_; }

 private:
  std::vector<std::string> stops_;
  std::string held_;
  bool stopped_ = false;
};

class OutputParser {
 public:
  struct Options {
    bool reasoning = false;            // parse <think>...</think>
    bool starts_in_reasoning = false;  // the prompt opened <think> itself (Thinking-2507)
    bool tools = false;                // parse <tool_call> blocks
  };
  explicit OutputParser(Options opts);

  ParsedDelta push(std::string_view text);
  // End of output: held-back text; an unterminated tool block becomes content.
  ParsedDelta finish();
  bool saw_tool_calls() const { return tool_calls_ > 0; }
  bool in_reasoning() const { return state_ == State::kReasoning; }

 private:
  enum class State { kMaybeThink, kReasoning, kContent, kToolCall };
  void run(ParsedDelta& out, bool final);
  void emit_content(ParsedDelta& out, std::string_view text);

  Options opts_;
  State state_;
  std::string buf_;          // unprocessed text
  std::string tool_text_;    // inside the current <tool_call> block
  std::string held_ws_;      // content whitespace held back while tool calls may follow
  std::string held_nl_;      // reasoning newlines held back before a possible </think>
  bool strip_leading_nl_ = false;  // at the start of reasoning or content
  int tool_calls_ = 0;
};

// Parses a tool block's JSON ({"name": "...", "arguments": {...}}); false when it is not one.
bool parse_tool_call_json(std::string_view text, ToolCall& call);
// "call_" + 24 random alphanumerics.
std::string new_tool_call_id();

// Length of the longest suffix of `s` that is a proper prefix of `tag`.
size_t partial_tag_suffix(std::string_view s, std::string_view tag);

}  // namespace hearth::server
