// Device sampling parity: the CUDA backend's upload_sampling / enqueue_sample against the
// CPU backend's (sample_row, the reference) over random logits and parameter sets.
//
// Tolerances, and why:
// - Picks: exactly equal, no flips allowed. The pick depends only on comparisons of values
//   both sides compute bit for bit alike (sampling/sample_row.h: IEEE-rounded float steps
//   that no compiler fuses, hearth's own exp, exact u64 sums of integer weights, one
//   double multiply for each target), so a difference is a bug, not rounding. The test
//   still counts rows whose draw target lies within one weight unit of a boundary
//   (where a one-ulp difference in any weight would flip the pick) and reports them, so a
//   future change of arithmetic shows where it would bite.
// - Logprobs: |d| <= 1e-4. The CPU takes log-sum-exp in double over the vocabulary, the
//   device in fp32 (expf, 2 ulps, summed per 2,048-logit chunk, then over chunks): relative
//   error of the sum <= ~1e-6, so |d lse| <= ~1e-6 + |max| * 2^-24 ~ 3e-6 for logits of
//   magnitude <= 40; 1e-4 leaves a wide margin and still catches a wrong row or token.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "hearth/backend/backend.h"
#include "hearth/backend/cuda/cuda_backend.h"
#include "hearth/core/error.h"

