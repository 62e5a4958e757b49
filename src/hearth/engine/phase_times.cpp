// PhaseTimes / StepPhaseStats (include/hearth/engine.h): per-step host phase times.
#include <algorithm>
#include <cmath>

#include "hearth/engine.h"

namespace hearth {

namespace {

constexpr double kFirstEdgeMs = 1e-3;  // bucket 0: [0, 1 us)
constexpr double kRatio = 1.1;

// Bucket b (b >= 1) holds [1 us * 1.1^(b-1), 1 us * 1.1^b).
double upper_edge_ms(int b) { return kFirstEdgeMs * std::pow(kRatio, b); }

int bucket_of(double ms) {
  if (!(ms >= kFirstEdgeMs)) return 0;
  const int b = 1 + static_cast<int>(std::floor(std::log(ms / kFirstEdgeMs) / std::log(kRatio)));
  return std::min(b, PhaseTimes::kBuckets - 1);
}

}  // namespace

void PhaseTimes::add(double ms) {
  ms = std::max(ms, 0.0);
  ++count;
  sum_ms += ms;
  max_ms = std::max(max_ms, ms);
  ++buckets[static_cast<size_t>(bucket_of(ms))];
}

double PhaseTimes::percentile_ms(double p) const {
  if (count == 0) return 0.0;
  // The sample of rank ceil(p% of count) (at least the first), as a nearest-rank percentile.
  const auto rank = std::max<uint64_t>(1, static_cast<uint64_t>(std::ceil(std::clamp(p, 0.0, 100.0) / 100.0 *
                                                                           static_cast<double>(count))));
  uint64_t seen = 0;
  for (int b = 0; b < kBuckets; ++b) {
    seen += buckets[static_cast<size_t>(b)];
    if (seen >= rank) return b == kBuckets - 1 ? max_ms : std::min(upper_edge_ms(b), max_ms);
  }
  return max_ms;
}

PhaseTimes PhaseTimes::since(const PhaseTimes& before) const {
  PhaseTimes d = *this;
  d.count -= std::min(before.count, count);
  d.sum_ms = std::max(0.0, sum_ms - before.sum_ms);
  for (size_t b = 0; b < buckets.size(); ++b) d.buckets[b] -= std::min(before.buckets[b], buckets[b]);
  return d;
}

StepPhaseStats StepPhaseStats::since(const StepPhaseStats& b) const {
  StepPhaseStats d;
  d.launch = launch.since(b.launch);
  d.during_forward = during_forward.since(b.during_forward);
  d.mask_work = mask_work.since(b.mask_work);
  d.mask_cpu = mask_cpu.since(b.mask_cpu);
  d.mask_wait = mask_wait.since(b.mask_wait);
  d.pick = pick.since(b.pick);
  d.pick_prep = pick_prep.since(b.pick_prep);
  d.pick_read = pick_read.since(b.pick_read);
  d.step = step.since(b.step);
  return d;
}

}  // namespace hearth
