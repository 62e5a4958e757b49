// llama.cpp's qwen2 tokenizer vectors (../shared/tokenizer/llama.cpp-vectors): cases in
// qwen2.inp separated by "\n__ggml_vocab_test__\n", expected ids in qwen2.out, one line each.
#include "hearth/tokenizer/unicode.h"
#include "tokenizer_test_util.h"

namespace hearth::test {
namespace {

std::vector<std::string> split(const std::string& s, const std::string& sep) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (true) {
    const size_t p = s.find(sep, pos);
    if (p == std::string::npos) {
      out.push_back(s.substr(pos));
      return out;
    }
    out.push_back(s.substr(pos, p - pos));
    pos = p + sep.size();
  }
}

TEST(TokenizerVectors, LlamaCppQwen2) {
  HEARTH_REQUIRE_QWEN3();
  const std::string dir = std::string(HEARTH_SHARED_DIR) + "/tokenizer/llama.cpp-vectors";
  const auto cases = split(read_text(dir + "/qwen2.inp"), "\n__ggml_vocab_test__\n");
  const auto lines = split(read_text(dir + "/qwen2.out"), "\n");
  ASSERT_EQ(cases.size(), 47u);
  ASSERT_EQ(lines.size(), cases.size());
  size_t matched = 0;
  for (size_t i = 0; i < cases.size(); ++i) {
    std::vector<int32_t> want;
    std::istringstream in(lines[i]);
    int32_t id;
    while (in >> id) want.push_back(id);
    const auto got = qwen3().encode(cases[i]);
    EXPECT_EQ(got, want) << "case " << i << ": " << cases[i];
    matched += got == want;
    std::string storage;
    EXPECT_EQ(qwen3().decode(got), unicode::nfc(cases[i], storage)) << "case " << i;
  }
  EXPECT_EQ(matched, cases.size());
}

}  // namespace
}  // namespace hearth::test
