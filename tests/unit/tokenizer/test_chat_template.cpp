// Chat templates: recognition of the Qwen3 templates, refusal of others, and rendering
// byte-identical to transformers' apply_chat_template (tests/golden/tokenizer/chat.jsonl).
#include <cstdlib>

#include "hearth/core/error.h"
#include "hearth/tokenizer/chat_template.h"
#include "tokenizer_test_util.h"

namespace hearth::test {
namespace {

std::string qwen3_template_source() { return read_text(qwen3_dir() + "/chat_template.jinja"); }
std::string thinking_2507_source() { return read_text(golden_dir() + "/qwen3_thinking_2507.jinja"); }

TEST(ChatTemplate, RecognizesTheQwen3Templates) {
  HEARTH_REQUIRE_QWEN3();
  EXPECT_EQ(ChatTemplate::load(qwen3_dir()).kind(), ChatTemplate::Kind::kQwen3);
  EXPECT_EQ(ChatTemplate::recognize(qwen3_template_source()), ChatTemplate::Kind::kQwen3);
  EXPECT_EQ(ChatTemplate::recognize(thinking_2507_source()), ChatTemplate::Kind::kQwen3Thinking2507);
  // The copy inside tokenizer_config.json is the same template.
  const auto cfg = nlohmann::json::parse(read_text(qwen3_dir() + "/tokenizer_config.json"));
  EXPECT_EQ(ChatTemplate::recognize(cfg["chat_template"].get<std::string>()), ChatTemplate::Kind::kQwen3);
}

TEST(ChatTemplate, IndentationDoesNotMatterButContentDoes) {
  HEARTH_REQUIRE_QWEN3();
  std::string src = qwen3_template_source();
  // Re-indent: whitespace before "{%-" / "{{-" is stripped by Jinja and cannot render.
  std::string reindented;
  for (char c : src) reindented += c == '\n' ? std::string("\n  ") : std::string(1, c);
  EXPECT_EQ(ChatTemplate::recognize(reindented), ChatTemplate::Kind::kQwen3);
  // Whitespace inside tags is irrelevant too.
  std::string spaced = src;
  for (size_t p = spaced.find("{%-"); p != std::string::npos; p = spaced.find("{%-", p + 5)) spaced.insert(p + 3, "  ");
  EXPECT_EQ(ChatTemplate::recognize(spaced), ChatTemplate::Kind::kQwen3);
  // A changed literal, a dropped whitespace-control marker, or a changed condition is refused.
  auto changed = [&](const std::string& from, const std::string& to) {
    std::string s = src;
    const size_t p = s.find(from);
    EXPECT_NE(p, std::string::npos) << from;
    return s.replace(p, from.size(), to);
  };
  EXPECT_FALSE(ChatTemplate::recognize(changed("<think>\\n\\n</think>\\n\\n", "<think>\\n</think>\\n\\n")));
  EXPECT_FALSE(ChatTemplate::recognize(changed("{{- '<|im_end|>\\n' }}", "{{ '<|im_end|>\\n' }}")));
  EXPECT_FALSE(ChatTemplate::recognize(changed("loop.index0 > ns.last_query_index", "loop.index0 >= ns.last_query_index")));
  EXPECT_FALSE(ChatTemplate::recognize("{{ messages }}"));
  EXPECT_FALSE(ChatTemplate::recognize(""));
  try {
    ChatTemplate::from_source("{% for m in messages %}{{ m.content }}{% endfor %}", "model/tokenizer_config.json");
    FAIL() << "expected a refusal";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("model/tokenizer_config.json"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("unsupported chat template"), std::string::npos) << e.what();
  }
}

TEST(ChatTemplate, RenderingMatchesTransformers) {
  HEARTH_REQUIRE_QWEN3();
  auto rows = read_jsonl(golden_dir() + "/chat.jsonl");
  // More references (e.g. the fresh conversations of a `probe` run) can be named here.
  if (const char* extra = std::getenv("HEARTH_CHAT_EXTRA")) {
    for (auto& r : read_jsonl(extra)) rows.push_back(std::move(r));
  }
  size_t total = 0, matched = 0, ids_matched = 0;
  std::string failures;
  for (const auto& r : rows) {
    ASSERT_TRUE(r.contains("text")) << r["name"] << ": the reference run failed: " << r.value("error", "");
    const auto tmpl = ChatTemplate::of_kind(r["template"] == "qwen3" ? ChatTemplate::Kind::kQwen3
                                                                     : ChatTemplate::Kind::kQwen3Thinking2507);
    ChatOptions opts;
    opts.add_generation_prompt = r["add_generation_prompt"].get<bool>();
    if (r.contains("enable_thinking")) opts.enable_thinking = r["enable_thinking"].get<bool>();
    if (r.contains("tools")) opts.tools = r["tools"];
    const std::string got = tmpl.render(r["messages"], opts);
    const std::string want = r["text"].get<std::string>();
    ++total;
    if (got == want) {
      ++matched;
    } else if (total - matched <= 5) {
      failures += "\n" + r["name"].get<std::string>() + "\n got: " + nlohmann::json(got).dump() +
                  "\nwant: " + nlohmann::json(want).dump();
    }
    ids_matched += qwen3().encode(got) == ids_of(r["ids"]);
  }
  EXPECT_EQ(matched, total) << failures;
  EXPECT_EQ(ids_matched, total);
  EXPECT_GT(total, 300u);
  std::printf("[ chat template ] %zu/%zu renderings and %zu/%zu token sequences match transformers\n", matched,
              total, ids_matched, total);
}

TEST(ChatTemplate, SortedJsonStillRenders) {
  // nlohmann::json (keys sorted) works too; only the key order inside tojson differs.
  const auto t = ChatTemplate::of_kind(ChatTemplate::Kind::kQwen3);
  const nlohmann::json msgs = nlohmann::json::parse(R"([{"role": "user", "content": "hi"}])");
  ChatOptions opts;
  opts.enable_thinking = false;
  EXPECT_EQ(t.render(msgs, opts), t.render(nlohmann::ordered_json::parse(msgs.dump()), opts));
}

TEST(ChatTemplate, BadMessagesAreRefused) {
  const auto t = ChatTemplate::of_kind(ChatTemplate::Kind::kQwen3);
  const ChatOptions opts;
  using J = nlohmann::ordered_json;
  EXPECT_THROW(t.render(J::object(), opts), Error);
  EXPECT_THROW(t.render(J::array(), opts), Error);
  EXPECT_THROW(t.render(J::parse(R"([1])"), opts), Error);
  EXPECT_THROW(t.render(J::parse(R"([{"role": "user", "content": [1]}])"), opts), Error);
  EXPECT_THROW(t.render(J::parse(R"([{"role": "assistant", "content": "", "tool_calls": {"a": 1}}])"), opts), Error);
  EXPECT_THROW(t.render(J::parse(R"([{"role": "assistant", "content": "", "tool_calls": [{"name": "f"}]}])"), opts), Error);
  ChatOptions bad_tools;
  bad_tools.tools = J::parse(R"({"a": 1})");
  EXPECT_THROW(t.render(J::parse(R"([{"role": "user", "content": "x"}])"), bad_tools), Error);
}

}  // namespace
}  // namespace hearth::test