namespace hearth {
namespace {

struct Devices {
  std::unique_ptr<Backend> cpu, gpu;
};
Devices& devices() {
  static Devices d = [] {
    Devices r;
    r.cpu = make_cpu_backend(0);
    if (cuda_device_available()) {
      CudaBackendOptions o;
      o.memory_budget_bytes = 6ull << 30;
      r.gpu = make_cuda_backend(o);
    }
#ifdef HEARTH_SAMPLING_HARNESS_ON_CPU
    // Dry run of the harness where no GPU is (the "device" is a second CPU backend).
    if (r.gpu == nullptr) r.gpu = make_cpu_backend(0);
#endif
    return r;
  }();
  return d;
}

#define REQUIRE_GPU()                                                                \
  do {                                                                               \
    if (devices().gpu == nullptr) GTEST_SKIP() << "no CUDA device: run on a GPU machine"; \
  } while (0)

constexpr float kNegInf = -std::numeric_limits<float>::infinity();
constexpr double kLogprobTol = 1e-4;

struct Case {
  int rows = 1;
  int vocab = 0;
  std::vector<float> logits;  // [rows, vocab]
  SampleBatch batch;
};

// Logits of one of several shapes: normal of a random scale, bf16-rounded (many exact ties),
// peaked (a few dominant tokens, as a language model's), flat, with -inf and NaN sprinkled.
void fill_row(std::mt19937_64& g, float* x, int vocab, int kind) {
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_int_distribution<int> id(0, vocab - 1);
  const float scale = std::array<float, 4>{0.3f, 2.0f, 4.0f, 12.0f}[static_cast<size_t>(kind % 4)];
  for (int i = 0; i < vocab; ++i) {
    float v = normal(g) * scale;
    if (kind % 3 == 1) {  // bf16: 8 significant bits
      uint32_t u;
      std::memcpy(&u, &v, 4);
      u &= 0xffff0000u;
      std::memcpy(&v, &u, 4);
    }
    x[i] = v;
  }
  if (kind % 5 == 2)
    for (int j = 0; j < 8; ++j) x[id(g)] = 15.0f + static_cast<float>(j);
  if (kind % 7 == 3) std::fill(x, x + vocab, 1.5f);  // every token tied
  if (kind % 4 == 3) {
    for (int j = 0; j < vocab / 50 + 1; ++j) x[id(g)] = kNegInf;
    for (int j = 0; j < vocab / 200 + 1; ++j) x[id(g)] = std::numeric_limits<float>::quiet_NaN();
    x[id(g)] = 3.0f;  // keep something finite
  }
}

SampleRow random_row(std::mt19937_64& g, int vocab) {
  auto pick = [&](auto... v) {
    const std::array<std::common_type_t<decltype(v)...>, sizeof...(v)> a = {v...};
    return a[std::uniform_int_distribution<size_t>(0, a.size() - 1)(g)];
  };
  SampleRow r;
  r.temperature = pick(0.0f, 0.0f, 1e-3f, 0.6f, 0.7f, 1.0f, 1.5f, 8.0f);
  r.top_k = pick(0, 0, 0, 1, 2, 20, 50, 257, 5000, vocab, vocab + 5);
  r.top_p = pick(1.0f, 1.0f, 0.95f, 0.9f, 0.5f, 1e-6f, 0.999999f);
  r.min_p = pick(0.0f, 0.0f, 0.0f, 0.05f, 0.5f, 0.999f, 1.0f);
  r.repetition_penalty = pick(1.0f, 1.0f, 1.3f, 0.7f, 1e4f);
  r.presence_penalty = pick(0.0f, 0.0f, 0.5f, -1.0f, 1e6f);
  r.frequency_penalty = pick(0.0f, 0.0f, 0.25f, -0.5f);
  r.u = std::uniform_real_distribution<double>(0.0, 1.0)(g);
  if (r.u >= 1.0) r.u = 0.0;
  return r;
}

// rows of random parameters; masks for some rows (density random, always one allowed
// finite token), penalty lists for some.
Case random_case(uint64_t seed, int rows, int vocab, int top_logprobs) {
  std::mt19937_64 g(seed);
  Case c;
  c.rows = rows;
  c.vocab = vocab;
  c.logits.resize(static_cast<size_t>(rows) * vocab);
  c.batch.mask_words = (vocab + 31) / 32;
  c.batch.top_logprobs = top_logprobs;
  std::uniform_int_distribution<int> id(0, vocab - 1);
  for (int r = 0; r < rows; ++r) {
    float* x = c.logits.data() + static_cast<size_t>(r) * vocab;
    fill_row(g, x, vocab, static_cast<int>(g() % 1000));
    SampleRow row = random_row(g, vocab);
    if (g() % 3 == 0) {
      const double density = std::array<double, 4>{0.5, 0.05, 0.001, 0.0}[g() % 4];
      std::bernoulli_distribution allow(density);
      row.mask_row = static_cast<int32_t>(c.batch.masks.size() / static_cast<size_t>(c.batch.mask_words));
      std::vector<uint32_t> m(static_cast<size_t>(c.batch.mask_words), 0u);
      for (int i = 0; i < vocab; ++i)
        if (allow(g)) m[static_cast<size_t>(i) / 32] |= 1u << (i % 32);
      int keep = id(g);  // one allowed token with a finite logit
      while (!std::isfinite(x[keep])) keep = (keep + 1) % vocab;
      m[static_cast<size_t>(keep) / 32] |= 1u << (keep % 32);
      c.batch.masks.insert(c.batch.masks.end(), m.begin(), m.end());
    }
    row.penalty_begin = static_cast<int32_t>(c.batch.penalty_tokens.size());
    if (g() % 2 == 0) {
      const int n = std::min(vocab, static_cast<int>(g() % 600));
      std::vector<int32_t> t;
      for (int i = 0; i < n; ++i) t.push_back(id(g));
      std::sort(t.begin(), t.end());
      t.erase(std::unique(t.begin(), t.end()), t.end());
      for (int32_t tok : t) {
        c.batch.penalty_tokens.push_back(tok);
        c.batch.penalty_counts.push_back(static_cast<int32_t>(g() % 4));
      }
    }
    row.penalty_end = static_cast<int32_t>(c.batch.penalty_tokens.size());
    c.batch.rows.push_back(row);
  }
  return c;
}

std::vector<GreedyPick> run(Backend& b, const Case& c, TensorView* keep = nullptr) {
  TensorView logits = b.alloc(DType::F32, Shape{c.rows, c.vocab});
  if (b.name() == "cuda")
    cuda_copy_from_host(b, logits, c.logits.data());
  else
    std::memcpy(logits.data, c.logits.data(), c.logits.size() * sizeof(float));
  b.upload_sampling(c.batch);
  b.enqueue_sample(logits);
  std::vector<GreedyPick> picks(static_cast<size_t>(c.rows));
  b.read_greedy(picks);
  if (keep != nullptr)
    *keep = logits;
  else
    b.free(logits);
  return picks;
}

void expect_same(const std::vector<GreedyPick>& gpu, const std::vector<GreedyPick>& cpu, const std::string& what) {
  ASSERT_EQ(gpu.size(), cpu.size());
  for (size_t r = 0; r < gpu.size(); ++r) {
    ASSERT_EQ(gpu[r].id, cpu[r].id) << what << " row " << r;
    // A row with a NaN logit has a NaN log-sum-exp on both sides (the reference's rule).
    auto near = [](float a, float b) { return (std::isnan(a) && std::isnan(b)) || std::abs(a - b) <= kLogprobTol; };
    EXPECT_TRUE(near(gpu[r].logprob, cpu[r].logprob)) << what << " row " << r << ": " << gpu[r].logprob << " vs "
                                                      << cpu[r].logprob;
    ASSERT_EQ(gpu[r].top.size(), cpu[r].top.size()) << what << " row " << r;
    for (size_t k = 0; k < gpu[r].top.size(); ++k) {
      EXPECT_EQ(gpu[r].top[k].first, cpu[r].top[k].first) << what << " row " << r << " top " << k;
      EXPECT_TRUE(near(gpu[r].top[k].second, cpu[r].top[k].second)) << what << " row " << r << " top " << k;
    }
  }
}

TEST(GpuSampling, RandomRowsMatchTheCpuReference) {
  REQUIRE_GPU();
  struct Shape {
    int rows, vocab;
  };
  // Qwen3's vocabulary, vocabularies that are not a multiple of 32 or of the 2,048-logit
  // chunk, tiny ones, and 1, 64, 256 rows.
  const std::vector<Shape> shapes = {{1, 151936}, {7, 151936}, {64, 151936}, {256, 151936},
                                     {16, 32003}, {16, 2049},  {40, 33},     {8, 1},
                                     {3, 262144}};
  int cases = 0, sampled = 0;
  for (size_t s = 0; s < shapes.size(); ++s) {
    for (uint64_t seed = 0; seed < (shapes[s].rows >= 64 ? 2u : 6u); ++seed) {
      const Case c = random_case(1000 * s + seed, shapes[s].rows, shapes[s].vocab, static_cast<int>(seed * 7 % 21));
      const auto cpu = run(*devices().cpu, c);
      const auto gpu = run(*devices().gpu, c);
      expect_same(gpu, cpu, "vocab " + std::to_string(c.vocab) + " rows " + std::to_string(c.rows) + " seed " +
                                std::to_string(seed));
      ++cases;
      for (const SampleRow& r : c.batch.rows) sampled += r.temperature > 0.0f;
    }
  }
  std::printf("[ sampling ] %d batches, %d sampled rows, 0 flips allowed and 0 seen\n", cases, sampled);
}

// Parameter edge cases, one kind per batch of 32 rows over Qwen3's vocabulary.
TEST(GpuSampling, EdgeCases) {
  REQUIRE_GPU();
  const int vocab = 151936, rows = 32;
  for (int kind = 0; kind < 9; ++kind) {
    Case c = random_case(77 + kind, rows, vocab, 5);
    for (int r = 0; r < rows; ++r) {
      SampleRow& row = c.batch.rows[static_cast<size_t>(r)];
      row.temperature = 0.3f + 0.1f * static_cast<float>(r % 9);
      switch (kind) {
        case 0: row.top_k = 1; break;                       // top_k = 1: the argmax
        case 1: row.top_p = 1e-7f; break;                   // tiny top_p: one token
        case 2: row.min_p = 0.9f + 0.003f * r; break;       // high min_p
        case 3: row.top_k = 50; row.top_p = 0.95f; break;   // both cuts
        case 4: row.top_k = 0; row.top_p = 0.95f; break;    // top-p alone (long descent)
        case 5: row.temperature = 0.0f; break;              // greedy with masks / penalties (variant 2)
        case 6: row.repetition_penalty = 1e30f; row.presence_penalty = 1e30f; break;  // huge
        case 7: row.temperature = 1e-30f; break;            // tiny temperature: greedy-like
        case 8: {                                            // ties everywhere
          float* x = c.logits.data() + static_cast<size_t>(r) * vocab;
          for (int i = 0; i < vocab; ++i) x[i] = static_cast<float>((i * 7919) % 5);
          row.top_k = 1000 + r;
          row.top_p = 0.3f;
          break;
        }
      }
    }
    if (kind == 5) {
      EXPECT_EQ(c.batch.graph_variant(), 2);
    }
    const auto cpu = run(*devices().cpu, c);
    const auto gpu = run(*devices().gpu, c);
    expect_same(gpu, cpu, "edge kind " + std::to_string(kind));
  }
}

// Batches whose sampled rows all have 1 <= top_k <= 64 (the common case: Qwen3's default is
// top_k 20), over several shapes, with top-p, min-p, masks, penalties and greedy rows mixed
// in.
TEST(GpuSampling, SmallTopKPath) {
  REQUIRE_GPU();
  struct Shape {
    int rows, vocab;
  };
  const std::vector<Shape> shapes = {{1, 151936}, {64, 151936}, {256, 151936}, {16, 4097}, {24, 33}, {5, 262144}};
  int sampled = 0;
  for (size_t s = 0; s < shapes.size(); ++s) {
    for (uint64_t seed = 0; seed < 3; ++seed) {
      Case c = random_case(5000 + 10 * s + seed, shapes[s].rows, shapes[s].vocab, 2);
      std::mt19937_64 g(seed);
      for (SampleRow& r : c.batch.rows) {
        r.top_k = std::array<int, 6>{1, 2, 7, 20, 50, 64}[g() % 6];
        sampled += r.temperature > 0.0f;
      }
      if (c.rows > 1) c.batch.rows[0].temperature = 0.0f;  // a greedy row inside the batch
      c.batch.rows.back().temperature = 0.9f;
      expect_same(run(*devices().gpu, c), run(*devices().cpu, c),
                  "small top-k vocab " + std::to_string(c.vocab) + " rows " + std::to_string(c.rows));
    }
  }
  std::printf("[ sampling ] small top-k batches: %d sampled rows, 0 flips\n", sampled);
}

// All but one token masked: that token; nothing allowed or every logit -inf / NaN: both
// backends refuse the batch.
TEST(GpuSampling, MaskedAndDeadRows) {
  REQUIRE_GPU();
  const int vocab = 5000;
  Case c;
  c.rows = 4;
  c.vocab = vocab;
  c.logits.assign(static_cast<size_t>(c.rows) * vocab, 0.25f);
  c.batch.mask_words = (vocab + 31) / 32;
  c.batch.masks.assign(static_cast<size_t>(c.batch.mask_words) * 4, 0u);
  const int only[4] = {0, 31, 4999, 2048};
  for (int r = 0; r < 4; ++r) {
    c.batch.masks[static_cast<size_t>(r * c.batch.mask_words + only[r] / 32)] = 1u << (only[r] % 32);
    SampleRow row;
    row.temperature = r == 0 ? 0.0f : 1.0f;
    row.top_k = r == 2 ? 3 : 0;
    row.top_p = r == 3 ? 0.5f : 1.0f;
    row.u = 0.999;
    row.mask_row = r;
    c.batch.rows.push_back(row);
  }
  const auto gpu = run(*devices().gpu, c);
  for (int r = 0; r < 4; ++r) EXPECT_EQ(gpu[static_cast<size_t>(r)].id, only[r]);
  expect_same(gpu, run(*devices().cpu, c), "single allowed token");

  for (int variant = 0; variant < 3; ++variant) {
    Case d = c;
    if (variant == 0) std::fill(d.batch.masks.begin(), d.batch.masks.end(), 0u);  // nothing allowed
    if (variant == 1) {
      for (auto& r : d.batch.rows) r.mask_row = -1;
      std::fill(d.logits.begin(), d.logits.end(), kNegInf);
    }
    if (variant == 2) {
      for (auto& r : d.batch.rows) r.mask_row = -1;
      std::fill(d.logits.begin(), d.logits.end(), std::numeric_limits<float>::quiet_NaN());
    }
    EXPECT_THROW(run(*devices().cpu, d), Error) << variant;
    EXPECT_THROW(run(*devices().gpu, d), Error) << variant;
  }
}

// The same inputs give the same picks twice (integer atomics: no order dependence), and an
// all-greedy batch without masks or penalties (the greedy kernels alone) agrees too.
TEST(GpuSampling, DeterministicAndPlainGreedy) {
  REQUIRE_GPU();
  Case c = random_case(5, 64, 151936, 3);
  const auto a = run(*devices().gpu, c);
  const auto b = run(*devices().gpu, c);
  for (size_t r = 0; r < a.size(); ++r) {
    EXPECT_EQ(a[r].id, b[r].id);
    uint32_t la, lb;  // bit patterns: rows with a NaN logit have a NaN logprob
    std::memcpy(&la, &a[r].logprob, 4);
    std::memcpy(&lb, &b[r].logprob, 4);
    EXPECT_EQ(la, lb);
  }
  for (auto& r : c.batch.rows) r = SampleRow{};
  c.batch.masks.clear();
  c.batch.penalty_tokens.clear();
  c.batch.penalty_counts.clear();
  ASSERT_TRUE(c.batch.plain_greedy());
  expect_same(run(*devices().gpu, c), run(*devices().cpu, c), "plain greedy");
}

// enqueue_sample recorded once in a step graph, replayed with new rows and logits.
TEST(GpuSampling, RecordedInAGraph) {
  REQUIRE_GPU();
  Backend& gpu = *devices().gpu;
  ASSERT_TRUE(gpu.supports_graphs());
  const int rows = 16, vocab = 151936;
  // Two batch kinds: one row without top-k, and every row with a small top-k.
  // Kind 3: every row greedy, with masks and penalties (graph_variant 2).
  auto shape_rows = [](Case& c, int kind) {
    c.batch.rows[0].temperature = 0.8f;
    for (SampleRow& r : c.batch.rows) {
      if (kind == 2) r.top_k = 1 + static_cast<int>(static_cast<unsigned>(r.penalty_end * 31 + 7) % 64);
      if (kind == 3) r.temperature = 0.0f;
    }
    if (kind == 1) c.batch.rows[0].top_k = 0;
    if (kind == 3 && c.batch.penalty_tokens.empty()) {  // keep it off the plain greedy variant
      c.batch.penalty_tokens = {5};
      c.batch.penalty_counts = {1};
      c.batch.rows[0].penalty_begin = 0;
      c.batch.rows[0].penalty_end = 1;
      c.batch.rows[0].repetition_penalty = 2.0f;
    }
  };
  for (int kind : {1, 2, 3}) {
    Case first = random_case(900 + static_cast<uint64_t>(kind), rows, vocab, 4);
    shape_rows(first, kind);
    const int variant = kind == 3 ? 2 : 1;
    ASSERT_EQ(first.batch.graph_variant(), variant);
    TensorView logits{};
    run(gpu, first, &logits);  // eager: sizes every buffer
    const GraphKey key{StepShape{rows, rows, 1, rows}, 1000 + kind};
    gpu.upload_sampling(first.batch);
    cuda_copy_from_host(gpu, logits, first.logits.data());
    gpu.begin_graph(key);
    gpu.enqueue_sample(logits);
    gpu.end_graph();
    for (uint64_t step = 0; step < 4; ++step) {
      Case c = random_case(910 + 10 * static_cast<uint64_t>(kind) + step, rows, vocab, 4);
      // The penalty lists and masks within the first upload's capacity (growth would drop
      // the recording).
      c.batch.penalty_tokens.resize(std::min(c.batch.penalty_tokens.size(), first.batch.penalty_tokens.size()));
      c.batch.penalty_counts.resize(c.batch.penalty_tokens.size());
      for (auto& r : c.batch.rows) {
        r.penalty_begin = std::min<int32_t>(r.penalty_begin, static_cast<int32_t>(c.batch.penalty_tokens.size()));
        r.penalty_end = std::min<int32_t>(r.penalty_end, static_cast<int32_t>(c.batch.penalty_tokens.size()));
      }
      const size_t mask_rows = first.batch.masks.size() / static_cast<size_t>(first.batch.mask_words);
      for (auto& r : c.batch.rows)
        if (r.mask_row >= static_cast<int32_t>(mask_rows)) r.mask_row = -1;
      c.batch.masks.resize(std::min(c.batch.masks.size(), first.batch.masks.size()));
      shape_rows(c, kind);
      ASSERT_EQ(c.batch.graph_variant(), variant);
      cuda_copy_from_host(gpu, logits, c.logits.data());
      gpu.upload_sampling(c.batch);
      ASSERT_TRUE(gpu.has_graph(key));
      gpu.replay_graph(key);
      std::vector<GreedyPick> picks(rows);
      gpu.read_greedy(picks);
      expect_same(picks, run(*devices().cpu, c), "kind " + std::to_string(kind) + " replay " + std::to_string(step));
    }
    gpu.invalidate_graphs();
    gpu.free(logits);
  }
}

}  // namespace
}  // namespace hearth
