// The blocking HTTP client: URL parsing, response heads, body framings and error paths,
// against a scripted server on 127.0.0.1.
#include <gtest/gtest.h>

#include "bench_serve/fake_server.h"
#include "hearth/core/error.h"
#include "http_client.h"

namespace hearth::bench {
namespace {

using testing::FakeRequest;
using testing::FakeServer;
using testing::Write;

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

// A port with nothing listening: bound, then closed.
uint16_t closed_port() {
  uint16_t port = 0;
  {
    FakeServer s([](const FakeRequest&) { return std::vector<Write>{}; });
    port = s.port();
  }
  return port;
}

TEST(Url, ParsesHostPortAndBasePath) {
  Url u = Url::parse("http://127.0.0.1:8000");
  EXPECT_EQ(u.host, "127.0.0.1");
  EXPECT_EQ(u.port, 8000);
  EXPECT_EQ(u.base_path, "");
  u = Url::parse("http://localhost/");
  EXPECT_EQ(u.port, 80);
  EXPECT_EQ(u.base_path, "");
  u = Url::parse("http://example.org:1/api/v/");
  EXPECT_EQ(u.base_path, "/api/v");
  EXPECT_EQ(u.authority(), "example.org:1");
  u = Url::parse("http://[::1]:9000");
  EXPECT_EQ(u.host, "::1");
  EXPECT_EQ(u.authority(), "[::1]:9000");
}

TEST(Url, RejectsWhatItCannotUse) {
  EXPECT_NE(error_of([] { Url::parse("https://h:1"); }).find("https is not supported"), std::string::npos);
  EXPECT_NE(error_of([] { Url::parse("127.0.0.1:8000"); }).find("expected http://"), std::string::npos);
  for (const char* bad : {"http://", "http://:80", "http://h:", "http://h:0", "http://h:65536", "http://h:8x",
                          "http://h:1/p?q=1", "http://u@h:1", "http://[::1", "http://[::1]x"})
    EXPECT_NE(error_of([bad] { Url::parse(bad); }).find("bad URL"), std::string::npos) << bad;
}

TEST(ResponseHead, StatusAndLowerCasedHeaders) {
  const HttpResponse r = parse_response_head("HTTP/1.1 404 Not Found\r\nContent-Type: text/plain \r\nX-A:b\r\n");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.reason, "Not Found");
  EXPECT_EQ(r.header("content-type"), "text/plain");
  EXPECT_EQ(r.header("x-a"), "b");
  EXPECT_EQ(parse_response_head("HTTP/1.0 200").status, 200);
  EXPECT_THROW(parse_response_head("HTTP/2 200 OK"), Error);
  EXPECT_THROW(parse_response_head("HTTP/1.1 2000 OK"), Error);
  EXPECT_THROW(parse_response_head("HTTP/1.1 200 OK\r\nno colon here"), Error);
}

TEST(ResponseHead, DescribesErrorsWithTheServerMessage) {
  HttpResponse r;
  r.status = 400;
  r.body = R"({"error": {"message": "max_tokens must be positive", "type": "invalid_request_error"}})";
  EXPECT_EQ(describe_http_error(r), "HTTP 400: max_tokens must be positive");
  r.body = "plain\ntext";
  EXPECT_EQ(describe_http_error(r), "HTTP 400: plain text");
  r.body.clear();
  r.reason = "Bad Request";
  EXPECT_EQ(describe_http_error(r), "HTTP 400 Bad Request");
}

HttpResponse get(const FakeServer& s, const std::string& path = "/x", const HttpOptions& opt = {},
                 const BodyCallback& cb = {}) {
  HttpRequest req;
  req.path = path;
  return http_request(Url::parse(s.url()), req, opt, cb);
}

TEST(HttpClient, ContentLengthChunkedAndUntilCloseBodies) {
  FakeServer s([](const FakeRequest& r) -> std::vector<Write> {
    if (r.path == "/length") return {{"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel"}, {"lo", 20}};
    if (r.path == "/chunked")
      return {{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r"}, {"\nab\r\n1", 10}, {"0\r\n", 10},
              {"0123456789abcdef\r\n0\r\n\r\n", 10}};
    if (r.path == "/close") return {{"HTTP/1.1 200 OK\r\n\r\nuntil "}, {"close", 10}};
    if (r.path == "/continue") return {{"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"}};
    return {{testing::json_response(404, R"({"error":{"message":"no such path"}})")}};
  });
  EXPECT_EQ(get(s, "/length").body, "hello");
  EXPECT_EQ(get(s, "/chunked").body, "ab0123456789abcdef");
  EXPECT_EQ(get(s, "/close").body, "until close");
  EXPECT_EQ(get(s, "/continue").body, "ok");
  const HttpResponse missing = get(s, "/nope");
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(describe_http_error(missing), "HTTP 404: no such path");

  // With a callback, the body arrives in pieces with increasing timestamps.
  std::string streamed;
  std::vector<Clock::time_point> times;
  const HttpResponse r = get(s, "/chunked", {}, [&](std::string_view b, Clock::time_point at) {
    streamed.append(b);
    times.push_back(at);
  });
  EXPECT_EQ(r.body, "");
  EXPECT_EQ(streamed, "ab0123456789abcdef");
  ASSERT_GE(times.size(), 2u);
  EXPECT_TRUE(std::is_sorted(times.begin(), times.end()));

  // An error body is kept even with a callback, for the message.
  EXPECT_EQ(describe_http_error(get(s, "/nope", {}, [](std::string_view, Clock::time_point) {})), "HTTP 404: no such path");
}

TEST(HttpClient, SendsHostMethodBodyAndHeaders) {
  FakeServer s([](const FakeRequest&) { return std::vector<Write>{{"HTTP/1.1 204 No Content\r\n\r\n"}}; });
  HttpRequest req;
  req.method = "POST";
  req.path = "/v1/completions";
  req.headers = {{"Authorization", "Bearer k"}};
  req.body = R"({"a":1})";
  const HttpResponse r = http_request(Url::parse(s.url() + "/base/"), req);
  EXPECT_EQ(r.status, 204);
  const auto seen = s.requests();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].method, "POST");
  EXPECT_EQ(seen[0].path, "/base/v1/completions");
  EXPECT_EQ(seen[0].header("host"), "127.0.0.1:" + std::to_string(s.port()));
  EXPECT_EQ(seen[0].header("authorization"), "Bearer k");
  EXPECT_EQ(seen[0].body, R"({"a":1})");
}

