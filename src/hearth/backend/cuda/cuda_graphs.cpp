// Decode-step graphs and device picks (greedy here, general sampling in sampling.cpp): what lets a decode step run as one graph
// launch whose only host synchronization is reading the picked ids (NOTES.md, "Step graphs").
#include <algorithm>
#include <cstring>

#include "hearth/backend/cuda/cuda_backend_impl.h"
#include "hearth/backend/cuda/cuda_check.h"
#include "hearth/backend/cuda/kernels.h"
#include "hearth/core/error.h"

namespace hearth::cuda {

// ---- fixed batches ----

const DeviceBatch& CudaBackend::upload_batch_fixed(const StepBatch& b) {
  HEARTH_CHECK(!capturing_, "upload_batch_fixed while a step graph is being recorded");
  HEARTH_CHECK(kv_base_ != nullptr, "upload_batch_fixed before init_kv_cache");
  for (int s = 0; s < b.num_seqs(); ++s) {
    HEARTH_CHECK(s + 1 < static_cast<int>(b.query_start.size()) &&
                     b.query_start[s + 1] - b.query_start[s] == 1,
                 "upload_batch_fixed takes decode batches (one token per sequence); sequence "
                 "{} has another count", s);
  }
  const StepShape shape = step_shape(b);
  auto it = fixed_batches_.find(shape);
  if (it == fixed_batches_.end()) {
    auto db = std::make_unique<CudaDeviceBatch>(b, *memory_);
    db->fixed = true;
    // Splits for the longest context this shape can hold: the block table's capacity.
    const int capacity = std::max(1, b.max_blocks_per_seq * kv_spec_.block_size);
    db->graph_splits = decode_splits(b.num_tokens(), capacity);
    it = fixed_batches_.emplace(shape, std::move(db)).first;
  }
  CudaDeviceBatch& db = *it->second;
  db.host_ = b;
  std::vector<int32_t> packed;
  std::vector<size_t> offsets;
  pack_batch(b, db, packed, offsets);
  if (db.buffer == nullptr) {
    db.buffer_ints = std::max<size_t>(packed.size(), 1);
    db.buffer = static_cast<int32_t*>(memory_->allocate(db.buffer_ints * sizeof(int32_t),
                                                        "a fixed step batch"));
  }
  // One shape packs to one layout (decode: one tile per sequence), so the recorded
  // pointers stay right.
  HEARTH_CHECK(packed.size() <= db.buffer_ints, "fixed batch layout changed ({} > {} ints)",
               packed.size(), db.buffer_ints);
  copy_packed(db, packed, offsets);
  // Replays run no op code, so the checks the ops make on the host happen here.
  db.checked_num_blocks = db.checked_block_size = -1;
  check_batch_against_cache(db);
  op_done("upload_batch_fixed");
  return db;
}

// ---- recording and replay ----

void CudaBackend::begin_graph(const GraphKey& key) {
  HEARTH_CHECK(supports_graphs(), "step graphs are off (debug sync)");
  HEARTH_CHECK(!capturing_, "begin_graph while another step graph is being recorded");
  // Thread-local mode: other threads' CUDA calls (another backend, the host) are not
  // affected by this stream's capture.
  HEARTH_CUDA_CHECK(cudaStreamBeginCapture(stream_, cudaStreamCaptureModeThreadLocal));
  capturing_ = true;
  capture_key_ = key;
  capture_picks_ = {-1, 0};
}

void CudaBackend::end_graph() {
  HEARTH_CHECK(capturing_, "end_graph without begin_graph");
  capturing_ = false;
  cudaGraph_t graph = nullptr;
  HEARTH_CUDA_CHECK(cudaStreamEndCapture(stream_, &graph));
  cudaGraphExec_t exec = nullptr;
  const cudaError_t e = cudaGraphInstantiate(&exec, graph, 0);
  cudaGraphDestroy(graph);
  HEARTH_CUDA_CHECK(e);
  auto it = graphs_.find(capture_key_);
  if (it != graphs_.end()) {
    cudaGraphExecDestroy(it->second);
    it->second = exec;
  } else {
    graphs_.emplace(capture_key_, exec);
  }
  graph_picks_[capture_key_] = capture_picks_;
}

void CudaBackend::cancel_graph() {
  if (!capturing_) return;
  capturing_ = false;
  cudaGraph_t graph = nullptr;
  // The capture may already be invalidated by the failure: its status is not interesting.
  cudaStreamEndCapture(stream_, &graph);
  if (graph != nullptr) cudaGraphDestroy(graph);
  cudaGetLastError();
}

void CudaBackend::replay_graph(const GraphKey& key) {
  HEARTH_CHECK(!capturing_, "replay_graph while a step graph is being recorded");
  auto it = graphs_.find(key);
  HEARTH_CHECK(it != graphs_.end(), "no step graph recorded for {} tokens / {} sequences",
               key.shape.tokens, key.shape.seqs);
  HEARTH_CUDA_CHECK(cudaGraphLaunch(it->second, stream_));
  if (const auto p = graph_picks_.find(key); p != graph_picks_.end() && p->second.first >= 0) {
    greedy_rows_ = p->second.first;
    greedy_top_ = p->second.second;
  }
  // Marks the end of the replay for read_greedy (the recording's own record does not).
  HEARTH_CUDA_CHECK(cudaEventRecord(greedy_done_, stream_));
  op_done("replay_graph");
}

void CudaBackend::drop_graphs() {
  if (graphs_.empty()) return;
  // A graph may still be running: let it finish before its executable goes.
  HEARTH_CUDA_CHECK(cudaStreamSynchronize(stream_));
  for (auto& [key, exec] : graphs_) cudaGraphExecDestroy(exec);
  graphs_.clear();
  graph_picks_.clear();
}

void CudaBackend::invalidate_graphs() {
  HEARTH_CHECK(!capturing_, "invalidate_graphs while a step graph is being recorded");
  drop_graphs();
}

// ---- greedy picks ----

void CudaBackend::ensure_greedy_buffers(int rows, int vocab, int top) {
  const size_t need = greedy_scratch_bytes(rows, vocab, top);
  if (need <= greedy_scratch_bytes_ && rows <= greedy_rows_capacity_) return;
  // Recorded graphs hold the old buffers; a recording sizes them in its eager run first.
  HEARTH_CHECK(!capturing_, "greedy buffers grew while a step graph was being recorded");
  drop_graphs();
  if (need > greedy_scratch_bytes_) {
    if (greedy_scratch_ != nullptr) memory_->release(greedy_scratch_);
    greedy_scratch_ = nullptr;
    greedy_scratch_bytes_ = 0;
    greedy_scratch_ = memory_->allocate(need, "greedy pick scratch");
    greedy_scratch_bytes_ = need;
  }
  if (rows > greedy_rows_capacity_) {
    // The pinned mirror may still be the target of a queued copy.
    HEARTH_CUDA_CHECK(cudaStreamSynchronize(stream_));
    if (greedy_results_ != nullptr) memory_->release(greedy_results_);
    greedy_results_ = nullptr;
    if (greedy_host_ != nullptr) HEARTH_CUDA_CHECK(cudaFreeHost(greedy_host_));
    greedy_host_ = nullptr;
    greedy_rows_capacity_ = 0;
    const size_t bytes = static_cast<size_t>(rows) * kGreedyResultInts * sizeof(int32_t);
    greedy_results_ = static_cast<int32_t*>(memory_->allocate(bytes, "greedy pick results"));
    HEARTH_CUDA_CHECK(cudaMallocHost(reinterpret_cast<void**>(&greedy_host_), bytes));
    greedy_rows_capacity_ = rows;
  }
}

void CudaBackend::finish_picks(int rows, int top, const char* op) {
  greedy_rows_ = rows;
  greedy_top_ = top;
  if (capturing_) capture_picks_ = {rows, top};
  if (rows == 0) return;
  HEARTH_CUDA_CHECK(cudaMemcpyAsync(greedy_host_, greedy_results_,
                                    static_cast<size_t>(rows) * kGreedyResultInts * sizeof(int32_t),
                                    cudaMemcpyDeviceToHost, stream_));
  // An event record inside a capture only orders the capture; replay_graph records the
  // event after each launch instead.
  if (!capturing_) HEARTH_CUDA_CHECK(cudaEventRecord(greedy_done_, stream_));
  op_done(op);
}

void CudaBackend::enqueue_greedy(TensorView logits, int top_logprobs) {
  HEARTH_CHECK(logits.data != nullptr && logits.dtype == DType::F32 && logits.shape.ndim == 2,
               "enqueue_greedy takes [rows, vocab] F32 logits, got {} {}",
               dtype_name(logits.dtype), logits.shape.str());
  HEARTH_CHECK(top_logprobs >= 0 && top_logprobs <= kGreedyMaxTop,
               "enqueue_greedy: {} logprobs asked; the device pick reports up to {}",
               top_logprobs, kGreedyMaxTop);
  const auto rows = static_cast<int>(logits.shape[0]);
  const auto vocab = static_cast<int>(logits.shape[1]);
  HEARTH_CHECK(vocab > 0, "enqueue_greedy: empty vocabulary");
  const int top = std::min(top_logprobs, vocab);
  ensure_greedy_buffers(rows, vocab, top);
  if (rows > 0)
    HEARTH_CUDA_CHECK(launch_greedy(static_cast<const float*>(logits.data), rows, vocab, top,
                                    greedy_scratch_, greedy_results_, stream_));
  finish_picks(rows, top, "enqueue_greedy");
}

void CudaBackend::read_greedy(std::span<GreedyPick> out) {
  HEARTH_CHECK(!capturing_, "read_greedy while a step graph is being recorded");
  HEARTH_CHECK(static_cast<int>(out.size()) == greedy_rows_, "read_greedy: {} slots for {} rows",
               out.size(), greedy_rows_);
  if (greedy_rows_ == 0) return;
  HEARTH_CUDA_CHECK(cudaEventSynchronize(greedy_done_));
  for (int r = 0; r < greedy_rows_; ++r) {
    const int32_t* res = greedy_host_ + static_cast<size_t>(r) * kGreedyResultInts;
    GreedyPick& p = out[static_cast<size_t>(r)];
    if (res[0] < 0)
      fail("device pick: no token of row {} can be picked (every logit is -inf or NaN, or masked)", r);
    p.id = res[0];
    std::memcpy(&p.logprob, &res[1], sizeof(float));
    const int top = std::min(res[2], kGreedyMaxTop);
    p.top.resize(static_cast<size_t>(std::max(top, 0)));
    for (int k = 0; k < top; ++k) {
      float lp = 0.0f;
      std::memcpy(&lp, &res[4 + 2 * k], sizeof(float));
      p.top[static_cast<size_t>(k)] = {res[3 + 2 * k], lp};
    }
  }
}

}  // namespace hearth::cuda
