#include "commands.h"
namespace hearth::cli {
void register_tokenize(CLI::App&, Runner&) {}
void register_bench_tokenizer(CLI::App&, Runner&) {}
}  // namespace hearth::cli
