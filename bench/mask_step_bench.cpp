#include "mask_step_bench.h"

#include <algorithm>
#include <atomic>
#include <bit>
#include <chrono>

#include "hearth/core/error.h"
#include "hearth/core/rng.h"
#include "hearth/engine/task_group.h"
#include "hearth/sampling/sampler.h"
#include "percentile.h"

namespace hearth::bench {

namespace {

using Clock = std::chrono::steady_clock;

double us_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::micro>(b - a).count();
}

// A uniformly drawn allowed token of `mask` (the argmax of i.i.d. random logits over the
// allowed set has this distribution); -1 when none is allowed.
int32_t draw_allowed(const std::vector<uint32_t>& mask, Rng& rng) {
  uint64_t allowed = 0;
  for (uint32_t w : mask) allowed += static_cast<uint64_t>(std::popcount(w));
  if (allowed == 0) return -1;
  uint64_t k = rng.next_u64() % allowed;
  for (size_t w = 0; w < mask.size(); ++w) {
    const auto n = static_cast<uint64_t>(std::popcount(mask[w]));
    if (k >= n) {
      k -= n;
      continue;
    }
    uint32_t bits = mask[w];
    for (uint64_t i = 0; i < k; ++i) bits &= bits - 1;  // drop the k lowest set bits
    return static_cast<int32_t>(w * 32 + static_cast<size_t>(std::countr_zero(bits)));
  }
  return -1;
}

std::string printable(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (c >= 0x20 && c < 0x7f)
      out += static_cast<char>(c);
    else
      out += fmt::format("\\x{:02x}", c);
  }
  return out;
}

MaskStepRun run_one(const MaskStepSpec& spec, const std::shared_ptr<const Constraint>& constraint,
                    const std::vector<int>& eos_ids, int workers) {
  const grammar::Vocabulary& vocab = *constraint->vocabulary;
  const auto rows = static_cast<size_t>(spec.rows);
  std::vector<std::unique_ptr<Sampler>> samplers;
  SamplingParams params;
  params.temperature = 0.0f;
  params.constraint = constraint;
  for (size_t r = 0; r < rows; ++r) samplers.push_back(std::make_unique<Sampler>(params, std::span<const int32_t>{}, eos_ids));
  std::vector<std::string> text(rows);
  std::vector<bool> done(rows, false);
  Rng rng(spec.seed ^ 0x6d61736b73746570ull);
  TaskGroup group(workers);

  MaskStepRun run;
  run.workers = workers;
  run.model_threads = spec.model_threads > 0 ? spec.model_threads : workers + 1;
  std::vector<double> step_ms, accept_us;
  std::vector<SlowAccept> slow;
  std::vector<size_t> active;
  std::vector<int32_t> picks(rows, -1);
  std::vector<double> took_us(rows, 0.0);
  uint64_t active_sum = 0;
  for (int step = 0; step < spec.steps; ++step) {
    active.clear();
    for (size_t r = 0; r < rows; ++r) {
      if (done[r]) continue;
      const ConstrainedDecoder* c = samplers[r]->constraint();
      if (c->finished() || c->dead_end()) {
        done[r] = true;
        run.finished_rows += c->finished() ? 1 : 0;
        continue;
      }
      picks[r] = draw_allowed(c->bitmask(), rng);
      if (picks[r] < 0) {
        done[r] = true;
        continue;
      }
      active.push_back(r);
    }
    if (active.empty()) break;
    active_sum += active.size();
    const Clock::time_point t0 = Clock::now();
    group.start(static_cast<int>(active.size()), [&](int i) {
      const size_t r = active[static_cast<size_t>(i)];
      const Clock::time_point a = Clock::now();
      samplers[r]->accept(picks[r]);
      took_us[r] = us_between(a, Clock::now());
    });
    group.join();
    step_ms.push_back(us_between(t0, Clock::now()) * 1e-3);
    double cpu = 0;
    // The modeled wall: each accept to the thread free first, in index order (TaskGroup's).
    std::vector<double> free_at(static_cast<size_t>(spec.model_threads > 0 ? spec.model_threads : workers + 1), 0.0);
    for (size_t r : active) {
      auto t = std::min_element(free_at.begin(), free_at.end());
      *t += took_us[r] * 1e-3;
    }
    const double modeled = *std::max_element(free_at.begin(), free_at.end());
    if (modeled > spec.forward_ms) {
      run.modeled_over_forward_ms += modeled - spec.forward_ms;
      ++run.modeled_over_forward_steps;
    }
    if (step_ms.back() > spec.forward_ms) {
      run.over_forward_ms += step_ms.back() - spec.forward_ms;
      ++run.over_forward_steps;
    }
    for (size_t r : active) {
      cpu += took_us[r];
      accept_us.push_back(took_us[r]);
      const std::string& tok = vocab.token(picks[r]);
      if (spec.slowest > 0 && (static_cast<int>(slow.size()) < spec.slowest || took_us[r] > slow.back().us)) {
        const std::string& t = text[r];
        SlowAccept s{took_us[r], step, static_cast<int>(r), printable(t.substr(t.size() - std::min<size_t>(t.size(), 48))),
                     printable(tok)};
        slow.insert(std::upper_bound(slow.begin(), slow.end(), s, [](const SlowAccept& a, const SlowAccept& b) { return a.us > b.us; }), s);
        if (static_cast<int>(slow.size()) > spec.slowest) slow.pop_back();
      }
      text[r] += tok;
    }
    run.cpu_ms_per_step += cpu * 1e-3;
  }
  for (size_t r = 0; r < rows; ++r) {
    if (!done[r] && samplers[r]->constraint()->finished()) ++run.finished_rows;
    run.output_bytes += text[r].size();
  }
  run.steps_run = static_cast<int>(step_ms.size());
  if (run.steps_run > 0) {
    run.rows_per_step = static_cast<double>(active_sum) / run.steps_run;
    run.cpu_ms_per_step /= run.steps_run;
    run.over_forward_ms /= run.steps_run;
    run.modeled_over_forward_ms /= run.steps_run;
    double sum = 0, first = 0, rest = 0;
    for (size_t i = 0; i < step_ms.size(); ++i) {
      sum += step_ms[i];
      (i < 16 ? first : rest) += step_ms[i];
    }
    run.step_ms_mean = sum / run.steps_run;
    run.first16_ms_mean = first / static_cast<double>(std::min<size_t>(16, step_ms.size()));
    run.rest_ms_mean = step_ms.size() > 16 ? rest / static_cast<double>(step_ms.size() - 16) : 0.0;
    run.step_ms_p50 = percentile(step_ms, 50);
    run.step_ms_p99 = percentile(step_ms, 99);
    run.step_ms_max = *std::max_element(step_ms.begin(), step_ms.end());
    double asum = 0;
    for (double u : accept_us) asum += u;
    run.accept_us_mean = asum / static_cast<double>(accept_us.size());
    run.accept_us_p99 = percentile(accept_us, 99);
    run.accept_us_max = *std::max_element(accept_us.begin(), accept_us.end());
  }
  run.slowest = std::move(slow);
  return run;
}

}  // namespace

