// The serving benchmark: its arithmetic (percentiles, TPOT, ITL, rates) on hand-made
// results, the stream recorder on hand-timed events, Poisson arrivals, request bodies, and
// whole runs against a scripted OpenAI-style server (and through the hearth CLI).
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <numeric>

#include "bench_serve/fake_server.h"
#include "common/run_command.h"
#include "hearth/core/error.h"
#include "serve_bench.h"

namespace hearth::bench {
namespace {

using json = nlohmann::json;
using testing::FakeRequest;
using testing::FakeServer;
using testing::Write;

// numpy.percentile's default (linear between order statistics), written out independently.
double numpy_percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  const double rank = p / 100.0 * static_cast<double>(v.size() - 1);
  const double lo = std::floor(rank);
  const double hi = std::min(lo + 1, static_cast<double>(v.size() - 1));
  return v[static_cast<size_t>(lo)] + (v[static_cast<size_t>(hi)] - v[static_cast<size_t>(lo)]) * (rank - lo);
}

RequestResult ok_result(double ttft, double e2e, int out, std::vector<double> itl, int prompt = 10) {
  RequestResult r;
  r.ok = true;
  r.ttft_ms = ttft;
  r.e2e_ms = e2e;
  r.output_tokens = out;
  r.prompt_tokens = prompt;
  r.itl_ms = std::move(itl);
  return r;
}

TEST(ServeSummary, RatesPercentilesTpotAndItl) {
  ServeSpec spec;
  spec.output_len = 4;
  std::vector<RequestResult> rs = {ok_result(100, 400, 4, {100, 100, 100}), ok_result(50, 350, 4, {90, 110, 100}),
                                   ok_result(200, 260, 2, {60}, 12)};
  RequestResult bad;
  bad.error = "HTTP 429: queue full";
  rs.insert(rs.begin() + 1, bad);
  const double elapsed = 2.0;
  const ServeReport rep = summarize(spec, rs, elapsed);

  EXPECT_EQ(rep.completed, 3);
  EXPECT_EQ(rep.failed_requests, 1);
  EXPECT_EQ(rep.first_error, "request 1: HTTP 429: queue full");
  EXPECT_EQ(rep.output_len_mismatches, 1);  // the 2-token one
  EXPECT_EQ(rep.output_tokens, 4u + 4u + 2u);
  EXPECT_EQ(rep.prompt_tokens, 10u + 10u + 12u);
  EXPECT_DOUBLE_EQ(rep.output_tok_s, 10 / elapsed);
  EXPECT_DOUBLE_EQ(rep.total_tok_s, (10 + 32) / elapsed);
  EXPECT_DOUBLE_EQ(rep.request_throughput, 3 / elapsed);

  const std::vector<double> ttft = {100, 50, 200};
  EXPECT_DOUBLE_EQ(rep.ttft.p50, numpy_percentile(ttft, 50));
  EXPECT_DOUBLE_EQ(rep.ttft.p99, numpy_percentile(ttft, 99));
  EXPECT_DOUBLE_EQ(rep.ttft.mean, 350.0 / 3);
  EXPECT_DOUBLE_EQ(rep.ttft.max, 200);
  const std::vector<double> tpot = {(400.0 - 100) / 3, (350.0 - 50) / 3, (260.0 - 200) / 1};
  EXPECT_DOUBLE_EQ(rep.tpot.p50, numpy_percentile(tpot, 50));
  EXPECT_DOUBLE_EQ(rep.tpot.p99, numpy_percentile(tpot, 99));
  const std::vector<double> itl = {100, 100, 100, 90, 110, 100, 60};  // pooled over requests
  EXPECT_EQ(rep.itl.count, itl.size());
  EXPECT_DOUBLE_EQ(rep.itl.p50, numpy_percentile(itl, 50));
  EXPECT_DOUBLE_EQ(rep.itl.p99, numpy_percentile(itl, 99));
  EXPECT_DOUBLE_EQ(rep.e2e.p50, numpy_percentile({400, 350, 260}, 50));

  const json j = rep.to_json();
  EXPECT_EQ(j["bench"], "serve");
  EXPECT_EQ(j["rate"], "inf");
  EXPECT_TRUE(j["concurrency"].is_null());
  EXPECT_DOUBLE_EQ(j["output_tok_s"].get<double>(), rep.output_tok_s);
  EXPECT_DOUBLE_EQ(j["itl_ms"]["p99"].get<double>(), rep.itl.p99);
  EXPECT_EQ(j["first_error"], rep.first_error);
}

TEST(ServeSummary, OneTokenRequestsHaveNoTpotAndEmptyRunsAreZero) {
  ServeSpec spec;
  spec.output_len = 1;
  const ServeReport one = summarize(spec, {ok_result(30, 30, 1, {})}, 1.0);
  EXPECT_EQ(one.tpot.count, 0u);
  EXPECT_EQ(one.output_len_mismatches, 0);
  const ServeReport none = summarize(spec, {}, 0.0);
  EXPECT_EQ(none.output_tok_s, 0);
  EXPECT_EQ(none.ttft.p99, 0);
  EXPECT_TRUE(none.to_json()["first_error"].is_null());
}

TEST(ServeSummary, ProbeLatencies) {
  ProbeResult m{"/metrics", {1, 2, 3, 4}, 0, {}};
  ProbeResult h{"/health", {}, 2, "HTTP 503: loading"};
  const json j = summarize(ServeSpec{}, {}, 1.0, {m, h}).to_json()["probes"];
  EXPECT_DOUBLE_EQ(j["/metrics"]["p50"].get<double>(), numpy_percentile({1, 2, 3, 4}, 50));
  EXPECT_DOUBLE_EQ(j["/metrics"]["max"].get<double>(), 4);
  EXPECT_EQ(j["/metrics"]["count"], 4);
  EXPECT_EQ(j["/health"]["failed"], 2);
  EXPECT_EQ(j["/health"]["first_error"], "HTTP 503: loading");
}

// --- StreamRecorder: events with chosen timestamps --------------------------------------

Clock::time_point at_ms(Clock::time_point t0, double ms) {
  return t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double, std::milli>(ms));
}

