#include "serve_bench.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <condition_variable>
#include <latch>
#include <mutex>
#include <numeric>
#include <thread>

#include "hearth/core/error.h"
#include "percentile.h"
#include "hearth/core/rng.h"

namespace hearth::bench {

namespace {

using json = nlohmann::json;

// A thread per request in flight: past this many, ask for a --concurrency cap instead of
// running the machine out of threads.
constexpr int kMaxWorkers = 2048;
// An SSE line longer than this is not a completion chunk.
constexpr size_t kMaxSseLine = 16u << 20;

double ms_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

const char* endpoint_path(ServeEndpoint e) {
  return e == ServeEndpoint::Chat ? "/v1/chat/completions" : "/v1/completions";
}

std::string clip(std::string_view s, size_t n = 120) {
  return s.size() <= n ? std::string(s) : std::string(s.substr(0, n)) + "...";
}

bool nonempty_string(const json& o, const char* key) {
  return o.is_object() && o.contains(key) && o[key].is_string() && !o[key].get_ref<const std::string&>().empty();
}

// Common English words that Qwen3's tokenizer (like most BPE vocabularies) encodes as one
// token each when preceded by a space: the chat endpoint's prompt of about input_len tokens.
constexpr const char* kWords[] = {
    "time", "year", "people", "way", "day", "man", "thing", "woman", "life", "child", "world", "school",
    "state", "family", "student", "group", "country", "problem", "hand", "part", "place", "case", "week",
    "company", "system", "program", "question", "work", "number", "night", "point", "home", "water",
    "room", "mother", "area", "money", "story", "fact", "month", "lot", "right", "study", "book", "eye",
    "job", "word", "business", "issue", "side", "kind", "head", "house", "service", "friend", "father",
    "power", "hour", "game", "line", "end", "member", "law", "car", "city", "name", "team", "minute"};

Headers auth_headers(const ServeSpec& spec) {
  Headers h;
  if (!spec.api_key.empty()) h.emplace_back("Authorization", "Bearer " + spec.api_key);
  return h;
}

// One streamed completion, start to end; never throws.
RequestResult stream_request(const Url& url, const HttpOptions& opt, const Headers& auth, const std::string& path,
                             const std::string& body, int prompt_len) {
  HttpRequest req;
  req.method = "POST";
  req.path = path;
  req.headers = auth;
  req.headers.emplace_back("Content-Type", "application/json");
  req.headers.emplace_back("Accept", "text/event-stream");
  req.body = body;
  const Clock::time_point sent = Clock::now();
  StreamRecorder rec(sent, prompt_len);
  Clock::time_point read_at = sent;
  SseParser parser([&](const SseEvent& e) { rec.on_event(e, read_at); });
  try {
    const HttpResponse r = http_request(url, req, opt, [&](std::string_view bytes, Clock::time_point at) {
      read_at = at;
      parser.feed(bytes);
      if (parser.pending_bytes() > kMaxSseLine) fail("an SSE line longer than {} bytes", kMaxSseLine);
    });
    if (r.status != 200) return rec.finish(Clock::now(), describe_http_error(r));
    parser.finish();
    const std::string type = r.header("content-type");
    if (type.find("text/event-stream") == std::string::npos)
      return rec.finish(Clock::now(), "expected Content-Type text/event-stream, got '" + type + "'");
    return rec.finish(Clock::now());
  } catch (const Error& e) {
    return rec.finish(Clock::now(), e.what());
  }
}

std::string discover_model(const Url& url, const Headers& auth, const HttpOptions& opt) {
  HttpRequest req;
  req.path = "/v1/models";
  req.headers = auth;
  const HttpResponse r = http_request(url, req, opt);
  if (r.status != 200) fail("--model-name not given and GET /v1/models failed: {}", describe_http_error(r));
  const json j = json::parse(r.body, nullptr, false);
  if (!j.is_object() || !j.contains("data") || !j["data"].is_array() || j["data"].empty() ||
      !nonempty_string(j["data"][0], "id"))
    fail("--model-name not given and GET /v1/models has no data[0].id: {}", clip(r.body));
  return j["data"][0]["id"].get<std::string>();
}

void wait_ready(const Url& url, const ServeSpec& spec) {
  const Clock::time_point deadline = Clock::now() + std::chrono::milliseconds(static_cast<long long>(spec.wait_ready_s * 1000));
  std::string last;
  HttpRequest req;
  req.path = "/health";
  for (;;) {
    try {
      const HttpResponse r = http_request(url, req, HttpOptions{2, 10});
      if (r.status == 200) return;
      last = describe_http_error(r);
    } catch (const Error& e) {
      last = e.what();
    }
    if (Clock::now() >= deadline) fail("server at {} not ready after {} s (last answer: {})", spec.url, spec.wait_ready_s, last);
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

// Times GET of each path every interval until told to stop.
class Prober {
 public:
  Prober(const Url& url, int interval_ms, std::vector<std::string> paths) : url_(url), interval_(interval_ms) {
    for (auto& p : paths) results_.push_back(ProbeResult{std::move(p), {}, 0, {}});
  }
  void start() {
    if (interval_.count() > 0) thread_ = std::thread([this] { loop(); });
  }
  std::vector<ProbeResult> stop() {
    {
      std::lock_guard lk(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
    return std::move(results_);
  }

 private:
  void loop() {
    Clock::time_point tick = Clock::now();
    for (;;) {
      for (ProbeResult& p : results_) {
        HttpRequest req;
        req.path = p.path;
        const Clock::time_point t = Clock::now();
        std::string error;
        try {
          const HttpResponse r = http_request(url_, req, HttpOptions{5, 10});
          if (r.status == 200) {
            p.latency_ms.push_back(ms_between(t, Clock::now()));
          } else {
            error = describe_http_error(r);
          }
        } catch (const Error& e) {
          error = e.what();
        }
        if (!error.empty() && p.failed++ == 0) p.first_error = error;
      }
      tick += interval_;
      std::unique_lock lk(mu_);
      if (cv_.wait_until(lk, tick, [this] { return stop_; })) return;
    }
  }

  Url url_;
  std::chrono::milliseconds interval_;
  std::vector<ProbeResult> results_;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
};

}  // namespace

void ServeSpec::validate() const {
  if (url.empty()) fail("--url is required");
  (void)Url::parse(url);
  if (requests <= 0) fail("--requests must be positive, got {}", requests);
  if (input_len <= 0) fail("--input-len must be positive, got {}", input_len);
  if (output_len <= 0) fail("--output-len must be positive, got {}", output_len);
  if (!(rate > 0)) fail("--rate must be positive (or inf), got {}", rate);
  if (concurrency < 0) fail("--concurrency must be positive (or 0: no cap), got {}", concurrency);
  if (probe_interval_ms < 0) fail("--probe-interval-ms must be >= 0, got {}", probe_interval_ms);
  if (vocab_size <= 0) fail("--vocab-size must be positive, got {}", vocab_size);
  if (!(timeout_s > 0)) fail("--timeout must be positive, got {}", timeout_s);
  if (!(wait_ready_s >= 0)) fail("--wait-ready must be >= 0, got {}", wait_ready_s);
  const int workers = concurrency > 0 ? std::min(concurrency, requests) : requests;
  if (workers > kMaxWorkers)
    fail("{} requests in flight at once need as many threads: cap them with --concurrency <= {}", workers, kMaxWorkers);
}

void StreamRecorder::fail_with(std::string why) {
  if (result_.error.empty()) result_.error = std::move(why);
}

void StreamRecorder::on_event(const SseEvent& e, Clock::time_point at) {
  if (done_ || !result_.error.empty()) return;
  if (e.data == "[DONE]") {
    done_ = true;
    return;
  }
  const json j = json::parse(e.data, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return fail_with("bad JSON in the stream: " + clip(e.data));
  if (j.contains("error") || e.event == "error") {
    const json& err = j.contains("error") ? j["error"] : j;
    if (nonempty_string(err, "message")) return fail_with("error event: " + err["message"].get<std::string>());
    return fail_with("error event: " + clip(e.data));
  }
  if (j.contains("usage") && j["usage"].is_object()) {
    const json& u = j["usage"];
    if (u.contains("completion_tokens") && u["completion_tokens"].is_number_integer()) {
      result_.output_tokens = u["completion_tokens"].get<int>();
      result_.usage_reported = true;
    }
    if (u.contains("prompt_tokens") && u["prompt_tokens"].is_number_integer()) result_.prompt_tokens = u["prompt_tokens"].get<int>();
  }
  if (!j.contains("choices") || !j["choices"].is_array() || j["choices"].empty()) return;
  const json& c = j["choices"][0];
  if (!c.is_object()) return;
  const json* delta = c.contains("delta") && c["delta"].is_object() ? &c["delta"] : nullptr;
  const bool has_output = nonempty_string(c, "text") ||
                          (delta && (nonempty_string(*delta, "content") || nonempty_string(*delta, "reasoning_content") ||
                                     nonempty_string(*delta, "reasoning") ||
                                     (delta->contains("tool_calls") && !(*delta)["tool_calls"].empty())));
  const bool finished = c.contains("finish_reason") && !c["finish_reason"].is_null();
  // A chunk with empty text still stands for a generated token (a detokenizer holding back
  // an incomplete UTF-8 sequence sends one), unless it only closes the stream or only
  // opens the chat message (`delta: {role}`).
  const bool role_only = delta && delta->contains("role") && !has_output;
  if (!has_output && (finished || role_only)) {
    if (finished && chunks_ == 0) finish_at_ = at;
    return;
  }
  if (chunks_ == 0) {
    result_.ttft_ms = ms_between(sent_, at);
  } else {
    result_.itl_ms.push_back(ms_between(last_, at));
  }
  last_ = at;
  ++chunks_;
}

RequestResult StreamRecorder::finish(Clock::time_point at, const std::string& error) {
  if (!error.empty()) fail_with(error);
  result_.e2e_ms = ms_between(sent_, at);
  if (result_.error.empty() && !done_) fail_with("the stream ended without data: [DONE]");
  // Tokens whose text the server drops (a chat reply of whitespace only, say) arrive as
  // nothing but a finish chunk and the usage count: their first output is that chunk.
  if (chunks_ == 0 && result_.usage_reported && result_.output_tokens > 0 && finish_at_) {
    result_.ttft_ms = ms_between(sent_, *finish_at_);
    chunks_ = 1;
  }
  if (result_.error.empty() && chunks_ == 0) fail_with("the stream carried no output");
  if (!result_.usage_reported) result_.output_tokens = chunks_;
  result_.ok = result_.error.empty();
  return result_;
}

LatencySummary LatencySummary::of(const std::vector<double>& v) {
  LatencySummary s;
  s.count = v.size();
  if (v.empty()) return s;
  s.mean = std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
  s.p50 = percentile(v, 50);
  s.p99 = percentile(v, 99);
  s.max = *std::max_element(v.begin(), v.end());
  return s;
}

json LatencySummary::to_json() const {
  return {{"mean", mean}, {"p50", p50}, {"p99", p99}, {"max", max}, {"count", count}};
}

ServeReport summarize(const ServeSpec& spec, const std::vector<RequestResult>& results, double elapsed_s,
                      const std::vector<ProbeResult>& probes) {
  ServeReport rep;
  rep.spec = spec;
  rep.elapsed_s = elapsed_s;
  std::vector<double> ttft, tpot, itl, e2e;
  for (size_t i = 0; i < results.size(); ++i) {
    const RequestResult& r = results[i];
    if (!r.ok) {
      if (rep.failed_requests++ == 0) rep.first_error = "request " + std::to_string(i) + ": " + r.error;
      continue;
    }
    ++rep.completed;
    rep.prompt_tokens += static_cast<uint64_t>(r.prompt_tokens);
    rep.output_tokens += static_cast<uint64_t>(r.output_tokens);
    if (r.output_tokens != spec.output_len) ++rep.output_len_mismatches;
    ttft.push_back(r.ttft_ms);
    e2e.push_back(r.e2e_ms);
    if (r.output_tokens > 1) tpot.push_back((r.e2e_ms - r.ttft_ms) / (r.output_tokens - 1));
    itl.insert(itl.end(), r.itl_ms.begin(), r.itl_ms.end());
  }
  if (elapsed_s > 0) {
    rep.request_throughput = rep.completed / elapsed_s;
    rep.output_tok_s = static_cast<double>(rep.output_tokens) / elapsed_s;
    rep.total_tok_s = static_cast<double>(rep.prompt_tokens + rep.output_tokens) / elapsed_s;
  }
  rep.ttft = LatencySummary::of(ttft);
  rep.tpot = LatencySummary::of(tpot);
  rep.itl = LatencySummary::of(itl);
  rep.e2e = LatencySummary::of(e2e);
  for (const ProbeResult& p : probes) {
    rep.probes.emplace_back(p.path, LatencySummary::of(p.latency_ms));
    rep.probe_failures.emplace_back(p.failed, p.first_error);
  }
  return rep;
}

json ServeReport::to_json() const {
  json probes_json = json::object();
  probes_json["interval_ms"] = spec.probe_interval_ms;
  for (size_t i = 0; i < probes.size(); ++i) {
    json p = probes[i].second.to_json();
    p["failed"] = probe_failures[i].first;
    p["first_error"] = probe_failures[i].second.empty() ? json(nullptr) : json(probe_failures[i].second);
    probes_json[probes[i].first] = p;
  }
  return {{"bench", "serve"},
          {"url", spec.url},
          {"endpoint", spec.endpoint == ServeEndpoint::Chat ? "chat" : "completions"},
          {"model", model},
          {"requests", spec.requests},
          {"rate", std::isinf(spec.rate) ? json("inf") : json(spec.rate)},
          {"concurrency", spec.concurrency > 0 ? json(spec.concurrency) : json(nullptr)},
          {"input_len", spec.input_len},
          {"output_len", spec.output_len},
          {"elapsed_s", elapsed_s},
          {"completed", completed},
          {"failed_requests", failed_requests},
          {"first_error", first_error.empty() ? json(nullptr) : json(first_error)},
          {"output_len_mismatches", output_len_mismatches},
          {"max_in_flight", max_in_flight},
          {"prompt_tokens", prompt_tokens},
          {"output_tokens", output_tokens},
          {"request_throughput", request_throughput},
          {"output_tok_s", output_tok_s},
          {"total_tok_s", total_tok_s},
          {"ttft_ms", ttft.to_json()},
          {"tpot_ms", tpot.to_json()},
          {"itl_ms", itl.to_json()},
          {"e2e_ms", e2e.to_json()},
          {"probes", probes_json}};
}

std::vector<double> poisson_arrivals(int n, double rate, uint64_t seed) {
  std::vector<double> t(static_cast<size_t>(std::max(n, 0)), 0.0);
  if (std::isinf(rate)) return t;
  Rng rng(seed ^ 0x6172726976616c73ull);
  for (size_t i = 1; i < t.size(); ++i) {
    // Inverse CDF of the exponential on a 53-bit uniform in [0, 1): 1 - u is in (0, 1].
    const double u = static_cast<double>(rng.next_u64() >> 11) * 0x1.0p-53;
    t[i] = t[i - 1] - std::log1p(-u) / rate;
  }
  return t;
}

std::vector<std::vector<int32_t>> serve_prompts(const ServeSpec& spec) {
  Rng rng(spec.seed ^ 0x7365727665707274ull);
  std::vector<std::vector<int32_t>> prompts(static_cast<size_t>(spec.requests));
  for (auto& p : prompts) {
    p.resize(static_cast<size_t>(spec.input_len));
    for (int32_t& t : p) t = static_cast<int32_t>(rng.next_u64() % static_cast<uint64_t>(spec.vocab_size));
  }
  return prompts;
}

std::string request_body(const ServeSpec& spec, const std::string& model, const std::vector<int32_t>& prompt,
                         int max_tokens) {
  json j = {{"model", model},
            {"max_tokens", max_tokens},
            {"temperature", 0.0},
            {"ignore_eos", true},  // vLLM's extension: every request yields max_tokens
            {"stream", true},
            {"stream_options", {{"include_usage", true}}}};
  if (spec.endpoint == ServeEndpoint::Chat) {
    std::string text;
    constexpr size_t n_words = sizeof(kWords) / sizeof(kWords[0]);
    for (int32_t id : prompt) {
      if (!text.empty()) text += ' ';
      text += kWords[static_cast<size_t>(id) % n_words];
    }
    j["messages"] = json::array({{{"role", "user"}, {"content", text}}});
  } else {
    j["prompt"] = prompt;
  }
  return j.dump();
}

ServeReport run_serve_bench(const ServeSpec& spec) {
  spec.validate();
  const Url url = Url::parse(spec.url);
  const HttpOptions opt{10, spec.timeout_s};
  const Headers auth = auth_headers(spec);
  if (spec.wait_ready_s > 0) wait_ready(url, spec);
  const std::string model = spec.model_name.empty() ? discover_model(url, auth, opt) : spec.model_name;
  const std::string path = endpoint_path(spec.endpoint);
  const auto prompts = serve_prompts(spec);
  const auto arrivals = poisson_arrivals(spec.requests, spec.rate, spec.seed);

  // One short request first, with a prompt of its own (not to warm the cache for request
  // 0): a wrong URL, key or model fails here, before any load.
  {
    ServeSpec test = spec;
    test.requests = 1;
    test.seed = spec.seed ^ 0x74657374ull;
    const RequestResult r = stream_request(url, opt, auth, path, request_body(spec, model, serve_prompts(test)[0], 2),
                                           spec.input_len);
    if (!r.ok) fail("the test request to {}{} failed (no load was sent): {}", spec.url, path, r.error);
  }

  const int workers = spec.concurrency > 0 ? std::min(spec.concurrency, spec.requests) : spec.requests;
  std::vector<RequestResult> results(static_cast<size_t>(spec.requests));
  std::atomic<int> next{0}, in_flight{0}, max_in_flight{0};
  std::latch go(1);
  Clock::time_point t0{};
  std::vector<std::thread> threads;
  threads.reserve(static_cast<size_t>(workers));
  for (int w = 0; w < workers; ++w) {
    threads.emplace_back([&] {
      go.wait();
      for (int i = next.fetch_add(1); i < spec.requests; i = next.fetch_add(1)) {
        std::this_thread::sleep_until(t0 + std::chrono::duration_cast<Clock::duration>(
                                                std::chrono::duration<double>(arrivals[static_cast<size_t>(i)])));
        const int now_in = in_flight.fetch_add(1) + 1;
        for (int m = max_in_flight.load(); now_in > m && !max_in_flight.compare_exchange_weak(m, now_in);) {
        }
        results[static_cast<size_t>(i)] = stream_request(
            url, opt, auth, path, request_body(spec, model, prompts[static_cast<size_t>(i)], spec.output_len),
            spec.input_len);
        in_flight.fetch_sub(1);
      }
    });
  }
  Prober prober(url, spec.probe_interval_ms, {"/metrics", "/health"});
  t0 = Clock::now();  // written before go.count_down(), which orders it before the workers' reads
  prober.start();
  go.count_down();
  for (auto& t : threads) t.join();
  const double elapsed = std::chrono::duration<double>(Clock::now() - t0).count();
  const std::vector<ProbeResult> probes = prober.stop();

  ServeReport rep = summarize(spec, results, elapsed, probes);
  rep.model = model;
  rep.max_in_flight = max_in_flight.load();
  return rep;
}

}  // namespace hearth::bench
