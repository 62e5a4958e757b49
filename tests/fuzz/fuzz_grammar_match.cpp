// A fixed set of schemas driven by arbitrary bytes (the first byte picks the schema): the
// matcher never crashes, masks agree with accepting each token, rollback restores the mask,
// a forced (jump-forward) string is accepted, and the forced tokens spell a prefix of it.
#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>

#include "fuzz_grammar_common.h"

using namespace hearth::grammar;

namespace {

const std::vector<std::shared_ptr<const Grammar>>& grammars() {
  static std::vector<std::shared_ptr<const Grammar>> g = [] {
    const char* schemas[] = {
        R"({"type":"object","properties":{"name":{"type":"string","maxLength":8},"age":{"type":"integer","minimum":0,"maximum":130},"tags":{"type":"array","items":{"enum":["a","b"]},"maxItems":3}},"required":["name"],"additionalProperties":false})",
        R"({"$defs":{"n":{"anyOf":[{"type":"null"},{"type":"object","properties":{"k":{"$ref":"#/$defs/n"},"s":{"type":"string","pattern":"^[^x]{0,4}$"}}}]}},"$ref":"#/$defs/n"})",
        R"({"type":"array","items":{"anyOf":[{"type":"number","minimum":-5.5,"maximum":1e4},{"format":"date"},{"type":"boolean"}]}})",
        R"({"oneOf":[{"required":["a"]},{"required":["b"]}],"patternProperties":{"^[ab]$":{"type":"integer","multipleOf":3}},"maxProperties":3})",
        R"({"type":"object","if":{"properties":{"t":{"const":"a"}},"required":["t"]},"then":{"properties":{"v":{"const":"abc"}},"required":["v"]},"else":{"not":{"properties":{"v":{"type":"string"}}}},"dependentSchemas":{"w":{"required":["t"]}}})",
        "{}",
    };
    std::vector<std::shared_ptr<const Grammar>> out;
    for (const char* s : schemas) out.push_back(Grammar::from_json_schema(nlohmann::json::parse(s)));
    CompileOptions flex;
    flex.flexible_whitespace = true;
    out.push_back(Grammar::from_json_schema(nlohmann::json::parse(schemas[0]), flex));
    return out;
  }();
  return g;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0 || size > 2048) return 0;
  const auto& gs = grammars();
  auto vocab = fuzz::fuzz_vocab();
  Matcher m(gs[data[0] % gs.size()], vocab);
  size_t accepted = 0;
  for (size_t i = 1; i < size; ++i) {
    uint8_t b = data[i];
    if (b == 0xFF && accepted > 0) {
      // Rollback one step: the mask must come back.
      std::vector<uint32_t> before = m.next_token_bitmask();
      if (m.accept_bytes("0")) {
        if (!m.rollback(1) || m.next_token_bitmask() != before) std::abort();
      }
      continue;
    }
    if (m.accept_bytes(std::string(1, static_cast<char>(b)))) {
      if ((++accepted & 7) == 0) fuzz::check_mask(m, *vocab);
    }
  }
  fuzz::check_mask(m, *vocab);
  std::string forced = m.jump_forward_bytes(32);
  std::vector<int32_t> tokens = m.forced_tokens(8, 32);
  std::string spelled;
  for (int32_t id : tokens) spelled += vocab->token(id);
  if (forced.compare(0, spelled.size(), spelled) != 0) std::abort();
  for (int32_t id : tokens) {
    if (!m.accept_token(id)) std::abort();
  }
  if (!tokens.empty() && !m.rollback(tokens.size())) std::abort();
  if (!forced.empty() && !m.accept_bytes(forced)) std::abort();
  return 0;
}
