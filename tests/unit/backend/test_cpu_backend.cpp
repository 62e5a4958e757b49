// Memory, batches, weights and data movement of the CPU backend.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <vector>

#include "cpu_test_util.h"
#include "hearth/backend/cpu/cpu_backend.h"
#include "hearth/core/error.h"

namespace hearth {
namespace {

using testing::DeviceTensor;
using testing::make_weight;
using testing::random_floats;

TEST(CpuBackend, ReportsNameAndActivationType) {
  auto backend = make_cpu_backend(2);
  EXPECT_EQ(backend->name(), "cpu");
  EXPECT_EQ(backend->activation_dtype(), DType::F32);
  EXPECT_EQ(CpuBackend(3).threads(), 3);
}

TEST(CpuBackend, AllocIsAlignedZeroedAndFreedOnce) {
  auto backend = make_cpu_backend(1);
  TensorView t = backend->alloc(DType::BF16, {3, 5});
  ASSERT_NE(t.data, nullptr);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(t.data) % 64, 0u);
  EXPECT_EQ(t.dtype, DType::BF16);
  EXPECT_EQ(t.shape, (Shape{3, 5}));
  for (int i = 0; i < 15; ++i) EXPECT_EQ(t.as<uint16_t>()[i], 0);
  TensorView copy = t;
  backend->free(t);
  EXPECT_EQ(t.data, nullptr);
  EXPECT_THROW(backend->free(copy), Error);  // double free is caught
  TensorView empty = backend->alloc(DType::F32, {0, 4});
  EXPECT_NE(empty.data, nullptr);
  backend->free(empty);
}

TEST(CpuBackend, UploadBatchCopiesAndValidates) {
  auto backend = make_cpu_backend(1);
  StepBatch b = testing::positions_batch({4, 9});
  b.token_ids = {11, 12};
  b.logits_rows = {1};
  auto db = backend->upload_batch(b);
  b.token_ids[0] = 99;
  b.positions[1] = 0;
  EXPECT_EQ(db->host().token_ids, (std::vector<int32_t>{11, 12}));
  EXPECT_EQ(db->host().positions, (std::vector<int32_t>{4, 9}));
  EXPECT_EQ(db->host().logits_rows, (std::vector<int32_t>{1}));

  StepBatch bad = testing::positions_batch({0, 1});
  bad.positions.pop_back();
  EXPECT_THROW(backend->upload_batch(bad), Error);
  bad = testing::positions_batch({0, 1});
  bad.query_start = {0, 2, 1};
  EXPECT_THROW(backend->upload_batch(bad), Error);
  bad = testing::positions_batch({0, 1});
  bad.context_lens = {0, 1};  // shorter than its new tokens
  EXPECT_THROW(backend->upload_batch(bad), Error);
  bad = testing::positions_batch({0, 1});
  bad.logits_rows = {2};
  EXPECT_THROW(backend->upload_batch(bad), Error);
  bad = testing::positions_batch({0, 1});
  bad.max_blocks_per_seq = 2;  // block_tables should then hold 4 entries
  EXPECT_THROW(backend->upload_batch(bad), Error);
}

TEST(CpuBackend, UploadWeightsReturnsSameViewsAndChecksTypes) {
  auto backend = make_cpu_backend(1);
  auto emb = make_weight({10, 4}, DType::BF16, 1);
  auto norm = make_weight({4}, DType::F32, 2);
  auto proj = make_weight({4, 4}, DType::F16, 3);
  ModelWeights host;
  host.embed_tokens = emb.w;
  host.lm_head = emb.w;
  host.norm = norm.w;
  LayerWeights l;
  l.input_layernorm = l.post_attention_layernorm = l.q_norm = l.k_norm = norm.w;
  l.q_proj = l.k_proj = l.v_proj = l.o_proj = l.gate_proj = l.up_proj = l.down_proj = proj.w;
  host.layers = {l, l};
  const ModelWeights dev = backend->upload_weights(host);
  EXPECT_EQ(dev.embed_tokens.t.data, emb.w.t.data);
  EXPECT_EQ(dev.lm_head.t.data, emb.w.t.data);
  ASSERT_EQ(dev.layers.size(), 2u);
  EXPECT_EQ(dev.layers[1].down_proj.t.data, proj.w.t.data);

  ModelWeights bad = host;
  bad.layers[1].k_proj.t.dtype = DType::I32;
  EXPECT_THROW(backend->upload_weights(bad), Error);
  bad = host;
  bad.norm = proj.w;  // 2-D where a vector is expected
  EXPECT_THROW(backend->upload_weights(bad), Error);
}

TEST(CpuBackend, GatherRowsPicksLogitsRowsInOrder) {
  auto backend = make_cpu_backend(1);
  const int tokens = 5, hidden = 6;
  const auto x = random_floats(tokens * hidden, 1);
  StepBatch b = testing::positions_batch({0, 1, 2, 3, 4});
  b.logits_rows = {4, 0, 2};
  auto db = backend->upload_batch(b);
  DeviceTensor dx(*backend, {tokens, hidden}, x), out(*backend, {3, hidden});
  backend->gather_rows(dx.view(), *db, out.view());
  const auto got = out.host();
  for (int r = 0; r < 3; ++r)
    for (int i = 0; i < hidden; ++i)
      ASSERT_EQ(got[r * hidden + i], x[b.logits_rows[r] * hidden + i]);
  DeviceTensor wrong(*backend, {2, hidden});
  EXPECT_THROW(backend->gather_rows(dx.view(), *db, wrong.view()), Error);
}

TEST(CpuBackend, ToHostConvertsHalfTypes) {
  auto backend = make_cpu_backend(1);
  for (DType dt : {DType::BF16, DType::F16}) {
    auto w = make_weight({3, 7}, dt, 5);
    std::vector<float> got(21);
    backend->to_host_f32(w.w.t, got.data());
    EXPECT_EQ(got, w.values) << dtype_name(dt);
  }
  TensorView ints = backend->alloc(DType::I32, {4});
  std::vector<float> dst(4);
  EXPECT_THROW(backend->to_host_f32(ints, dst.data()), Error);
  backend->free(ints);
}

TEST(CpuBackend, OpsRejectNonF32Activations) {
  auto backend = make_cpu_backend(1);
  auto w = make_weight({8}, DType::F32, 1);
  TensorView half = backend->alloc(DType::BF16, {2, 8});
  DeviceTensor out(*backend, {2, 8});
  EXPECT_THROW(backend->rms_norm(half, w.w, 1e-6f, out.view()), Error);
  EXPECT_THROW(backend->swiglu(half, out.view(), out.view()), Error);
  backend->free(half);
  DeviceTensor wrong_width(*backend, {2, 7});
  EXPECT_THROW(backend->rms_norm(wrong_width.view(), w.w, 1e-6f, out.view()), Error);
}

}  // namespace
}  // namespace hearth
