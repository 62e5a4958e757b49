// Launchers of hearth's CUDA kernels: the seam between the host code (cuda_backend.cpp,
// compiled by the C++ compiler) and the .cu files (compiled by nvcc).
//
// Why a seam: nvcc 13 cannot compile fmt 9's consteval format strings, so everything that
// builds messages (hearth::Error, HEARTH_CHECK) stays in .cpp files and the .cu files hold
// only kernels and their launchers. Launchers take raw pointers (bf16 data as void*), assume
// the host code validated every shape and index, enqueue on `stream` and return the launch
// status (cudaGetLastError), which the caller checks with HEARTH_CUDA_CHECK at its call site.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "hearth/sampling/sample_row.h"

namespace hearth::cuda {

// Whether p is 16-byte aligned (the kernels' vector loads need it; host and device code).
inline bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15u) == 0; }

// Programmatic dependent launch (Hopper): the decode-path launchers (copy_rows, swiglu,
// kv_cache_write, rms_norm, qk_norm_rope, decode attention, GEMV, greedy) let their kernel
// start while the previous one finishes (device_utils.cuh: launch_pdl, pdl_wait). Off by
// default; the backend turns it on for devices of compute capability 9.0 and newer.
// Process-wide: every backend of a process runs on devices of one kind.
void set_programmatic_launch(bool on);
bool programmatic_launch();

// ---- elementwise (elementwise_kernels.cu) ----

// out[i, :] = src[rows[i], :] for i < num_rows; bf16 rows of `cols` elements.
// Embedding (rows = token ids) and gather_rows (rows = logits rows) are both this.
cudaError_t launch_copy_rows(const void* src, const int32_t* rows, int num_rows, int64_t cols,
                             void* out, cudaStream_t stream);
// out = silu(gate) * up, bf16, computed in fp32 and rounded once.
cudaError_t launch_swiglu(const void* gate, const void* up, int64_t n, void* out,
                          cudaStream_t stream);
// The same over rows: out[r, c] = silu(gate[r * in_stride + c]) * up[r * in_stride + c],
// out contiguous [rows, cols] (in_stride 2 x cols: the [gate | up] rows of one GEMM).
cudaError_t launch_swiglu_rows(const void* gate, const void* up, int64_t rows, int64_t cols,
                               int64_t in_stride, void* out, cudaStream_t stream);
// Dtype conversions used by weight upload and to_host_f32.
cudaError_t launch_f32_to_bf16(const float* src, int64_t n, void* dst, cudaStream_t stream);
cudaError_t launch_f16_to_bf16(const void* src, int64_t n, void* dst, cudaStream_t stream);
cudaError_t launch_bf16_to_f32(const void* src, int64_t n, float* dst, cudaStream_t stream);
// The columns of one GEMM over adjacent weights ([w_0; w_1; ...], e.g. q|k|v) into the
// per-weight outputs: dst[s][r, :cols[s]] = src[r, off_s : off_s + cols[s]] with off_s the
// sum of the earlier cols; bf16 rows of src are sum(cols) long.
constexpr int kMaxColumnSplits = 4;
struct ColumnSplit {
  void* dst[kMaxColumnSplits];
  int cols[kMaxColumnSplits];
  int count;
};
cudaError_t launch_split_columns(const void* src, int rows, const ColumnSplit& split, cudaStream_t stream);
// cache[slot_mapping[t], :] = x[t, :] for rows of `row_elems` bf16 (kv_heads * head_dim);
// negative slots are padding and skipped.
cudaError_t launch_kv_cache_write(const void* k, const void* v, const int32_t* slot_mapping,
                                  int tokens, int row_elems, void* k_cache, void* v_cache,
                                  cudaStream_t stream);

// ---- norms and RoPE (norm_kernels.cu) ----

// out[r] = rms_norm(x[r]) * w for rows of `cols`. With residual != nullptr (fused form):
// residual[r] = bf16(residual[r] + x[r]) first, and the norm reads the rounded sum, as HF
// does in bf16.
cudaError_t launch_rms_norm(const void* x, void* residual, const void* w, float eps, int rows,
                            int cols, void* out, cudaStream_t stream);

