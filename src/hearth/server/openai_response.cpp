#include "hearth/server/openai_response.h"

#include <fmt/format.h>

#include <mutex>
#include <random>

namespace hearth::server {

std::string dump_json(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

std::string sse_event(const json& j) { return "data: " + dump_json(j) + "\n\n"; }

std::string new_response_id(const char* prefix) {
  static std::mutex mu;
  static std::mt19937_64 rng{std::random_device{}()};
  std::lock_guard lock(mu);
  const uint64_t a = rng(), b = rng();
  return fmt::format("{}{:016x}{:08x}", prefix, a, static_cast<uint32_t>(b));
}

json usage_json(const UsageCounts& u) {
  json j = {{"prompt_tokens", u.prompt_tokens},
            {"completion_tokens", u.completion_tokens},
            {"total_tokens", u.prompt_tokens + u.completion_tokens}};
  j["prompt_tokens_details"] = {{"cached_tokens", u.cached_tokens}};
  return j;
}

namespace {

json tool_call_json(const ToolCall& c) {
  return {{"id", c.id}, {"type", "function"}, {"function", {{"name", c.name}, {"arguments", c.arguments}}}};
}

json bytes_of(const std::string& s) {
  json b = json::array();
  for (unsigned char c : s) b.push_back(static_cast<int>(c));
  return b;
}

}  // namespace

json chat_message_json(const ParsedDelta& total) {
  json m = {{"role", "assistant"}};
  const bool other = !total.tool_calls.empty() || !total.reasoning.empty();
  m["content"] = (total.content.empty() && other) ? json(nullptr) : json(total.content);
  if (!total.reasoning.empty()) {
    m["reasoning_content"] = total.reasoning;
    m["reasoning"] = total.reasoning;
  }
  json calls = json::array();
  for (const ToolCall& c : total.tool_calls) calls.push_back(tool_call_json(c));
  m["tool_calls"] = calls;
  return m;
}

json chat_delta_json(const ParsedDelta& d, bool with_role, int first_tool_index) {
  json j = json::object();
  if (with_role) {
    j["role"] = "assistant";
    j["content"] = "";
  }
  if (!d.reasoning.empty()) {
    j["reasoning_content"] = d.reasoning;
    j["reasoning"] = d.reasoning;
  }
  if (!d.content.empty()) j["content"] = d.content;
  if (!d.tool_calls.empty()) {
    json calls = json::array();
    for (size_t i = 0; i < d.tool_calls.size(); ++i) {
      json c = tool_call_json(d.tool_calls[i]);
      c["index"] = first_tool_index + static_cast<int>(i);
      calls.push_back(std::move(c));
    }
    j["tool_calls"] = std::move(calls);
  }
  return j;
}

json chat_logprobs_entries(const std::vector<TokenLogprobs>& lps, int top, const TokenText& text) {
  json content = json::array();
  for (const TokenLogprobs& lp : lps) {
    const std::string t = text(lp.id);
    json tops = json::array();
    for (size_t k = 0; k < lp.top.size() && static_cast<int>(k) < top; ++k) {
      const std::string tt = text(lp.top[k].first);
      tops.push_back({{"token", tt}, {"logprob", lp.top[k].second}, {"bytes", bytes_of(tt)}});
    }
    content.push_back({{"token", t}, {"logprob", lp.logprob}, {"bytes", bytes_of(t)}, {"top_logprobs", std::move(tops)}});
  }
  return content;
}

json completion_logprobs_json(const std::vector<TokenLogprobs>& lps, int top, const TokenText& text, size_t text_offset) {
  json tokens = json::array(), token_lps = json::array(), tops = json::array(), offsets = json::array();
  size_t offset = text_offset;
  for (const TokenLogprobs& lp : lps) {
    const std::string t = text(lp.id);
    tokens.push_back(t);
    token_lps.push_back(lp.logprob);
    offsets.push_back(offset);
    offset += t.size();
    if (top > 0) {
      json m = json::object();
      for (size_t k = 0; k < lp.top.size() && static_cast<int>(k) < top; ++k)
        m[text(lp.top[k].first)] = lp.top[k].second;
      tops.push_back(std::move(m));
    } else {
      tops.push_back(nullptr);
    }
  }
  return {{"tokens", tokens}, {"token_logprobs", token_lps}, {"top_logprobs", tops}, {"text_offset", offsets}};
}

}  // namespace hearth::server