TEST(HttpClient, ErrorPaths) {
  const uint16_t port = closed_port();
  const std::string refused = error_of([&] { http_request(Url::parse("http://127.0.0.1:" + std::to_string(port)), {}); });
  EXPECT_NE(refused.find("connect to 127.0.0.1:" + std::to_string(port) + " failed"), std::string::npos) << refused;
  EXPECT_NE(refused.find("refused"), std::string::npos) << refused;

  EXPECT_NE(error_of([] { http_request(Url::parse("http://no-such-host.invalid:1"), {}); }).find("cannot resolve host"),
            std::string::npos);

  FakeServer s([](const FakeRequest& r) -> std::vector<Write> {
    if (r.path == "/silent") return {{"", 2000}};
    if (r.path == "/cut") return {{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab"}};
    if (r.path == "/short") return {{"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nab"}};
    if (r.path == "/badchunk") return {{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nxyz\r\n"}};
    if (r.path == "/garbage") return {{"SSH-2.0-OpenSSH\r\n\r\n"}};
    return {};  // closes without answering
  });
  const std::string timeout = error_of([&] { get(s, "/silent", HttpOptions{1, 0.2}); });
  EXPECT_NE(timeout.find("timed out after 0.2 s waiting for the response headers"), std::string::npos) << timeout;
  EXPECT_NE(error_of([&] { get(s, "/cut"); }).find("before the end of the chunked body"), std::string::npos);
  EXPECT_NE(error_of([&] { get(s, "/short"); }).find("8 body bytes missing"), std::string::npos);
  EXPECT_NE(error_of([&] { get(s, "/badchunk"); }).find("bad chunk size line 'xyz'"), std::string::npos);
  EXPECT_NE(error_of([&] { get(s, "/garbage"); }).find("malformed HTTP status line"), std::string::npos);
  EXPECT_NE(error_of([&] { get(s, "/empty"); }).find("before the response headers"), std::string::npos);
}

}  // namespace
}  // namespace hearth::bench
