#include <gtest/gtest.h>

#include "engine_test_util.h"
#include "hearth/core/error.h"
#include "sim.h"
#include "throughput_bench.h"

using namespace hearth;
using namespace hearth::testing;

TEST(ThroughputBench, PercentilesInterpolateLikeNumpy) {
  EXPECT_DOUBLE_EQ(bench::percentile({4, 1, 3, 2}, 50), 2.5);
  std::vector<double> v;
  for (int i = 1; i <= 100; ++i) v.push_back(i);
  EXPECT_NEAR(bench::percentile(v, 99), 99.01, 1e-9);
  EXPECT_DOUBLE_EQ(bench::percentile(v, 0), 1);
  EXPECT_DOUBLE_EQ(bench::percentile(v, 100), 100);
  EXPECT_DOUBLE_EQ(bench::percentile({}, 50), 0);
}

TEST(ThroughputBench, PromptsShareExactlyThePrefix) {
  bench::ThroughputSpec spec;
  spec.requests = 3;
  spec.input_len = 40;
  spec.shared_prefix_len = 32;
  const auto p = bench::make_prompts(spec, 300);
  ASSERT_EQ(p.size(), 3u);
  for (const auto& x : p) EXPECT_EQ(x.size(), 40u);
  EXPECT_TRUE(std::equal(p[0].begin(), p[0].begin() + 32, p[1].begin()));
  EXPECT_NE(std::vector<int32_t>(p[0].begin() + 32, p[0].end()), std::vector<int32_t>(p[1].begin() + 32, p[1].end()));
  spec.shared_prefix_len = 41;
  EXPECT_THROW(spec.validate(300, 512), Error);
}

TEST(ThroughputBench, ReportsTokensLatenciesAndPrefixHits) {
  TempDir dir;
  auto ckpt = tiny_checkpoint(dir);
  auto backend = make_cpu_backend(1);
  EngineOptions o;
  o.max_model_len = 128;
  o.max_num_seqs = 4;
  o.max_num_batched_tokens = 32;
  AsyncEngine engine(*ckpt, *backend, o);
  bench::ThroughputSpec spec;
  spec.requests = 6;
  spec.input_len = 40;
  spec.output_len = 5;
  spec.concurrency = 2;
  spec.shared_prefix_len = 32;
  const bench::ThroughputReport r = bench::run_throughput(engine, spec, 300);
  EXPECT_EQ(r.failed_requests, 0);
  EXPECT_EQ(r.output_tokens, 30u);
  EXPECT_EQ(r.prompt_tokens, 240u);
  EXPECT_GT(r.output_tok_s, 0);
  EXPECT_GE(r.ttft_p99_ms, r.ttft_p50_ms);
  EXPECT_GE(r.tpot_p99_ms, r.tpot_p50_ms);
  EXPECT_GT(r.itl_p50_ms, 0);
  EXPECT_GE(r.itl_p99_ms, r.itl_p50_ms);
  // 5 of 6 requests find the 2 prefix blocks: 160 of 240 tokens.
  EXPECT_NEAR(r.prefix_cache_hit_rate, 160.0 / 240.0, 1e-9);
  const auto j = r.to_json();
  EXPECT_EQ(j.at("output_tokens"), 30);
  // Host time per step by phase: every step launches, picks and ends once.
  const auto& h = j.at("host_ms_per_step");
  EXPECT_EQ(h.at("step").at("steps"), r.steps);
  EXPECT_EQ(h.at("launch").at("steps"), r.steps);
  EXPECT_EQ(h.at("pick").at("steps"), r.steps);
  EXPECT_EQ(h.at("mask_wait").at("steps"), 0);  // unconstrained
  EXPECT_GE(h.at("step").at("p99").get<double>(), h.at("step").at("p50").get<double>());
  EXPECT_GT(h.at("step").at("mean").get<double>(), 0.0);
  EXPECT_TRUE(j.contains("mask_threads"));
  EXPECT_TRUE(j.at("ttft_ms").contains("p99"));
  EXPECT_TRUE(j.at("tpot_ms").contains("p50"));
  EXPECT_TRUE(j.at("itl_ms").contains("p99"));
}

TEST(ThroughputBench, PhaseTimesPercentilesAndDifferences) {
  PhaseTimes t;
  EXPECT_EQ(t.percentile_ms(99), 0.0);
  for (int i = 0; i < 98; ++i) t.add(0.5);
  t.add(2.0);
  t.add(10.0);
  EXPECT_EQ(t.count, 100u);
  EXPECT_NEAR(t.mean_ms(), (98 * 0.5 + 12.0) / 100, 1e-12);
  EXPECT_EQ(t.max_ms, 10.0);
  // Buckets are 10 % wide: a percentile is the upper edge of its sample's bucket.
  EXPECT_GE(t.percentile_ms(50), 0.5);
  EXPECT_LE(t.percentile_ms(50), 0.55);
  EXPECT_GE(t.percentile_ms(99), 2.0);
  EXPECT_LE(t.percentile_ms(99), 2.2);
  EXPECT_EQ(t.percentile_ms(100), 10.0);  // never past the largest sample
  PhaseTimes later = t;
  later.add(4.0);
  later.add(0.0);
  const PhaseTimes d = later.since(t);
  EXPECT_EQ(d.count, 2u);
  EXPECT_NEAR(d.sum_ms, 4.0, 1e-12);
  EXPECT_GE(d.percentile_ms(100), 4.0);
  EXPECT_LE(d.percentile_ms(100), 4.4);
  EXPECT_LE(d.percentile_ms(50), 0.001);  // the 0 ms sample
  t.add(1e6);  // past the last bucket's edge: counted there
  EXPECT_EQ(t.percentile_ms(100), 1e6);
}
