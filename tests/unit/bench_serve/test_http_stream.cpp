// The incremental body decoders: chunked transfer encoding and server-sent events, fed
// whole and split at every possible byte boundary.
#include <gtest/gtest.h>

#include "hearth/core/error.h"
#include "http_stream.h"

namespace hearth::bench {
namespace {

std::string decode_all(std::string_view in, size_t* used = nullptr) {
  ChunkedDecoder d;
  std::string out;
  const size_t n = d.feed(in, out);
  if (used) *used = n;
  EXPECT_TRUE(d.done());
  return out;
}

TEST(ChunkedDecoder, DecodesChunksExtensionsAndTrailers) {
  EXPECT_EQ(decode_all("5\r\nhello\r\n7\r\n, world\r\n0\r\n\r\n"), "hello, world");
  EXPECT_EQ(decode_all("A;name=value\r\n0123456789\r\n0\r\nX-Trailer: 1\r\n\r\n"), "0123456789");
  EXPECT_EQ(decode_all("a\r\n0123456789\r\n0\r\n\r\n"), "0123456789");
  EXPECT_EQ(decode_all("3\nabc\n0\n\n"), "abc");  // bare LF line ends are tolerated
}

TEST(ChunkedDecoder, StopsAtTheEndOfTheBody) {
  size_t used = 0;
  const std::string body = "3\r\nabc\r\n0\r\n\r\n";
  EXPECT_EQ(decode_all(body + "HTTP/1.1 200 OK", &used), "abc");
  EXPECT_EQ(used, body.size());
}

TEST(ChunkedDecoder, SameOutputForEverySplit) {
  const std::string body = "4\r\ndata\r\n1d;x=y\r\n: keep-alive\n\ndata: {\"a\":1}\r\n\r\n0\r\nT: v\r\n\r\n";
  const std::string whole = decode_all(body);
  ASSERT_EQ(whole, "data: keep-alive\n\ndata: {\"a\":1}\r\n");
  for (size_t cut1 = 0; cut1 <= body.size(); ++cut1) {
    for (size_t cut2 = cut1; cut2 <= body.size(); cut2 += 3) {
      ChunkedDecoder d;
      std::string out;
      d.feed(std::string_view(body).substr(0, cut1), out);
      d.feed(std::string_view(body).substr(cut1, cut2 - cut1), out);
      EXPECT_FALSE(d.done() && cut2 < body.size()) << cut1 << " " << cut2;
      d.feed(std::string_view(body).substr(cut2), out);
      ASSERT_TRUE(d.done()) << cut1 << " " << cut2;
      ASSERT_EQ(out, whole) << cut1 << " " << cut2;
    }
  }
}

TEST(ChunkedDecoder, RejectsMalformedInput) {
  std::string out;
  EXPECT_THROW(ChunkedDecoder().feed("zz\r\nabc\r\n", out), Error);
  EXPECT_THROW(ChunkedDecoder().feed("\r\n", out), Error);
  EXPECT_THROW(ChunkedDecoder().feed("3\r\nabcX\r\n", out), Error);     // data longer than its size
  EXPECT_THROW(ChunkedDecoder().feed("3\r\nabc\rX", out), Error);       // CR not followed by LF
  EXPECT_THROW(ChunkedDecoder().feed("fffffffffffffffff\r\n", out), Error);  // size overflows
  EXPECT_THROW(ChunkedDecoder().feed(std::string(10000, '1'), out), Error);  // endless size line
}

std::vector<SseEvent> parse_sse(const std::vector<std::string>& pieces, bool finish = true) {
  std::vector<SseEvent> events;
  SseParser p([&](const SseEvent& e) { events.push_back(e); });
  for (const auto& s : pieces) p.feed(s);
  if (finish) p.finish();
  return events;
}

TEST(SseParser, LineEndingsCommentsAndFields) {
  const auto ev = parse_sse({": comment\r\n\r\ndata: a\r\n\r\ndata:b\n\ndata: c\r\rdata:  d\n\nevent: error\ndata: e\n\n"});
  ASSERT_EQ(ev.size(), 5u);
  EXPECT_EQ(ev[0].data, "a");
  EXPECT_EQ(ev[1].data, "b");
  EXPECT_EQ(ev[2].data, "c");
  EXPECT_EQ(ev[3].data, " d");  // only one leading space is dropped
  EXPECT_EQ(ev[4].event, "error");
  EXPECT_EQ(ev[4].data, "e");
  EXPECT_EQ(ev[0].event, "");
}

TEST(SseParser, JoinsDataLinesAndSkipsEventsWithoutData) {
  const auto ev = parse_sse({"id: 1\nretry: 10\n\ndata: x\ndata: y\ndata\n\nevent: ping\n\n"});
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].data, "x\ny\n");  // a bare "data" line adds an empty line
}

TEST(SseParser, CrlfSplitAcrossFeedsIsOneLineEnd) {
  const auto ev = parse_sse({"data: a\r", "\n\r", "\ndata: [DONE]\r", "\n", "\r\n"});
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_EQ(ev[0].data, "a");
  EXPECT_EQ(ev[1].data, "[DONE]");
}

TEST(SseParser, EveryByteSplitGivesTheSameEvents) {
  const std::string stream =
      ": hi\r\n\r\ndata: {\"choices\":[{\"text\":\"x\\n\"}]}\r\n\r\ndata: one\ndata: two\n\ndata: [DONE]\n\n";
  const auto whole = parse_sse({stream});
  ASSERT_EQ(whole.size(), 3u);
  for (size_t cut = 0; cut <= stream.size(); ++cut) {
    const auto split = parse_sse({stream.substr(0, cut), stream.substr(cut)});
    ASSERT_EQ(split.size(), whole.size()) << cut;
    for (size_t i = 0; i < whole.size(); ++i) EXPECT_EQ(split[i].data, whole[i].data) << cut;
  }
  std::vector<std::string> bytes;
  for (char c : stream) bytes.emplace_back(1, c);
  const auto one_by_one = parse_sse(bytes);
  ASSERT_EQ(one_by_one.size(), whole.size());
  for (size_t i = 0; i < whole.size(); ++i) EXPECT_EQ(one_by_one[i].data, whole[i].data);
}

TEST(SseParser, FinishDeliversAnEventCutOffByTheEndOfStream) {
  EXPECT_EQ(parse_sse({"data: [DONE]"}, false).size(), 0u);
  const auto ev = parse_sse({"data: [DONE]"}, true);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].data, "[DONE]");
  EXPECT_EQ(parse_sse({"data: x\n\n"}, true).size(), 1u);  // finish after a complete event adds nothing
}

}  // namespace
}  // namespace hearth::bench
