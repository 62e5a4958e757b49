// Reasoning, tool-call and stop-string parsing of generated text, streamed in every possible
// split: the deltas must always add up to the whole-text result.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "hearth/server/output_parser.h"

namespace hearth::server {
namespace {

struct Result {
  std::string reasoning, content;
  std::vector<std::string> calls;  // name + " " + arguments
};

Result run(OutputParser::Options opts, const std::vector<std::string>& pieces) {
  OutputParser p(opts);
  Result r;
  auto add = [&](ParsedDelta d) {
    r.reasoning += d.reasoning;
    r.content += d.content;
    for (const ToolCall& c : d.tool_calls) {
      EXPECT_EQ(c.id.rfind("call_", 0), 0u);
      r.calls.push_back(c.name + " " + c.arguments);
    }
  };
  for (const std::string& s : pieces) add(p.push(s));
  add(p.finish());
  return r;
}

// The whole text at once, then split at every position, then byte by byte: same result.
Result run_all_splits(OutputParser::Options opts, const std::string& text) {
  const Result whole = run(opts, {text});
  for (size_t i = 0; i <= text.size(); ++i) {
    const Result split = run(opts, {text.substr(0, i), text.substr(i)});
    EXPECT_EQ(split.reasoning, whole.reasoning) << "split at " << i;
    EXPECT_EQ(split.content, whole.content) << "split at " << i;
    EXPECT_EQ(split.calls, whole.calls) << "split at " << i;
  }
  std::vector<std::string> bytes;
  for (char c : text) bytes.emplace_back(1, c);
  const Result by_byte = run(opts, bytes);
  EXPECT_EQ(by_byte.reasoning, whole.reasoning);
  EXPECT_EQ(by_byte.content, whole.content);
  EXPECT_EQ(by_byte.calls, whole.calls);
  return whole;
}

TEST(OutputParser, PlainContent) {
  const Result r = run_all_splits({}, "Hello <think> world </tool_call>");
  EXPECT_EQ(r.content, "Hello <think> world </tool_call>");
  EXPECT_EQ(r.reasoning, "");
}

TEST(OutputParser, Qwen3Reasoning) {
  const Result r = run_all_splits({.reasoning = true}, "<think>\nLet me see.\n\n</think>\n\nThe answer is 4.");
  EXPECT_EQ(r.reasoning, "Let me see.");
  EXPECT_EQ(r.content, "The answer is 4.");
}

TEST(OutputParser, NoThinkBlockIsContent) {
  const Result r = run_all_splits({.reasoning = true}, "  <thin air");
  EXPECT_EQ(r.content, "  <thin air");
  EXPECT_EQ(r.reasoning, "");
}

TEST(OutputParser, PromptOpenedThink) {
  const Result r = run_all_splits({.reasoning = true, .starts_in_reasoning = true}, "hmm\nok</think>\n\n{\"a\": 1}");
  EXPECT_EQ(r.reasoning, "hmm\nok");
  EXPECT_EQ(r.content, "{\"a\": 1}");
  // Cut off before </think>: all reasoning, no content.
  const Result cut = run_all_splits({.reasoning = true, .starts_in_reasoning = true}, "still thinking\n</thi");
  EXPECT_EQ(cut.reasoning, "still thinking\n</thi");
  EXPECT_EQ(cut.content, "");
}

TEST(OutputParser, ToolCalls) {
  const std::string text =
      "<think>\nneed weather\n</think>\n\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Oslo\"}}\n"
      "</tool_call>\n<tool_call>\n{\"name\": \"get_time\", \"arguments\": {}}\n</tool_call>";
  const Result r = run_all_splits({.reasoning = true, .tools = true}, text);
  EXPECT_EQ(r.reasoning, "need weather");
  EXPECT_EQ(r.content, "");
  ASSERT_EQ(r.calls.size(), 2u);
  EXPECT_EQ(r.calls[0], "get_weather {\"city\":\"Oslo\"}");
  EXPECT_EQ(r.calls[1], "get_time {}");
}

TEST(OutputParser, ContentAroundToolCalls) {
  const Result r = run_all_splits({.tools = true}, "Let me check.\n<tool_call>{\"name\": \"f\", \"arguments\": \"{}\"}</tool_call>\n");
  EXPECT_EQ(r.content, "Let me check.");
  ASSERT_EQ(r.calls.size(), 1u);
  EXPECT_EQ(r.calls[0], "f {}");
}

TEST(OutputParser, BrokenToolBlocksStayContent) {
  const Result bad = run_all_splits({.tools = true}, "<tool_call>{not json}</tool_call>");
  EXPECT_EQ(bad.content, "<tool_call>{not json}</tool_call>");
  EXPECT_TRUE(bad.calls.empty());
  const Result cut = run_all_splits({.tools = true}, "<tool_call>{\"name\": \"f\", \"argu");
  EXPECT_EQ(cut.content, "<tool_call>{\"name\": \"f\", \"argu");
  const Result noname = run_all_splits({.tools = true}, "<tool_call>{\"arguments\": {}}</tool_call>");
  EXPECT_TRUE(noname.calls.empty());
}

TEST(OutputParser, ToolCallJson) {
  ToolCall c;
  EXPECT_TRUE(parse_tool_call_json(R"({"name": "f", "parameters": {"b": 1, "a": 2}})", c));
  EXPECT_EQ(c.arguments, R"({"b":1,"a":2})");  // the model's key order
  EXPECT_FALSE(parse_tool_call_json("[]", c));
  EXPECT_FALSE(parse_tool_call_json(R"({"name": 3})", c));
  EXPECT_NE(new_tool_call_id(), new_tool_call_id());
}

TEST(StopStrings, CutsAtTheFirstStopInEverySplit) {
  const std::string text = "abc STOP def END";
  for (size_t i = 0; i <= text.size(); ++i) {
    StopStrings s({"END", "STOP"});
    std::string out = s.push(text.substr(0, i));
    out += s.push(text.substr(i));
    out += s.flush();
    EXPECT_EQ(out, "abc ") << i;
    EXPECT_TRUE(s.stopped());
  }
  StopStrings none({"zzz"});
  std::string out = none.push("ab zz");
  EXPECT_EQ(out, "ab ");  // "zz" could start "zzz"
  out += none.flush();
  EXPECT_EQ(out, "ab zz");
  EXPECT_FALSE(none.stopped());
  StopStrings off({});
  EXPECT_EQ(off.push("x"), "x");
}

TEST(StopStrings, PartialSuffix) {
  EXPECT_EQ(partial_tag_suffix("abc<thi", "<think>"), 4u);
  EXPECT_EQ(partial_tag_suffix("abc", "<think>"), 0u);
  EXPECT_EQ(partial_tag_suffix("<think>", "<think>"), 0u);  // whole tags are found, not held
}

}  // namespace
}  // namespace hearth::server
