// `hearth bench latency`: batch-1 prefill and decode timing of one model on one backend,
// printed as one JSON object (docs/performance.md keeps the figures).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <vector>

#include "commands.h"
#include "hearth/core/error.h"
#include "hearth/core/rng.h"
#include "hearth/engine/device.h"
#include "hearth/engine/generator.h"
#include "hearth/engine/qwen3.h"
#include "hearth/model/checkpoint.h"

namespace hearth::cli {
namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0.0 : v[v.size() / 2];
}

struct LatencyArgs {
  std::string model;
  int prompt_len = 512;
  int gen_len = 128;
  int repeats = 3;
  uint64_t seed = 0;
  std::string device = "auto";
  bool graphs = true;
  int threads = 0;
};

// Bytes of the weights one decode step reads: every weight once, but only one row of the
// embedding table (unless it is also the lm_head).
size_t decode_weight_bytes(const ModelWeights& w) {
  size_t total = w.norm.t.nbytes() + w.lm_head.t.nbytes();
  if (w.embed_tokens.t.data != w.lm_head.t.data)
    total += w.embed_tokens.t.nbytes() / static_cast<size_t>(std::max<int64_t>(1, w.embed_tokens.t.shape[0]));
  for (const LayerWeights& l : w.layers)
    for (const Weight* x : {&l.input_layernorm, &l.q_proj, &l.k_proj, &l.v_proj, &l.o_proj, &l.q_norm, &l.k_norm,
                            &l.post_attention_layernorm, &l.gate_proj, &l.up_proj, &l.down_proj})
      total += x->t.nbytes();
  return total;
}