void MaskStepSpec::validate() const {
  if (rows <= 0) fail("--rows must be positive, got {}", rows);
  if (steps <= 0) fail("--steps must be positive, got {}", steps);
  if (workers.empty()) fail("--workers needs at least one count");
  for (int w : workers)
    if (w < 0 || w > 256) fail("--workers counts must be in [0, 256], got {}", w);
  if (slowest < 0) fail("--slowest must be >= 0, got {}", slowest);
  if (!(forward_ms >= 0)) fail("--forward-ms must be >= 0, got {}", forward_ms);
  if (model_threads < 0 || model_threads > 256) fail("--model-threads must be in [0, 256], got {}", model_threads);
}

std::vector<MaskStepRun> run_mask_steps(const MaskStepSpec& spec,
                                        const std::function<std::shared_ptr<const Constraint>()>& make_constraint,
                                        const std::vector<int>& eos_ids) {
  spec.validate();
  std::vector<MaskStepRun> runs;
  for (int w : spec.workers) runs.push_back(run_one(spec, make_constraint(), eos_ids, w));
  return runs;
}

nlohmann::json MaskStepRun::to_json() const {
  nlohmann::json slow = nlohmann::json::array();
  for (const SlowAccept& s : slowest)
    slow.push_back({{"us", s.us}, {"step", s.step}, {"row", s.row}, {"before", s.before}, {"token", s.token}});
  return {{"workers", workers},
          {"model_threads", model_threads},
          {"threads", workers + 1},
          {"steps", steps_run},
          {"rows_per_step", rows_per_step},
          {"step_ms", {{"mean", step_ms_mean}, {"p50", step_ms_p50}, {"p99", step_ms_p99}, {"max", step_ms_max},
                       {"first16_mean", first16_ms_mean}, {"rest_mean", rest_ms_mean}}},
          {"cpu_ms_per_step", cpu_ms_per_step},
          {"over_forward_ms", {{"mean", over_forward_ms}, {"steps", over_forward_steps}}},
          {"modeled_over_forward_ms", {{"mean", modeled_over_forward_ms}, {"steps", modeled_over_forward_steps}}},
          {"accept_us", {{"mean", accept_us_mean}, {"p99", accept_us_p99}, {"max", accept_us_max}}},
          {"finished_rows", finished_rows},
          {"output_bytes", output_bytes},
          {"slowest", slow}};
}

}  // namespace hearth::bench
