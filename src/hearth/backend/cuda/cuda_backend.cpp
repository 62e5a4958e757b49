// The CUDA backend's memory side: device selection, allocation under the budget, weight
// upload, the paged KV cache, step-batch upload and copies to the host. The ops are in
// cuda_ops.cpp.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <unordered_map>

#include "hearth/backend/cuda/cuda_backend_impl.h"
#include "hearth/backend/cuda/cuda_check.h"
#include "hearth/backend/cuda/kernels.h"
#include "hearth/core/error.h"

namespace hearth {

namespace cuda {

namespace {

bool env_flag(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr && v[0] != '\0' && std::strcmp(v, "0") != 0;
}

}  // namespace

CudaBackend::CudaBackend(const CudaBackendOptions& options)
    : device_(options.device), debug_sync_(options.debug_sync || env_flag("HEARTH_CUDA_SYNC")) {
  int count = 0;
  HEARTH_CUDA_CHECK(cudaGetDeviceCount(&count));
  if (device_ < 0 || device_ >= count)
    fail("CUDA device {} does not exist ({} device(s) found)", device_, count);
  HEARTH_CUDA_CHECK(cudaSetDevice(device_));
  cudaDeviceProp prop{};
  HEARTH_CUDA_CHECK(cudaGetDeviceProperties(&prop, device_));
  if (prop.major < 8)
    fail("CUDA device {} ({}) has compute capability {}.{}; hearth needs 8.0 or newer (bf16 "
         "tensor cores)", device_, prop.name, prop.major, prop.minor);
  multiprocessors_ = prop.multiProcessorCount;
  // Programmatic dependent launch needs sm_90; HEARTH_CUDA_PDL=0 turns it off (A/B timing).
  const char* pdl = std::getenv("HEARTH_CUDA_PDL");
  set_programmatic_launch(prop.major >= 9 && (pdl == nullptr || std::strcmp(pdl, "0") != 0));
  const char* gemv = std::getenv("HEARTH_CUDA_GEMV");
  HEARTH_CHECK(options.gemv_max_rows >= 0 && options.gemv_max_rows <= kGemvMaxM,
               "gemv_max_rows {} outside [0, {}]", options.gemv_max_rows, kGemvMaxM);
  gemv_max_rows_ = (gemv != nullptr && std::strcmp(gemv, "0") == 0) ? 0 : options.gemv_max_rows;
  fuse_swiglu_ = options.fuse_swiglu || env_flag("HEARTH_CUDA_FUSE_SWIGLU");
  const char* fuse = std::getenv("HEARTH_CUDA_FUSE");
  fuse_decode_ = options.fuse_decode && (fuse == nullptr || std::strcmp(fuse, "0") != 0);
  const char* stack = std::getenv("HEARTH_CUDA_STACK");
  decode_stack_ = stack != nullptr ? std::strcmp(stack, "0") != 0 : options.decode_stack;
  stack_profile_ = env_flag("HEARTH_CUDA_STACK_PROFILE");
  const char* fuse_qkv = std::getenv("HEARTH_CUDA_FUSE_QKV");
  fuse_adjacent_ = options.fuse_adjacent_weights && (fuse_qkv == nullptr || std::strcmp(fuse_qkv, "0") != 0);
  const char* fuse_gate_up = std::getenv("HEARTH_CUDA_FUSE_GATE_UP");
  fuse_gate_up_ = fuse_gate_up != nullptr ? std::strcmp(fuse_gate_up, "0") != 0 : options.fuse_gate_up;
  // A/B of the GEMV grid: CTAs per SM of the persistent grid (0: one CTA per row group).
  if (const char* ctas = std::getenv("HEARTH_CUDA_GEMV_CTAS_PER_SM"))
    gemv_ctas_per_sm_ = std::clamp(std::atoi(ctas), 0, 2);
  HEARTH_CHECK(options.gemv_pre_stages == 0 || options.gemv_pre_stages == 2 ||
                   options.gemv_pre_stages == 3,
               "gemv_pre_stages {} is not 0, 2 or 3", options.gemv_pre_stages);
  gemv_pre_stages_ = options.gemv_pre_stages;
  if (const char* pre = std::getenv("HEARTH_CUDA_GEMV_PRE_STAGES"))
    gemv_pre_stages_ = std::clamp(std::atoi(pre), 2, 3);
  // The tensor-core decode kernel fits 2 CTAs per SM (104 KB of K/V stages each), the
  // SIMT one 3 (registers): splits fill one wave of either.
  if (decode_mma_enabled()) decode_ctas_per_sm_ = decode_mma_ctas_per_sm();  // 2 or 3 by variant
  HEARTH_CHECK(options.mma_max_rows >= 0 && options.mma_max_rows <= kMmaGemvMaxM &&
                   options.mma_max_splits >= 1,
               "mma_max_rows {} outside [0, {}] or mma_max_splits {} < 1", options.mma_max_rows,
               kMmaGemvMaxM, options.mma_max_splits);
  const char* mma = std::getenv("HEARTH_CUDA_MMA");
  // The variable overrides the option, except an option of 0 (a backend made to be without
  // it, as the benchmark's cuBLASLt reference).
  mma_max_rows_ = mma != nullptr && options.mma_max_rows > 0 ? std::clamp(std::atoi(mma), 0, kMmaGemvMaxM)
                                                             : options.mma_max_rows;
  mma_max_splits_ = options.mma_max_splits;
  const char* wgmma = std::getenv("HEARTH_CUDA_WGMMA");
  mma_wgmma_ = wgmma != nullptr ? std::strcmp(wgmma, "0") != 0 : options.mma_wgmma;
  if (const char* rows = std::getenv("HEARTH_CUDA_MMA_MIN_ROWS"))
    mma_min_rows_ = std::clamp(std::atoi(rows), 1, kMmaGemvMaxM);
  if (const char* splits = std::getenv("HEARTH_CUDA_MMA_SPLITS"))
    mma_max_splits_ = std::clamp(std::atoi(splits), 1, 64);
  const char* early = std::getenv("HEARTH_CUDA_GEMV_EARLY");
  gemv_early_split_ = early != nullptr ? std::strcmp(early, "0") != 0 : options.gemv_early_split;
  if (const char* ctas = std::getenv("HEARTH_CUDA_DECODE_CTAS_PER_SM")) {
    decode_ctas_per_sm_ = std::clamp(std::atoi(ctas), 1, 8);
    decode_ctas_forced_ = true;
  }
  size_t free_bytes = 0, total_bytes = 0;
  HEARTH_CUDA_CHECK(cudaMemGetInfo(&free_bytes, &total_bytes));
  size_t budget = options.memory_budget_bytes == 0 ? free_bytes : options.memory_budget_bytes;
  if (budget > free_bytes)
    fail("CUDA memory budget of {:.2f} GiB exceeds the {:.2f} GiB free on device {} ({})",
         static_cast<double>(budget) / (1ull << 30), static_cast<double>(free_bytes) / (1ull << 30),
         device_, prop.name);
  memory_ = std::make_unique<DeviceMemory>(budget);
  HEARTH_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
  HEARTH_CUDA_CHECK(cudaEventCreateWithFlags(&upload_done_, cudaEventDisableTiming));
  HEARTH_CUDA_CHECK(cudaEventCreateWithFlags(&greedy_done_, cudaEventDisableTiming));
  gemm_ = std::make_unique<Gemm>(*memory_, stream_);
  if (const char* tune = std::getenv("HEARTH_CUDA_GEMM_TUNE"))
    gemm_->set_tune_max_rows(std::clamp(std::atoi(tune), 0, 1 << 20));
}

CudaBackend::~CudaBackend() {
  // Errors are ignored here: a destructor must not throw, and the device is being let go.
  if (capturing_) {
    cudaGraph_t g = nullptr;
    cudaStreamEndCapture(stream_, &g);
    if (g != nullptr) cudaGraphDestroy(g);
  }
  if (stream_ != nullptr) cudaStreamSynchronize(stream_);
  print_stack_profile();
  for (auto& [key, exec] : graphs_) cudaGraphExecDestroy(exec);
  graphs_.clear();
  fixed_batches_.clear();
  gemm_.reset();
  if (pinned_ != nullptr) cudaFreeHost(pinned_);
  if (greedy_host_ != nullptr) cudaFreeHost(greedy_host_);
  if (upload_done_ != nullptr) cudaEventDestroy(upload_done_);
  if (greedy_done_ != nullptr) cudaEventDestroy(greedy_done_);
  memory_.reset();  // frees weights, KV cache, scratch and every live tensor
  if (stream_ != nullptr) cudaStreamDestroy(stream_);
}

TensorView CudaBackend::alloc(DType dtype, const Shape& shape) {
  TensorView t;
  t.dtype = dtype;
  t.shape = shape;
  HEARTH_CHECK(shape.numel() >= 0, "negative tensor shape {}", shape.str());
  t.data = memory_->allocate(t.nbytes(), "a " + shape.str() + " tensor");
  // Zeroed like the CPU backend's tensors, so both backends agree on untouched memory.
  HEARTH_CUDA_CHECK(cudaMemsetAsync(t.data, 0, std::max<size_t>(t.nbytes(), 1), stream_));
  return t;
}

void CudaBackend::free(TensorView& t) {
  if (t.data == nullptr) return;
  HEARTH_CHECK(memory_->owns(t.data), "free of memory that this backend did not allocate (or "
               "already freed), shape {}", t.shape.str());
  memory_->release(t.data);
  t.data = nullptr;
}

bool CudaBackend::grow_step_buffer(void*& buf, size_t& bytes, size_t need, const char* what) {
  if (need <= bytes) return false;
  // Recorded graphs hold the old address. A recording sizes its buffers in its eager run
  // first, so growth during one is a bug.
  HEARTH_CHECK(!capturing_, "{} grew while a step graph was being recorded", what);
  drop_graphs();
  if (buf != nullptr) memory_->release(buf);  // stream-ordered reuse is safe
  buf = nullptr;
  bytes = 0;
  buf = memory_->allocate(need, what);
  bytes = need;
  return true;
}

void* CudaBackend::scratch(size_t bytes) {
  grow_step_buffer(scratch_, scratch_bytes_, bytes, "attention scratch");
  return scratch_;
}

// ---- weights ----

void CudaBackend::check_uploadable(const Weight& w) const {
  HEARTH_CHECK(w.format == WeightFormat::Dense, "weight '{}': only dense weights are supported "
               "on CUDA so far", w.name);
  HEARTH_CHECK(w.t.dtype == DType::F32 || w.t.dtype == DType::F16 || w.t.dtype == DType::BF16,
               "weight '{}' has dtype {}; expected F32, F16 or BF16", w.name,
               dtype_name(w.t.dtype));
}

Weight CudaBackend::upload_weight_to(const Weight& w, void* dst) {
  check_uploadable(w);
  Weight d = w;
  d.t.dtype = DType::BF16;
  d.t.data = dst;
  const int64_t n = w.t.numel();
  if (w.t.dtype == DType::BF16) {
    HEARTH_CUDA_CHECK(cudaMemcpyAsync(d.t.data, w.t.data, d.t.nbytes(), cudaMemcpyHostToDevice,
                                      stream_));
  } else {
    // All device weights are bf16, so that every kernel and GEMM has one input type. F32
    // and F16 are converted on the device, chunk by chunk through a staging buffer.
    constexpr int64_t kChunk = 16 << 20;  // elements per staging round
    const size_t elem = dtype_size(w.t.dtype);
    const int64_t chunk = std::min<int64_t>(n, kChunk);
    void* staging = memory_->allocate(static_cast<size_t>(chunk) * elem, "weight staging");
    for (int64_t i = 0; i < n; i += chunk) {
      const int64_t c = std::min(chunk, n - i);
      HEARTH_CUDA_CHECK(cudaMemcpyAsync(staging, static_cast<const char*>(w.t.data) + i * elem,
                                        c * elem, cudaMemcpyHostToDevice, stream_));
      void* out = static_cast<uint16_t*>(d.t.data) + i;
      if (w.t.dtype == DType::F32)
        HEARTH_CUDA_CHECK(launch_f32_to_bf16(static_cast<const float*>(staging), c, out, stream_));
      else
        HEARTH_CUDA_CHECK(launch_f16_to_bf16(staging, c, out, stream_));
    }
    memory_->release(staging);
  }
  return d;
}

Weight CudaBackend::upload_weight(const Weight& w) {
  if (w.t.data == nullptr) return w;  // absent (e.g. a partial weight set): stays absent
  check_uploadable(w);
  Weight b = w;
  b.t.dtype = DType::BF16;
  void* block = memory_->allocate(b.t.nbytes(), "weight '" + w.name + "'");
  weight_blocks_.push_back(block);
  return upload_weight_to(w, block);
}

std::vector<Weight> CudaBackend::upload_adjacent(std::span<const Weight* const> ws) {
  // One allocation with each matrix's rows right after the previous one's, when the
  // matrices share their input size: then [w0; w1; ...] is one row-major matrix, and
  // linear_multi can run one GEMM over it (CudaBackend::linear_multi). Offsets are rounded
  // up to 16 bytes (the GEMMs' alignment); a bf16 matrix of rows of 8k elements needs no
  // gap, and one with a gap is only not fused.
  std::vector<Weight> out;
  bool together = !ws.empty();
  for (const Weight* w : ws)
    together = together && w->t.data != nullptr && w->t.shape.ndim == 2 &&
               w->t.shape[1] == ws[0]->t.shape[1] && w->format == WeightFormat::Dense;
  if (!together) {
    for (const Weight* w : ws) out.push_back(upload_weight(*w));
    return out;
  }
  std::vector<size_t> offsets;
  size_t total = 0;
  for (const Weight* w : ws) {
    check_uploadable(*w);
    offsets.push_back(total);
    total += (static_cast<size_t>(w->t.numel()) * sizeof(uint16_t) + 15) & ~size_t{15};
  }
  std::string names;
  for (const Weight* w : ws) names += (names.empty() ? "" : ", ") + w->name;
  void* block = memory_->allocate(total, "weights '" + names + "'");
  weight_blocks_.push_back(block);
  for (size_t i = 0; i < ws.size(); ++i)
    out.push_back(upload_weight_to(*ws[i], static_cast<char*>(block) + offsets[i]));
  return out;
}

ModelWeights CudaBackend::upload_weights(const ModelWeights& host) {
  // Tied embeddings: lm_head is the same host view as embed_tokens; upload it once.
  std::unordered_map<const void*, Weight> done;
  auto up = [&](const Weight& w) {
    if (w.t.data == nullptr) return w;
    if (auto it = done.find(w.t.data); it != done.end() && it->second.t.shape == w.t.shape) {
      Weight same = it->second;
      same.name = w.name;
      return same;
    }
    Weight d = upload_weight(w);
    done.emplace(w.t.data, d);
    return d;
  };
  ModelWeights out;
  out.embed_tokens = up(host.embed_tokens);
  out.layers.reserve(host.layers.size());
  for (const LayerWeights& l : host.layers) {
    LayerWeights d;
    d.input_layernorm = up(l.input_layernorm);
    // q|k|v adjacent: batched steps past the small-M GEMM's rows run them as one GEMM.
    const Weight* qkv[] = {&l.q_proj, &l.k_proj, &l.v_proj};
    std::vector<Weight> qkv_up = upload_adjacent(qkv);
    d.q_proj = qkv_up[0];
    d.k_proj = qkv_up[1];
    d.v_proj = qkv_up[2];
    d.o_proj = up(l.o_proj);
    d.q_norm = up(l.q_norm);
    d.k_norm = up(l.k_norm);
    d.post_attention_layernorm = up(l.post_attention_layernorm);
    // gate|up adjacent too: one GEMM whose [gate | up] rows SwiGLU reads (gate_up_swiglu).
    if (fuse_gate_up_) {
      const Weight* gate_up[] = {&l.gate_proj, &l.up_proj};
      std::vector<Weight> gate_up_dev = upload_adjacent(gate_up);
      d.gate_proj = gate_up_dev[0];
      d.up_proj = gate_up_dev[1];
    } else {
      d.gate_proj = up(l.gate_proj);
      d.up_proj = up(l.up_proj);
    }
    d.down_proj = up(l.down_proj);
    out.layers.push_back(std::move(d));
  }
  out.norm = up(host.norm);
  out.lm_head = up(host.lm_head);
  synchronize();  // the host memory may go away once this returns
  return out;
}

// ---- KV cache ----

void CudaBackend::init_kv_cache(const KvCacheSpec& requested) {
  // HEARTH_CUDA_KV_FP8=1 turns a bf16 cache spec into fp8 (scales 1): a measurement knob
  // until the CLI's --kv-cache-dtype reaches KvCacheSpec::cache_dtype (the block count
  // stays what was planned for bf16, so the cache takes half the memory planned).
  KvCacheSpec spec = requested;
  if (const char* fp8 = std::getenv("HEARTH_CUDA_KV_FP8");
      fp8 != nullptr && std::strcmp(fp8, "1") == 0 && (spec.head_dim == 64 || spec.head_dim == 128))
    spec.cache_dtype = KvCacheDtype::Fp8E4M3;
  HEARTH_CHECK(spec.dtype == DType::BF16, "the CUDA KV cache is bf16 (or fp8 with dtype BF16 "
               "and cache_dtype fp8), got {}", dtype_name(spec.dtype));
  if (spec.fp8()) {
    // Only the tensor-core kernels (decode and prefill) read an fp8 cache.
    HEARTH_CHECK(spec.head_dim == 64 || spec.head_dim == 128,
                 "the CUDA fp8 KV cache needs head_dim 64 or 128, got {}", spec.head_dim);
    HEARTH_CHECK(std::isfinite(spec.k_scale) && spec.k_scale > 0.0f &&
                     std::isfinite(spec.v_scale) && spec.v_scale > 0.0f,
                 "fp8 KV cache scales must be positive and finite, got k {} v {}", spec.k_scale,
                 spec.v_scale);
  }
  HEARTH_CHECK(spec.num_layers > 0 && spec.num_blocks > 0 && spec.block_size > 0 &&
                   spec.num_kv_heads > 0 && spec.head_dim > 0,
               "invalid KV cache spec (layers {}, blocks {}, block size {}, kv heads {}, "
               "head dim {})",
               spec.num_layers, spec.num_blocks, spec.block_size, spec.num_kv_heads,
               spec.head_dim);
  HEARTH_CHECK(spec.head_dim % 8 == 0 && spec.head_dim <= kDecodeMaxHeadDim,
               "the CUDA attention kernels need head_dim a multiple of 8 and at most {}, got {}",
               kDecodeMaxHeadDim, spec.head_dim);
  HEARTH_CHECK(static_cast<int64_t>(spec.num_blocks) * spec.block_size < (1ll << 31),
               "KV cache of {} blocks x {} slots exceeds the int32 slot range", spec.num_blocks,
               spec.block_size);
  HEARTH_CHECK(!capturing_, "init_kv_cache while a step graph is being recorded");
  drop_graphs();
  fixed_batches_.clear();
  if (kv_base_ != nullptr) {
    memory_->release(kv_base_);
    kv_base_ = nullptr;
    kv_spec_ = {};
  }
  const size_t bytes = spec.bytes_per_layer() * spec.num_layers;
  kv_base_ = memory_->allocate(bytes, "the KV cache");
  HEARTH_CUDA_CHECK(cudaMemsetAsync(kv_base_, 0, bytes, stream_));
  kv_spec_ = spec;
}

// ---- batches ----

void CudaBackend::pack_batch(const StepBatch& b, CudaDeviceBatch& db,
                             std::vector<int32_t>& packed, std::vector<size_t>& offsets) {
  b.validate();
  const int tokens = b.num_tokens();
  const int seqs = b.num_seqs();

  std::vector<int32_t> token_seq(tokens);
  std::vector<std::pair<int, int>> tiles;  // (sequence, first row)
  std::vector<int> tile_work;              // cache positions the tile reads
  db.max_q_len = 0;
  db.max_context = 0;
  for (int s = 0; s < seqs; ++s) {
    const int begin = b.query_start[s], end = b.query_start[s + 1];
    const int q_len = end - begin;
    for (int t = begin; t < end; ++t) token_seq[t] = s;
    for (int row = 0; row < q_len; row += kPrefillTileRows) {
      tiles.emplace_back(s, row);
      tile_work.push_back(b.context_lens[s] - q_len + std::min(row + kPrefillTileRows, q_len));
    }
    db.max_q_len = std::max(db.max_q_len, q_len);
    db.max_context = std::max(db.max_context, b.context_lens[s]);
  }
  // Heaviest tiles first: the long causal rows start early and the short ones fill the
  // tail of the grid.
  std::vector<int> order(tiles.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int>(i);
  std::stable_sort(order.begin(), order.end(),
                   [&](int a, int c) { return tile_work[a] > tile_work[c]; });
  db.num_prefill_tiles = static_cast<int>(tiles.size());

  // One packed int32 buffer; the pointers index into it.
  packed.clear();
  offsets.clear();
  packed.reserve(4 * static_cast<size_t>(tokens) + 2 * seqs + 1 + b.block_tables.size() +
                 b.logits_rows.size() + 2 * tiles.size());
  auto append = [&](const std::vector<int32_t>& v) {
    offsets.push_back(packed.size());
    packed.insert(packed.end(), v.begin(), v.end());
  };
  append(b.token_ids);
  append(b.positions);
  append(b.slot_mapping);
  append(b.query_start);
  append(b.context_lens);
  append(b.block_tables);
  append(b.logits_rows);
  append(token_seq);
  offsets.push_back(packed.size());
  for (int i : order) {
    packed.push_back(tiles[i].first);
    packed.push_back(tiles[i].second);
  }
}

void CudaBackend::copy_packed(CudaDeviceBatch& db, const std::vector<int32_t>& packed,
                              const std::vector<size_t>& offsets) {
  const size_t bytes = std::max<size_t>(packed.size(), 1) * sizeof(int32_t);
  // The previous upload must have left the staging buffer before it is overwritten.
  HEARTH_CUDA_CHECK(cudaEventSynchronize(upload_done_));
  if (pinned_bytes_ < bytes) {
    if (pinned_ != nullptr) HEARTH_CUDA_CHECK(cudaFreeHost(pinned_));
    pinned_ = nullptr;
    pinned_bytes_ = 0;
    const size_t grow = std::max<size_t>(bytes, 1 << 16);
    HEARTH_CUDA_CHECK(cudaMallocHost(&pinned_, grow));
    pinned_bytes_ = grow;
  }
  std::memcpy(pinned_, packed.data(), packed.size() * sizeof(int32_t));
  HEARTH_CUDA_CHECK(cudaMemcpyAsync(db.buffer, pinned_, packed.size() * sizeof(int32_t),
                                    cudaMemcpyHostToDevice, stream_));
  HEARTH_CUDA_CHECK(cudaEventRecord(upload_done_, stream_));

  const int32_t* base = db.buffer;
  db.token_ids = base + offsets[0];
  db.positions = base + offsets[1];
  db.slot_mapping = base + offsets[2];
  db.query_start = base + offsets[3];
  db.context_lens = base + offsets[4];
  db.block_tables = base + offsets[5];
  db.logits_rows = base + offsets[6];
  db.token_seq = base + offsets[7];
  db.prefill_tiles = base + offsets[8];
}

std::unique_ptr<DeviceBatch> CudaBackend::upload_batch(const StepBatch& b) {
  HEARTH_CHECK(!capturing_, "upload_batch while a step graph is being recorded");
  auto db = std::make_unique<CudaDeviceBatch>(b, *memory_);
  std::vector<int32_t> packed;
  std::vector<size_t> offsets;
  pack_batch(b, *db, packed, offsets);
  const size_t bytes = std::max<size_t>(packed.size(), 1) * sizeof(int32_t);
  db->buffer = static_cast<int32_t*>(memory_->allocate(bytes, "a step batch"));
  copy_packed(*db, packed, offsets);
  op_done("upload_batch");
  return db;
}

const CudaDeviceBatch& CudaBackend::device_batch(const DeviceBatch& batch) const {
  const auto* b = dynamic_cast<const CudaDeviceBatch*>(&batch);
  HEARTH_CHECK(b != nullptr, "a step batch from another backend was passed to the CUDA backend");
  HEARTH_CHECK(&b->memory_ == memory_.get(), "a step batch from another CUDA backend was passed");
  return *b;
}

// ---- host copies ----

void CudaBackend::copy_from_host(TensorView dst, const void* src) {
  HEARTH_CHECK(dst.data != nullptr || dst.nbytes() == 0, "copy_from_host into an empty tensor");
  if (dst.nbytes() == 0) return;
  HEARTH_CUDA_CHECK(
      cudaMemcpyAsync(dst.data, src, dst.nbytes(), cudaMemcpyHostToDevice, stream_));
  HEARTH_CUDA_CHECK(cudaStreamSynchronize(stream_));
}

void CudaBackend::to_host_f32(TensorView x, float* dst) {
  HEARTH_CHECK(x.dtype == DType::F32 || x.dtype == DType::F16 || x.dtype == DType::BF16,
               "to_host_f32 of a {} tensor", dtype_name(x.dtype));
  const int64_t n = x.numel();
  if (n == 0) return;
  HEARTH_CHECK(x.data != nullptr, "to_host_f32 of a tensor without data");
  if (x.dtype == DType::F32) {
    HEARTH_CUDA_CHECK(cudaMemcpyAsync(dst, x.data, n * sizeof(float), cudaMemcpyDeviceToHost,
                                      stream_));
  } else if (x.dtype == DType::BF16) {
    // Widen on the device: half the bytes cross the bus one way, none of the host's time.
    void* tmp = memory_->allocate(n * sizeof(float), "to_host_f32 staging");
    const cudaError_t e = launch_bf16_to_f32(x.data, n, static_cast<float*>(tmp), stream_);
    if (e == cudaSuccess) {
      const cudaError_t c =
          cudaMemcpyAsync(dst, tmp, n * sizeof(float), cudaMemcpyDeviceToHost, stream_);
      const cudaError_t s = cudaStreamSynchronize(stream_);
      memory_->release(tmp);
      HEARTH_CUDA_CHECK(c);
      HEARTH_CUDA_CHECK(s);
    } else {
      memory_->release(tmp);
      HEARTH_CUDA_CHECK(e);
    }
  } else {
    std::vector<uint16_t> h(n);
    HEARTH_CUDA_CHECK(cudaMemcpyAsync(h.data(), x.data, n * sizeof(uint16_t),
                                      cudaMemcpyDeviceToHost, stream_));
    HEARTH_CUDA_CHECK(cudaStreamSynchronize(stream_));
    for (int64_t i = 0; i < n; ++i) dst[i] = f16_to_f32(h[i]);
  }
  HEARTH_CUDA_CHECK(cudaStreamSynchronize(stream_));
}

void CudaBackend::synchronize() { HEARTH_CUDA_CHECK(cudaStreamSynchronize(stream_)); }

void CudaBackend::op_done(const char* op) {
  if (!debug_sync_) return;
  const cudaError_t e = cudaStreamSynchronize(stream_);
  if (e != cudaSuccess) fail("CUDA error in op {}: {} ({})", op, cudaGetErrorString(e), cudaGetErrorName(e));
}

size_t CudaBackend::peak_memory_bytes() const { return memory_->peak_reserved(); }

// A large device-to-device copy timed with events: the ceiling that decode (a stream over
// the weights and the KV cache) is measured against. Bytes read plus bytes written.
double CudaBackend::measure_copy_bandwidth_gbps() {
  size_t bytes = 1ull << 30;  // 2 x 1 GiB: well past the L2 (50 MB on the H200)
  void* src = nullptr;
  void* dst = nullptr;
  while (bytes >= (64ull << 20)) {
    try {
      src = memory_->allocate(bytes, "the bandwidth probe");
      dst = memory_->allocate(bytes, "the bandwidth probe");
      break;
    } catch (const Error&) {
      if (src != nullptr) memory_->release(src);
      src = nullptr;
      bytes /= 2;  // under a tight budget, a smaller probe (still several times the L2)
    }
  }
  if (src == nullptr) return 0.0;
  cudaEvent_t start = nullptr, stop = nullptr;
  float ms = 0.0f;
  constexpr int kReps = 10;
  auto run = [&]() -> cudaError_t {
    cudaError_t e = cudaMemsetAsync(src, 1, bytes, stream_);
    if (e == cudaSuccess) e = cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, stream_);
    if (e == cudaSuccess) e = cudaEventCreate(&start);
    if (e == cudaSuccess) e = cudaEventCreate(&stop);
    if (e == cudaSuccess) e = cudaEventRecord(start, stream_);
    for (int i = 0; i < kReps && e == cudaSuccess; ++i)
      e = cudaMemcpyAsync(i % 2 ? src : dst, i % 2 ? dst : src, bytes, cudaMemcpyDeviceToDevice,
                          stream_);
    if (e == cudaSuccess) e = cudaEventRecord(stop, stream_);
    if (e == cudaSuccess) e = cudaEventSynchronize(stop);
    if (e == cudaSuccess) e = cudaEventElapsedTime(&ms, start, stop);
    return e;
  };
  const cudaError_t e = run();
  if (start != nullptr) cudaEventDestroy(start);
  if (stop != nullptr) cudaEventDestroy(stop);
  memory_->release(src);
  memory_->release(dst);
  HEARTH_CUDA_CHECK(e);
  return ms > 0.0f ? 2.0 * static_cast<double>(bytes) * kReps / (ms * 1e-3) / 1e9 : 0.0;
}

CudaMemoryStats CudaBackend::memory_stats() const {
  CudaMemoryStats s;
  s.budget = memory_->budget();
  s.in_use = memory_->in_use();
  s.reserved = memory_->reserved();
  s.peak_in_use = memory_->peak_in_use();
  return s;
}

}  // namespace cuda

// ---- public factory and helpers ----

bool cuda_wgmma_gemm_available() { return cuda::mma_wgmma_available(); }

bool cuda_device_available() {
  int count = 0;
  const cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess) {
    cudaGetLastError();  // no driver / no device: not an error for this question
    return false;
  }
  return count > 0;
}