constexpr int kMaxRopeFrequencies = 256;  // head_dim <= 512
struct RopeArgs {
  float inv_freq[kMaxRopeFrequencies];
  float attention_scaling;
};
// With it, launch_qk_norm_rope also writes each token's k (after RoPE) and v rows
// ([tokens, kv_heads, head_dim]) into the paged cache at slot_mapping[t] (negative slots:
// padding, skipped), as launch_kv_cache_write does.
struct QkCacheWrite {
  const void* v;
  const int32_t* slot_mapping;
  void* k_cache;
  void* v_cache;
  // fp8 cache: rows are written as e4m3(x * (1 / scale)) (launch_kv_cache_write_fp8).
  bool fp8 = false;
  float k_scale = 1.0f;
  float v_scale = 1.0f;
};
// The fp8 form of launch_kv_cache_write: cache[slot, i] = e4m3(x[t, i] * (1 / scale)),
// round to nearest even, saturated to +-448 (norm_kernels.cu).
cudaError_t launch_kv_cache_write_fp8(const void* k, const void* v, const int32_t* slot_mapping,
                                      int tokens, int row_elems, float k_scale, float v_scale,
                                      void* k_cache, void* v_cache, cudaStream_t stream);
// In place on q ([tokens, heads, head_dim]) and k ([tokens, kv_heads, head_dim]): per-head
// RMSNorm with q_w / k_w ([head_dim]), then NeoX RoPE at positions[t]. Head dims 64, 128
// and 256 (16-byte aligned data) take a vectorized kernel (one CTA per token); the rest a
// general one (and, with a cache write, a second kernel for it).
bool qk_norm_rope_vectorized(int head_dim);
cudaError_t launch_qk_norm_rope(void* q, void* k, int tokens, int heads, int kv_heads,
                                int head_dim, const void* q_w, const void* k_w, float eps,
                                const RopeArgs& rope, const int32_t* positions,
                                cudaStream_t stream, const QkCacheWrite* cache = nullptr);

// ---- attention (attention_prefill.cu, attention_decode.cu) ----

// What both attention kernels read. Pointers are device memory; bf16 data as void*.
struct AttentionParams {
  const void* q;      // [tokens, heads, head_dim]
  void* out;          // [tokens, heads, head_dim]
  const void* k_cache;  // [num_blocks, block_size, kv_heads, head_dim]
  const void* v_cache;
  const int32_t* query_start;   // [seqs + 1]
  const int32_t* context_lens;  // [seqs]
  const int32_t* block_tables;  // [seqs, max_blocks_per_seq]
  const int32_t* token_seq;     // [tokens]: sequence of each token
  int max_blocks_per_seq;
  int tokens;
  int heads;
  int kv_heads;
  int head_dim;
  int block_size;
  float scale;  // softmax scale (1/sqrt(head_dim) for Qwen3)
  // Decode batches with token t = sequence t (one token each): the decode kernel skips
  // the token_seq / query_start lookups (two dependent loads at its start).
  bool token_is_seq = false;
  // fp8 (e4m3) cache: one byte per element, value = e4m3 * k_scale (K) or * v_scale (V);
  // the attention kernels read and convert it (KvCacheSpec::fp8, kv_fp8.h).
  bool kv_fp8 = false;
  float k_scale = 1.0f;
  float v_scale = 1.0f;
};

// Causal prefill over the paged cache (FlashAttention-2 style). `tiles` holds pairs
// (sequence, first query row) of kPrefillTileRows query rows each. Head dims 64 and 128.
// Two kernels: mma.sync for Ada/Ampere (attention_prefill.cu), and wgmma for Hopper
// (attention_prefill_sm90.cu, built for sm_90a). launch_prefill_attention picks the
// Hopper one where it runs, unless HEARTH_PREFILL_KERNEL=fa2 asks for the other.
constexpr int kPrefillTileRows = 128;
enum class PrefillKernel { Auto, Fa2, Sm90 };
bool prefill_supports_head_dim(int head_dim);
// The kernel launch_prefill_attention will use for this head_dim on the current device.
PrefillKernel prefill_kernel_for(int head_dim);
const char* prefill_kernel_name(PrefillKernel k);
// True when the sm_90a kernel is in the binary and the current device is an SM 9.0 part.
bool prefill_sm90_available(int head_dim);
cudaError_t launch_prefill_attention_sm90(const AttentionParams& p, const int32_t* tiles,
                                          int num_tiles, cudaStream_t stream);
