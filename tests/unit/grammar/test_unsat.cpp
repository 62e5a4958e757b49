// Unsatisfiable schemas are refused at compile time with the keyword and JSON pointer of the
// contradiction; schemas that only have an unsatisfiable optional part still compile.
#include <gtest/gtest.h>

#include "grammar_test_util.h"

namespace hearth::grammar::test {
namespace {

struct Case {
  const char* schema;
  const char* keyword;  // must appear in the message
  const char* pointer;  // must appear in the message ("at <pointer>")
};

TEST(GrammarUnsat, RefusedWithKeywordAndPointer) {
  const std::vector<Case> cases = {
      {R"({"type":"object","properties":{"a":{}},"required":["b"],"additionalProperties":false})",
       "additionalProperties", "at /additionalProperties"},
      {R"({"allOf":[{"type":"object","properties":{"a":{"type":"integer"}},"additionalProperties":false},{"required":["b"]}]})",
       "required property 'b' (/allOf/1/required)", "at /allOf/0/additionalProperties"},
      {R"({"allOf":[{"type":"object","properties":{"a":{"type":"integer"}},"required":["a"]}],"additionalProperties":false})",
       "required property 'a' (/allOf/0/required)", "at /additionalProperties"},
      {R"({"type":"object","required":["a"],"properties":{"a":false}})", "schema false", "at /properties/a"},
      {R"({"type":"array","minItems":3,"maxItems":2})", "'minItems' (3) is greater than 'maxItems' (2)", "at /minItems"},
      {R"({"allOf":[{"type":"array","minItems":3},{"maxItems":1}]})", "minItems", "at /minItems"},
      {R"({"type":"integer","minimum":5,"maximum":3})", "minimum", "at /minimum"},
      {R"({"type":"number","exclusiveMinimum":1,"exclusiveMaximum":1})", "exclusiveMinimum", "at /exclusiveMinimum"},
      {R"({"type":"string","minLength":5,"maxLength":2})", "'minLength' is greater than 'maxLength'", "at /minLength"},
      {R"({"type":"string","enum":[1,2]})", "'enum'", "at /enum"},
      {R"({"type":"string","maxLength":2,"const":"abc"})", "'const'", "at /const"},
      {R"({"type":"object","minProperties":3,"maxProperties":1})", "minProperties", "at /minProperties"},
      {R"({"type":"object","required":["a","b"],"maxProperties":1})", "maxProperties", "at /maxProperties"},
      {R"({"type":"object","properties":{"p":{"type":"array","minItems":2,"maxItems":1}},"required":["p"]})",
       "required property 'p'", "at /properties/p/minItems"},
      {R"({"$defs":{"x":{"type":"integer","minimum":10,"maximum":1}},"type":"object","properties":{"a":{"$ref":"#/$defs/x"}},"required":["a"]})",
       "minimum", "at /$defs/x/minimum"},
      {R"({"type":"array","prefixItems":[{"type":"integer"},false],"minItems":2})", "item 1", "at /minItems"},
      {R"({"type":"object","propertyNames":{"maxLength":2},"required":["long"]})", "propertyNames", "at /propertyNames"},
      {R"({"anyOf":[{"type":"string","minLength":3,"maxLength":1},{"type":"integer","minimum":3,"maximum":1}]})",
       "anyOf", "at /anyOf"},
      {R"({"type":"string","not":{"type":"string"}})", "not", "at /not"},
      {R"(false)", "false", "at /"},
  };
  for (const Case& c : cases) {
    try {
      compile(c.schema);
      ADD_FAILURE() << "compiled: " << c.schema;
    } catch (const SchemaUnsupported& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find("unsatisfiable"), std::string::npos) << c.schema << "\n  " << what;
      EXPECT_NE(what.find(c.keyword), std::string::npos) << c.schema << "\n  " << what;
      EXPECT_NE(what.find(c.pointer), std::string::npos) << c.schema << "\n  " << what;
    }
  }
}

TEST(GrammarUnsat, SatisfiableDespiteAnEmptyPartStillCompiles) {
  // An empty anyOf branch, an optional property that can never appear, string bounds on a
  // schema that also allows non-strings: each still has values.
  EXPECT_TRUE(accepts(R"({"anyOf":[{"type":"string","minLength":5,"maxLength":2},{"type":"integer"}]})", "7"));
  EXPECT_TRUE(accepts(R"({"type":"object","properties":{"a":{"type":"array","minItems":3,"maxItems":1}}})", "{}"));
  EXPECT_FALSE(accepts(R"({"type":"object","properties":{"a":{"type":"array","minItems":3,"maxItems":1}}})",
                       R"({"a":[]})"));
  EXPECT_TRUE(accepts(R"({"minLength":5,"maxLength":2})", "null"));
  EXPECT_TRUE(accepts(R"({"type":"object","properties":{"a":false}})", "{}"));
  EXPECT_TRUE(accepts(R"({"type":["string","null"],"enum":[1,null]})", "null"));
}

}  // namespace
}  // namespace hearth::grammar::test
