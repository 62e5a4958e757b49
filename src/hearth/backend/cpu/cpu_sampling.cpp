// The CPU backend's device-sampling entry points: each row goes through sample_row, the
// function Sampler::sample runs, so the CPU backend is the reference of the CUDA kernels.
#include "hearth/backend/cpu/cpu_backend.h"
#include "hearth/core/error.h"
#include "hearth/sampling/row_sampler.h"
#include "hearth/sampling/sampler.h"

namespace hearth {

void CpuBackend::upload_sampling(const SampleBatch& batch) {
  // The vocabulary is known at enqueue_sample; check what can be checked now, the rest there.
  batch.validate(sample_math::kMaxVocab);
  sampling_ = batch;
  sampling_uploaded_ = true;
}

void CpuBackend::enqueue_sample(TensorView logits) {
  HEARTH_CHECK(logits.data != nullptr && logits.dtype == DType::F32 && logits.shape.ndim == 2, "enqueue_sample takes [rows, vocab] F32 logits, got {} {}",
               dtype_name(logits.dtype), logits.shape.str());
  HEARTH_CHECK(sampling_uploaded_, "enqueue_sample before upload_sampling");
  const auto rows = static_cast<size_t>(logits.shape[0]);
  const auto vocab = static_cast<int>(logits.shape[1]);
  HEARTH_CHECK(rows == sampling_.rows.size(), "enqueue_sample: {} logits rows but {} sample rows", rows,
               sampling_.rows.size());
  sampling_.validate(vocab);
  picks_.assign(rows, GreedyPick{});
  float* data = static_cast<float*>(logits.data);
  for (size_t r = 0; r < rows; ++r) {
    const SampleRow& row = sampling_.rows[r];
    std::span<float> x(data + r * static_cast<size_t>(vocab), static_cast<size_t>(vocab));
    raw_row_.assign(x.begin(), x.end());
    RowMask mask;
    if (row.mask_row >= 0) {
      mask.words = sampling_.masks.data() + static_cast<size_t>(row.mask_row) * sampling_.mask_words;
      mask.num_words = static_cast<size_t>(sampling_.mask_words);
    }
    const auto begin = static_cast<size_t>(row.penalty_begin);
    const auto n = static_cast<size_t>(row.penalty_end - row.penalty_begin);
    int id = -1;
    try {
      id = sample_row(x, row, mask, std::span(sampling_.penalty_tokens).subspan(begin, n),
                      std::span(sampling_.penalty_counts).subspan(begin, n), candidates_);
    } catch (const Error&) {
      id = -1;  // reported by read_greedy, as the CUDA backend does
    }
    GreedyPick& p = picks_[r];
    p.id = id;
    if (id < 0) continue;
    TokenLogprobs lp = compute_logprobs(raw_row_, id, sampling_.top_logprobs);
    p.logprob = lp.logprob;
    p.top = std::move(lp.top);
  }
}

void CpuBackend::read_greedy(std::span<GreedyPick> out) {
  HEARTH_CHECK(out.size() == picks_.size(), "read_greedy: {} slots for {} rows", out.size(), picks_.size());
  for (size_t r = 0; r < picks_.size(); ++r) {
    if (picks_[r].id < 0)
      fail("device sampling: no token of row {} can be picked (every logit is -inf or NaN, or masked)", r);
    out[r] = picks_[r];
  }
}

}  // namespace hearth