cudaError_t launch_prefill_attention(const AttentionParams& p, const int32_t* tiles,
                                     int num_tiles, cudaStream_t stream);

// One CTA per (token, kv head, split): every query token attends to its causal context,
// split over `num_splits` chunks of `split_size` positions. With num_splits > 1, partial
// results go to `partial_out` ([tokens, heads, num_splits, head_dim] fp32) and
// `partial_lse` ([tokens, heads, num_splits] fp32, log2 domain) and a combine kernel
// reduces them into p.out. Any head_dim that is a multiple of 8 up to 256; up to 8 query
// heads per kv head. split_size <= 0 (graph replays, where the context grows between
// replays of one recording): each sequence splits its own context into num_splits chunks
// of a multiple of 64 positions, computed on the device; splits past the end stay empty.
constexpr int kDecodeMaxHeadDim = 256;
constexpr int kDecodeMaxGroup = 8;
cudaError_t launch_decode_attention(const AttentionParams& p, int num_splits, int split_size,
                                    float* partial_out, float* partial_lse,
                                    cudaStream_t stream);

// The decode attention with the ops before and after it fused in (decode steps: one
// query token per sequence): the q rows (p.q, before norm) get their per-head RMSNorm and
// RoPE in each CTA, the CTA whose split holds the token's own position normalizes and
// rotates its k row (k_new), writes k and v (v_new) to the cache at slot_mapping[t] and
// uses them from shared memory, and the last CTA of each (token, kv head) to finish
// combines the splits (counters: [tokens * kv_heads] int32, zero; left zero). One launch
// instead of four (q/k norm + RoPE, cache write, attention, combine). Head dims 64 and 128.
struct DecodeFusion {
  const void* k_new;  // [tokens, kv_heads, head_dim], before norm and RoPE
  const void* v_new;  // [tokens, kv_heads, head_dim]
  const void* q_w;
  const void* k_w;
  float eps;
  const int32_t* positions;
  const int32_t* slot_mapping;
  int* counters;
  RopeArgs rope;
};
bool decode_fusion_supported(int head_dim);
cudaError_t launch_decode_attention_fused(const AttentionParams& p, const DecodeFusion& f,
                                          int num_splits, int split_size, float* partial_out,
                                          float* partial_lse, cudaStream_t stream);

// Decode attention on the tensor cores (attention_decode_mma.cu): the same contract as
// launch_decode_attention / launch_decode_attention_fused (which call these where
// decode_mma_supported and decode_mma_enabled say so), for head dims 64 and 128, up to 8
// query heads per kv head, bf16 or fp8 caches (AttentionParams::kv_fp8). The fp8 cache is
// read only by these kernels (and the prefill kernels). HEARTH_CUDA_DECODE_MMA=0 sends
// bf16 caches to the SIMT kernel (A/B).
bool decode_mma_enabled();
bool decode_mma_supported(const AttentionParams& p);
// Shared-memory ring variant of the head-dim-128 kernel forced by HEARTH_CUDA_DECODE_VARIANT
// (0 or 1; -1 when unset: chosen per launch from the grid size, see attention_decode_mma.cu)
// and the CTAs per SM the split plan assumes for it.
int decode_mma_variant();
int decode_mma_ctas_per_sm();
cudaError_t launch_decode_attention_mma(const AttentionParams& p, int num_splits, int split_size,
                                        float* partial_out, float* partial_lse,
                                        cudaStream_t stream);
cudaError_t launch_decode_attention_mma_fused(const AttentionParams& p, const DecodeFusion& f,
                                              int num_splits, int split_size, float* partial_out,
                                              float* partial_lse, cudaStream_t stream);
// out[row] = sum_s w_s o_s / sum_s w_s, w_s = 2^(lse_s - max) over the num_splits partial
// results of each of `rows` (token, head) rows (attention_decode.cu).
cudaError_t launch_decode_combine(const float* partial_out, const float* partial_lse, int64_t rows,
                                  int num_splits, int head_dim, void* out, cudaStream_t stream);

// ---- small-M GEMV (gemv_kernels.cu) ----

