#include "hearth/server/output_parser.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <mutex>
#include <random>

namespace hearth::server {
namespace {

constexpr std::string_view kThinkOpen = "<think>";
constexpr std::string_view kThinkClose = "</think>";
constexpr std::string_view kToolOpen = "<tool_call>";
constexpr std::string_view kToolClose = "</tool_call>";

bool all_space(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; });
}

}  // namespace

size_t partial_tag_suffix(std::string_view s, std::string_view tag) {
  for (size_t n = std::min(s.size(), tag.size() - 1); n > 0; --n)
    if (s.substr(s.size() - n) == tag.substr(0, n)) return n;
  return 0;
}

// ---- StopStrings ----

std::string StopStrings::push(std::string_view text) {
  if (stopped_) return {};
  if (stops_.empty()) return std::string(text);
  held_.append(text);
  size_t first = std::string::npos;
  for (const std::string& s : stops_) first = std::min(first, held_.find(s));
  if (first != std::string::npos) {
    stopped_ = true;
    std::string out = held_.substr(0, first);
    held_.clear();
    return out;
  }
  size_t keep = 0;
  for (const std::string& s : stops_) keep = std::max(keep, partial_tag_suffix(held_, s));
  std::string out = held_.substr(0, held_.size() - keep);
  held_.erase(0, held_.size() - keep);
  return out;
}

std::string StopStrings::flush() {
  std::string out;
  out.swap(held_);
  return stopped_ ? std::string() : out;
}

// ---- tool calls ----

