// The synchronous serving core: continuous batching over a paged, prefix-cached KV cache.
// One thread owns an Engine; step() reads as schedule -> run -> sample -> postprocess.
// AsyncEngine (include/hearth/engine.h) runs one on its engine thread; a single-threaded
// caller (e.g. a batch file) can use it directly, or generate_all().
#pragma once

#include <memory>
#include <optional>
#include <span>
#include <unordered_map>
#include <vector>

#include "hearth/backend/backend.h"
#include "hearth/engine.h"
#include "hearth/engine/generator.h"
#include "hearth/engine/model_runner.h"
#include "hearth/engine/scheduler.h"
#include "hearth/engine/sequence.h"
#include "hearth/kv/kv_cache_manager.h"
#include "hearth/kv/kv_planning.h"
#include "hearth/model/checkpoint.h"

namespace hearth {

// The KV cache size EngineOptions asks for (see EngineOptions: blocks, tokens, bytes, or
// the default). Throws hearth::Error when it cannot hold one sequence at max_model_len.
KvPlan plan_engine_kv_cache(const EngineOptions& opts, const ModelConfig& config, DType kv_dtype, int max_model_len);

class Engine {
 public:
  // Uploads the weights, sizes and allocates the KV cache (logging its capacity). The
  // checkpoint and backend must outlive the engine.
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
  // finish reason when it finished).
  std::vector<RequestOutput> step();
  bool has_unfinished() const { return scheduler_.has_unfinished(); }
  std::vector<RequestId> unfinished_ids() const;

  // Runs `requests` to completion, all in flight at once; results in request order.
  // Validates them all first (the error names the request's index); the engine must have
  // no other request in flight.
  std::vector<GenerationResult> generate_all(std::span<const GenerationRequest> requests);

  EngineStats stats() const;
  const KvPlan& kv_plan() const { return plan_; }
  int max_model_len() const { return max_model_len_; }
  const ModelConfig& config() const { return runner_.config(); }
  const EngineOptions& options() const { return opts_; }
  const std::vector<int>& eos_token_ids() const { return eos_ids_; }
  // Throws (internal check) on any inconsistency: queues, block tables, reference counts.
  void check_invariants() const;

 private:
  void finish_output(RequestOutput& out, const Sequence& seq);

  EngineOptions opts_;
  int max_model_len_ = 0;
  std::vector<int> eos_ids_;
  KvPlan plan_;
  KvCacheManager kv_;
  ModelRunner runner_;
  Scheduler scheduler_;
  std::unordered_map<RequestId, std::unique_ptr<Sequence>> seqs_;  // unfinished requests
  std::unordered_map<RequestId, TextDecoderHook> decoders_;
  RequestId next_id_ = 0;
  uint64_t next_arrival_ = 0;
  EngineStats stats_;
};

}  // namespace hearth
