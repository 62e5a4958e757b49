// OpenAI request parsing and validation: what is accepted, how it is normalized, and which
// field an error names.
#include <gtest/gtest.h>

#include <string>

#include "hearth/server/api_error.h"
#include "hearth/server/openai_request.h"

namespace hearth::server {
namespace {

ApiRequest chat(const std::string& body) { return parse_chat_request(parse_json_body(body)); }
ApiRequest completion(const std::string& body) { return parse_completion_request(parse_json_body(body)); }

// The param an invalid body is refused with.
std::string param_of(const std::string& body, bool is_chat = true) {
  try {
    if (is_chat) chat(body);
    else completion(body);
  } catch (const ApiError& e) {
    EXPECT_EQ(e.status(), 400);
    return e.param();
  }
  ADD_FAILURE() << "accepted: " << body;
  return "";
}

TEST(OpenAiRequest, ChatFieldsAndNormalization) {
  ApiRequest r = chat(R"({"model": "m", "messages": [
      {"role": "developer", "content": "be nice"},
      {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
      {"role": "assistant", "content": null, "reasoning": "hmm",
       "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{\"x\": 1}"}}]},
      {"role": "tool", "tool_call_id": "c1", "content": "42"}],
    "max_completion_tokens": 9, "temperature": 0.5, "top_p": 0.9, "top_k": -1, "min_p": 0.1, "seed": -3,
    "stop": "END", "n": 2, "logprobs": true, "top_logprobs": 4, "stream": true,
    "stream_options": {"include_usage": true}, "chat_template_kwargs": {"enable_thinking": false},
    "unknown_field": {"ignored": true}})");
  EXPECT_EQ(r.model, "m");
  ASSERT_EQ(r.messages.size(), 4u);
  EXPECT_EQ(r.messages[0]["role"], "system");
  EXPECT_EQ(r.messages[1]["content"], "a\nb");
  EXPECT_EQ(r.messages[2]["reasoning_content"], "hmm");
  EXPECT_EQ(r.messages[2]["tool_calls"][0]["function"]["arguments"]["x"], 1);
  EXPECT_EQ(*r.max_tokens, 9);
  EXPECT_FLOAT_EQ(*r.temperature, 0.5f);
  EXPECT_EQ(*r.top_k, 0);
  EXPECT_EQ(*r.seed, static_cast<uint64_t>(-3));
  EXPECT_EQ(r.stop, std::vector<std::string>{"END"});
  EXPECT_EQ(r.n, 2);
  EXPECT_TRUE(r.logprobs);
  EXPECT_EQ(r.top_logprobs, 4);
  EXPECT_TRUE(r.stream && r.include_usage);
  EXPECT_EQ(r.enable_thinking, false);
  EXPECT_EQ(r.tool_choice, ToolChoice::kNone);
}

TEST(OpenAiRequest, NullMeansAbsent) {
  ApiRequest r = chat(R"({"messages": [{"role": "user", "content": "x"}], "temperature": null, "stop": null,
                          "max_tokens": null, "tools": null, "response_format": null})");
  EXPECT_FALSE(r.temperature.has_value());
  EXPECT_FALSE(r.max_tokens.has_value());
  EXPECT_TRUE(r.stop.empty());
}

TEST(OpenAiRequest, KeyOrderIsKept) {
  // The chat template writes tools with tojson in the client's key order.
  ApiRequest r = chat(R"({"messages": [{"role": "user", "content": "x"}], "tools": [{"type": "function",
    "function": {"name": "f", "parameters": {"z": 1, "a": 2}}}]})");
  ASSERT_TRUE(r.tools);
  EXPECT_EQ((*r.tools)[0]["function"]["parameters"].dump(), R"({"z":1,"a":2})");
  EXPECT_EQ(r.tool_choice, ToolChoice::kAuto);
}

TEST(OpenAiRequest, ToolChoice) {
  const std::string tools = R"("tools": [{"type": "function", "function": {"name": "f"}}])";
  EXPECT_EQ(chat(R"({"messages": [{"role": "user", "content": "x"}], )" + tools + R"(, "tool_choice": "required"})").tool_choice,
            ToolChoice::kRequired);
  ApiRequest named = chat(R"({"messages": [{"role": "user", "content": "x"}], )" + tools +
                          R"(, "tool_choice": {"type": "function", "function": {"name": "f"}}})");
  EXPECT_EQ(named.tool_choice, ToolChoice::kNamed);
  EXPECT_EQ(named.tool_name, "f");
  EXPECT_EQ(param_of(R"({"messages": [{"role": "user", "content": "x"}], )" + tools +
                     R"(, "tool_choice": {"type": "function", "function": {"name": "g"}}})"),
            "tool_choice.function.name");
  EXPECT_EQ(param_of(R"({"messages": [{"role": "user", "content": "x"}], "tool_choice": "required"})"), "tool_choice");
}

TEST(OpenAiRequest, ResponseFormat) {
  ApiRequest r = chat(R"({"messages": [{"role": "user", "content": "x"}], "response_format": {"type": "json_schema",
    "json_schema": {"name": "n", "strict": true, "schema": {"type": "object"}}}})");
  EXPECT_EQ(r.response_format.kind, ResponseFormat::Kind::kJsonSchema);
  EXPECT_TRUE(r.response_format.strict);
  EXPECT_EQ(r.response_format.schema["type"], "object");
  EXPECT_EQ(param_of(R"({"messages": [{"role": "user", "content": "x"}], "response_format": {"type": "json_schema"}})"),
            "response_format.json_schema");
  EXPECT_EQ(param_of(R"({"messages": [{"role": "user", "content": "x"}], "response_format": {"type": "xml"}})"),
            "response_format.type");
}