SseEvent data(std::string d) { return SseEvent{"", std::move(d)}; }

TEST(StreamRecorder, TimesOutputChunksOnly) {
  const Clock::time_point t0 = Clock::now();
  StreamRecorder rec(t0, 7);
  rec.on_event(data(R"({"choices":[{"index":0,"delta":{"role":"assistant","content":""}}]})"), at_ms(t0, 5));
  rec.on_event(data(R"({"choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":null}]})"), at_ms(t0, 40));
  rec.on_event(data(R"({"choices":[{"index":0,"delta":{"content":""},"finish_reason":null}]})"), at_ms(t0, 50));
  rec.on_event(data(R"({"choices":[{"index":0,"delta":{"reasoning_content":"x"}}]})"), at_ms(t0, 75));
  rec.on_event(data(R"({"choices":[{"index":0,"delta":{},"finish_reason":"length"}]})"), at_ms(t0, 80));
  rec.on_event(data(R"({"choices":[],"usage":{"prompt_tokens":9,"completion_tokens":3}})"), at_ms(t0, 81));
  rec.on_event(data("[DONE]"), at_ms(t0, 82));
  rec.on_event(data("not json after DONE is ignored"), at_ms(t0, 83));
  const RequestResult r = rec.finish(at_ms(t0, 90));
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_NEAR(r.ttft_ms, 40, 1e-6);
  ASSERT_EQ(r.itl_ms.size(), 2u);
  EXPECT_NEAR(r.itl_ms[0], 10, 1e-6);
  EXPECT_NEAR(r.itl_ms[1], 25, 1e-6);
  EXPECT_NEAR(r.e2e_ms, 90, 1e-6);
  EXPECT_EQ(r.output_tokens, 3);
  EXPECT_TRUE(r.usage_reported);
  EXPECT_EQ(r.prompt_tokens, 9);
}

