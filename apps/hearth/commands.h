// Each subcommand lives in its own cmd_*.cpp and registers itself on the CLI11 app.
// A subcommand's callback stores the function to run in `runner`; main() runs it after
// parsing, so that errors thrown while running are reported uniformly.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>

namespace hearth::cli {

using Runner = std::function<int()>;

void register_generate(CLI::App& app, Runner& runner);
void register_tokenize(CLI::App& app, Runner& runner);         // tokenize, detokenize
void register_bench_tokenizer(CLI::App& bench, Runner& runner);
void register_bench_latency(CLI::App& bench, Runner& runner);
void register_bench_throughput(CLI::App& bench, Runner& runner);
void register_bench_serve(CLI::App& bench, Runner& runner);
void register_bench_masks(CLI::App& bench, Runner& runner);   // constrained-decoding mask work
void register_schema(CLI::App& app, Runner& runner);           // schema check, schema bench
void register_serve(CLI::App& app, Runner& runner);            // the OpenAI-compatible server

}  // namespace hearth::cli
