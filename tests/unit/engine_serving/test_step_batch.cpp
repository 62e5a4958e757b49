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
