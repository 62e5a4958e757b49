#include "throughput_bench.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <exception>
#include <optional>
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
  std::string error;
  int output_tokens = 0;
  double ttft_ms = 0;
  double tpot_ms = -1;  // < 0: fewer than 2 tokens
  // Gaps between this request's consecutive tokens (an output carrying k tokens counts as
  // k gaps of 1/k of its wait each).
  std::vector<double> itl_ms;
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
  if (!(temperature >= 0.0f)) fail("--temperature must be >= 0, got {}", temperature);
  if (!(top_p > 0.0f && top_p <= 1.0f)) fail("--top-p must be in (0, 1], got {}", top_p);
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
    r.params.temperature = spec.temperature;
    r.params.top_p = spec.top_p;
    r.params.top_k = spec.top_k;
    r.params.seed = spec.seed + static_cast<uint64_t>(i);
    r.params.max_tokens = spec.output_len;
    // EOS is ignored so every request produces output_len tokens; a constrained request
    // ends when its value is complete instead (the engine refuses ignore_eos with one).
    r.params.ignore_eos = spec.constraint == nullptr;
    r.params.constraint = spec.constraint;
    RequestTiming& t = timings[static_cast<size_t>(i)];
    const Clock::time_point start = Clock::now();
    Clock::time_point first{}, last{};
    // A refused request counts as failed (with its error), never ends the process.
    std::optional<RequestStream> submitted;
    try {
      submitted.emplace(engine.submit(std::move(r)));
    } catch (const std::exception& e) {
      t.ok = false;
      t.error = std::string("submit: ") + e.what();
      return;
    }
    RequestStream& s = *submitted;
    while (std::optional<RequestOutput> out = s.next()) {
      const Clock::time_point now = Clock::now();
      if (!out->token_ids.empty()) {
        if (t.output_tokens == 0) {
          first = now;
        } else {
          const auto k = static_cast<double>(out->token_ids.size());
          t.itl_ms.insert(t.itl_ms.end(), out->token_ids.size(), ms_between(last, now) / k);
        }
        last = now;
        t.output_tokens += static_cast<int>(out->token_ids.size());
      }
      if (out->finished()) {
        t.ok = out->finish_reason == FinishReason::Length || out->finish_reason == FinishReason::Stop;
        if (!t.ok) t.error = std::string(to_string(out->finish_reason)) + ": " + out->error;
      }
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
  // The engine publishes its statistics after handing out a step's outputs: wait (briefly)
  // for the snapshot of the final step.
  EngineStats after = engine.stats();
  for (int i = 0; i < 200 && (after.running > 0 || after.waiting > 0); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
    after = engine.stats();
  }

  ThroughputReport rep;
  rep.spec = spec;
  rep.elapsed_s = elapsed;
  std::vector<double> ttft, tpot, ttft_rest, itl;
  for (size_t i = 0; i < timings.size(); ++i) {
    const RequestTiming& t = timings[i];
    if (!t.ok) {
      if (rep.failed_requests++ == 0) rep.first_error = t.error.empty() ? "no final output" : t.error;
      continue;
    }
    rep.prompt_tokens += static_cast<uint64_t>(spec.input_len);
    rep.output_tokens += static_cast<uint64_t>(t.output_tokens);
    ttft.push_back(t.ttft_ms);
    if (i > 0) ttft_rest.push_back(t.ttft_ms);
    if (t.tpot_ms >= 0) tpot.push_back(t.tpot_ms);
    itl.insert(itl.end(), t.itl_ms.begin(), t.itl_ms.end());
  }
  rep.output_tok_s = elapsed > 0 ? static_cast<double>(rep.output_tokens) / elapsed : 0;
  rep.total_tok_s = elapsed > 0 ? static_cast<double>(rep.output_tokens + rep.prompt_tokens) / elapsed : 0;
  rep.ttft_p50_ms = percentile(ttft, 50);
  rep.ttft_p99_ms = percentile(ttft, 99);
  rep.tpot_p50_ms = percentile(tpot, 50);
  rep.tpot_p99_ms = percentile(tpot, 99);
  rep.itl_p50_ms = percentile(itl, 50);
  rep.itl_p99_ms = percentile(itl, 99);
  rep.ttft_first_ms = timings[0].ttft_ms;
  rep.ttft_rest_p50_ms = percentile(ttft_rest, 50);
  const uint64_t queried = after.prefix_query_tokens - before.prefix_query_tokens;
  rep.prefix_cache_hit_rate =
      queried ? static_cast<double>(after.prefix_hit_tokens - before.prefix_hit_tokens) / static_cast<double>(queried) : 0;
  rep.preemptions = after.preemptions - before.preemptions;
  rep.steps = after.steps - before.steps;
  rep.graph_steps = after.graph_steps - before.graph_steps;
  rep.padded_rows = after.padded_rows - before.padded_rows;
  rep.gpu_idle_ms = after.gpu_idle_ms - before.gpu_idle_ms;
  rep.gpu_busy_ms = after.gpu_busy_ms - before.gpu_busy_ms;
  rep.phases = after.phases.since(before.phases);
  rep.mask_threads = after.mask_threads;
  return rep;
}