TEST(OpenAiRequest, InvalidFieldsAreNamed) {
  const std::string m = R"("messages": [{"role": "user", "content": "x"}])";
  EXPECT_EQ(param_of("{}"), "messages");
  EXPECT_EQ(param_of(R"({"messages": {}})"), "messages");
  EXPECT_EQ(param_of(R"({"messages": []})"), "messages");
  EXPECT_EQ(param_of(R"({"messages": [1]})"), "messages[0]");
  EXPECT_EQ(param_of(R"({"messages": [{"content": "x"}]})"), "messages[0].role");
  EXPECT_EQ(param_of(R"({"messages": [{"role": "user"}]})"), "messages[0].content");
  EXPECT_EQ(param_of(R"({"messages": [{"role": "user", "content": [{"type": "image_url"}]}]})"), "messages[0].content[0].type");
  EXPECT_EQ(param_of(R"({"messages": [{"role": "assistant", "content": null}]})"), "messages[0].content");
  EXPECT_EQ(param_of(R"({"messages": [{"role": "assistant", "tool_calls": [{"function": {"name": "f", "arguments": "{"}}]}]})"),
            "messages[0].tool_calls[0].function.arguments");
  EXPECT_EQ(param_of("{" + m + R"(, "temperature": "1"})"), "temperature");
  EXPECT_EQ(param_of("{" + m + R"(, "temperature": -1})"), "temperature");
  EXPECT_EQ(param_of("{" + m + R"(, "max_tokens": 0})"), "max_tokens");
  EXPECT_EQ(param_of("{" + m + R"(, "max_tokens": 1.5})"), "max_tokens");
  EXPECT_EQ(param_of("{" + m + R"(, "max_tokens": 18446744073709551615})"), "max_tokens");
  EXPECT_EQ(param_of("{" + m + R"(, "top_p": 0})"), "top_p");
  EXPECT_EQ(param_of("{" + m + R"(, "n": 65})"), "n");
  EXPECT_EQ(param_of("{" + m + R"(, "presence_penalty": 3})"), "presence_penalty");
  EXPECT_EQ(param_of("{" + m + R"(, "stop": ["a", ""]})"), "stop[1]");
  EXPECT_EQ(param_of("{" + m + R"(, "stop": 5})"), "stop");
  EXPECT_EQ(param_of("{" + m + R"(, "top_logprobs": 2})"), "top_logprobs");
  EXPECT_EQ(param_of("{" + m + R"(, "logprobs": true, "top_logprobs": 21})"), "top_logprobs");
  EXPECT_EQ(param_of("{" + m + R"(, "stream_options": {"include_usage": true}})"), "stream_options");
  EXPECT_EQ(param_of("{" + m + R"(, "stream": "yes"})"), "stream");
  EXPECT_EQ(param_of("{" + m + R"(, "chat_template_kwargs": {"enable_thinking": 1}})"), "chat_template_kwargs.enable_thinking");
  EXPECT_EQ(param_of("{" + m + R"(, "tools": [{"type": "function", "function": {"name": ""}}]})"), "tools[0].function.name");
}

TEST(OpenAiRequest, CompletionPrompts) {
  EXPECT_EQ(*completion(R"({"prompt": "abc"})").prompts[0].text, "abc");
  EXPECT_EQ(completion(R"({"prompt": [1, 2, 3]})").prompts[0].ids, (std::vector<int32_t>{1, 2, 3}));
  ApiRequest many = completion(R"({"prompt": ["a", [4, 5]], "n": 2, "logprobs": 3})");
  ASSERT_EQ(many.prompts.size(), 2u);
  EXPECT_EQ(many.prompts[1].ids, (std::vector<int32_t>{4, 5}));
  EXPECT_TRUE(many.logprobs);
  EXPECT_EQ(many.top_logprobs, 3);
  EXPECT_EQ(param_of(R"({})", false), "prompt");
  EXPECT_EQ(param_of(R"({"prompt": 5})", false), "prompt");
  EXPECT_EQ(param_of(R"({"prompt": [1, -2]})", false), "prompt[1]");
  EXPECT_EQ(param_of(R"({"prompt": [[]]})", false), "prompt[0]");
  EXPECT_EQ(param_of(R"({"prompt": "a", "echo": true})", false), "echo");
  EXPECT_EQ(param_of(R"({"prompt": "a", "logprobs": 99})", false), "logprobs");
}

TEST(OpenAiRequest, BodyLimits) {
  EXPECT_THROW(parse_json_body("not json"), ApiError);
  EXPECT_THROW(parse_json_body("[1]"), ApiError);
  EXPECT_THROW(parse_json_body(""), ApiError);
  std::string deep = "{\"a\": " + std::string(100, '[') + std::string(100, ']') + "}";
  EXPECT_THROW(parse_json_body(deep), ApiError);
  // Brackets inside strings do not count as nesting.
  EXPECT_NO_THROW(parse_json_body("{\"a\": \"" + std::string(1000, '[') + "\\\"\"}"));
}

TEST(OpenAiRequest, ErrorBodyShape) {
  const ApiError e(400, "bad", "invalid_request_error", "temperature");
  const auto j = nlohmann::json::parse(e.body());
  EXPECT_EQ(j["error"]["message"], "bad");
  EXPECT_EQ(j["error"]["type"], "invalid_request_error");
  EXPECT_EQ(j["error"]["param"], "temperature");
  EXPECT_TRUE(j["error"]["code"].is_null());
  const auto k = nlohmann::json::parse(error_body(413, "too big"));
  EXPECT_EQ(k["error"]["code"], "request_too_large");
}

}  // namespace
}  // namespace hearth::server
