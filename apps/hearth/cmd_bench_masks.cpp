// `hearth bench masks`: the output-constraint mask work of engine steps, without a model
// (bench/mask_step_bench.h says what is measured). Prints one JSON object.
#include <iostream>
#include <memory>
#include <thread>

#include "commands.h"
#include "grammar_vocabulary.h"
#include "hearth/grammar/mask.h"
#include "mask_step_bench.h"

namespace hearth::cli {
namespace {

struct MaskArgs {
  bench::MaskStepSpec spec;
  std::string json_schema;
  std::string tokenizer_dir;
  bool full_walks = false;
};

int run_masks(const MaskArgs& a) {
  grammar::set_bounded_free_sets(!a.full_walks);
  const auto tokenizer = load_tokenizer_dir(a.tokenizer_dir);
  // Qwen3's EOS ids (generation_config.json), as the throughput bench's random:qwen3-* models.
  std::vector<int> stops;
  for (const char* s : {"<|im_end|>", "<|endoftext|>"})
    if (auto id = tokenizer->token_to_id(s)) stops.push_back(*id);
  auto make = [&] { return json_schema_constraint(*tokenizer, a.json_schema, stops); };
  const std::vector<bench::MaskStepRun> runs = bench::run_mask_steps(a.spec, make, stops);
  nlohmann::json j = {{"bench", "masks"},          {"json_schema", a.json_schema}, {"rows", a.spec.rows},
                      {"steps", a.spec.steps},     {"seed", a.spec.seed}, {"forward_ms", a.spec.forward_ms},
                      {"hardware_threads", std::thread::hardware_concurrency()},
                      {"bounded_free_sets", !a.full_walks}};
  j["runs"] = nlohmann::json::array();
  for (const bench::MaskStepRun& r : runs) j["runs"].push_back(r.to_json());
  std::cout << j.dump() << std::endl;
  return 0;
}

}  // namespace

void register_bench_masks(CLI::App& bench, Runner& runner) {
  auto a = std::make_shared<MaskArgs>();
  CLI::App* cmd = bench.add_subcommand("masks", "constrained-decoding mask work per engine step, no model (JSON)");
  cmd->add_option("--json-schema", a->json_schema, "JSON Schema file every row is constrained to")->required();
  cmd->add_option("--tokenizer", a->tokenizer_dir, "tokenizer directory (the vocabulary's token bytes)")->required();
  cmd->add_option("--rows", a->spec.rows, "constrained sequences per step");
  cmd->add_option("--steps", a->spec.steps, "steps (tokens per sequence at most)");
  cmd->add_option("--seed", a->spec.seed, "seed of the picks");
  cmd->add_option("--workers", a->spec.workers, "mask worker counts to run (each plus the calling thread)")
      ->delimiter(',');
  cmd->add_option("--slowest", a->spec.slowest, "slowest accepts listed per run");
  cmd->add_option("--forward-ms", a->spec.forward_ms, "forward pass the accepts overlap (over_forward_ms)");
  cmd->add_option("--model-threads", a->spec.model_threads, "threads of the modeled step wall (0: workers + 1)");
  cmd->add_flag("--full-walks", a->full_walks,
                "walk the whole vocabulary for every length-bounded free string state (A/B)");
  cmd->callback([a, &runner] { runner = [a] { return run_masks(*a); }; });
}

}  // namespace hearth::cli
