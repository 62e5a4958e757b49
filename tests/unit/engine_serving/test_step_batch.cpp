#include <gtest/gtest.h>

#include "hearth/engine/model_runner.h"
#include "sim.h"

using namespace hearth;
using hearth::testing::prompt_tokens;

TEST(StepBatch, SlotsComeFromEachSequencesBlockTable) {
  SamplingParams p;
  Sequence a(0, 0, prompt_tokens(6), p), b(1, 1, prompt_tokens(3, 1), p);
  a.kv.blocks = {7, 2};  // block size 4: positions 0-3 in block 7, 4-7 in block 2
  a.num_computed = 2;
  b.kv.blocks = {5};
  ScheduledBatch batch;
  batch.seqs.push_back({&a, 2, 4, true});    // positions 2..5: the end of a's prompt
  batch.seqs.push_back({&b, 0, 2, false});   // a chunk of b's prompt
  batch.num_tokens = 6;
  const StepBatch s = make_step_batch(batch, 4, 3);
  EXPECT_EQ(s.token_ids, (std::vector<int32_t>{a.tokens()[2], a.tokens()[3], a.tokens()[4], a.tokens()[5], b.tokens()[0], b.tokens()[1]}));
  EXPECT_EQ(s.positions, (std::vector<int32_t>{2, 3, 4, 5, 0, 1}));
  EXPECT_EQ(s.slot_mapping, (std::vector<int32_t>{7 * 4 + 2, 7 * 4 + 3, 2 * 4 + 0, 2 * 4 + 1, 5 * 4 + 0, 5 * 4 + 1}));
  EXPECT_EQ(s.query_start, (std::vector<int32_t>{0, 4, 6}));
  EXPECT_EQ(s.context_lens, (std::vector<int32_t>{6, 2}));
  EXPECT_EQ(s.max_blocks_per_seq, 3);
  EXPECT_EQ(s.block_tables, (std::vector<int32_t>{7, 2, -1, 5, -1, -1}));
  EXPECT_EQ(s.logits_rows, (std::vector<int32_t>{3}));  // only a's last token
}

TEST(StepBatch, RejectsATableThatDoesNotCoverTheFeed) {
  SamplingParams p;
  Sequence a(0, 0, prompt_tokens(6), p);
  a.kv.blocks = {1};
  ScheduledBatch batch;
  batch.seqs.push_back({&a, 0, 6, true});
  batch.num_tokens = 6;
  EXPECT_THROW(make_step_batch(batch, 4, 2), Error);
}

TEST(StepBatch, PaddingSequencesWriteNothingAndReadBlockZero) {
  SamplingParams p;
  Sequence a(0, 0, prompt_tokens(5), p), b(1, 1, prompt_tokens(9, 1), p);
  a.kv.blocks = {3, 4};
  a.num_computed = 4;
  b.kv.blocks = {6, 1, 2};
  b.num_computed = 8;
  ScheduledBatch batch;
  batch.seqs.push_back({&a, 4, 1, true});
  batch.seqs.push_back({&b, 8, 1, true});
  batch.num_tokens = 2;
  const StepBatch s = make_step_batch(batch, 4, 4, 4);  // two decodes padded to a bucket of 4
  EXPECT_EQ(s.num_seqs(), 4);
  EXPECT_EQ(s.token_ids, (std::vector<int32_t>{a.tokens()[4], b.tokens()[8], 0, 0}));
  EXPECT_EQ(s.positions, (std::vector<int32_t>{4, 8, 0, 0}));
  EXPECT_EQ(s.slot_mapping, (std::vector<int32_t>{4 * 4 + 0, 2 * 4 + 0, -1, -1}));
  EXPECT_EQ(s.query_start, (std::vector<int32_t>{0, 1, 2, 3, 4}));
  EXPECT_EQ(s.context_lens, (std::vector<int32_t>{5, 9, 1, 1}));
  EXPECT_EQ(s.block_tables, (std::vector<int32_t>{3, 4, -1, -1, 6, 1, 2, -1, 0, -1, -1, -1, 0, -1, -1, -1}));
  EXPECT_EQ(s.logits_rows, (std::vector<int32_t>{0, 1, 2, 3}));
  s.validate();
  // Only pure decode steps are padded.
  batch.seqs[0].num_tokens = 2;
  batch.seqs[0].start = 3;
  batch.num_tokens = 3;
  EXPECT_THROW(make_step_batch(batch, 4, 4, 4), Error);
}

TEST(StepBatch, DecodeBucketsGrowByAtMostHalfAndStopAtTheSequenceLimit) {
  const std::vector<int> want = {1, 2, 4, 4, 8, 8, 8, 8, 16};
  for (int n = 1; n <= 9; ++n) EXPECT_EQ(decode_bucket(n, 64), want[static_cast<size_t>(n - 1)]) << n;
  EXPECT_EQ(decode_bucket(17, 64), 24);
  EXPECT_EQ(decode_bucket(25, 64), 32);
  EXPECT_EQ(decode_bucket(33, 64), 48);
  EXPECT_EQ(decode_bucket(49, 64), 64);
  EXPECT_EQ(decode_bucket(64, 64), 64);
  EXPECT_EQ(decode_bucket(65, 256), 96);
  EXPECT_EQ(decode_bucket(97, 256), 128);
  EXPECT_EQ(decode_bucket(50, 60), 60);  // capped at max_num_seqs
  for (int n = 1; n <= 300; ++n) {
    const int b = decode_bucket(n, 300);
    EXPECT_GE(b, n);
    EXPECT_LE(b, std::max(16, n + n / 2 + 1)) << n;
  }
  EXPECT_THROW(decode_bucket(0, 8), Error);
  EXPECT_THROW(decode_bucket(9, 8), Error);
}
