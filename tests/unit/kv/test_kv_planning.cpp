#include <gtest/gtest.h>

#include "hearth/core/error.h"
#include "hearth/kv/kv_planning.h"

using namespace hearth;

namespace {

// Qwen3-8B's KV shape: 36 layers, 8 KV heads of 128, bf16.
KvLayout qwen3_8b() { return {36, 8, 128, 2, 16}; }

constexpr uint64_t kGiB = 1ull << 30;

}  // namespace

TEST(KvPlanning, BytesPerTokenAndBlock) {
  const KvLayout l = qwen3_8b();
  EXPECT_EQ(l.bytes_per_token(), 2ull * 36 * 8 * 128 * 2);  // 147,456 bytes: K and V
  EXPECT_EQ(l.bytes_per_block(), l.bytes_per_token() * 16);
}

TEST(KvPlanning, MemoryLeftAfterWeightsActivationsAndGraphsBecomesBlocks) {
  const KvLayout l = qwen3_8b();
  MemoryUse use;
  use.budget = 120 * kGiB;
  use.weights = 16 * kGiB;
  use.activations = 3 * kGiB;
  use.graph_pools = kGiB / 2;
  use.other = kGiB / 2;
  const KvPlan p = plan_kv_from_memory(use, l, 40960);
  const uint64_t left = use.budget - use.weights - use.activations - use.graph_pools - use.other;
  EXPECT_EQ(static_cast<uint64_t>(p.num_blocks), left / l.bytes_per_block());
  EXPECT_EQ(p.tokens, static_cast<int64_t>(p.num_blocks) * 16);
  EXPECT_EQ(p.bytes, static_cast<uint64_t>(p.num_blocks) * l.bytes_per_block());
  EXPECT_LE(p.bytes, left);
  EXPECT_GT(p.bytes + l.bytes_per_block(), left);  // whole blocks, none wasted
  EXPECT_EQ(p.full_context_seqs, p.num_blocks / (40960 / 16));
}

TEST(KvPlanning, TokenBudgetRoundsDownToWholeBlocks) {
  const KvPlan p = plan_kv_from_tokens(1000, qwen3_8b(), 512);
  EXPECT_EQ(p.num_blocks, 62);  // 1000 / 16
  EXPECT_EQ(p.tokens, 992);
  EXPECT_EQ(p.full_context_seqs, 1);  // 512 tokens = 32 blocks
  EXPECT_EQ(plan_kv_from_tokens(1024, qwen3_8b(), 512).full_context_seqs, 2);
  // A context that is not a whole number of blocks needs the partial block too.
  EXPECT_EQ(plan_kv_from_blocks(33, qwen3_8b(), 513).full_context_seqs, 1);
  EXPECT_THROW(plan_kv_from_blocks(32, qwen3_8b(), 513), Error);
}

TEST(KvPlanning, RefusesWhenOneFullContextSequenceDoesNotFit) {
  MemoryUse use;
  use.budget = 20 * kGiB;
  use.weights = 16 * kGiB;
  use.activations = 3 * kGiB;
  // 1 GiB left; 40,960 tokens need 5.6 GiB.
  try {
    plan_kv_from_memory(use, qwen3_8b(), 40960);
    FAIL() << "no error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("--max-model-len"), std::string::npos) << msg;
    EXPECT_NE(msg.find("weights 16.00 GiB"), std::string::npos) << msg;
  }
  use.weights = 30 * kGiB;
  EXPECT_THROW(plan_kv_from_memory(use, qwen3_8b(), 4096), Error);  // nothing left at all
  EXPECT_NO_THROW(plan_kv_from_memory({20 * kGiB, 16 * kGiB, 3 * kGiB, 0, 0}, qwen3_8b(), 4096));
  EXPECT_THROW(plan_kv_from_tokens(0, qwen3_8b(), 16), Error);
  EXPECT_THROW(plan_kv_from_tokens(100, KvLayout{0, 8, 128, 2, 16}, 16), Error);
}

TEST(KvPlanning, StartUpLineGivesCapacityAndConcurrency) {
  const KvPlan p = plan_kv_from_blocks(2048, qwen3_8b(), 4096);
  const std::string line = describe(p);
  EXPECT_NE(line.find("2,048 blocks x 16 tokens = 32,768 tokens"), std::string::npos) << line;
  EXPECT_NE(line.find("(4.50 GiB)"), std::string::npos) << line;  // 32768 * 147456 bytes
  EXPECT_NE(line.find("8 concurrent sequences at full context (4,096 tokens)"), std::string::npos) << line;
}
