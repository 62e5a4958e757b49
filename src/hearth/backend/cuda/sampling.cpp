// General sampling on the device (backend.h: upload_sampling / enqueue_sample): the host
// side of sampling_kernels.cu. The SampleBatch lives in one device buffer at fixed offsets,
// so a recorded step graph reads each step's rows; the picks come back through the greedy
// pick's results and read_greedy.
#include <algorithm>
#include <cstring>

#include "hearth/backend/cuda/cuda_backend_impl.h"
#include "hearth/backend/cuda/cuda_check.h"
#include "hearth/backend/cuda/kernels.h"
#include "hearth/core/error.h"

namespace hearth::cuda {

void CudaBackend::PinnedDeleter::operator()(void* p) const {
  if (p != nullptr) cudaFreeHost(p);
}
void CudaBackend::EventDeleter::operator()(cudaEvent_t e) const {
  if (e != nullptr) cudaEventDestroy(e);
}

namespace {

size_t up256(size_t n) { return (n + 255) / 256 * 256; }

// Capacity growth: at least double, so a penalty list that grows by a token per step
// reallocates (and drops the recorded graphs) only O(log n) times.
size_t grow(size_t have, size_t need, size_t floor) {
  if (need <= have) return have;
  return std::max({need, have * 2, floor});
}

}  // namespace

void CudaBackend::upload_sampling(const SampleBatch& b) {
  HEARTH_CHECK(!capturing_, "upload_sampling while a step graph is being recorded");
  // The vocabulary is known at enqueue_sample, which checks the tokens against it; a replay
  // runs no host code, so the kernels also skip penalty tokens outside the vocabulary (as
  // apply_repetition_penalty does).
  b.validate(sample_math::kMaxVocab);
  const size_t rows = b.rows.size(), words = b.masks.size(), pens = b.penalty_tokens.size();
  SampleLayout& L = sample_layout_;
  if (sample_buffer_ == nullptr || rows > L.rows || words > L.mask_words || pens > L.penalties) {
    drop_graphs();  // recordings hold the old buffer's addresses
    SampleLayout n;
    n.rows = grow(L.rows, rows, 64);
    n.mask_words = grow(L.mask_words, words, 0);
    n.penalties = grow(L.penalties, pens, 4096);
    n.rows_off = 0;
    n.masks_off = n.rows_off + up256(n.rows * sizeof(SampleRow));
    n.tokens_off = n.masks_off + up256(n.mask_words * sizeof(uint32_t));
    n.counts_off = n.tokens_off + up256(n.penalties * sizeof(int32_t));
    n.raw_off = n.counts_off + up256(n.penalties * sizeof(int32_t));
    n.meta_off = n.raw_off + up256(n.penalties * sizeof(float));
    n.bytes = n.meta_off + 256;
    // Queued kernels may still read the old buffer and a queued copy the old mirror.
    HEARTH_CUDA_CHECK(cudaStreamSynchronize(stream_));
    if (sample_buffer_ != nullptr) memory_->release(sample_buffer_);
    sample_buffer_ = nullptr;
    sample_pinned_.reset();
    sample_buffer_ = memory_->allocate(n.bytes, "device sampling inputs");
    void* pinned = nullptr;
    HEARTH_CUDA_CHECK(cudaMallocHost(&pinned, n.bytes));
    sample_pinned_.reset(pinned);
    L = n;
  }
  if (!sample_upload_done_) {
    cudaEvent_t e = nullptr;
    HEARTH_CUDA_CHECK(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
    sample_upload_done_.reset(e);
  } else {
    // The mirror is rewritten below: the previous step's copy must have left it.
    HEARTH_CUDA_CHECK(cudaEventSynchronize(sample_upload_done_.get()));
  }
  char* host = static_cast<char*>(sample_pinned_.get());
  char* dev = static_cast<char*>(sample_buffer_);
  auto stage = [&](size_t off, const void* src, size_t bytes) {
    if (bytes == 0) return;
    std::memcpy(host + off, src, bytes);
    HEARTH_CUDA_CHECK(cudaMemcpyAsync(dev + off, host + off, bytes, cudaMemcpyHostToDevice, stream_));
  };
  stage(L.rows_off, b.rows.data(), rows * sizeof(SampleRow));
  stage(L.masks_off, b.masks.data(), words * sizeof(uint32_t));
  stage(L.tokens_off, b.penalty_tokens.data(), pens * sizeof(int32_t));
  stage(L.counts_off, b.penalty_counts.data(), pens * sizeof(int32_t));
  const int32_t meta[4] = {b.mask_words, 0, 0, 0};
  stage(L.meta_off, meta, sizeof(meta));
  HEARTH_CUDA_CHECK(cudaEventRecord(sample_upload_done_.get(), stream_));
  sample_rows_ = static_cast<int>(rows);
  sample_plain_ = b.plain_greedy();
  sample_greedy_only_ = b.greedy_only();
  sample_top_ = b.top_logprobs;
  sample_max_token_ = -1;
  for (int32_t t : b.penalty_tokens) sample_max_token_ = std::max(sample_max_token_, t);
  op_done("upload_sampling");
}

void CudaBackend::enqueue_sample(TensorView logits) {
  HEARTH_CHECK(logits.data != nullptr && logits.dtype == DType::F32 && logits.shape.ndim == 2,
               "enqueue_sample takes [rows, vocab] F32 logits, got {} {}", dtype_name(logits.dtype),
               logits.shape.str());
  HEARTH_CHECK(sample_rows_ >= 0, "enqueue_sample before upload_sampling");
  const auto rows = static_cast<int>(logits.shape[0]);
  const auto vocab = static_cast<int>(logits.shape[1]);
  HEARTH_CHECK(rows == sample_rows_, "enqueue_sample: {} logits rows but {} sample rows", rows, sample_rows_);
  HEARTH_CHECK(vocab > 0 && vocab <= sample_math::kMaxVocab,
               "enqueue_sample: vocabulary of {} tokens; device sampling supports 1..{}", vocab,
               sample_math::kMaxVocab);
  HEARTH_CHECK(sample_max_token_ < vocab, "enqueue_sample: penalty token {} outside the {}-token vocabulary",
               sample_max_token_, vocab);
  const int top = std::min(sample_top_, vocab);
  ensure_greedy_buffers(rows, vocab, top);
  if (!sample_plain_) {
    const size_t need = sample_scratch_bytes(rows, vocab);
    if (grow_step_buffer(sample_scratch_, sample_scratch_bytes_, need, "the device sampling scratch")) {
      // The per-row counters start at zero; every kernel leaves them at zero.
      HEARTH_CUDA_CHECK(cudaMemsetAsync(sample_scratch_, 0, need, stream_));
    }
  }
  if (rows > 0) {
    float* lse = sample_plain_ ? nullptr : sample_scratch_lse(sample_scratch_, rows, vocab);
    HEARTH_CUDA_CHECK(launch_greedy(static_cast<const float*>(logits.data), rows, vocab, top,
                                    greedy_scratch_, greedy_results_, stream_, lse));
    if (!sample_plain_) {
      const SampleLayout& L = sample_layout_;
      char* dev = static_cast<char*>(sample_buffer_);
      SampleArgs a;
      a.logits = static_cast<float*>(logits.data);
      a.rows = rows;
      a.vocab = vocab;
      a.sample_rows = reinterpret_cast<const SampleRow*>(dev + L.rows_off);
      a.masks = reinterpret_cast<const uint32_t*>(dev + L.masks_off);
      a.meta = reinterpret_cast<const int32_t*>(dev + L.meta_off);
      a.penalty_tokens = reinterpret_cast<const int32_t*>(dev + L.tokens_off);
      a.penalty_counts = reinterpret_cast<const int32_t*>(dev + L.counts_off);
      a.penalty_raw = reinterpret_cast<float*>(dev + L.raw_off);
      a.results = greedy_results_;
      a.scratch = sample_scratch_;
      a.greedy_only = sample_greedy_only_;
      HEARTH_CUDA_CHECK(launch_sample(a, stream_));
    }
  }
  finish_picks(rows, top, "enqueue_sample");
}

}  // namespace hearth::cuda