std::string new_tool_call_id() {
  static std::mutex mu;
  static std::mt19937_64 rng{std::random_device{}()};
  static constexpr char kAlnum[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  std::string id = "call_";
  std::lock_guard lock(mu);
  for (int i = 0; i < 24; ++i) id += kAlnum[rng() % (sizeof(kAlnum) - 1)];
  return id;
}

bool parse_tool_call_json(std::string_view text, ToolCall& call) {
  const nlohmann::ordered_json j = nlohmann::ordered_json::parse(text.begin(), text.end(), nullptr, false);
  if (j.is_discarded() || !j.is_object()) return false;
  const auto name = j.find("name");
  if (name == j.end() || !name->is_string() || name->get<std::string>().empty()) return false;
  call.name = name->get<std::string>();
  auto args = j.find("arguments");
  if (args == j.end()) args = j.find("parameters");
  if (args == j.end() || args->is_null()) {
    call.arguments = "{}";
  } else if (args->is_string()) {
    call.arguments = args->get<std::string>();
  } else {
    call.arguments = args->dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
  }
  call.id = new_tool_call_id();
  return true;
}

// ---- OutputParser ----

OutputParser::OutputParser(Options opts)
    : opts_(opts),
      state_(!opts.reasoning ? State::kContent : opts.starts_in_reasoning ? State::kReasoning : State::kMaybeThink) {
  strip_leading_nl_ = state_ == State::kReasoning;
}

void OutputParser::emit_content(ParsedDelta& out, std::string_view text) {
  if (strip_leading_nl_) {
    while (!text.empty() && (text.front() == '\n' || text.front() == '\r')) text.remove_prefix(1);
    if (text.empty()) return;
    strip_leading_nl_ = false;
  }
  if (!opts_.tools) {
    out.content.append(text);
    return;
  }
  // With tools, whitespace between tool blocks is not content: hold whitespace until
  // something else follows it.
  if (all_space(text)) {
    held_ws_.append(text);
    return;
  }
  out.content += held_ws_;
  held_ws_.clear();
  const size_t end = text.find_last_not_of(" \n\r\t") + 1;
  out.content.append(text.substr(0, end));
  held_ws_.assign(text.substr(end));
}

void OutputParser::run(ParsedDelta& out, bool final) {
  for (;;) {
    switch (state_) {
      case State::kMaybeThink: {
        const size_t start = buf_.find_first_not_of(" \n\r\t");
        if (start == std::string::npos) {
          if (final) buf_.clear();
          return;
        }
        std::string_view rest = std::string_view(buf_).substr(start);
        if (rest.substr(0, kThinkOpen.size()) == kThinkOpen) {
          buf_.erase(0, start + kThinkOpen.size());
          state_ = State::kReasoning;
          strip_leading_nl_ = true;
          continue;
        }
        if (!final && rest.size() < kThinkOpen.size() && kThinkOpen.substr(0, rest.size()) == rest) return;
        state_ = State::kContent;
        continue;
      }
      case State::kReasoning: {
        const size_t close = buf_.find(kThinkClose);
        std::string_view text = buf_;
        size_t consumed;
        if (close != std::string::npos) {
          text = text.substr(0, close);
          consumed = close + kThinkClose.size();
        } else {
          const size_t keep = final ? 0 : partial_tag_suffix(buf_, kThinkClose);
          text = text.substr(0, buf_.size() - keep);
          consumed = text.size();
        }
        if (strip_leading_nl_) {
          while (!text.empty() && text.front() == '\n') text.remove_prefix(1);
          if (!text.empty()) strip_leading_nl_ = false;
        }
        // Newlines right before </think> are not reasoning (the chat template strips them).
        const size_t end = text.find_last_not_of('\n') == std::string_view::npos ? 0 : text.find_last_not_of('\n') + 1;
        if (end > 0) {
          out.reasoning += held_nl_;
          held_nl_.clear();
          out.reasoning.append(text.substr(0, end));
        }
        held_nl_.append(text.substr(end));
        buf_.erase(0, consumed);
        if (close == std::string::npos) {
          if (final) held_nl_.clear();
          return;
        }
        held_nl_.clear();
        state_ = State::kContent;
        strip_leading_nl_ = true;
        continue;
      }
      case State::kContent: {
        if (!opts_.tools) {
          emit_content(out, buf_);
          buf_.clear();
          return;
        }
        const size_t open = buf_.find(kToolOpen);
        if (open != std::string::npos) {
          emit_content(out, std::string_view(buf_).substr(0, open));
          buf_.erase(0, open + kToolOpen.size());
          tool_text_.clear();
          state_ = State::kToolCall;
          continue;
        }
        const size_t keep = final ? 0 : partial_tag_suffix(buf_, kToolOpen);
        emit_content(out, std::string_view(buf_).substr(0, buf_.size() - keep));
        buf_.erase(0, buf_.size() - keep);
        return;
      }
      case State::kToolCall: {
        const size_t close = buf_.find(kToolClose);
        if (close == std::string::npos) {
          const size_t keep = final ? 0 : partial_tag_suffix(buf_, kToolClose);
          tool_text_.append(buf_, 0, buf_.size() - keep);
          buf_.erase(0, buf_.size() - keep);
          if (final) {
            // Unterminated: the model was cut off; what it wrote stays visible as content.
            emit_content(out, std::string(kToolOpen) + tool_text_);
            tool_text_.clear();
            state_ = State::kContent;
          }
          return;
        }
        tool_text_.append(buf_, 0, close);
        buf_.erase(0, close + kToolClose.size());
        ToolCall call;
        if (parse_tool_call_json(tool_text_, call)) {
          out.tool_calls.push_back(std::move(call));
          ++tool_calls_;
          held_ws_.clear();
        } else {
          emit_content(out, std::string(kToolOpen) + tool_text_ + std::string(kToolClose));
        }
        tool_text_.clear();
        state_ = State::kContent;
        continue;
      }
    }
  }
}

ParsedDelta OutputParser::push(std::string_view text) {
  ParsedDelta out;
  buf_.append(text);
  run(out, false);
  return out;
}

ParsedDelta OutputParser::finish() {
  ParsedDelta out;
  run(out, true);
  if (tool_calls_ == 0 && !held_ws_.empty()) out.content += held_ws_;
  held_ws_.clear();
  return out;
}

}  // namespace hearth::server
