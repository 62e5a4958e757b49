// The sampling half of a step, shared by the one-at-a-time Generator and the ModelRunner so
// that both turn logits into tokens through one path:
//
//   device sampling (Backend::supports_device_sampling): each row's Sampler exports its step
//     as a SampleRow (penalty list, mask, u drawn from its Rng); the backend samples next to
//     the logits and only the picks cross to the host. Greedy is the special case the
//     backend runs with its fast kernels (SampleBatch::plain_greedy).
//   device greedy (a backend with greedy picks only): rows that are plain greedy.
//   host: the logits rows are copied to the host and each Sampler samples its row.
//
// A row without a Sampler (a padding row of a bucketed decode step, or a sequence that
// finished while its step ran) is sampled greedily and its pick is dropped.
#pragma once

#include <chrono>
#include <cstdint>
#include <span>
#include <vector>

#include "hearth/backend/backend.h"
#include "hearth/engine/qwen3.h"
#include "hearth/sampling/sampler.h"

namespace hearth {

struct SampledToken {
  int32_t token = -1;
  TokenLogprobs logprobs;  // filled when the sequence asked for logprobs
};

// One logits row of a step: its sequence's Sampler (null: a row whose pick is dropped).
struct PickRow {
  Sampler* sampler = nullptr;
};

enum class PickPath { Host, DeviceGreedy, DeviceSample };

class StepSampling {
 public:
  // device_sampling false: never use the backend's general sampling (A/B and tests).
  StepSampling(Backend& backend, int vocab_size, bool device_sampling = true);

  // The path for these rows.
  PickPath path(std::span<const PickRow> rows) const;
  // The picks to enqueue with the forward pass, when every input of the rows' sampling is
  // final before it (then a decode graph records the sampling too). On the device-sampling
  // path this exports the rows (drawing each sampled row's u): call it at most once per
  // step, then pick(..., launched = true). A caller that still changes a Sampler during the
  // forward pass (a deferred accept: masks computed meanwhile) launches with
  // StepPicks::none() and calls pick(..., launched = false) afterwards.
  StepPicks launch_picks(std::span<const PickRow> rows);
  // Reads the picks of the launched step (launched = true), or enqueues them on `logits` and
  // reads them (false; the host path copies the rows and samples them on the host); returns
  // one SampledToken per row (rows without a Sampler: token -1).
  std::vector<SampledToken> pick(std::span<const PickRow> rows, TensorView logits, bool launched);

  bool device_sampling() const { return device_sampling_; }
  // The last pick()'s blocking read (device picks, or the logits rows on the host path), ms:
  // the wait for the forward pass and the picks to end on the device.
  double last_read_ms() const { return last_read_ms_; }

 private:
  void export_rows(std::span<const PickRow> rows);

  Backend& backend_;
  int vocab_size_;
  bool device_sampling_;
  PickPath launched_path_ = PickPath::Host;
  SampleBatch batch_;
  std::vector<GreedyPick> picks_;
  std::vector<float> host_logits_;
  double last_read_ms_ = 0;
};

}  // namespace hearth
