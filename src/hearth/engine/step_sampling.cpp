#include "hearth/engine/step_sampling.h"

#include <algorithm>
#include <utility>

#include "hearth/core/error.h"
#include "hearth/engine/request_rules.h"

namespace hearth {

StepSampling::StepSampling(Backend& backend, int vocab_size, bool device_sampling)
    : backend_(backend), vocab_size_(vocab_size), device_sampling_(device_sampling) {}

PickPath StepSampling::path(std::span<const PickRow> rows) const {
  int top = 0;
  for (const PickRow& r : rows)
    if (r.sampler != nullptr) top = std::max(top, r.sampler->params().logprobs);
  // The device pick reports at most 32 alternatives (the API allows 20).
  if (top > 32) return PickPath::Host;
  if (device_sampling_ && backend_.supports_device_sampling()) return PickPath::DeviceSample;
  if (!backend_.supports_device_greedy()) return PickPath::Host;
  for (const PickRow& r : rows)
    if (r.sampler != nullptr && !device_greedy_eligible(r.sampler->params())) return PickPath::Host;
  return PickPath::DeviceGreedy;
}

void StepSampling::export_rows(std::span<const PickRow> rows) {
  batch_.rows.clear();
  batch_.masks.clear();
  batch_.penalty_tokens.clear();
  batch_.penalty_counts.clear();
  batch_.mask_words = 0;
  batch_.top_logprobs = 0;
  for (const PickRow& r : rows) {
    if (r.sampler == nullptr) {
      batch_.rows.push_back(SampleRow{});  // greedy, unmasked: a pick nobody reads
      continue;
    }
    if (r.sampler->constraint() != nullptr) batch_.mask_words = (vocab_size_ + 31) / 32;
    batch_.rows.push_back(r.sampler->export_row(vocab_size_, batch_.penalty_tokens, batch_.penalty_counts, batch_.masks));
    batch_.top_logprobs = std::max(batch_.top_logprobs, r.sampler->params().logprobs);
  }
}

StepPicks StepSampling::launch_picks(std::span<const PickRow> rows) {
  launched_path_ = path(rows);
  switch (launched_path_) {
    case PickPath::Host: return StepPicks::none();
    case PickPath::DeviceGreedy: {
      int top = 0;
      for (const PickRow& r : rows)
        if (r.sampler != nullptr) top = std::max(top, r.sampler->params().logprobs);
      return StepPicks::greedy(top);
    }
    case PickPath::DeviceSample:
      export_rows(rows);
      return StepPicks::sampled(batch_);
  }
  return StepPicks::none();
}

std::vector<SampledToken> StepSampling::pick(std::span<const PickRow> rows, TensorView logits, bool launched) {
  std::vector<SampledToken> out(rows.size());
  last_read_ms_ = 0;
  if (rows.empty()) return out;
  using Clock = std::chrono::steady_clock;
  auto ms_since = [](Clock::time_point t) {
    return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
  };
  const PickPath p = launched ? launched_path_ : path(rows);
  if (p == PickPath::Host) {
    const auto vocab = static_cast<size_t>(vocab_size_);
    host_logits_.resize(rows.size() * vocab);
    const Clock::time_point t = Clock::now();
    backend_.to_host_f32(logits, host_logits_.data());
    last_read_ms_ = ms_since(t);
    for (size_t r = 0; r < rows.size(); ++r) {
      Sampler* s = rows[r].sampler;
      if (s == nullptr) continue;
      const std::span<float> row(host_logits_.data() + r * vocab, vocab);
      const bool want_lp = s->params().logprobs > 0;
      out[r].token = s->sample(row, want_lp ? &out[r].logprobs : nullptr);
    }
    return out;
  }
  if (!launched) {
    const StepPicks picks = launch_picks(rows);
    if (picks.kind == StepPicks::Kind::Greedy) backend_.enqueue_greedy(logits, picks.top_logprobs);
    if (picks.kind == StepPicks::Kind::Sample) {
      backend_.upload_sampling(*picks.sample);
      backend_.enqueue_sample(logits);
    }
  }
  picks_.resize(rows.size());
  const Clock::time_point t = Clock::now();
  backend_.read_greedy(picks_);
  last_read_ms_ = ms_since(t);
  for (size_t r = 0; r < rows.size(); ++r) {
    const Sampler* s = rows[r].sampler;
    if (s == nullptr) continue;
    GreedyPick& g = picks_[r];
    out[r].token = g.id;
    const int k = s->params().logprobs;
    if (k > 0) {
      // The top list is best first, so a sequence asking for fewer keeps a prefix.
      g.top.resize(std::min(g.top.size(), static_cast<size_t>(k)));
      out[r].logprobs = {g.id, g.logprob, std::move(g.top)};
    }
  }
  return out;
}

}  // namespace hearth
