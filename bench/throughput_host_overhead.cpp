// Host-side cost of one serving step without a model: schedule + StepBatch + completion,
// for the 64 x (512 in, 256 out) workload, with prefix caching on and off at a
// 0 % hit rate (all prompts distinct). Prints one JSON line per configuration. Build
// against a build tree B:
//   g++ -std=c++20 -O2 -Isrc -Iinclude bench/throughput_host_overhead.cpp -o host_overhead
//     B/lib/libhearth_{engine,kv,backend,sampling,model,core}.a -lfmt -lxxhash -lpthread
// (one command line).
#include <chrono>
#include <cstdio>
#include <memory>
#include <vector>

#include "hearth/core/rng.h"
#include "hearth/engine/model_runner.h"
#include "hearth/engine/scheduler.h"

using namespace hearth;

namespace {

struct Result {
  double us_per_step = 0;
  double us_schedule = 0;
  double us_batch = 0;
  int steps = 0;
};

Result run(bool prefix_caching, int seqs, int in_len, int out_len, int max_model_len) {
  const int bs = 16;
  KvCacheManager kv(seqs * (in_len + out_len) / bs + 64, bs, prefix_caching);
  Scheduler sched({64, 16384, true}, kv);
  std::vector<std::unique_ptr<Sequence>> all;
  Rng rng(1);
  for (int i = 0; i < seqs; ++i) {
    std::vector<int32_t> p(static_cast<size_t>(in_len));
    for (auto& t : p) t = static_cast<int32_t>(rng.next_u64() % 151936);
    SamplingParams sp;
    sp.temperature = 0;
    sp.max_tokens = out_len;
    all.push_back(std::make_unique<Sequence>(i, i, std::move(p), sp));
    sched.add(all.back().get());
  }
  const int width = (max_model_len + bs - 1) / bs;
  using Clock = std::chrono::steady_clock;
  double t_sched = 0, t_batch = 0, t_total = 0;
  Result r;
  while (sched.has_unfinished()) {
    const auto a = Clock::now();
    ScheduledBatch b = sched.schedule();
    const auto m = Clock::now();
    StepBatch step = make_step_batch(b, bs, width);
    const auto c = Clock::now();
    sched.complete(b);
    for (const ScheduledSeq& e : b.seqs) {
      if (!e.wants_logits) continue;
      e.seq->append_token(static_cast<int32_t>(rng.next_u64() % 151936));
      if (e.seq->num_output() >= out_len) sched.finish(e.seq, FinishReason::Length);
    }
    const auto d = Clock::now();
    t_sched += std::chrono::duration<double, std::micro>(m - a).count();
    t_batch += std::chrono::duration<double, std::micro>(c - m).count();
    t_total += std::chrono::duration<double, std::micro>(d - a).count();
    ++r.steps;
  }
  r.us_per_step = t_total / r.steps;
  r.us_schedule = t_sched / r.steps;
  r.us_batch = t_batch / r.steps;
  return r;
}

}  // namespace

int main() {
  for (int max_model_len : {1024, 40960}) {
    for (bool pc : {false, true}) {
      Result best;
      for (int rep = 0; rep < 3; ++rep) {
        const Result r = run(pc, 64, 512, 256, max_model_len);
        if (rep == 0 || r.us_per_step < best.us_per_step) best = r;
      }
      std::printf("{\"max_model_len\": %d, \"prefix_caching\": %s, \"steps\": %d, \"us_per_step\": %.2f, "
                  "\"us_schedule\": %.2f, \"us_step_batch\": %.2f}\n",
                  max_model_len, pc ? "true" : "false", best.steps, best.us_per_step, best.us_schedule, best.us_batch);
    }
  }
}
