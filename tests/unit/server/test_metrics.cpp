// Prometheus text with vLLM's names, histograms, SSE framing, response bodies and the
// request log line.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "hearth/server/api_server.h"
#include "hearth/server/metrics.h"
#include "hearth/server/openai_response.h"

namespace hearth::server {
namespace {

// The value of the sample line that starts with `prefix`.
double sample(const std::string& text, const std::string& prefix) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(prefix, 0) == 0) return std::stod(line.substr(line.rfind(' ') + 1));
  ADD_FAILURE() << "no sample " << prefix;
  return -1;
}

TEST(Metrics, VllmNamesAndValues) {
  Metrics m("qwen\"3");
  m.observe_ttft(0.03);
  m.observe_ttft(3.0);
  m.observe_inter_token(0.02, 2);
  m.add_tokens(10, 1);
  m.add_tokens(0, 4);
  m.add_tokens(7, 3);
  m.on_finished("stop", 0.4);
  m.on_finished("abort", 2.0);
  m.on_rejected("queue_full");
  EngineStats s;
  s.running = 3;
  s.waiting = 2;
  s.kv_blocks = 100;
  s.kv_free_blocks = 75;
  s.prefix_query_tokens = 40;
  s.prefix_hit_tokens = 16;
  ServerGauges g;
  g.gpu_memory_peak_bytes = 12345;
  const std::string t = m.render(s, g);
  const std::string L = "{model_name=\"qwen\\\"3\"";
  EXPECT_EQ(sample(t, "vllm:num_requests_running" + L + "}"), 3);
  EXPECT_EQ(sample(t, "vllm:num_requests_waiting" + L + "}"), 2);
  EXPECT_DOUBLE_EQ(sample(t, "vllm:kv_cache_usage_perc" + L + "}"), 0.25);
  EXPECT_EQ(sample(t, "vllm:prompt_tokens_total" + L + "}"), 17);
  EXPECT_EQ(sample(t, "vllm:generation_tokens_total" + L + "}"), 8);
  EXPECT_EQ(sample(t, "vllm:request_success_total" + L + ",finished_reason=\"stop\"}"), 1);
  EXPECT_EQ(sample(t, "vllm:request_success_total" + L + ",finished_reason=\"abort\"}"), 1);
  EXPECT_EQ(sample(t, "vllm:request_success_total" + L + ",finished_reason=\"length\"}"), 0);
  EXPECT_EQ(sample(t, "vllm:prefix_cache_queries_total" + L + "}"), 40);
  EXPECT_EQ(sample(t, "vllm:prefix_cache_hits_total" + L + "}"), 16);
  EXPECT_EQ(sample(t, "hearth_requests_rejected_total" + L + ",reason=\"queue_full\"}"), 1);
  EXPECT_EQ(sample(t, "hearth_gpu_memory_peak_bytes" + L + "}"), 12345);
  // Histograms: cumulative buckets, +Inf equals the count, sum.
  EXPECT_EQ(sample(t, "vllm:time_to_first_token_seconds_bucket" + L + ",le=\"0.04\"}"), 1);
  EXPECT_EQ(sample(t, "vllm:time_to_first_token_seconds_bucket" + L + ",le=\"+Inf\"}"), 2);
  EXPECT_EQ(sample(t, "vllm:time_to_first_token_seconds_count" + L + "}"), 2);
  EXPECT_DOUBLE_EQ(sample(t, "vllm:time_to_first_token_seconds_sum" + L + "}"), 3.03);
  EXPECT_EQ(sample(t, "vllm:inter_token_latency_seconds_count" + L + "}"), 2);
  EXPECT_EQ(sample(t, "vllm:inter_token_latency_seconds_bucket" + L + ",le=\"0.01\"}"), 2);
  EXPECT_EQ(sample(t, "vllm:e2e_request_latency_seconds_count" + L + "}"), 2);
  for (const char* family : {"vllm:num_requests_running gauge", "vllm:prompt_tokens counter",
                             "vllm:time_to_first_token_seconds histogram", "vllm:prefix_cache_hits counter"})
    EXPECT_NE(t.find(std::string("# TYPE ") + family), std::string::npos) << family;
}