// out_s = x @ w_s^T for up to kGemvMaxSegments weights sharing the input (q/k/v, gate/up):
// one launch, rows of all segments spread over the grid. x: [m, k] bf16 (m <= kGemvMaxM,
// k % 8 == 0, 16-byte aligned); segment s: w [rows, k] bf16 (16-byte aligned), out [m, rows]
// bf16 or fp32. fp32 accumulation. Decode is a stream over the weights: this kernel keeps
// weight copies (cp.async, a ring of shared-memory stages) in flight from every thread of
// a persistent grid and starts loading before the previous kernel ends (programmatic
// launch).
//
// Fused forms (m = 1 only; see gemv_kernels.cu):
// - norm_w: x is the residual stream and the input is bf16(norm_w * (x * inv_rms(x)))
//   (rms_norm in the prologue; CTA 0 stores the normalized input to `normed` if set);
// - residual: one segment; out = bf16(acc) and residual += out (bf16), the residual add
//   of the next add + norm done in this epilogue;
// - act: two segments of equal rows (gate, up), laid out 4 + 4 rows per CTA, and the
//   epilogue stores act = bf16(silu(bf16 gate) * bf16 up) instead of the two outputs.
constexpr int kGemvMaxM = 8;
constexpr int kGemvMaxSegments = 4;
struct GemvSegment {
  const void* w;
  void* out;
  int64_t rows;
};
struct GemvParams {
  const void* x;
  // Non-null: the input is bf16(silu(x) * x_up) (SwiGLU fused into the input read).
  const void* x_up;
  int m;
  int64_t k;
  bool out_f32;
  int num_segments;
  GemvSegment seg[kGemvMaxSegments];
  const void* norm_w = nullptr;
  float eps = 0.0f;
  void* normed = nullptr;
  void* residual = nullptr;
  void* act = nullptr;
  // Grid size cap (persistent CTAs, each sweeping several row groups); 0: one CTA per
  // row group.
  int max_ctas = 0;
  // Ring stages copied before the wait on the previous kernel: kStages (3, the default: the
  // ring's every slot, each refilled right after its use) or kStages - 1 (each slot
  // refilled one step before its use; the third version's order). A/B:
  // HEARTH_CUDA_GEMV_PRE_STAGES.
  int pre_stages = 0;
  // > 0 (m = 1): the first early_ctas CTAs are taken to become resident while the kernel
  // before still runs (beside a one-CTA-per-SM attention block, whose o_proj follows), so
  // they copy their first kStages steps early. They take contiguous runs of row groups,
  // about kStages + 1 steps more each than the later CTAs, which stride over the rest
  // (launch_gemv sizes the runs). Every row group is still reduced by one CTA in one order:
  // the same bits as the plain split.
  int early_ctas = 0;
};
cudaError_t launch_gemv(const GemvParams& p, cudaStream_t stream);

// ---- small-M GEMM on tensor cores (mma_gemv_kernels.cu) ----

// out_s = x @ w_s^T for m = 1..kMmaGemvMaxM rows (batched decode steps): the weights are
// streamed once, as in the GEMV, and multiplied on the tensor cores (mma.sync m16n8k16,
// fp32 accumulation; the weight rows are the mma M dimension, the tokens N, padded to 8,
// 16, 32 or 64). A tile is 128 weight rows over a range of K (split-K: `splits` ranges per
// tile, each CTA's fp32 partial to `partials`, summed in a fixed order by the last CTA of
// the tile, so results do not depend on timing). Segments as in GemvParams (q/k/v,
// gate/up as one launch, no weight layout change). Epilogues:
// - plain: out_s bf16 or fp32;
// - residual (one segment, bf16): out = bf16(acc) (stored where out is set) and
//   residual += out (bf16), the add of the next add + norm;
// - act (two segments of equal rows: gate, up; tiles pair 64 gate and 64 up rows): act =
//   bf16(silu(bf16 gate) * bf16 up), the outputs left unwritten.
// x: [m, k] bf16, k % 8 == 0, 16-byte aligned; weights 16-byte aligned.
constexpr int kMmaGemvMaxM = 64;
struct MmaGemvParams {
  const void* x;
  int m;
  int64_t k;
  bool out_f32;
  int num_segments;
  GemvSegment seg[kGemvMaxSegments];
  void* residual = nullptr;
  void* act = nullptr;
  // m = 17..64 on a Hopper (sm_90a) device: the wgmma variant of the kernel (same tiles,
  // splits and epilogues; mma_wgmma_available()).
  bool wgmma = false;
  // From mma_gemv_plan; partials and counters are needed when splits > 1.
  int splits = 1;
  float* partials = nullptr;  // plan.partial_floats
  int* counters = nullptr;    // plan.tiles int32, zero before the first launch; left zero
};
struct MmaGemvPlan {
  int tiles = 0;
  int splits = 1;
  int ctas = 0;
  size_t partial_floats = 0;
};
// The tiling and K split for p's shape on the current device (occupancy x SMs CTAs);
// max_splits caps the split (1: no partials). Invalid shapes give tiles = 0.
MmaGemvPlan mma_gemv_plan(const MmaGemvParams& p, int max_splits = 32);
cudaError_t launch_mma_gemv(const MmaGemvParams& p, const MmaGemvPlan& plan, cudaStream_t stream);
// Whether the current device runs the wgmma variant (SM 9.0, binary with sm_90a code).
bool mma_wgmma_available();

