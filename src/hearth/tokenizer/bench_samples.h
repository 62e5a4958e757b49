// Where `hearth bench tokenizer` finds its default samples (English prose and code, a few
// hundred KB each, written by tools/make_tokenizer_refs.py gen): the source tree's
// tests/golden/tokenizer/bench/, whose path is recorded at build time.
#pragma once

#include <string>

namespace hearth {

std::string tokenizer_bench_sample_dir();

}  // namespace hearth
