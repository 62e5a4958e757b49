// hearth: the command-line entry point. Thin: parsing and error reporting only.
#include <cstdio>
#include <exception>

#include "commands.h"
#include "hearth/core/error.h"

int main(int argc, char** argv) {
  CLI::App app{"hearth: a local LLM inference engine for Qwen3 models"};
  app.set_version_flag("--version", "hearth 0.1.0");
  app.require_subcommand(1);
  hearth::cli::Runner runner;

  hearth::cli::register_generate(app, runner);
  hearth::cli::register_tokenize(app, runner);
  hearth::cli::register_schema(app, runner);
  hearth::cli::register_serve(app, runner);
  CLI::App* bench = app.add_subcommand("bench", "benchmarks that print JSON");
  bench->require_subcommand(1);
  hearth::cli::register_bench_latency(*bench, runner);
  hearth::cli::register_bench_throughput(*bench, runner);
  hearth::cli::register_bench_serve(*bench, runner);
  hearth::cli::register_bench_tokenizer(*bench, runner);
  hearth::cli::register_bench_masks(*bench, runner);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  if (!runner) return 0;
  try {
    return runner();
  } catch (const hearth::Error& e) {
    std::fprintf(stderr, "hearth: error: %s\n", e.what());
    return 1;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "hearth: error: out of memory\n");
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "hearth: error: %s\n", e.what());
    return 1;
  }
}