int run_latency(const LatencyArgs& a) {
  if (a.prompt_len < 1 || a.gen_len < 1 || a.repeats < 1)
    fail("--prompt-len, --gen-len and --repeats must be positive");
  const auto t_start = Clock::now();
  auto checkpoint = Checkpoint::open(a.model);
  const ModelConfig& cfg = checkpoint->config();
  if (a.prompt_len + a.gen_len > cfg.max_position_embeddings)
    fail("--prompt-len + --gen-len = {} exceeds the model's context of {} tokens", a.prompt_len + a.gen_len,
         cfg.max_position_embeddings);
  auto backend = make_backend(DeviceOptions{a.device, a.threads});
  Qwen3Model model(cfg, backend->upload_weights(checkpoint->weights()), *backend);

  const int block_size = 16;
  const int kv_blocks = (a.prompt_len + a.gen_len + block_size - 1) / block_size;
  KvCacheSpec spec{cfg.num_hidden_layers, kv_blocks, block_size, cfg.num_key_value_heads, cfg.head_dim,
                   backend->activation_dtype()};
  backend->init_kv_cache(spec);

  Rng rng(a.seed);
  std::vector<int32_t> prompt(static_cast<size_t>(a.prompt_len));
  for (int32_t& id : prompt) id = static_cast<int32_t>(rng.next_u64() % static_cast<uint64_t>(cfg.vocab_size));
  std::vector<GreedyPick> picks;

  // One run: prefill the prompt in one step, then gen_len - 1 greedy decode steps. Picks
  // are made on the device where the backend can (only the ids cross to the host), and
  // decode steps replay a recorded step graph unless graphs are off.
  auto prefill = [&] {
    model.forward_greedy(single_sequence_step(prompt, 0, kv_blocks, true), 0, picks);
    return picks.at(0).id;
  };
  auto decode = [&](int first_token, int steps) {
    int token = first_token;
    for (int i = 0; i < steps; ++i) {
      const int32_t t = token;
      model.forward_greedy(single_sequence_step(std::span(&t, 1), a.prompt_len + i, kv_blocks, true), 0, picks);
      token = picks.at(0).id;
    }
  };

  model.set_use_graphs(a.graphs);
  const int first_token = prefill();  // the first token: start-up ends here
  const double startup_ms = ms_since(t_start);
  decode(first_token, std::min(8, a.gen_len - 1));  // warm-up (records the step graph)
  const bool used_graph = model.last_step_used_graph();

  std::vector<double> prefill_ms, decode_ms;
  for (int r = 0; r < a.repeats; ++r) {
    auto t = Clock::now();
    const int first = prefill();
    prefill_ms.push_back(ms_since(t));
    if (a.gen_len > 1) {
      t = Clock::now();
      decode(first, a.gen_len - 1);
      decode_ms.push_back(ms_since(t) / (a.gen_len - 1));
    }
  }
  // The same decode with eager launches, for the graphs' share of the figure.
  double eager_ms = 0.0;
  if (a.graphs && used_graph && a.gen_len > 1) {
    model.set_use_graphs(false);
    const int first = prefill();
    decode(first, std::min(8, a.gen_len - 1));
    const auto t = Clock::now();
    decode(first, a.gen_len - 1);
    eager_ms = ms_since(t) / (a.gen_len - 1);
    model.set_use_graphs(true);
  }
  const double copy_gbps = backend->measure_copy_bandwidth_gbps();

  const double p_ms = median(prefill_ms);
  const double d_ms = median(decode_ms);
  // KV read per decode step, averaged over the decode positions.
  const double avg_ctx = a.prompt_len + a.gen_len / 2.0;
  const double kv_bytes = avg_ctx * cfg.num_hidden_layers * 2.0 * cfg.kv_dim() *
                          static_cast<double>(dtype_size(backend->activation_dtype()));
  const double bytes = static_cast<double>(decode_weight_bytes(checkpoint->weights())) + kv_bytes;
  nlohmann::json j;
  j["bench"] = "latency";
  j["model"] = a.model;
  j["device"] = backend->name();
  j["prompt_len"] = a.prompt_len;
  j["gen_len"] = a.gen_len;
  j["repeats"] = a.repeats;
  j["startup_to_first_token_ms"] = startup_ms;
  j["prefill_ms"] = p_ms;
  j["prefill_tok_s"] = a.prompt_len / (p_ms / 1000.0);
  if (a.gen_len > 1) {
    j["decode_ms_per_token"] = d_ms;
    j["decode_tok_s"] = 1000.0 / d_ms;
    j["decode_bytes_per_token"] = bytes;
    j["decode_achieved_gb_s"] = bytes / (d_ms / 1000.0) / 1e9;
    if (copy_gbps > 0) j["decode_fraction_of_copy_bandwidth"] = bytes / (d_ms / 1000.0) / 1e9 / copy_gbps;
    j["decode_step_graphs"] = used_graph;
    if (eager_ms > 0) j["decode_tok_s_without_graphs"] = 1000.0 / eager_ms;
  }
  j["copy_bandwidth_gb_s"] = copy_gbps > 0 ? nlohmann::json(copy_gbps) : nlohmann::json(nullptr);
  j["peak_memory_bytes"] = backend->peak_memory_bytes();
  std::cout << j.dump() << std::endl;
  return 0;
}

}  // namespace

void register_bench_latency(CLI::App& bench, Runner& runner) {
  auto a = std::make_shared<LatencyArgs>();
  CLI::App* cmd = bench.add_subcommand("latency", "batch-1 prefill and decode latency (JSON)");
  cmd->add_option("--model", a->model, "model directory or random:<preset>")->required();
  cmd->add_option("--prompt-len", a->prompt_len, "prompt tokens (random ids)");
  cmd->add_option("--gen-len", a->gen_len, "generated tokens per run");
  cmd->add_option("--repeats", a->repeats, "timed runs (the median is reported)");
  cmd->add_option("--seed", a->seed, "seed of the random prompt");
  cmd->add_option("--device", a->device, "cpu, cuda or auto");
  cmd->add_option("--threads", a->threads, "CPU backend threads (0 = all cores)");
  cmd->add_flag("--graphs,!--no-graphs", a->graphs, "decode through step graphs (default) or eager launches");
  cmd->callback([a, &runner] { runner = [a] { return run_latency(*a); }; });
}

}  // namespace hearth::cli
