// The whole MaskBench dev set (real-world schemas with labeled instances): among the schemas
// hearth compiles, no invalid instance is accepted and at most 1 % of valid ones are
// rejected; at least 85 % of the schemas compile.
#include <gtest/gtest.h>

#include <filesystem>

#include "grammar_test_util.h"
#include "hearth/grammar/maskbench.h"

namespace hearth::grammar::test {
namespace {

TEST(GrammarMaskBench, DevSet) {
  const std::string path = shared_dir() + "/jsonschema/maskbench-dev.jsonl.gz";
  if (!std::filesystem::exists(path)) GTEST_SKIP() << "no " << path << " (set HEARTH_SHARED_DIR)";
  std::vector<MaskBenchCase> cases = load_maskbench(path);
  ASSERT_EQ(cases.size(), 5695u);
  MaskBenchOptions opts;
  MaskBenchReport r = run_maskbench(cases, opts);
  const double compiled_pct = 100.0 * static_cast<double>(r.compiled) / static_cast<double>(r.schemas);
  const double valid_rejected_pct =
      100.0 * static_cast<double>(r.valid - r.valid_accepted) / static_cast<double>(r.valid);
  std::printf("maskbench: compiled %.2f%%, valid accepted %zu/%zu, invalid rejected %zu/%zu\n", compiled_pct,
              r.valid_accepted, r.valid, r.invalid_rejected, r.invalid);
  EXPECT_EQ(r.invalid - r.invalid_rejected, 0u) << "invalid instances accepted, e.g. "
                                                << (r.invalid_accepted_ids.empty() ? "" : r.invalid_accepted_ids[0]);
  EXPECT_LE(valid_rejected_pct, 1.0);
  EXPECT_GE(compiled_pct, 85.0);
  EXPECT_GT(r.invalid, 10000u);  // the labels were read: the data set has ~11k invalid instances
}

}  // namespace
}  // namespace hearth::grammar::test
