// The HTTP/1.1 request parser: framing (Content-Length, chunked, pipelining, byte-by-byte
// arrival), limits and the errors malformed requests get.
#include <gtest/gtest.h>

#include <string>

#include "hearth/server/http_parser.h"

namespace hearth::server {
namespace {

struct Parsed {
  HttpRequestParser::State state;
  HttpRequest req;
  int status = 0;
  size_t consumed = 0;
};

Parsed parse(const std::string& text, HttpLimits limits = {}) {
  HttpRequestParser p(limits);
  Parsed out;
  out.consumed = p.feed(text);
  out.state = p.state();
  out.status = p.error_status();
  if (out.state == HttpRequestParser::State::kComplete) out.req = p.take();
  return out;
}

TEST(HttpParser, SimpleGet) {
  Parsed p = parse("GET /v1/models?x=1 HTTP/1.1\r\nHost: a\r\nX-Thing:  v v \r\n\r\n");
  ASSERT_EQ(p.state, HttpRequestParser::State::kComplete);
  EXPECT_EQ(p.req.method, "GET");
  EXPECT_EQ(p.req.path, "/v1/models");
  EXPECT_EQ(p.req.query, "x=1");
  ASSERT_NE(p.req.header("x-thing"), nullptr);
  EXPECT_EQ(*p.req.header("x-thing"), "v v");
  EXPECT_TRUE(p.req.keep_alive());
}

TEST(HttpParser, BodyByContentLengthAndPipelining) {
  const std::string two = "POST /a HTTP/1.1\r\nContent-Length: 5\r\n\r\nhelloGET /b HTTP/1.1\r\n\r\n";
  HttpRequestParser p;
  size_t used = p.feed(two);
  ASSERT_EQ(p.state(), HttpRequestParser::State::kComplete);
  HttpRequest a = p.take();
  EXPECT_EQ(a.body, "hello");
  EXPECT_EQ(used, two.find("GET"));
  p.feed(std::string_view(two).substr(used));
  ASSERT_EQ(p.state(), HttpRequestParser::State::kComplete);
  EXPECT_EQ(p.take().path, "/b");
}

TEST(HttpParser, ByteByByteEqualsWhole) {
  const std::string text =
      "POST /v1/completions HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n4;ext=1\r\nabcd\r\n3\r\nefg\r\n0\r\nT: x\r\n\r\n";
  HttpRequestParser p;
  for (char c : text) {
    ASSERT_EQ(p.state(), HttpRequestParser::State::kNeedMore);
    EXPECT_EQ(p.feed(std::string_view(&c, 1)), 1u);
  }
  ASSERT_EQ(p.state(), HttpRequestParser::State::kComplete);
  EXPECT_EQ(p.take().body, "abcdefg");
}

TEST(HttpParser, BareLineFeedsAndLeadingEmptyLines) {
  Parsed p = parse("\r\n\nGET /health HTTP/1.0\nHost: a\n\n");
  ASSERT_EQ(p.state, HttpRequestParser::State::kComplete);
  EXPECT_EQ(p.req.version_minor, 0);
  EXPECT_FALSE(p.req.keep_alive());
}

TEST(HttpParser, ConnectionClose) {
  Parsed p = parse("GET / HTTP/1.1\r\nConnection: keep-alive, close\r\n\r\n");
  EXPECT_FALSE(p.req.keep_alive());
}

TEST(HttpParser, ExpectContinue) {
  HttpRequestParser p;
  p.feed("POST /a HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n");
  EXPECT_TRUE(p.headers_done());
  EXPECT_TRUE(p.expects_continue());
  EXPECT_EQ(p.state(), HttpRequestParser::State::kNeedMore);
  p.feed("ok");
  EXPECT_EQ(p.state(), HttpRequestParser::State::kComplete);
}

TEST(HttpParser, MalformedRequestsGetTheirStatus) {
  const std::pair<const char*, int> cases[] = {
      {"GET / HTTP/2.0\r\n\r\n", 400},
      {"GET /\r\n\r\n", 400},
      {"GET  / HTTP/1.1\r\n\r\n", 400},
      {"G(T / HTTP/1.1\r\n\r\n", 400},
      {"GET x HTTP/1.1\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\nNo Colon\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\nName : v\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\nA: b\r\n c\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\nA: b\x01\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\nA: b\rc\r\n\r\n", 400},
      {"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400},
      {"POST / HTTP/1.1\r\nContent-Length: +1\r\n\r\n", 400},
      {"POST / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
      {"POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 400},
      {"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nxyz\r\n", 400},
      {"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n", 400},
      {"POST / HTTP/1.1\r\nExpect: something\r\n\r\n", 417},
  };
  for (const auto& [text, status] : cases) {
    Parsed p = parse(text);
    EXPECT_EQ(p.state, HttpRequestParser::State::kError) << text;
    EXPECT_EQ(p.status, status) << text;
  }
}

TEST(HttpParser, Limits) {
  HttpLimits l;
  l.max_body_bytes = 10;
  l.max_request_line = 64;
  l.max_header_bytes = 256;
  l.max_headers = 3;
  EXPECT_EQ(parse("POST / HTTP/1.1\r\nContent-Length: 11\r\n\r\n", l).status, 413);
  EXPECT_EQ(parse("POST / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n", l).status, 400);
  EXPECT_EQ(parse("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n8\r\n12345678\r\n8\r\n", l).status, 413);
  EXPECT_EQ(parse("GET /" + std::string(100, 'a') + " HTTP/1.1\r\n\r\n", l).status, 414);
  EXPECT_EQ(parse("GET / HTTP/1.1\r\nA: " + std::string(300, 'a') + "\r\n\r\n", l).status, 431);
  EXPECT_EQ(parse("GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n", l).status, 431);
  // A request line without an end is refused once too long, not buffered forever.
  EXPECT_EQ(parse(std::string(1000, 'A'), l).status, 414);
}

TEST(HttpParser, AbsoluteFormAndFragments) {
  Parsed p = parse("GET http://host:1/v1/models?a HTTP/1.1\r\n\r\n");
  EXPECT_EQ(p.req.path, "/v1/models");
  EXPECT_EQ(parse("GET /health#x HTTP/1.1\r\n\r\n").req.path, "/health");
  EXPECT_EQ(parse("OPTIONS * HTTP/1.1\r\n\r\n").req.path, "*");
}

}  // namespace
}  // namespace hearth::server