// ---- greedy pick and log-probabilities (sample_kernels.cu) ----

// For each row of fp32 logits ([rows, vocab]): the argmax (highest logit, lowest id on
// ties; NaN never wins; -1 when every logit is -inf or NaN), the log-softmax of it, and
// the `top` best (id, log-softmax) pairs (higher logit first, lower id on ties, NaN
// ranked as -inf), top <= kGreedyMaxTop. Results: kGreedyResultInts int32 per row:
// [id, logprob bits, top, (id, logprob bits) x kGreedyMaxTop].
constexpr int kGreedyMaxTop = 32;
constexpr int kGreedyResultInts = 3 + 2 * kGreedyMaxTop;
// Scratch bytes launch_greedy needs for `rows` rows of `vocab`.
size_t greedy_scratch_bytes(int rows, int vocab, int top);
// lse (optional, [rows]): each row's log-sum-exp of the logits (the sampling kernels' logprob).
cudaError_t launch_greedy(const float* logits, int rows, int vocab, int top, void* scratch,
                          int32_t* results, cudaStream_t stream, float* lse = nullptr);

// ---- general sampling (sampling_kernels.cu) ----

// sample_row (sampling/row_sampler.h) for every row of `logits` ([rows, vocab] fp32, vocab <=
// sample_math::kMaxVocab), after launch_greedy has filled `results` (the top list) and
// sample_scratch_lse (the raw log-sum-exp) from the same, still raw, logits: writes each row's
// pick to results[row * kGreedyResultInts + 0] (-1: nothing can be picked) and its raw
// log-softmax to + 1. The penalties are applied to `logits` in place (raw values of penalty
// tokens saved to penalty_raw). Everything the rows say is read on the device, so a step
// graph records this once per (rows, vocab). Host-validated: penalty tokens inside the
// vocabulary and strictly increasing per row, mask rows and penalty ranges in bounds.
struct SampleArgs {
  float* logits;
  int rows;
  int vocab;
  const SampleRow* sample_rows;   // [rows]
  const uint32_t* masks;          // [mask rows, meta[0]]
  const int32_t* meta;            // [0]: mask_words
  const int32_t* penalty_tokens;  // SampleBatch::penalty_tokens
  const int32_t* penalty_counts;
  float* penalty_raw;             // same length: the raw logits of the penalty tokens
  int32_t* results;               // [rows, kGreedyResultInts]
  void* scratch;                  // sample_scratch_bytes(rows, vocab), zeroed once
  // No sampled row (SampleBatch::greedy_only()): skip the top-k / top-p / draw kernels, whose
  // launches cost ~20 us each at 256 rows even when every CTA exits at once.
  bool greedy_only = false;
};
size_t sample_scratch_bytes(int rows, int vocab);
// Where, inside the scratch, launch_greedy must write its lse for launch_sample.
float* sample_scratch_lse(void* scratch, int rows, int vocab);
cudaError_t launch_sample(const SampleArgs& args, cudaStream_t stream);

}  // namespace hearth::cuda
