// CUDA-side failures surface as hearth::Error with a clear message, never as wrong output:
// indices the kernels would trust are checked first, memory past the budget is refused
// with needed against available, and misuse of dtypes or devices is named.
#include <string>

#include "hearth/core/error.h"
#include "parity_util.h"

namespace hearth::gpu_test {
namespace {

template <typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "<no error>";
}

StepBatch tiny_batch(std::vector<int32_t> ids) {
  StepBatch b;
  const int n = static_cast<int>(ids.size());
  b.token_ids = std::move(ids);
  for (int i = 0; i < n; ++i) {
    b.positions.push_back(i);
    b.slot_mapping.push_back(i);
  }
  b.query_start = {0, n};
  b.context_lens = {n};
  b.max_blocks_per_seq = 1;
  b.block_tables = {0};
  return b;
}

TEST(GpuErrors, TokenIdOutsideVocabulary) {
  HEARTH_REQUIRE_GPU();
  Rng rng(21);
  WeightPair table = make_weight(random_values(100 * 16, rng), Shape{100, 16}, "embed_tokens");
  auto batch = backends().gpu->upload_batch(tiny_batch({3, 100}));
  TensorView out = backends().gpu->alloc(DType::BF16, Shape{2, 16});
  const std::string msg = error_of([&] { backends().gpu->embedding(table.gpu, *batch, out); });
  EXPECT_NE(msg.find("token id 100"), std::string::npos) << msg;
  EXPECT_NE(msg.find("embed_tokens"), std::string::npos) << msg;
  backends().gpu->free(out);
}

TEST(GpuErrors, BlockTableEntryOutsideCache) {
  HEARTH_REQUIRE_GPU();
  KvCacheSpec spec;
  spec.num_layers = 1;
  spec.num_blocks = 4;
  spec.block_size = 16;
  spec.num_kv_heads = 1;
  spec.head_dim = 64;
  spec.dtype = DType::BF16;
  Backend& gpu = *backends().gpu;
  gpu.init_kv_cache(spec);
  StepBatch b = tiny_batch({1, 2});
  b.block_tables = {7};  // the cache has blocks 0..3
  auto batch = gpu.upload_batch(b);
  TensorView q = gpu.alloc(DType::BF16, Shape{2, 1, 64});
  TensorView k = gpu.alloc(DType::BF16, Shape{2, 1, 64});
  TensorView v = gpu.alloc(DType::BF16, Shape{2, 1, 64});
  TensorView out = gpu.alloc(DType::BF16, Shape{2, 64});
  const std::string msg =
      error_of([&] { gpu.attention(0, q, k, v, 0.125f, *batch, out); });
  EXPECT_NE(msg.find("block table entry 0 = 7 outside [0, 4)"), std::string::npos) << msg;
  for (TensorView* t : {&q, &k, &v, &out}) gpu.free(*t);
}

TEST(GpuErrors, KvCacheMustBeBf16AndDtypesAreChecked) {
  HEARTH_REQUIRE_GPU();
  KvCacheSpec spec;
  spec.num_layers = 1;
  spec.num_blocks = 4;
  spec.block_size = 16;
  spec.num_kv_heads = 1;
  spec.head_dim = 64;
  spec.dtype = DType::F32;
  EXPECT_NE(error_of([&] { backends().gpu->init_kv_cache(spec); }).find("bf16"), std::string::npos);
  Rng rng(22);
  WeightPair w = make_weight(random_values(16, rng), Shape{16}, "norm");
  TensorView x = backends().gpu->alloc(DType::F32, Shape{2, 16});
  TensorView out = backends().gpu->alloc(DType::BF16, Shape{2, 16});
  const std::string msg = error_of([&] { backends().gpu->rms_norm(x, w.gpu, 1e-6f, out); });
  EXPECT_NE(msg.find("must be BF16"), std::string::npos) << msg;
  backends().gpu->free(x);
  backends().gpu->free(out);
}

TEST(GpuErrors, MemoryBudgetGivesNeededAndAvailable) {
  HEARTH_REQUIRE_GPU();
  CudaBackendOptions o;
  o.memory_budget_bytes = 64ull << 20;  // the cuBLASLt workspace takes 32 MiB of it
  auto small = make_cuda_backend(o);
  const std::string msg = error_of([&] { small->alloc(DType::BF16, Shape{64, 1024, 1024}); });
  EXPECT_NE(msg.find("CUDA memory budget exceeded"), std::string::npos) << msg;
  EXPECT_NE(msg.find("needs 128.0 MiB"), std::string::npos) << msg;
  // What fits still works after a refusal.
  TensorView t = small->alloc(DType::BF16, Shape{1024, 1024});
  EXPECT_NE(t.data, nullptr);
  small->free(t);
}

TEST(GpuErrors, UnknownDeviceAndForeignFree) {
  HEARTH_REQUIRE_GPU();
  CudaBackendOptions o;
  o.device = 99;
  EXPECT_NE(error_of([&] { make_cuda_backend(o); }).find("CUDA device 99 does not exist"),
            std::string::npos);
  TensorView bogus;
  bogus.data = &o;  // host memory the backend never allocated
  bogus.dtype = DType::BF16;
  bogus.shape = Shape{1};
  EXPECT_NE(error_of([&] { backends().gpu->free(bogus); }).find("did not allocate"),
            std::string::npos);
}

TEST(GpuErrors, DeviceInfoBandwidthAndPeakMemory) {
  HEARTH_REQUIRE_GPU();
  const CudaDeviceInfo info = cuda_device_info(0);
  EXPECT_FALSE(info.name.empty());
  EXPECT_GE(info.compute_major, 8);
  EXPECT_GT(info.total_bytes, info.free_bytes / 2);
  std::printf("[device] %s, sm_%d%d, %d SMs, %.1f GiB total, %.1f GiB free\n", info.name.c_str(),
              info.compute_major, info.compute_minor, info.multiprocessors,
              static_cast<double>(info.total_bytes) / (1ull << 30),
              static_cast<double>(info.free_bytes) / (1ull << 30));
  const double gbps = backends().gpu->measure_copy_bandwidth_gbps();
  EXPECT_GT(gbps, 50.0);  // any CUDA GPU copies faster than this; 0 means it failed
  EXPECT_GT(backends().gpu->peak_memory_bytes(), size_t{2} << 30);  // the 2 x 1 GiB probe
  std::printf("[device] device-to-device copy: %.0f GB/s (read + write)\n", gbps);
}

}  // namespace
}  // namespace hearth::gpu_test
