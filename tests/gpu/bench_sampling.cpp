// Device sampling timings (not a test): time per step of upload_sampling + enqueue_sample +
// read_greedy over [rows, 151936] fp32 logits, eager and replayed from a step graph, for
// 1, 64 and 256 rows and several parameter sets. Prints one JSON object per line.
//
// Logits: a language-model-like row (normal, sd 2.5, plus 16 tokens at +10..+17), or a flat
// one (sd 0.3: top-p 0.95 then keeps ~90 % of the vocabulary, the descent's worst case).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "hearth/backend/backend.h"
#include "hearth/backend/cuda/cuda_backend.h"

using namespace hearth;

namespace {

struct Params {
  const char* name;
  float temperature, top_p, min_p;
  int top_k;
  bool mask, penalties, flat;
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  if (!cuda_device_available()) {
    std::fprintf(stderr, "bench_sampling: no CUDA device\n");
    return 1;
  }
  const int iters = argc > 1 ? std::max(3, std::atoi(argv[1])) : 30;
  const int vocab = 151936;
  CudaBackendOptions o;
  o.memory_budget_bytes = 8ull << 30;
  auto gpu = make_cuda_backend(o);
  const std::vector<Params> sets = {
      {"greedy", 0.0f, 1.0f, 0.0f, 0, false, false, false},
      {"greedy+mask", 0.0f, 1.0f, 0.0f, 0, true, false, false},
      {"temp0.7+top_p0.95", 0.7f, 0.95f, 0.0f, 0, false, false, false},
      {"temp0.7+top_k50", 0.7f, 1.0f, 0.0f, 50, false, false, false},
      {"qwen3 default (t0.6 k20 p0.95)", 0.6f, 0.95f, 0.0f, 20, false, false, false},
      {"temp0.7+top_p0.95+mask", 0.7f, 0.95f, 0.0f, 0, true, false, false},
      {"temp1+min_p0.05+penalties", 1.0f, 1.0f, 0.05f, 0, false, true, false},
      {"flat: temp1+top_p0.95", 1.0f, 0.95f, 0.0f, 0, false, false, true},
  };
  std::mt19937_64 g(1);
  for (int rows : {1, 64, 256}) {
    std::vector<float> lm(static_cast<size_t>(rows) * vocab), flat(lm.size());
    std::normal_distribution<float> normal(0.0f, 1.0f);
    std::uniform_int_distribution<int> id(0, vocab - 1);
    for (int r = 0; r < rows; ++r) {
      float* x = lm.data() + static_cast<size_t>(r) * vocab;
      for (int i = 0; i < vocab; ++i) x[i] = 2.5f * normal(g);
      for (int j = 0; j < 16; ++j) x[id(g)] = 10.0f + 0.5f * static_cast<float>(j);
      float* f = flat.data() + static_cast<size_t>(r) * vocab;
      for (int i = 0; i < vocab; ++i) f[i] = 0.3f * normal(g);
    }
    TensorView logits = gpu->alloc(DType::F32, Shape{rows, vocab});
    for (const Params& p : sets) {
      SampleBatch b;
      b.mask_words = (vocab + 31) / 32;
      std::bernoulli_distribution allow(0.05);  // a JSON-schema-like mask: a few % allowed
      for (int r = 0; r < rows; ++r) {
        SampleRow row;
        row.temperature = p.temperature;
        row.top_k = p.top_k;
        row.top_p = p.top_p;
        row.min_p = p.min_p;
        row.u = std::uniform_real_distribution<double>(0.0, 0.999)(g);
        if (p.mask) {
          row.mask_row = r;
          for (int w = 0; w < b.mask_words; ++w) {
            uint32_t m = 0;
            for (int k = 0; k < 32; ++k)
              if (allow(g)) m |= 1u << k;
            b.masks.push_back(m);
          }
        }
        if (p.penalties) {
          row.repetition_penalty = 1.1f;
          row.frequency_penalty = 0.2f;
          row.penalty_begin = static_cast<int32_t>(b.penalty_tokens.size());
          for (int k = 0; k < 1000; ++k) {  // a 1,000-token context
            b.penalty_tokens.push_back(k * 151);
            b.penalty_counts.push_back(k % 3);
          }
          row.penalty_end = static_cast<int32_t>(b.penalty_tokens.size());
        }
        b.rows.push_back(row);
      }
      const std::vector<float>& src = p.flat ? flat : lm;
      cuda_copy_from_host(*gpu, logits, src.data());
      std::vector<GreedyPick> picks(static_cast<size_t>(rows));
      // Eager: upload + enqueue + read (the logits stay; penalties drift them, harmless here).
      std::vector<double> eager, upload_only, replay;
      for (int i = 0; i < iters + 2; ++i) {
        const auto t0 = std::chrono::steady_clock::now();
        gpu->upload_sampling(b);
        gpu->synchronize();
        const auto t1 = std::chrono::steady_clock::now();
        gpu->enqueue_sample(logits);
        gpu->read_greedy(picks);
        const auto t2 = std::chrono::steady_clock::now();
        if (i >= 2) {
          upload_only.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
          eager.push_back(std::chrono::duration<double, std::micro>(t2 - t1).count());
        }
      }
      // Graph: one recording, replays (upload outside, as the engine does).
      const GraphKey key{StepShape{rows, rows, 1, rows}, 77 + b.graph_variant()};
      gpu->upload_sampling(b);
      gpu->begin_graph(key);
      gpu->enqueue_sample(logits);
      gpu->end_graph();
      for (int i = 0; i < iters + 2; ++i) {
        gpu->upload_sampling(b);
        gpu->synchronize();
        const auto t1 = std::chrono::steady_clock::now();
        gpu->replay_graph(key);
        gpu->read_greedy(picks);
        const auto t2 = std::chrono::steady_clock::now();
        if (i >= 2) replay.push_back(std::chrono::duration<double, std::micro>(t2 - t1).count());
      }
      gpu->invalidate_graphs();
      std::printf(
          "{\"bench\": \"device_sampling\", \"rows\": %d, \"vocab\": %d, \"params\": \"%s\", "
          "\"eager_us\": %.1f, \"graph_us\": %.1f, \"upload_us\": %.1f, \"first_pick\": %d}\n",
          rows, vocab, p.name, median(eager), median(replay), median(upload_only), picks[0].id);
      std::fflush(stdout);
    }
    gpu->free(logits);
  }
  return 0;
}