TEST(StreamRecorder, CountsChunksWithoutUsage) {
  const Clock::time_point t0 = Clock::now();
  StreamRecorder rec(t0, 7);
  rec.on_event(data(R"({"choices":[{"text":"a"}]})"), at_ms(t0, 1));
  rec.on_event(data(R"({"choices":[{"text":"b","finish_reason":"length"}]})"), at_ms(t0, 2));
  rec.on_event(data("[DONE]"), at_ms(t0, 3));
  const RequestResult r = rec.finish(at_ms(t0, 3));
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.output_tokens, 2);
  EXPECT_FALSE(r.usage_reported);
  EXPECT_EQ(r.prompt_tokens, 7);
}

TEST(StreamRecorder, DroppedTextCountsFromTheFinishChunk) {
  // hearth serve drops a chat reply of whitespace only: the tokens show up in usage alone.
  const Clock::time_point t0 = Clock::now();
  StreamRecorder rec(t0, 5);
  rec.on_event(data(R"({"choices":[{"delta":{"role":"assistant","content":""},"finish_reason":null}]})"), at_ms(t0, 3));
  rec.on_event(data(R"({"choices":[{"delta":{},"finish_reason":"length"}]})"), at_ms(t0, 30));
  rec.on_event(data(R"({"choices":[],"usage":{"prompt_tokens":11,"completion_tokens":4}})"), at_ms(t0, 31));
  rec.on_event(data("[DONE]"), at_ms(t0, 32));
  const RequestResult r = rec.finish(at_ms(t0, 33));
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_NEAR(r.ttft_ms, 30, 1e-6);
  EXPECT_EQ(r.output_tokens, 4);
  EXPECT_TRUE(r.itl_ms.empty());

  StreamRecorder none(t0, 5);  // the same without usage: nothing says a token was made
  none.on_event(data(R"({"choices":[{"delta":{},"finish_reason":"length"}]})"), at_ms(t0, 30));
  none.on_event(data("[DONE]"), at_ms(t0, 32));
  EXPECT_EQ(none.finish(at_ms(t0, 33)).error, "the stream carried no output");
}

TEST(StreamRecorder, Failures) {
  const Clock::time_point t0 = Clock::now();
  auto run = [&](std::vector<std::string> events, const std::string& transport_error = {}) {
    StreamRecorder rec(t0, 1);
    for (const auto& e : events) rec.on_event(data(e), t0);
    return rec.finish(t0, transport_error);
  };
  EXPECT_EQ(run({R"({"choices":[{"text":"a"}]})"}).error, "the stream ended without data: [DONE]");
  EXPECT_EQ(run({"[DONE]"}).error, "the stream carried no output");
  EXPECT_EQ(run({R"({"choices":[{"text":"a"}]})", R"({"error":{"message":"engine died","code":500}})", "[DONE]"}).error,
            "error event: engine died");
  EXPECT_EQ(run({"{not json"}).error, "bad JSON in the stream: {not json");
  EXPECT_EQ(run({R"({"choices":[{"text":"a"}]})"}, "connection reset").error, "connection reset");
  StreamRecorder rec(t0, 1);
  rec.on_event(SseEvent{"error", R"({"message":"overloaded"})"}, t0);
  EXPECT_EQ(rec.finish(t0).error, "error event: overloaded");
}

// --- arrivals, prompts, bodies ------------------------------------------------------------

