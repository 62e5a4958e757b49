// libFuzzer target for the serving bench's response parsers (bench/http_stream.h,
// bench/http_client.h, the StreamRecorder of bench/serve_bench.h): they read bytes from
// whatever answers on the benchmarked port. Invariants: only hearth::Error escapes, and
// feeding the input in two pieces (cut where the first byte says) decodes exactly as
// feeding it whole.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "hearth/core/error.h"
#include "http_client.h"
#include "http_stream.h"
#include "serve_bench.h"

namespace {

using namespace hearth::bench;

struct Chunked {
  std::string out;
  bool done = false;
  bool error = false;
};

Chunked decode(std::string_view a, std::string_view b) {
  Chunked r;
  ChunkedDecoder d;
  try {
    const size_t used = d.feed(a, r.out);
    if (used == a.size()) d.feed(b, r.out);
  } catch (const hearth::Error&) {
    r.error = true;
  }
  r.done = d.done();
  return r;
}

std::vector<std::string> sse(std::string_view a, std::string_view b) {
  std::vector<std::string> events;
  SseParser p([&](const SseEvent& e) { events.push_back(e.event + '\0' + e.data); });
  p.feed(a);
  p.feed(b);
  p.finish();
  return events;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  const size_t cut = in.empty() ? 0 : data[0] % (in.size() + 1);
  const std::string_view a = in.substr(0, cut), b = in.substr(cut);

  const Chunked whole = decode(in, {}), split = decode(a, b);
  if (whole.error != split.error || whole.done != split.done) std::abort();
  if (!whole.error && whole.out != split.out) std::abort();

  const auto events = sse(in, {});
  if (events != sse(a, b)) std::abort();

  // The events as one streamed completion: any JSON, any order, never a crash.
  const Clock::time_point t0 = Clock::now();
  StreamRecorder rec(t0, 1);
  SseParser p([&](const SseEvent& e) { rec.on_event(e, Clock::now()); });
  p.feed(in);
  p.finish();
  const RequestResult r = rec.finish(Clock::now());
  if (r.ok == !r.error.empty()) std::abort();

  try {
    HttpResponse head = parse_response_head(in);
    head.body = std::string(in);
    (void)describe_http_error(head);
  } catch (const hearth::Error&) {
  }
  try {
    (void)Url::parse(in);
  } catch (const hearth::Error&) {
  }
  return 0;
}
