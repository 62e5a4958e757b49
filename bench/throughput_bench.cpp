#include "throughput_bench.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <thread>

#include "hearth/core/error.h"
#include "hearth/core/rng.h"

namespace hearth::bench {

namespace {

using Clock = std::chrono::steady_clock;

double ms_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

struct RequestTiming {
  bool ok = false;
  int output_tokens = 0;
  double ttft_ms = 0;
  double tpot_ms = -1;  // < 0: fewer than 2 tokens
};

}  // namespace

void ThroughputSpec::validate(int vocab_size, int max_model_len) const {
  if (requests <= 0) fail("--requests must be positive, got {}", requests);
  if (input_len <= 0) fail("--input-len must be positive, got {}", input_len);
  if (output_len <= 0) fail("--output-len must be positive, got {}", output_len);
  if (concurrency < 0) fail("--concurrency must be positive, got {}", concurrency);
  if (shared_prefix_len < 0 || shared_prefix_len > input_len)
    fail("--shared-prefix-len must be in [0, --input-len = {}], got {}", input_len, shared_prefix_len);
  if (input_len + output_len > max_model_len)
    fail("--input-len {} + --output-len {} exceed the context of {} tokens", input_len, output_len, max_model_len);
  if (vocab_size <= 0) fail("model has no vocabulary");
}

std::vector<std::vector<int32_t>> make_prompts(const ThroughputSpec& spec, int vocab_size) {
  Rng rng(spec.seed ^ 0x7468726f75676870ull);
  auto draw = [&] { return static_cast<int32_t>(rng.next_u64() % static_cast<uint64_t>(vocab_size)); };
  std::vector<int32_t> prefix(static_cast<size_t>(spec.shared_prefix_len));
  for (int32_t& t : prefix) t = draw();
  std::vector<std::vector<int32_t>> prompts(static_cast<size_t>(spec.requests));
  for (auto& p : prompts) {
    p = prefix;
    while (static_cast<int>(p.size()) < spec.input_len) p.push_back(draw());
  }
  return prompts;
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0.0;
  std::sort(v.begin(), v.end());
  const double rank = std::clamp(p, 0.0, 100.0) / 100.0 * static_cast<double>(v.size() - 1);
  const auto lo = static_cast<size_t>(std::floor(rank));
  const size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (v[hi] - v[lo]) * (rank - static_cast<double>(lo));
}

ThroughputReport run_throughput(AsyncEngine& engine, const ThroughputSpec& spec, int vocab_size) {
  spec.validate(vocab_size, engine.max_model_len());
  const auto prompts = make_prompts(spec, vocab_size);
  const int slots = spec.concurrency > 0 ? std::min(spec.concurrency, spec.requests) : spec.requests;
  const EngineStats before = engine.stats();

  std::vector<RequestTiming> timings(static_cast<size_t>(spec.requests));
  std::atomic<int> next{0};
  // With a shared prefix the first request runs alone, so that it is the cold one and
  // the others find the prefix cached.
  std::atomic<bool> first_done{spec.shared_prefix_len == 0};
  auto run_one = [&](int i) {
    Request r;
    r.prompt_ids = prompts[static_cast<size_t>(i)];
    r.params.temperature = 0.0f;
    r.params.max_tokens = spec.output_len;
    r.params.ignore_eos = true;
    RequestTiming& t = timings[static_cast<size_t>(i)];
    const Clock::time_point start = Clock::now();
    Clock::time_point first{}, last{};
    RequestStream s = engine.submit(std::move(r));
    while (std::optional<RequestOutput> out = s.next()) {
      const Clock::time_point now = Clock::now();
      if (!out->token_ids.empty()) {
        if (t.output_tokens == 0) first = now;
        last = now;
        t.output_tokens += static_cast<int>(out->token_ids.size());
      }
      if (out->finished()) t.ok = out->finish_reason == FinishReason::Length || out->finish_reason == FinishReason::Stop;
    }
    if (t.output_tokens > 0) t.ttft_ms = ms_between(start, first);
    if (t.output_tokens > 1) t.tpot_ms = ms_between(first, last) / (t.output_tokens - 1);
  };

  const Clock::time_point t0 = Clock::now();
  std::vector<std::thread> clients;
  for (int c = 0; c < slots; ++c) {
    clients.emplace_back([&] {
      for (int i = next.fetch_add(1); i < spec.requests; i = next.fetch_add(1)) {
        if (i == 0) {
          run_one(0);
          first_done = true;
          first_done.notify_all();
          continue;
        }
        first_done.wait(false);
        run_one(i);
      }
    });
  }
  for (auto& c : clients) c.join();
  const double elapsed = std::chrono::duration<double>(Clock::now() - t0).count();
  const EngineStats after = engine.stats();

  ThroughputReport rep;
  rep.spec = spec;
  rep.elapsed_s = elapsed;
  std::vector<double> ttft, tpot, ttft_rest;
  for (size_t i = 0; i < timings.size(); ++i) {
    const RequestTiming& t = timings[i];
    if (!t.ok) {
      ++rep.failed_requests;
      continue;
    }
    rep.prompt_tokens += static_cast<uint64_t>(spec.input_len);
    rep.output_tokens += static_cast<uint64_t>(t.output_tokens);
    ttft.push_back(t.ttft_ms);
    if (i > 0) ttft_rest.push_back(t.ttft_ms);
    if (t.tpot_ms >= 0) tpot.push_back(t.tpot_ms);
  }
  rep.output_tok_s = elapsed > 0 ? static_cast<double>(rep.output_tokens) / elapsed : 0;
  rep.total_tok_s = elapsed > 0 ? static_cast<double>(rep.output_tokens + rep.prompt_tokens) / elapsed : 0;
  rep.ttft_p50_ms = percentile(ttft, 50);
  rep.ttft_p99_ms = percentile(ttft, 99);
  rep.tpot_p50_ms = percentile(tpot, 50);
  rep.tpot_p99_ms = percentile(tpot, 99);
  rep.ttft_first_ms = timings[0].ttft_ms;
  rep.ttft_rest_p50_ms = percentile(ttft_rest, 50);
  const uint64_t queried = after.prefix_query_tokens - before.prefix_query_tokens;
  rep.prefix_cache_hit_rate =
      queried ? static_cast<double>(after.prefix_hit_tokens - before.prefix_hit_tokens) / static_cast<double>(queried) : 0;
  rep.preemptions = after.preemptions - before.preemptions;
  return rep;
}

nlohmann::json ThroughputReport::to_json() const {
  return {{"requests", spec.requests},
          {"input_len", spec.input_len},
          {"output_len", spec.output_len},
          {"concurrency", spec.concurrency > 0 ? spec.concurrency : spec.requests},
          {"shared_prefix_len", spec.shared_prefix_len},
          {"elapsed_s", elapsed_s},
          {"prompt_tokens", prompt_tokens},
          {"output_tokens", output_tokens},
          {"output_tok_s", output_tok_s},
          {"total_tok_s", total_tok_s},
          {"ttft_ms", {{"p50", ttft_p50_ms}, {"p99", ttft_p99_ms}, {"first", ttft_first_ms}, {"rest_p50", ttft_rest_p50_ms}}},
          {"tpot_ms", {{"p50", tpot_p50_ms}, {"p99", tpot_p99_ms}}},
          {"prefix_cache_hit_rate", prefix_cache_hit_rate},
          {"preemptions", preemptions},
          {"failed_requests", failed_requests}};
}

}  // namespace hearth::bench
