// Backend::decode_layers on CUDA: every decoder layer of a one-token step as one kernel
// (decode_stack.cu; kernels.h StackParams). This file decides where it applies and owns
// its device state: the per-layer pointer table and the buffers the kernel's step graphs
// hold (q|k|v, attention output, SwiGLU output, split partials, counters, grid barrier).
#include <algorithm>
#include <cstdio>
#include <cstring>

#include "hearth/backend/cuda/cuda_backend_impl.h"
#include "hearth/backend/cuda/cuda_check.h"
#include "hearth/backend/cuda/decode_stack.h"
#include "hearth/backend/cuda/kernels.h"
#include "hearth/core/error.h"

namespace hearth::cuda {

namespace {

constexpr int64_t kStackHeadDim = 128;

bool plain_bf16(const Weight& w, int ndim) {
  return w.format == WeightFormat::Dense && w.t.data != nullptr && w.t.dtype == DType::BF16 &&
         w.t.shape.ndim == ndim && aligned16(w.t.data);
}

bool matrix(const Weight& w, int64_t rows, int64_t cols) {
  return plain_bf16(w, 2) && w.t.shape[0] == rows && w.t.shape[1] == cols;
}

bool vector_of(const Weight& w, int64_t n) { return plain_bf16(w, 1) && w.t.shape[0] == n; }

size_t round_up(size_t n) { return (n + 255) / 256 * 256; }

}  // namespace

bool CudaBackend::decode_layers(const ModelWeights& weights, TensorView residual, float eps,
                                const RopeTable& rope, float scale, const DeviceBatch& batch) {
  if (!decode_stack_ || !fuse_decode_ || kv_base_ == nullptr || kv_spec_.fp8() ||
      kv_spec_.head_dim != kStackHeadDim || weights.layers.empty() ||
      static_cast<int>(weights.layers.size()) != kv_spec_.num_layers)
    return false;
  const CudaDeviceBatch& db = device_batch(batch);
  const StepBatch& b = db.host();
  if (b.num_tokens() != 1 || b.num_seqs() != 1 || db.max_q_len != 1) return false;
  if (residual.dtype != DType::BF16 || residual.data == nullptr || !aligned16(residual.data))
    return false;
  // Shapes: every layer the same, as the kernel's one set of sizes assumes.
  const LayerWeights& first = weights.layers.front();
  if (first.q_proj.t.shape.ndim != 2 || first.gate_proj.t.shape.ndim != 2) return false;
  const int64_t hidden = first.q_proj.t.shape[1];
  const int64_t q_rows = first.q_proj.t.shape[0];
  const int64_t kv_rows = static_cast<int64_t>(kv_spec_.num_kv_heads) * kStackHeadDim;
  const int64_t inter = first.gate_proj.t.shape[0];
  if (residual.numel() != hidden || q_rows % kStackHeadDim != 0 || hidden % 8 != 0 ||
      inter % 8 != 0 || static_cast<int64_t>(rope.inv_freq.size()) != kStackHeadDim / 2)
    return false;
  const int64_t heads = q_rows / kStackHeadDim;
  if (heads % kv_spec_.num_kv_heads != 0 || heads / kv_spec_.num_kv_heads > kDecodeMaxGroup)
    return false;
  const int grid = decode_stack_grid();
  if (grid <= 0) return false;

  const int capacity = b.max_blocks_per_seq * kv_spec_.block_size;
  const int max_splits = decode_stack_max_splits(capacity, grid, kv_spec_.num_kv_heads);
  if (max_splits > 1024) return false;  // the kernel's combine holds <= 1,024 split weights
  char* cache = static_cast<char*>(kv_base_);
  const size_t layer_bytes = kv_spec_.bytes_per_layer();
  std::vector<StackLayer> table;
  table.reserve(weights.layers.size());
  for (const LayerWeights& w : weights.layers) {
    if (!vector_of(w.input_layernorm, hidden) || !vector_of(w.post_attention_layernorm, hidden) ||
        !vector_of(w.q_norm, kStackHeadDim) || !vector_of(w.k_norm, kStackHeadDim) ||
        !matrix(w.q_proj, q_rows, hidden) || !matrix(w.k_proj, kv_rows, hidden) ||
        !matrix(w.v_proj, kv_rows, hidden) || !matrix(w.o_proj, hidden, q_rows) ||
        !matrix(w.gate_proj, inter, hidden) || !matrix(w.up_proj, inter, hidden) ||
        !matrix(w.down_proj, hidden, inter))
      return false;
    StackLayer l{};
    l.in_norm = w.input_layernorm.t.data;
    l.post_norm = w.post_attention_layernorm.t.data;
    l.q_norm = w.q_norm.t.data;
    l.k_norm = w.k_norm.t.data;
    l.wq = w.q_proj.t.data;
    l.wk = w.k_proj.t.data;
    l.wv = w.v_proj.t.data;
    l.wo = w.o_proj.t.data;
    l.wg = w.gate_proj.t.data;
    l.wu = w.up_proj.t.data;
    l.wd = w.down_proj.t.data;
    l.k_cache = cache;
    l.v_cache = cache + layer_bytes / 2;
    cache += layer_bytes;
    table.push_back(l);
  }
  check_batch_against_cache(db);

  // The pointer table on the device (rebuilt when the weights or the cache move).
  const size_t table_bytes = table.size() * sizeof(StackLayer);
  if (table.size() != stack_table_host_.size() ||
      std::memcmp(table.data(), stack_table_host_.data(), table_bytes) != 0) {
    HEARTH_CHECK(!capturing_, "the decode stack's layer table changed while a step graph was "
                 "being recorded");
    grow_step_buffer(stack_table_, stack_table_bytes_, table_bytes, "the decode stack's layer table");
    HEARTH_CUDA_CHECK(cudaMemcpyAsync(stack_table_, table.data(), table_bytes,
                                      cudaMemcpyHostToDevice, stream_));
    stack_table_host_ = std::move(table);
  }

  // Buffers: q|k|v, attention output, SwiGLU output, partials, counters, barrier.
  const size_t qkv_off = 0;
  const size_t attn_off = qkv_off + round_up((q_rows + 2 * kv_rows) * 2);
  const size_t act_off = attn_off + round_up(q_rows * 2);
  const size_t part_off = act_off + round_up(inter * 2);
  const size_t lse_off = part_off + round_up(static_cast<size_t>(heads) * max_splits * kStackHeadDim * 4);
  const size_t count_off = lse_off + round_up(static_cast<size_t>(heads) * max_splits * 4);
  const size_t bar_off = count_off + round_up(static_cast<size_t>(kv_spec_.num_kv_heads) * 4);
  const size_t prof_off = bar_off + round_up(2 * 4);
  const size_t prof_n = stack_profile_ ? weights.layers.size() * kStackEvents * static_cast<size_t>(grid) : 0;
  const size_t total = prof_off + prof_n * 8;
  if (grow_step_buffer(stack_buf_, stack_buf_bytes_, total, "the decode stack's buffers")) {
    // Counters and the barrier start at zero; the kernel leaves them so.
    HEARTH_CUDA_CHECK(cudaMemsetAsync(stack_buf_, 0, stack_buf_bytes_, stream_));
  }
  char* buf = static_cast<char*>(stack_buf_);

  StackParams p{};
  p.layers = static_cast<const StackLayer*>(stack_table_);
  p.num_layers = static_cast<int>(weights.layers.size());
  p.hidden = static_cast<int>(hidden);
  p.heads = static_cast<int>(heads);
  p.kv_heads = kv_spec_.num_kv_heads;
  p.head_dim = static_cast<int>(kStackHeadDim);
  p.inter = static_cast<int>(inter);
  p.eps = eps;
  p.scale = scale;
  std::copy(rope.inv_freq.begin(), rope.inv_freq.end(), p.rope.inv_freq);
  p.rope.attention_scaling = rope.attention_scaling;
  p.residual = residual.data;
  p.qkv = buf + qkv_off;
  p.attn = buf + attn_off;
  p.act = buf + act_off;
  p.part_o = reinterpret_cast<float*>(buf + part_off);
  p.part_lse = reinterpret_cast<float*>(buf + lse_off);
  p.counters = reinterpret_cast<unsigned*>(buf + count_off);
  p.barrier = reinterpret_cast<unsigned*>(buf + bar_off);
  p.positions = db.positions;
  p.slot_mapping = db.slot_mapping;
  p.context_lens = db.context_lens;
  p.block_tables = db.block_tables;
  p.block_size = kv_spec_.block_size;
  p.max_splits = max_splits;
  if (prof_n > 0) {
    p.prof = reinterpret_cast<unsigned long long*>(buf + prof_off);
    stack_prof_ = p.prof;
  }
  HEARTH_CUDA_CHECK(launch_decode_stack(p, stream_));
  op_done("decode_layers");
  ++decode_stack_calls_;
  return true;
}

void CudaBackend::print_stack_profile() {
  if (stack_prof_ == nullptr) return;
  const int layers_n = static_cast<int>(stack_table_host_.size()), g = decode_stack_grid();
  const size_t n = static_cast<size_t>(layers_n) * kStackEvents * g;
  std::vector<unsigned long long> t(n);
  if (cudaStreamSynchronize(stream_) != cudaSuccess ||
      cudaMemcpy(t.data(), stack_prof_, n * 8, cudaMemcpyDeviceToHost) != cudaSuccess)
    return;
  // Per phase, averaged over the layers after the first: the span from the earliest CTA's
  // start to the latest CTA's end, the median CTA's work, and the wait from the latest
  // end to the earliest start of the next phase (the grid barrier).
  const char* names[] = {"qkv", "attn", "o", "gu", "down"};
  auto at = [&](int l, int e, int c) { return t[(static_cast<size_t>(l) * kStackEvents + e) * g + c]; };
  std::fprintf(stderr, "decode stack profile (%d layers, %d CTAs, last step, us):\n", layers_n, g);
  for (int ph = 0; ph < 5; ++ph) {
    double span = 0, work = 0, wait = 0;
    int layers = 0;
    for (int l = 1; l < layers_n; ++l) {
      unsigned long long s0 = ~0ull, e1 = 0;
      std::vector<double> w;
      for (int c = 0; c < g; ++c) {
        s0 = std::min(s0, at(l, 2 * ph, c));
        e1 = std::max(e1, at(l, 2 * ph + 1, c));
        w.push_back(static_cast<double>(at(l, 2 * ph + 1, c) - at(l, 2 * ph, c)));
      }
      std::nth_element(w.begin(), w.begin() + g / 2, w.end());
      unsigned long long next = ~0ull;
      const int nl = ph == 4 ? l + 1 : l, ne = ph == 4 ? 0 : 2 * ph + 2;
      if (nl < layers_n)
        for (int c = 0; c < g; ++c) next = std::min(next, at(nl, ne, c));
      span += static_cast<double>(e1 - s0);
      work += w[static_cast<size_t>(g / 2)];
      if (next != ~0ull) wait += static_cast<double>(next) - static_cast<double>(e1);
      ++layers;
    }
    if (layers == 0) break;
    std::fprintf(stderr, "  %-5s span %8.2f  median work %8.2f  barrier %6.2f\n", names[ph],
                 span / layers / 1e3, work / layers / 1e3, wait / layers / 1e3);
  }
  const double total = static_cast<double>(at(layers_n - 1, 9, 0) - at(0, 0, 0));
  std::fprintf(stderr, "  all layers (CTA 0): %.1f us\n", total / 1e3);
}

}  // namespace hearth::cuda