TEST(PoissonArrivals, ExponentialGapsOfMeanOneOverRate) {
  const int n = 20001;
  const double rate = 50;
  const auto t = poisson_arrivals(n, rate, 3);
  ASSERT_EQ(t.size(), static_cast<size_t>(n));
  EXPECT_EQ(t[0], 0);
  std::vector<double> gaps;
  for (size_t i = 1; i < t.size(); ++i) {
    ASSERT_GE(t[i], t[i - 1]);
    gaps.push_back(t[i] - t[i - 1]);
  }
  const double mean = std::accumulate(gaps.begin(), gaps.end(), 0.0) / static_cast<double>(gaps.size());
  double var = 0;
  for (double g : gaps) var += (g - mean) * (g - mean);
  const double sd = std::sqrt(var / static_cast<double>(gaps.size() - 1));
  // The mean of 20,000 exponential gaps has a standard error of 1/rate/sqrt(20000) = 0.71 %
  // of the mean: 5 standard errors is 3.5 %. An exponential's sd equals its mean; the
  // sample sd's standard error is about 1 % here, so 5 % is 5 standard errors as well.
  EXPECT_NEAR(mean, 1 / rate, 0.035 / rate);
  EXPECT_NEAR(sd, 1 / rate, 0.05 / rate);
  EXPECT_EQ(poisson_arrivals(n, rate, 3), t);
  EXPECT_NE(poisson_arrivals(n, rate, 4), t);
  for (double x : poisson_arrivals(5, std::numeric_limits<double>::infinity(), 3)) EXPECT_EQ(x, 0);
}

TEST(ServeRequests, PromptsAndBodies) {
  ServeSpec spec;
  spec.requests = 3;
  spec.input_len = 16;
  spec.vocab_size = 1000;
  const auto prompts = serve_prompts(spec);
  ASSERT_EQ(prompts.size(), 3u);
  for (const auto& p : prompts) {
    ASSERT_EQ(p.size(), 16u);
    for (int32_t id : p) EXPECT_TRUE(id >= 0 && id < 1000);
  }
  EXPECT_NE(prompts[0], prompts[1]);

  const json c = json::parse(request_body(spec, "m", prompts[0], 32));
  EXPECT_EQ(c["model"], "m");
  EXPECT_EQ(c["prompt"].get<std::vector<int32_t>>(), prompts[0]);
  EXPECT_EQ(c["max_tokens"], 32);
  EXPECT_EQ(c["ignore_eos"], true);
  EXPECT_EQ(c["stream"], true);
  EXPECT_EQ(c["stream_options"]["include_usage"], true);

  spec.endpoint = ServeEndpoint::Chat;
  const json chat = json::parse(request_body(spec, "m", prompts[0], 32));
  EXPECT_FALSE(chat.contains("prompt"));
  const std::string text = chat["messages"][0]["content"];
  EXPECT_EQ(chat["messages"][0]["role"], "user");
  EXPECT_EQ(std::count(text.begin(), text.end(), ' '), 15);  // 16 words
}

