#include "hearth/tokenizer/bench_samples.h"

namespace hearth {

std::string tokenizer_bench_sample_dir() { return HEARTH_TOKENIZER_SAMPLE_DIR; }

}  // namespace hearth
