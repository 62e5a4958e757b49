// libFuzzer: bytes from a client. They go through the HTTP/1.1 request parser in pieces
// whose sizes the input picks; every complete request's body goes through the JSON body
// check and both OpenAI request parsers; the body text also goes through the output parser
// (reasoning, tool calls) and the stop strings. Only ApiError may come out of the request
// parsers; the streaming parsers must give the same result however the text is split.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "hearth/server/api_error.h"
#include "hearth/server/http_parser.h"
#include "hearth/server/openai_request.h"
#include "hearth/server/output_parser.h"

namespace {

using namespace hearth::server;

void check_body(std::string_view body) {
  try {
    const OrderedJson j = parse_json_body(body);
    try {
      (void)parse_chat_request(j);
    } catch (const ApiError& e) {
      if (e.status() != 400) std::abort();
    }
    try {
      (void)parse_completion_request(j);
    } catch (const ApiError& e) {
      if (e.status() != 400) std::abort();
    }
  } catch (const ApiError& e) {
    if (e.status() != 400) std::abort();
  }
}

struct Parsed {
  std::string reasoning, content, calls;
};

Parsed parse_output(std::string_view text, size_t split, OutputParser::Options o) {
  OutputParser p(o);
  Parsed r;
  auto add = [&](const ParsedDelta& d) {
    r.reasoning += d.reasoning;
    r.content += d.content;
    for (const ToolCall& c : d.tool_calls) r.calls += c.name + "\x01" + c.arguments + "\x02";
  };
  add(p.push(text.substr(0, split)));
  add(p.push(text.substr(split)));
  add(p.finish());
  return r;
}

void check_output(std::string_view text, size_t split) {
  const OutputParser::Options opts[] = {{}, {true, false, false}, {true, true, true}, {false, false, true}};
  for (const auto& o : opts) {
    const Parsed a = parse_output(text, 0, o), b = parse_output(text, split, o);
    if (a.reasoning != b.reasoning || a.content != b.content || a.calls != b.calls) std::abort();
  }
  StopStrings s1({"</", "ab"}), s2({"</", "ab"});
  std::string x = s1.push(text);
  x += s1.flush();
  std::string y = s2.push(text.substr(0, split));
  y += s2.push(text.substr(split));
  y += s2.flush();
  if (x != y || s1.stopped() != s2.stopped()) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const size_t piece = 1 + data[0] % 64;  // bytes per feed()
  std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  HttpLimits limits;
  limits.max_body_bytes = 1 << 16;
  limits.max_header_bytes = 4096;
  limits.max_request_line = 1024;
  HttpRequestParser parser(limits);
  std::string pending;
  size_t pos = 0;
  int requests = 0;
  while ((pos < in.size() || !pending.empty()) && requests < 16) {
    if (pending.empty()) {
      pending.assign(in.substr(pos, piece));
      pos += pending.size();
    }
    const size_t used = parser.feed(pending);
    if (used > pending.size()) std::abort();
    pending.erase(0, used);
    if (parser.state() == HttpRequestParser::State::kError) {
      const int s = parser.error_status();
      if (s < 400 || s > 499) std::abort();
      break;
    }
    if (parser.state() == HttpRequestParser::State::kComplete) {
      ++requests;
      const HttpRequest req = parser.take();
      if (req.body.size() > limits.max_body_bytes) std::abort();
      check_body(req.body);
      check_output(req.body, req.body.size() / 2);
    } else if (used == 0 && !pending.empty()) {
      std::abort();  // a parser that needs more must take what it was given
    }
  }
  check_body(in);
  check_output(in, in.size() / 3);
  return 0;
}
