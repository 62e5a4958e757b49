// numpy's default percentile (linear interpolation between order statistics), shared by the
// benchmarks: header-only so that `hearth bench serve`, an HTTP client, links no engine.
#pragma once

#include <algorithm>
#include <cstddef>
#include <vector>

namespace hearth::bench {

// p-th percentile (0..100) of `samples`; 0 for no samples.
inline double percentile(std::vector<double> samples, double p) {
  if (samples.empty()) return 0.0;
  std::sort(samples.begin(), samples.end());
  const double rank = std::clamp(p, 0.0, 100.0) / 100.0 * static_cast<double>(samples.size() - 1);
  const auto lo = static_cast<size_t>(rank);
  const size_t hi = std::min(lo + 1, samples.size() - 1);
  return samples[lo] + (samples[hi] - samples[lo]) * (rank - static_cast<double>(lo));
}

}  // namespace hearth::bench
