// Each CPU op against a naive double-precision computation on small random inputs.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "cpu_test_util.h"
#include "hearth/core/error.h"

namespace hearth {
namespace {

using testing::DeviceTensor;
using testing::make_weight;
using testing::random_floats;

const DType kWeightDtypes[] = {DType::F32, DType::BF16, DType::F16};

double ref_rms_scale(const float* x, int n, double eps) {
  double ss = 0;
  for (int i = 0; i < n; ++i) ss += static_cast<double>(x[i]) * x[i];
  return 1.0 / std::sqrt(ss / n + eps);
}

TEST(CpuOps, EmbeddingCopiesRowsExactly) {
  auto backend = make_cpu_backend(2);
  for (DType dt : kWeightDtypes) {
    const int vocab = 50, hidden = 12;
    auto table = make_weight({vocab, hidden}, dt, 1);
    StepBatch b = testing::positions_batch({0, 1, 2, 3});
    b.token_ids = {7, 0, 49, 7};
    auto db = backend->upload_batch(b);
    DeviceTensor out(*backend, {4, hidden});
    backend->embedding(table.w, *db, out.view());
    const auto got = out.host();
    for (int t = 0; t < 4; ++t)
      for (int i = 0; i < hidden; ++i)
        ASSERT_EQ(got[t * hidden + i], table.values[b.token_ids[t] * hidden + i])
            << dtype_name(dt) << " token " << t;
  }
}

TEST(CpuOps, EmbeddingRejectsOutOfRangeIdsNamingThem) {
  auto backend = make_cpu_backend(1);
  auto table = make_weight({50, 4}, DType::BF16, 1);
  table.w.name = "model.embed_tokens.weight";
  DeviceTensor out(*backend, {2, 4});
  for (int32_t bad : {50, 12345, -1}) {
    StepBatch b = testing::positions_batch({0, 1});
    b.token_ids = {3, bad};
    auto db = backend->upload_batch(b);
    try {
      backend->embedding(table.w, *db, out.view());
      ADD_FAILURE() << "no error for id " << bad;
    } catch (const Error& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find(std::to_string(bad)), std::string::npos) << msg;
      EXPECT_NE(msg.find("model.embed_tokens.weight"), std::string::npos) << msg;
    }
  }
}

TEST(CpuOps, RmsNormMatchesReference) {
  auto backend = make_cpu_backend(3);
  const float eps = 1e-6f;
  for (DType dt : kWeightDtypes) {
    for (int hidden : {1, 7, 64, 100}) {
      const int rows = 5;
      auto w = make_weight({hidden}, dt, 2, 0.2f, 1.0f);
      const auto x = random_floats(static_cast<size_t>(rows * hidden), 3, 2.0f);
      DeviceTensor dx(*backend, {rows, hidden}, x), out(*backend, {rows, hidden});
      backend->rms_norm(dx.view(), w.w, eps, out.view());
      const auto got = out.host();
      backend->rms_norm(dx.view(), w.w, eps, dx.view());  // in place gives the same
      EXPECT_EQ(dx.host(), got);
      for (int r = 0; r < rows; ++r) {
        const double s = ref_rms_scale(&x[r * hidden], hidden, eps);
        for (int i = 0; i < hidden; ++i) {
          const double ref = x[r * hidden + i] * s * w.values[i];
          // fp32 sum of squares and rsqrt: a few ulps relative to |ref|.
          ASSERT_NEAR(got[r * hidden + i], ref, 1e-5 * std::abs(ref) + 1e-7)
              << dtype_name(dt) << " hidden " << hidden;
        }
      }
    }
  }
}

TEST(CpuOps, AddRmsNormUpdatesResidualThenNorms) {
  auto backend = make_cpu_backend(2);
  const int rows = 4, hidden = 24;
  const float eps = 1e-5f;
  auto w = make_weight({hidden}, DType::BF16, 4, 0.1f, 1.0f);
  const auto res = random_floats(rows * hidden, 5), x = random_floats(rows * hidden, 6);
  DeviceTensor dres(*backend, {rows, hidden}, res), dx(*backend, {rows, hidden}, x),
      out(*backend, {rows, hidden});
  backend->add_rms_norm(dres.view(), dx.view(), w.w, eps, out.view());
  const auto new_res = dres.host(), got = out.host();
  for (int i = 0; i < rows * hidden; ++i) ASSERT_EQ(new_res[i], res[i] + x[i]);
  for (int r = 0; r < rows; ++r) {
    const double s = ref_rms_scale(&new_res[r * hidden], hidden, eps);
    for (int i = 0; i < hidden; ++i) {
      const double ref = new_res[r * hidden + i] * s * w.values[i];
      ASSERT_NEAR(got[r * hidden + i], ref, 1e-5 * std::abs(ref) + 1e-7);
    }
  }
  // out may alias x (the model reuses its buffers).
  DeviceTensor dres2(*backend, {rows, hidden}, res);
  backend->add_rms_norm(dres2.view(), dx.view(), w.w, eps, dx.view());
  EXPECT_EQ(dx.host(), got);
}

TEST(CpuOps, LinearMatchesReferenceForAllWeightTypes) {
  auto backend = make_cpu_backend(3);
  for (DType dt : kWeightDtypes) {
    for (int n_in : {1, 7, 64, 67}) {
      for (int n_out : {1, 5, 40}) {
        for (int tokens : {1, 3, 4, 5, 17, 33}) {
          auto w = make_weight({n_out, n_in}, dt, 7 + n_in, 0.5f);
          const auto x = random_floats(static_cast<size_t>(tokens * n_in), 8 + tokens);
          DeviceTensor dx(*backend, {tokens, n_in}, x), out(*backend, {tokens, n_out});
          backend->linear(dx.view(), w.w, out.view());
          const auto got = out.host();
          for (int t = 0; t < tokens; ++t) {
            for (int o = 0; o < n_out; ++o) {
              double ref = 0, mag = 0;
              for (int i = 0; i < n_in; ++i) {
                const double p = static_cast<double>(x[t * n_in + i]) * w.values[o * n_in + i];
                ref += p;
                mag += std::abs(p);
              }
              // fp32 accumulation of <= 67 terms: error <= ~n * 2^-24 * sum|terms| < 1e-5 * mag.
              ASSERT_NEAR(got[t * n_out + o], ref, 1e-5 * mag + 1e-7)
                  << dtype_name(dt) << " in " << n_in << " out " << n_out << " tokens " << tokens;
            }
          }
        }
      }
    }
  }
}

// The oracle must not depend on batch composition or thread count: a token's output is
// bitwise the same alone, in a batch, and with any number of threads.
TEST(CpuOps, LinearIsBatchAndThreadInvariant) {
  const int tokens = 23, n_in = 131, n_out = 97;
  auto w = make_weight({n_out, n_in}, DType::BF16, 9);
  const auto x = random_floats(tokens * n_in, 10);
  auto run = [&](int threads, int first, int count) {
    auto backend = make_cpu_backend(threads);
    std::vector<float> slice(x.begin() + first * n_in, x.begin() + (first + count) * n_in);
    DeviceTensor dx(*backend, {count, n_in}, slice), out(*backend, {count, n_out});
    backend->linear(dx.view(), w.w, out.view());
    return out.host();
  };
  const auto all = run(1, 0, tokens);
  EXPECT_EQ(run(3, 0, tokens), all);
  for (int t : {0, 5, 22}) {
    const auto one = run(2, t, 1);
    for (int o = 0; o < n_out; ++o) ASSERT_EQ(one[o], all[t * n_out + o]) << "token " << t;
  }
  const auto mid = run(2, 6, 9);
  for (int i = 0; i < 9 * n_out; ++i) ASSERT_EQ(mid[i], all[6 * n_out + i]);
}

TEST(CpuOps, LinearRejectsBadShapes) {
  auto backend = make_cpu_backend(1);
  auto w = make_weight({4, 8}, DType::F32, 1);
  DeviceTensor x(*backend, {3, 7}), out(*backend, {3, 4}), bad_out(*backend, {3, 5});
  EXPECT_THROW(backend->linear(x.view(), w.w, out.view()), Error);
  DeviceTensor x8(*backend, {3, 8});
  EXPECT_THROW(backend->linear(x8.view(), w.w, bad_out.view()), Error);
  EXPECT_THROW(backend->linear(x8.view(), w.w, x8.view()), Error);
}

// Reference: per-head RMSNorm then rotate_half RoPE, written from the formula with the
// angle rounded to fp32 as HF computes it (inv_freq and positions are fp32 there).
void ref_norm_rope_head(const float* x, const std::vector<float>& w, double eps, int pos,
                        const RopeTable& rope, int hd, double* out) {
  const double s = ref_rms_scale(x, hd, eps);
  std::vector<double> n(hd);
  for (int i = 0; i < hd; ++i) n[i] = x[i] * s * w[i];
  for (int i = 0; i < hd / 2; ++i) {
    const double angle = static_cast<float>(pos) * rope.inv_freq[i];
    const double c = std::cos(angle) * rope.attention_scaling;
    const double sn = std::sin(angle) * rope.attention_scaling;
    out[i] = n[i] * c - n[i + hd / 2] * sn;
    out[i + hd / 2] = n[i + hd / 2] * c + n[i] * sn;
  }
}

RopeTable test_rope(int hd, double theta, float scaling) {
  RopeTable r;
  for (int i = 0; i < hd / 2; ++i)
    r.inv_freq.push_back(static_cast<float>(1.0 / std::pow(theta, 2.0 * i / hd)));
  r.attention_scaling = scaling;
  return r;
}

TEST(CpuOps, QkNormRopeMatchesFormula) {
  auto backend = make_cpu_backend(2);
  struct Case { int heads, kv_heads, hd; float scaling; };
  for (const Case& c : {Case{4, 2, 8, 1.0f}, Case{3, 3, 12, 1.0f}, Case{2, 1, 16, 1.2f}}) {
    const std::vector<int32_t> positions = {0, 1, 5, 1000, 40000, 131071};
    const int T = static_cast<int>(positions.size());
    const RopeTable rope = test_rope(c.hd, 1e6, c.scaling);
    auto qn = make_weight({c.hd}, DType::BF16, 11, 0.1f, 1.0f);
    auto kn = make_weight({c.hd}, DType::F32, 12, 0.1f, 1.0f);
    const auto q = random_floats(T * c.heads * c.hd, 13, 3.0f);
    const auto k = random_floats(T * c.kv_heads * c.hd, 14, 3.0f);
    DeviceTensor dq(*backend, {T, c.heads, c.hd}, q), dk(*backend, {T, c.kv_heads * c.hd}, k);
    auto db = backend->upload_batch(testing::positions_batch(positions));
    const float eps = 1e-6f;
    backend->qk_norm_rope(dq.view(), dk.view(), qn.w, kn.w, eps, rope, *db);
    const auto gq = dq.host(), gk = dk.host();
    std::vector<double> ref(c.hd);
    for (int t = 0; t < T; ++t) {
      for (int h = 0; h < c.heads; ++h) {
        const int off = (t * c.heads + h) * c.hd;
        ref_norm_rope_head(&q[off], qn.values, eps, positions[t], rope, c.hd, ref.data());
        for (int i = 0; i < c.hd; ++i) ASSERT_NEAR(gq[off + i], ref[i], 2e-5) << "q t" << t;
      }
      for (int h = 0; h < c.kv_heads; ++h) {
        const int off = (t * c.kv_heads + h) * c.hd;
        ref_norm_rope_head(&k[off], kn.values, eps, positions[t], rope, c.hd, ref.data());
        for (int i = 0; i < c.hd; ++i) ASSERT_NEAR(gk[off + i], ref[i], 2e-5) << "k t" << t;
      }
    }
  }
}

// RoPE's defining property, independent of how the formula is written: with unit norm
// weights and no scaling, <rope(q, m), rope(k, n)> depends only on m - n.
TEST(CpuOps, RopeScoresDependOnlyOnRelativePosition) {
  auto backend = make_cpu_backend(1);
  const int hd = 16;
  const RopeTable rope = test_rope(hd, 10000.0, 1.0f);
  auto ones = make_weight({hd}, DType::F32, 1, 0.0f, 1.0f);
  const auto q = random_floats(hd, 21), k = random_floats(hd, 22);
  auto score = [&](int m, int n) {
    std::vector<float> q2 = q, k2 = k;
    q2.insert(q2.end(), q.begin(), q.end());
    k2.insert(k2.end(), k.begin(), k.end());
    DeviceTensor dq(*backend, {2, 1, hd}, q2), dk(*backend, {2, 1, hd}, k2);
    auto db = backend->upload_batch(testing::positions_batch({m, n}));
    backend->qk_norm_rope(dq.view(), dk.view(), ones.w, ones.w, 1e-6f, rope, *db);
    const auto gq = dq.host(), gk = dk.host();
    double s = 0;
    for (int i = 0; i < hd; ++i) s += static_cast<double>(gq[i]) * gk[hd + i];
    return s;
  };
  EXPECT_NEAR(score(3, 1), score(10, 8), 1e-4);
  EXPECT_NEAR(score(7, 7), score(0, 0), 1e-4);
  EXPECT_NEAR(score(50, 20), score(130, 100), 1e-4);
  EXPECT_GT(std::abs(score(3, 1) - score(5, 1)), 1e-3);  // and it does depend on m - n
}

TEST(CpuOps, SwigluMatchesReference) {
  auto backend = make_cpu_backend(2);
  const int n = 1000;
  const auto g = random_floats(n, 31, 4.0f), u = random_floats(n, 32);
  DeviceTensor dg(*backend, {10, 100}, g), du(*backend, {10, 100}, u), out(*backend, {10, 100});
  backend->swiglu(dg.view(), du.view(), out.view());
  const auto got = out.host();
  for (int i = 0; i < n; ++i) {
    const double ref = g[i] / (1.0 + std::exp(-static_cast<double>(g[i]))) * u[i];
    ASSERT_NEAR(got[i], ref, 1e-6 * std::abs(ref) + 1e-7);
  }
}

}  // namespace
}  // namespace hearth