TEST(Metrics, HistogramBucketsAreCumulative) {
  Histogram h({1.0, 2.0});
  h.observe(0.5);
  h.observe(1.0);  // le is inclusive
  h.observe(1.5);
  h.observe(9.0);
  std::string out;
  h.render("x", "a=\"b\"", out);
  EXPECT_NE(out.find("x_bucket{a=\"b\",le=\"1\"} 2\n"), std::string::npos) << out;
  EXPECT_NE(out.find("x_bucket{a=\"b\",le=\"2\"} 3\n"), std::string::npos) << out;
  EXPECT_NE(out.find("x_bucket{a=\"b\",le=\"+Inf\"} 4\n"), std::string::npos) << out;
  EXPECT_NE(out.find("x_count{a=\"b\"} 4\n"), std::string::npos) << out;
}

TEST(Sse, Framing) {
  EXPECT_EQ(sse_event(nlohmann::json{{"a", "x\ny"}}), "data: {\"a\":\"x\\ny\"}\n\n");
  EXPECT_EQ(std::string(kSseDone), "data: [DONE]\n\n");
  // A token's partial UTF-8 never breaks the JSON.
  const std::string s = sse_event(nlohmann::json{{"t", std::string("\xe4\xbd")}});
  const nlohmann::json back = nlohmann::json::parse(s.substr(6));
  EXPECT_EQ(back["t"], "\xef\xbf\xbd");  // U+FFFD
}

TEST(Responses, ChatMessageAndDelta) {
  ParsedDelta d;
  d.reasoning = "think";
  d.tool_calls.push_back({"call_1", "f", "{}"});
  const nlohmann::json m = chat_message_json(d);
  EXPECT_TRUE(m["content"].is_null());
  EXPECT_EQ(m["reasoning_content"], "think");
  EXPECT_EQ(m["reasoning"], "think");
  EXPECT_EQ(m["tool_calls"][0]["function"]["name"], "f");
  const nlohmann::json delta = chat_delta_json(d, false, 2);
  EXPECT_EQ(delta["tool_calls"][0]["index"], 2);
  EXPECT_FALSE(delta.contains("content"));
  EXPECT_EQ(chat_delta_json({}, true, 0)["role"], "assistant");
  ParsedDelta plain;
  plain.content = "";
  EXPECT_EQ(chat_message_json(plain)["content"], "");
  const nlohmann::json u = usage_json({3, 4, 1});
  EXPECT_EQ(u["total_tokens"], 7);
  EXPECT_EQ(u["prompt_tokens_details"]["cached_tokens"], 1);
}

TEST(Responses, Logprobs) {
  TokenLogprobs lp;
  lp.id = 1;
  lp.logprob = -0.5f;
  lp.top = {{1, -0.5f}, {2, -1.0f}, {3, -2.0f}};
  const TokenText text = [](int32_t id) { return std::string(static_cast<size_t>(id), 'a'); };
  const nlohmann::json c = chat_logprobs_entries({lp}, 2, text);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0]["token"], "a");
  EXPECT_EQ(c[0]["bytes"], nlohmann::json::array({97}));
  EXPECT_EQ(c[0]["top_logprobs"].size(), 2u);
  const nlohmann::json t = completion_logprobs_json({lp, lp}, 1, text, 5);
  EXPECT_EQ(t["text_offset"], nlohmann::json::array({5, 6}));
  EXPECT_EQ(t["top_logprobs"][0].size(), 1u);
}

TEST(RequestLog, OneLine) {
  RequestLog l;
  l.id = "chatcmpl-1";
  l.status = 200;
  l.prompt_tokens = 12;
  l.completion_tokens = 34;
  l.ttft_ms = 5.06;
  l.finish_reason = "stop";
  l.error = "multi\nline \"quoted\"";
  const std::string s = format_request_log("POST", "/v1/chat/completions", l, 80.24);
  EXPECT_EQ(s.find('\n'), std::string::npos);
  EXPECT_NE(s.find("id=chatcmpl-1 POST /v1/chat/completions status=200 prompt_tokens=12 completion_tokens=34 "
                   "ttft_ms=5.1 latency_ms=80.2 finish=stop"),
            std::string::npos)
      << s;
}

}  // namespace
}  // namespace hearth::server