CudaDeviceInfo cuda_device_info(int device) {
  int count = 0;
  HEARTH_CUDA_CHECK(cudaGetDeviceCount(&count));
  if (device < 0 || device >= count)
    fail("CUDA device {} does not exist ({} device(s) found)", device, count);
  cudaDeviceProp prop{};
  HEARTH_CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
  CudaDeviceInfo info;
  info.name = prop.name;
  info.compute_major = prop.major;
  info.compute_minor = prop.minor;
  info.multiprocessors = prop.multiProcessorCount;
  int current = 0;
  HEARTH_CUDA_CHECK(cudaGetDevice(&current));
  HEARTH_CUDA_CHECK(cudaSetDevice(device));
  const cudaError_t e = cudaMemGetInfo(&info.free_bytes, &info.total_bytes);
  HEARTH_CUDA_CHECK(cudaSetDevice(current));
  HEARTH_CUDA_CHECK(e);
  return info;
}

std::unique_ptr<Backend> make_cuda_backend(const CudaBackendOptions& options) {
  return std::make_unique<cuda::CudaBackend>(options);
}

namespace {

cuda::CudaBackend& as_cuda(Backend& b) {
  auto* c = dynamic_cast<cuda::CudaBackend*>(&b);
  HEARTH_CHECK(c != nullptr, "backend '{}' is not the CUDA backend", b.name());
  return *c;
}

}  // namespace

void cuda_copy_from_host(Backend& backend, TensorView dst, const void* src) {
  as_cuda(backend).copy_from_host(dst, src);
}

CudaMemoryStats cuda_memory_stats(const Backend& backend) {
  return as_cuda(const_cast<Backend&>(backend)).memory_stats();
}

int64_t cuda_decode_stack_calls(const Backend& backend) {
  return as_cuda(const_cast<Backend&>(backend)).decode_stack_calls();
}

}  // namespace hearth