TEST(ServeSpec, ValidationNamesTheFlag) {
  auto err = [](ServeSpec s) {
    try {
      s.validate();
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("(valid)");
  };
  ServeSpec s;
  s.url = "http://127.0.0.1:1";
  EXPECT_EQ(err(s), "(valid)");
  auto with = [&](auto f) {
    ServeSpec t = s;
    f(t);
    return err(t);
  };
  EXPECT_NE(with([](ServeSpec& t) { t.url = ""; }).find("--url"), std::string::npos);
  EXPECT_NE(with([](ServeSpec& t) { t.url = "ftp://x"; }).find("bad URL"), std::string::npos);
  EXPECT_NE(with([](ServeSpec& t) { t.requests = 0; }).find("--requests"), std::string::npos);
  EXPECT_NE(with([](ServeSpec& t) { t.rate = 0; }).find("--rate"), std::string::npos);
  EXPECT_NE(with([](ServeSpec& t) { t.rate = std::nan(""); }).find("--rate"), std::string::npos);
  EXPECT_NE(with([](ServeSpec& t) { t.output_len = -1; }).find("--output-len"), std::string::npos);
  EXPECT_NE(with([](ServeSpec& t) { t.requests = 5000; }).find("--concurrency"), std::string::npos);
  EXPECT_EQ(with([](ServeSpec& t) { t.requests = 5000, t.concurrency = 64; }), "(valid)");
}

// --- whole runs against a scripted server ------------------------------------------------

struct StreamScript {
  int ttft_ms = 60;
  int gap_ms = 15;
  bool split_everywhere = true;  // cut SSE lines and chunk headers across writes
};

// An OpenAI-style streaming /v1/completions: max_tokens text chunks, a finish chunk, a usage
// chunk and [DONE], in chunked encoding, with keep-alive comments in between.
std::vector<Write> completion_stream(const FakeRequest& r, const StreamScript& s) {
  const json req = json::parse(r.body);
  const int n = req["max_tokens"];
  const int prompt = static_cast<int>(req["prompt"].size());
  std::vector<Write> w = {{testing::sse_head()}};
  auto event = [&](const std::string& payload, int delay) {
    const std::string c = testing::chunk("data: " + payload + "\r\n\r\n");
    if (s.split_everywhere && c.size() > 6) {
      w.push_back({c.substr(0, 3), delay});
      w.push_back({c.substr(3), 0});
    } else {
      w.push_back({c, delay});
    }
  };
  w.push_back({testing::chunk(": keep-alive\n\n")});
  for (int i = 0; i < n; ++i) event(json{{"choices", {{{"index", 0}, {"text", "t"}, {"finish_reason", nullptr}}}}}.dump(),
                                    i == 0 ? s.ttft_ms : s.gap_ms);
  event(json{{"choices", {{{"index", 0}, {"text", ""}, {"finish_reason", "length"}}}}}.dump(), 0);
  event(json{{"choices", json::array()}, {"usage", {{"prompt_tokens", prompt}, {"completion_tokens", n}}}}.dump(), 0);
  event("[DONE]", 0);
  w.push_back({"0\r\n\r\n"});
  return w;
}

std::vector<Write> models_or_probe(const FakeRequest& r) {
  if (r.path == "/v1/models") return {{testing::json_response(200, R"({"object":"list","data":[{"id":"tiny"}]})")}};
  if (r.path == "/metrics") return {{"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\n# "}};
  if (r.path == "/health") return {{"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"}};
  return {{testing::json_response(404, R"({"error":{"message":"not found"}})")}};
}

TEST(ServeBench, RunsAgainstAStreamingServer) {
  const StreamScript script;
  FakeServer s([&](const FakeRequest& r) {
    return r.path == "/v1/completions" ? completion_stream(r, script) : models_or_probe(r);
  });
  ServeSpec spec;
  spec.url = s.url();
  spec.requests = 8;
  spec.input_len = 12;
  spec.output_len = 5;
  spec.probe_interval_ms = 20;
  spec.vocab_size = 500;
  const ServeReport rep = run_serve_bench(spec);
  EXPECT_EQ(rep.model, "tiny");
  EXPECT_EQ(rep.completed, 8) << rep.first_error;
  EXPECT_EQ(rep.failed_requests, 0);
  EXPECT_EQ(rep.output_len_mismatches, 0);
  EXPECT_EQ(rep.output_tokens, 8u * 5u);
  EXPECT_EQ(rep.prompt_tokens, 8u * 12u);
  EXPECT_EQ(rep.max_in_flight, 8);  // an infinite rate sends all at once; each takes >= 120 ms
  // The server sleeps before each write, so these are lower bounds; the upper bounds only
  // guard against gross errors (e.g. seconds instead of ms) on a loaded CI machine.
  EXPECT_GE(rep.ttft.p50, script.ttft_ms);
  EXPECT_LT(rep.ttft.p50, script.ttft_ms + 2000);
  EXPECT_GE(rep.itl.p50, script.gap_ms);
  EXPECT_EQ(rep.itl.count, 8u * 4u);
  EXPECT_GE(rep.tpot.p50, script.gap_ms);
  EXPECT_GE(rep.e2e.p50, script.ttft_ms + 4 * script.gap_ms);
  EXPECT_NEAR(rep.output_tok_s, 40 / rep.elapsed_s, 1e-9);
  ASSERT_EQ(rep.probes.size(), 2u);
  EXPECT_EQ(rep.probes[0].first, "/metrics");
  EXPECT_GE(rep.probes[0].second.count, 1u);
  EXPECT_GE(rep.probes[1].second.count, 1u);
  EXPECT_EQ(rep.probe_failures[0].first + rep.probe_failures[1].first, 0);

  // 1 test request + 8 of the load; each load request carries its own prompt.
  int completions = 0;
  for (const auto& r : s.requests()) {
    if (r.path != "/v1/completions") continue;
    ++completions;
    const json b = json::parse(r.body);
    EXPECT_EQ(b["model"], "tiny");
    EXPECT_EQ(b["prompt"].size(), 12u);
  }
  EXPECT_EQ(completions, 9);
}

TEST(ServeBench, ConcurrencyCapAndArrivalRate) {
  const StreamScript script{20, 5, false};
  FakeServer s([&](const FakeRequest& r) {
    return r.path == "/v1/completions" ? completion_stream(r, script) : models_or_probe(r);
  });
  ServeSpec spec;
  spec.url = s.url();
  spec.model_name = "given";
  spec.requests = 10;
  spec.input_len = 4;
  spec.output_len = 3;
  spec.concurrency = 2;
  spec.rate = 40;
  spec.probe_interval_ms = 0;
  const ServeReport rep = run_serve_bench(spec);
  EXPECT_EQ(rep.completed, 10) << rep.first_error;
  EXPECT_LE(rep.max_in_flight, 2);
  EXPECT_GE(rep.elapsed_s, poisson_arrivals(10, 40, spec.seed).back());  // the last arrival came on time
  EXPECT_TRUE(rep.probes.empty() || rep.probes[0].second.count == 0);
  for (const auto& r : s.requests()) EXPECT_NE(r.path, "/v1/models");  // --model-name given
}

TEST(ServeBench, FailuresAreCountedWithTheFirstError) {
  std::atomic<int> n{0};
  const StreamScript script{5, 1, true};
  FakeServer s([&](const FakeRequest& r) -> std::vector<Write> {
    if (r.path != "/v1/completions") return models_or_probe(r);
    const int i = n.fetch_add(1);
    if (i == 0) return completion_stream(r, script);  // the test request passes
    if (i % 3 == 1) return {{testing::json_response(429, R"({"error":{"message":"queue full","code":429}})")}};
    if (i % 3 == 2) {  // cut mid-stream
      auto w = completion_stream(r, script);
      w.resize(w.size() / 2);
      return w;
    }
    return completion_stream(r, script);
  });
  ServeSpec spec;
  spec.url = s.url();
  spec.requests = 9;
  spec.input_len = 4;
  spec.output_len = 3;
  spec.concurrency = 1;  // one at a time, so that request i meets handler call i + 1
  spec.probe_interval_ms = 0;
  const ServeReport rep = run_serve_bench(spec);
  EXPECT_EQ(rep.failed_requests, 6);
  EXPECT_EQ(rep.completed, 3);
  EXPECT_EQ(rep.first_error, "request 0: HTTP 429: queue full");
  EXPECT_EQ(rep.output_tokens, 9u);
}

TEST(ServeBench, ClearErrorsBeforeAnyLoad) {
  auto err = [](const ServeSpec& spec) {
    try {
      run_serve_bench(spec);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("(no error)");
  };
  ServeSpec spec;
  spec.requests = 2;
  spec.input_len = 2;
  spec.output_len = 2;
  spec.probe_interval_ms = 0;

  FakeServer unauthorized([](const FakeRequest& r) -> std::vector<Write> {
    if (r.header("authorization") != "Bearer right")
      return {{testing::json_response(401, R"({"error":{"message":"invalid API key"}})")}};
    return models_or_probe(r);
  });
  spec.url = unauthorized.url();
  EXPECT_EQ(err(spec), "--model-name not given and GET /v1/models failed: HTTP 401: invalid API key");
  spec.model_name = "m";
  const std::string e = err(spec);
  EXPECT_NE(e.find("the test request to " + spec.url + "/v1/completions failed (no load was sent): HTTP 401: invalid API key"),
            std::string::npos)
      << e;

  FakeServer not_sse([](const FakeRequest& r) -> std::vector<Write> {
    if (r.path == "/v1/completions") return {{testing::json_response(200, R"({"choices":[{"text":"x"}]})")}};
    return models_or_probe(r);
  });
  spec.url = not_sse.url();
  EXPECT_NE(err(spec).find("expected Content-Type text/event-stream, got 'application/json'"), std::string::npos);

  FakeServer loading([](const FakeRequest& r) -> std::vector<Write> {
    if (r.path == "/health") return {{testing::json_response(503, R"({"error":{"message":"loading"}})")}};
    return models_or_probe(r);
  });
  spec.url = loading.url();
  spec.wait_ready_s = 0.3;
  EXPECT_NE(err(spec).find("not ready after 0.3 s (last answer: HTTP 503: loading)"), std::string::npos);
}

TEST(ServeBenchCli, PrintsOneJsonObjectAndReportsErrors) {
  if (!std::filesystem::exists(HEARTH_BINARY)) GTEST_SKIP() << "hearth binary not built: " << HEARTH_BINARY;
  const StreamScript script{10, 2, true};
  FakeServer s([&](const FakeRequest& r) {
    return r.path == "/v1/completions" ? completion_stream(r, script) : models_or_probe(r);
  });
  const std::string bin = HEARTH_BINARY;
  const auto ok = hearth::testing::run_command(bin + " bench serve --url " + s.url() +
                                               " --requests 4 --rate 100 --input-len 8 --output-len 3 --concurrency 2"
                                               " --probe-interval-ms 10 --seed 7");
  ASSERT_EQ(ok.exit_code, 0) << ok.output;
  const json j = json::parse(ok.output);
  EXPECT_EQ(j["bench"], "serve");
  EXPECT_EQ(j["completed"], 4);
  EXPECT_EQ(j["rate"], 100.0);
  EXPECT_EQ(j["concurrency"], 2);
  EXPECT_EQ(j["output_tokens"], 12);
  for (const char* key : {"output_tok_s", "total_tok_s", "request_throughput"}) EXPECT_GT(j[key].get<double>(), 0) << key;
  for (const char* key : {"ttft_ms", "tpot_ms", "itl_ms", "e2e_ms"})
    for (const char* p : {"p50", "p99"}) EXPECT_TRUE(j[key][p].is_number()) << key << " " << p;
  EXPECT_TRUE(j["probes"]["/metrics"]["p99"].is_number());
  EXPECT_TRUE(j["probes"]["/health"]["max"].is_number());

  const auto bad_rate = hearth::testing::run_command(bin + " bench serve --url " + s.url() + " --rate fast", true);
  EXPECT_EQ(bad_rate.exit_code, 1);
  EXPECT_NE(bad_rate.output.find("--rate must be a positive number or inf, got 'fast'"), std::string::npos) << bad_rate.output;
  const auto bad_url = hearth::testing::run_command(bin + " bench serve --url localhost:8000", true);
  EXPECT_EQ(bad_url.exit_code, 1);
  EXPECT_NE(bad_url.output.find("expected http://host[:port][/path]"), std::string::npos) << bad_url.output;
}

}  // namespace
}  // namespace hearth::bench
