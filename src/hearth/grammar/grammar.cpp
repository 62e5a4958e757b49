#include "hearth/grammar/grammar.h"

#include <nlohmann/json.hpp>

#include "hearth/grammar/dfa_info.h"

namespace hearth::grammar {

std::shared_ptr<const Grammar> Grammar::from_json_schema(const nlohmann::json& schema, const CompileOptions& opts) {
  return std::make_shared<const Grammar>(compile_json_schema(schema, opts));
}

std::shared_ptr<const Grammar> Grammar::from_json_schema_text(std::string_view text, const CompileOptions& opts) {
  nlohmann::json schema;
  try {
    schema = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw SchemaUnsupported(fmt::format("schema is not valid JSON: {}", e.what()));
  }
  return from_json_schema(schema, opts);
}

std::shared_ptr<const Grammar> Grammar::any_json_object(const CompileOptions& opts) {
  return from_json_schema(nlohmann::json{{"type", "object"}}, opts);
}

namespace {

// Full-match regex: anchors are only meaningful at the ends; elsewhere they are refused.
void strip_anchors(RegexAst& ast, int id, bool at_start, bool at_end) {
  RegexNode& n = ast.nodes[static_cast<size_t>(id)];
  switch (n.kind) {
    case RegexNode::Kind::Bos:
      if (!at_start) throw SchemaUnsupported("regex: '^' is only supported at the start");
      n.kind = RegexNode::Kind::Empty;
      return;
    case RegexNode::Kind::Eos:
      if (!at_end) throw SchemaUnsupported("regex: '$' is only supported at the end");
      n.kind = RegexNode::Kind::Empty;
      return;
    case RegexNode::Kind::Concat: {
      std::vector<int> kids = n.kids;
      for (size_t i = 0; i < kids.size(); ++i) {
        strip_anchors(ast, kids[i], at_start && i == 0, at_end && i + 1 == kids.size());
      }
      return;
    }
    case RegexNode::Kind::Alt: {
      std::vector<int> kids = n.kids;
      for (int k : kids) strip_anchors(ast, k, at_start, at_end);
      return;
    }
    case RegexNode::Kind::Repeat: {
      int k = n.kids[0];
      strip_anchors(ast, k, false, false);
      return;
    }
    default: return;
  }
}

GrammarData raw_grammar(const InternedDfa* dfa) {
  GrammarData d;
  auto keep = std::make_shared<LeafPool>();
  keep->keep_raw(dfa);
  d.leaves = std::move(keep);
  d.uid = next_grammar_uid();
  d.root_kind = RootKind::Raw;
  d.raw_dfa = dfa;
  return d;
}

}  // namespace

std::shared_ptr<const Grammar> Grammar::from_regex(const std::string& pattern) {
  LeafPool pool;
  const InternedDfa* d = nullptr;
  try {
    RegexAst ast = parse_regex(pattern);
    strip_anchors(ast, ast.root, true, true);
    d = dfa_intern(dfa_from_regex(ast, /*search=*/false), pool);
  } catch (const SchemaUnsupported&) {
    throw;
  } catch (const hearth::Error& e) {
    throw SchemaUnsupported(e.what());
  }
  return std::make_shared<const Grammar>(raw_grammar(d));
}

std::shared_ptr<const Grammar> Grammar::from_choices(const std::vector<std::string>& choices) {
  if (choices.empty()) throw SchemaUnsupported("choice list is empty");
  LeafPool pool;
  return std::make_shared<const Grammar>(raw_grammar(dfa_for_literals(choices, false, pool)));
}

}  // namespace hearth::grammar
