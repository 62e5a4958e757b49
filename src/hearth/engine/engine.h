// The synchronous serving core: continuous batching over a paged, prefix-cached KV cache.
// One thread owns an Engine; step() reads as schedule -> run -> sample -> postprocess.
// AsyncEngine (include/hearth/engine.h) runs one on its engine thread; a single-threaded
// caller (e.g. a batch file) can use it directly, or generate_all().
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <unordered_map>
#include <vector>

#include "hearth/backend/backend.h"
#include "hearth/engine.h"
#include "hearth/engine/generator.h"
#include "hearth/engine/memory_plan.h"
#include "hearth/engine/model_runner.h"
#include "hearth/engine/scheduler.h"
#include "hearth/engine/sequence.h"
#include "hearth/engine/task_group.h"
#include "hearth/kv/kv_cache_manager.h"
#include "hearth/kv/kv_planning.h"
#include "hearth/model/checkpoint.h"

namespace hearth {

class Engine {
 public:
  // Uploads the weights, sizes (memory_plan.h: on a GPU after a warm-up step) and allocates
  // the KV cache, logging its capacity. The checkpoint and backend must outlive the engine.
  Engine(const Checkpoint& checkpoint, Backend& backend, EngineOptions options = {});
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Throws hearth::Error naming the problem (Generator's rules).
  void validate(const Request& request) const;
  // Validates and queues a request; returns its id (0, 1, 2, ... unless given).
  RequestId add_request(Request request);
  // The same with a caller-chosen id (unique among unfinished requests).
  void add_request(RequestId id, Request request);
  // Stops a request wherever it is and frees its blocks; returns its final output
  // (finish_reason Abort), or nullopt when the id is unknown or already finished.
  std::optional<RequestOutput> abort(RequestId id);

  // One step; returns an output for every request that got a token this step (and its
  // finish reason when it finished), or whose output constraint ended it (no new token).
  // `during_forward` runs on this thread while the step's forward pass runs on the device
  // (e.g. handing the previous step's outputs to their readers); it must not touch the engine.
  std::vector<RequestOutput> step(const std::function<void()>& during_forward = {});
  bool has_unfinished() const { return scheduler_.has_unfinished(); }
  std::vector<RequestId> unfinished_ids() const;

  // Runs `requests` to completion, all in flight at once; results in request order.
  // Validates them all first (the error names the request's index); the engine must have
  // no other request in flight.
  std::vector<GenerationResult> generate_all(std::span<const GenerationRequest> requests);

  // Whether AsyncEngine should deliver outputs during the next step's forward pass
  // (EngineOptions::pipeline_outputs).
  bool pipeline_outputs() const {
    return opts_.pipeline_outputs >= 0 ? opts_.pipeline_outputs > 0 : runner_.backend().supports_graphs();
  }
  EngineStats stats() const;
  const KvPlan& kv_plan() const { return plan_.plan; }
  // The memory terms of the KV plan (measured on a GPU), for the start-up log.
  std::string memory_summary() const { return plan_.describe(); }
  int max_model_len() const { return max_model_len_; }
  const ModelConfig& config() const { return runner_.config(); }
  const EngineOptions& options() const { return opts_; }
  const std::vector<int>& eos_token_ids() const { return eos_ids_; }
  // Throws (internal check) on any inconsistency: queues, block tables, reference counts.
  void check_invariants() const;

 private:
  void finish_output(RequestOutput& out, const Sequence& seq);
  // Ends a request whose output constraint, told of its last token only now (a deferred
  // accept), is complete or stuck: an output without a new token.
  RequestOutput finish_by_constraint(Sequence* seq, FinishReason reason);

  EngineOptions opts_;
  int max_model_len_ = 0;
  std::vector<int> eos_ids_;
  ModelRunner runner_;
  MeasuredPlan plan_;
  KvCacheManager kv_;
  Scheduler scheduler_;
  // Constrained sequences whose last token their Sampler has not accepted yet: the next
  // step accepts it (computing the next mask) on mask_workers_ while its forward pass runs.
  std::vector<Sequence*> deferred_;
  TaskGroup mask_workers_;
  // Host-observed device idle time between steps: from the previous step's picks being read
  // to this step's launch being queued (EngineStats::gpu_idle_ms).
  std::optional<std::chrono::steady_clock::time_point> last_ready_;
  std::unordered_map<RequestId, std::unique_ptr<Sequence>> seqs_;  // unfinished requests
  std::unordered_map<RequestId, TextDecoderHook> decoders_;
  RequestId next_id_ = 0;
  uint64_t next_arrival_ = 0;
  EngineStats stats_;
};

}  // namespace hearth