namespace {

nlohmann::json phase_json(const PhaseTimes& t) {
  return {{"mean", t.mean_ms()}, {"p50", t.percentile_ms(50)}, {"p99", t.percentile_ms(99)}, {"max", t.max_ms},
          {"steps", t.count}};
}

}  // namespace

nlohmann::json ThroughputReport::to_json() const {
  const StepPhaseStats& p = phases;
  nlohmann::json j = {{"requests", spec.requests},
          {"input_len", spec.input_len},
          {"output_len", spec.output_len},
          {"concurrency", spec.concurrency > 0 ? spec.concurrency : spec.requests},
          {"shared_prefix_len", spec.shared_prefix_len},
          {"temperature", spec.temperature},
          {"top_p", spec.top_p},
          {"top_k", spec.top_k},
          {"elapsed_s", elapsed_s},
          {"prompt_tokens", prompt_tokens},
          {"output_tokens", output_tokens},
          {"output_tok_s", output_tok_s},
          {"total_tok_s", total_tok_s},
          {"ttft_ms", {{"p50", ttft_p50_ms}, {"p99", ttft_p99_ms}, {"first", ttft_first_ms}, {"rest_p50", ttft_rest_p50_ms}}},
          {"tpot_ms", {{"p50", tpot_p50_ms}, {"p99", tpot_p99_ms}}},
          {"itl_ms", {{"p50", itl_p50_ms}, {"p99", itl_p99_ms}}},
          {"prefix_cache_hit_rate", prefix_cache_hit_rate},
          {"preemptions", preemptions},
          {"failed_requests", failed_requests},
          {"first_error", first_error},
          {"steps", steps},
          {"graph_steps", graph_steps},
          {"padded_rows", padded_rows},
          {"gpu_idle", {{"ms", gpu_idle_ms},
                        {"fraction", gpu_idle_fraction()},
                        {"ms_per_step", steps > 1 ? gpu_idle_ms / static_cast<double>(steps - 1) : 0.0},
                        {"busy_ms", gpu_busy_ms}}}};
  // Added fields (the ones above are the stable contract): host ms per step by phase, each
  // over the steps where the phase ran; percentiles within 10 % (PhaseTimes).
  j["mask_threads"] = mask_threads;
  j["host_ms_per_step"] = {{"step", phase_json(p.step)},
                           {"launch", phase_json(p.launch)},
                           {"during_forward", phase_json(p.during_forward)},
                           {"mask_work", phase_json(p.mask_work)},
                           {"mask_cpu", phase_json(p.mask_cpu)},
                           {"mask_wait", phase_json(p.mask_wait)},
                           {"pick", phase_json(p.pick)},
                           {"pick_prep", phase_json(p.pick_prep)},
                           {"pick_read", phase_json(p.pick_read)}};
  return j;
}

}  // namespace hearth::bench
