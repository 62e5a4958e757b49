// One table per JSON Schema keyword: instances (compact JSON text, as the matcher sees it)
// that must be accepted and rejected, and keywords that must be refused with their pointer.
#include <gtest/gtest.h>

#include "grammar_test_util.h"

namespace hearth::grammar::test {
namespace {

struct Case {
  const char* name;
  const char* schema;
  std::vector<std::string> accept;
  std::vector<std::string> reject;
};

void run(const std::vector<Case>& cases) {
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    std::shared_ptr<const Grammar> g;
    ASSERT_NO_THROW(g = compile(c.schema)) << c.schema;
    for (const std::string& a : c.accept) EXPECT_TRUE(accepts(g, a)) << c.schema << " should accept " << a;
    for (const std::string& r : c.reject) EXPECT_FALSE(accepts(g, r)) << c.schema << " should reject " << r;
  }
}

TEST(GrammarKeywords, Type) {
  run({
      {"null", R"({"type":"null"})", {"null"}, {"0", "\"null\"", "nul", "nullx", ""}},
      {"boolean", R"({"type":"boolean"})", {"true", "false"}, {"1", "null", "tru"}},
      {"integer", R"({"type":"integer"})", {"0", "-0", "12", "-45"}, {"1.5", "01", "1e3", "-", "\"1\""}},
      {"number", R"({"type":"number"})", {"0", "1.5", "-0.25", "1e3", "2.5E-7", "-1e+2"}, {".5", "1.", "1e", "+1", "01"}},
      {"string", R"({"type":"string"})", {R"("")", R"("abc")", R"("a\"b")", R"("\u00e9")", "\"\xC3\xA9\""}, {"abc", R"("a)", "\"a\nb\""}},
      {"array", R"({"type":"array"})", {"[]", "[1,\"a\",[null]]"}, {"{}", "[1,]", "["}},
      {"object", R"({"type":"object"})", {"{}", R"({"a":1,"b":{"c":[]}})"}, {"[]", R"({"a"})", R"({a:1})"}},
      {"type list", R"({"type":["string","null"]})", {"null", R"("x")"}, {"1", "true"}},
      {"true schema", "true", {"1", "null", R"({"a":[]})"}, {}},
      {"empty schema", "{}", {"1", "\"s\"", "[{}]"}, {"", "[", "nan"}},
  });
}

TEST(GrammarKeywords, Strings) {
  run({
      {"minLength", R"({"type":"string","minLength":2})", {R"("ab")", R"("abc")", "\"\xC3\xA9\xC3\xA9\""}, {R"("a")", R"("")", "\"\xC3\xA9\""}},
      {"maxLength", R"({"type":"string","maxLength":2})", {R"("")", R"("ab")", "\"\xF0\x9F\x98\x80\xF0\x9F\x98\x80\"", R"("\ud83d\ude00")"}, {R"("abc")", R"("a\nb")"}},
      {"pattern unanchored", R"({"type":"string","pattern":"b+c"})", {R"("abbcd")", R"("bc")"}, {R"("ac")", R"("")"}},
      {"pattern anchored", R"({"type":"string","pattern":"^[a-z]{2,3}$"})", {R"("ab")", R"("abc")"}, {R"("a")", R"("abcd")", R"("aB")"}},
      {"pattern classes", R"({"pattern":"^\\d+\\s\\w$"})", {R"("12 x")", R"("3\t_")", "5"}, {R"("1  x")", R"("x x")"}},
      {"pattern escapes in instance", R"({"pattern":"^a\"b$"})", {R"("a\"b")", R"("a\u0022b")"}, {R"("ab")"}},
      {"pattern dot", R"({"pattern":"^.$"})", {R"("x")", "\"\xE2\x82\xAC\""}, {R"("\n")", R"("xy")"}},
      {"pattern alternation", R"({"pattern":"^(cat|dog)s?$"})", {R"("cat")", R"("dogs")"}, {R"("cow")", R"("cats!")"}},
      {"length with pattern", R"({"type":"string","pattern":"^a+$","minLength":2,"maxLength":3})", {R"("aa")", R"("aaa")"}, {R"("a")", R"("aaaa")"}},
  });
}

TEST(GrammarKeywords, Formats) {
  run({
      {"date", R"({"format":"date"})", {R"("2024-02-29")", R"("1999-12-31")"}, {R"("2023-02-29")", R"("2022-01-32")", R"("2022-1-01")", R"("not a date")"}},
      {"time", R"({"format":"time"})", {R"("12:34:56Z")", R"("23:59:59.123+02:00")"}, {R"("24:00:00Z")", R"("12:34:56")", R"("12:60:00Z")"}},
      {"date-time", R"({"format":"date-time"})", {R"("2024-01-15T10:20:30Z")", R"("2024-01-15t10:20:30.5-05:30")"}, {R"("2024-01-15 10:20:30Z")", R"("2024-13-01T00:00:00Z")"}},
      {"duration", R"({"format":"duration"})", {R"("P1Y2M3DT4H5M6S")", R"("PT5M")", R"("P2W")"}, {R"("P")", R"("PT")", R"("1Y")", R"("P1H")"}},
      {"email", R"({"format":"email"})", {R"("john.doe@example.com")", R"("a+b@mail.co")"}, {R"("john@")", R"("@example.com")", R"("a b@example.com")"}},
      {"hostname", R"({"format":"hostname"})", {R"("example.com")", R"("localhost")", R"("a-b.c")"}, {R"("-a.com")", R"("Invalid Host")", R"("example.com:8080")"}},
      {"ipv4", R"({"format":"ipv4"})", {R"("192.168.0.1")", R"("0.0.0.0")"}, {R"("256.1.1.1")", R"("01.2.3.4")", R"("1.2.3")"}},
      {"ipv6", R"({"format":"ipv6"})", {R"("::1")", R"("2001:db8::8a2e:370:7334")", R"("::ffff:192.168.1.1")"}, {R"("1:2:3:4:5:6:7:8:9")", R"(":::")", R"("12345::")"}},
      {"uri", R"({"format":"uri"})", {R"("https://example.com/a?b=c#d")", R"("urn:isbn:0451450523")", R"("mailto:a@b.c")"}, {R"("/relative/path")", R"("not a uri")", R"("http://exa mple.com")"}},
      {"uri-reference", R"({"format":"uri-reference"})", {R"("/relative/path")", R"("https://x.y")", R"("")"}, {R"("a b")"}},
      {"uuid", R"({"format":"uuid"})", {R"("123e4567-e89b-12d3-a456-426614174000")"}, {R"("123e4567e89b12d3a456426614174000")", R"("123e4567-e89b-12d3-a456-42661417400")"}},
      {"format ignores other types", R"({"format":"date"})", {"1", "null"}, {}},
      {"unknown format is an annotation", R"({"type":"integer","format":"int32"})", {"5"}, {"\"5\""}},
  });
}

TEST(GrammarKeywords, Numbers) {
  run({
      {"minimum", R"({"type":"number","minimum":1.5})", {"1.5", "2", "100"}, {"1.4", "-3", "1.49999"}},
      {"maximum", R"({"type":"integer","maximum":100})", {"100", "-5", "0"}, {"101", "1000"}},
      {"exclusive bounds (2020)", R"({"type":"number","exclusiveMinimum":0,"exclusiveMaximum":1})", {"0.5", "0.999"}, {"0", "1", "-0.1"}},
      {"exclusive bounds (draft 4)", R"({"$schema":"http://json-schema.org/draft-04/schema#","type":"number","minimum":0,"exclusiveMinimum":true})", {"0.1"}, {"0"}},
      {"decimal bound exact", R"({"type":"number","minimum":0.1,"maximum":0.3})", {"0.1", "0.3", "0.2"}, {"0.09", "0.31"}},
      {"integer range", R"({"type":"integer","minimum":-10,"maximum":10})", {"-10", "10", "0"}, {"-11", "11", "1.0"}},
      {"multipleOf", R"({"type":"integer","multipleOf":5})", {"0", "10", "-15"}, {"7", "12"}},
      {"multipleOf with bounds", R"({"type":"integer","multipleOf":7,"minimum":10,"maximum":20})", {"14"}, {"7", "21", "10"}},
      {"big bounds", R"({"type":"integer","minimum":0,"maximum":9223372036854776000})", {"123456789"}, {"-1"}},
      {"bounds only apply to numbers", R"({"minimum":5})", {"\"x\"", "7"}, {"3"}},
      {"exponents with bounds", R"({"type":"number","minimum":0,"maximum":1})", {"1e-06", "5e-1", "1E0", "0.5e+0", "0e5", "10e-1"}, {"2e0", "1e1", "-1e-3", "1.1e0", "1e-99999"}},
      {"exponent with enum", R"({"enum":[1500, 0.002]})", {"1.5e3", "15e2", "2e-3", "1500"}, {"1.5e2", "2e-4"}},
  });
}

TEST(GrammarKeywords, EnumConst) {
  run({
      {"enum", R"({"enum":["red","green",1,null,true,{"a":[1]}]})", {R"("red")", R"("green")", "1", "1.0", "null", "true", R"({"a":[1]})", R"({"a":[1.0]})"}, {R"("blue")", "2", "false", R"({"a":[1,2]})", R"({"a":[1],"b":1})", R"({})"}},
      {"const string", R"({"const":"x\ny"})", {R"("x\ny")", R"("x\u000ay")"}, {R"("xy")", R"("x\\ny")"}},
      {"const number", R"({"const":2.5})", {"2.5", "2.50"}, {"2.4", "25"}},
      {"enum with type", R"({"type":"string","enum":["a",1]})", {R"("a")"}, {"1"}},
  });
}

TEST(GrammarKeywords, Arrays) {
  run({
      {"items", R"({"type":"array","items":{"type":"integer"}})", {"[]", "[1,2,3]"}, {"[1,\"a\"]", "[1.5]"}},
      {"min/maxItems", R"({"type":"array","minItems":1,"maxItems":2})", {"[1]", "[1,2]"}, {"[]", "[1,2,3]"}},
      {"large counts", R"({"type":"array","items":{"type":"integer"},"minItems":3,"maxItems":100000})", {"[1,2,3]", "[1,2,3,4,5,6,7,8,9,10]"}, {"[1,2]"}},
      {"prefixItems", R"({"type":"array","prefixItems":[{"type":"string"},{"type":"integer"}],"items":false})", {"[]", "[\"a\"]", "[\"a\",1]"}, {"[1]", "[\"a\",1,2]"}},
      {"prefixItems then items", R"({"prefixItems":[{"type":"string"}],"items":{"type":"boolean"}})", {"[\"a\",true,false]"}, {"[\"a\",1]"}},
      {"tuple items (draft 4)", R"({"$schema":"http://json-schema.org/draft-04/schema#","items":[{"type":"string"}],"additionalItems":false})", {"[\"a\"]", "[]"}, {"[\"a\",1]"}},
      {"additionalItems ignored without tuple", R"({"items":{"type":"integer"},"additionalItems":false})", {"[1,2]"}, {}},
      {"impossible item caps length", R"({"prefixItems":[{"type":"integer"},false]})", {"[1]", "[]"}, {"[1,2]"}},
  });
}

TEST(GrammarKeywords, Objects) {
  run({
      {"properties", R"({"type":"object","properties":{"a":{"type":"integer"},"b":{"type":"string"}}})", {"{}", R"({"a":1})", R"({"b":"x","a":2})", R"({"c":[]})"}, {R"({"a":"x"})", R"({"b":1})"}},
      {"required", R"({"required":["a","b"]})", {R"({"a":1,"b":2})", R"({"b":2,"a":1,"c":3})", "5"}, {R"({"a":1})", "{}"}},
      {"additionalProperties false", R"({"properties":{"a":{}},"additionalProperties":false})", {R"({"a":1})", "{}"}, {R"({"b":1})", R"({"a":1,"b":2})"}},
      {"additionalProperties schema", R"({"properties":{"a":{}},"additionalProperties":{"type":"integer"}})", {R"({"a":"x","b":1})"}, {R"({"b":"x"})"}},
      {"duplicate named keys", R"({"properties":{"a":{}}})", {R"({"a":1})"}, {R"({"a":1,"a":2})"}},
      {"patternProperties", R"({"patternProperties":{"^x-":{"type":"integer"}},"additionalProperties":false})", {R"({"x-a":1})", "{}"}, {R"({"x-a":"s"})", R"({"y":1})"}},
      {"pattern and property", R"({"properties":{"x-a":{"minimum":5}},"patternProperties":{"^x-":{"type":"integer"}}})", {R"({"x-a":7})"}, {R"({"x-a":7.5})", R"({"x-a":3})"}},
      {"min/maxProperties", R"({"minProperties":1,"maxProperties":2})", {R"({"a":1})", R"({"a":1,"b":2})"}, {"{}", R"({"a":1,"b":2,"c":3})"}},
      {"maxProperties with required", R"({"required":["a"],"maxProperties":1})", {R"({"a":1})"}, {R"({"b":1})", R"({"a":1,"b":1})"}},
      {"propertyNames", R"({"propertyNames":{"pattern":"^[a-z]+$","maxLength":3}})", {R"({"ab":1})", "{}"}, {R"({"aB":1})", R"({"abcd":1})"}},
      {"dependentRequired", R"({"dependentRequired":{"a":["b"]}})", {R"({"b":1})", R"({"a":1,"b":2})", "{}"}, {R"({"a":1})"}},
      {"dependencies (array)", R"({"dependencies":{"a":["b"]}})", {R"({"a":1,"b":2})"}, {R"({"a":1})"}},
      {"escaped key", R"({"properties":{"a\"b":{"type":"integer"}},"additionalProperties":false})", {R"({"a\"b":1})", R"({"a\u0022b":1})"}, {R"({"ab":1})"}},
      {"unicode key", R"({"properties":{"é":{"type":"integer"}},"required":["é"],"additionalProperties":false})", {"{\"\xC3\xA9\":1}", R"({"\u00e9":1})", R"({"\u00E9":1})"}, {R"({"e":1})"}},
  });
}

TEST(GrammarKeywords, Combinators) {
  run({
      {"allOf merged", R"({"allOf":[{"type":"integer"},{"minimum":3},{"maximum":5}]})", {"3", "5"}, {"2", "6", "4.5"}},
      {"allOf objects", R"({"allOf":[{"properties":{"a":{"type":"integer"}},"required":["a"]},{"properties":{"b":{"type":"string"}},"required":["b"]}]})", {R"({"a":1,"b":"x"})"}, {R"({"a":1})", R"({"a":"1","b":"x"})"}},
      {"allOf additionalProperties", R"({"allOf":[{"properties":{"a":{}},"additionalProperties":false},{"properties":{"b":{}}}]})", {R"({"a":1})"}, {R"({"b":1})"}},
      {"anyOf", R"({"anyOf":[{"type":"string","maxLength":2},{"type":"integer"}]})", {R"("ab")", "5"}, {R"("abc")", "1.5"}},
      {"anyOf objects", R"({"anyOf":[{"properties":{"k":{"const":"a"},"x":{"type":"integer"}},"required":["k","x"]},{"properties":{"k":{"const":"b"},"y":{"type":"string"}},"required":["k","y"]}]})", {R"({"k":"a","x":1})", R"({"y":"s","k":"b"})"}, {R"({"k":"a","y":"s"})", R"({"k":"c","x":1})"}},
      {"oneOf disjoint types", R"({"oneOf":[{"type":"string"},{"type":"integer"}]})", {R"("a")", "1"}, {"1.5", "null"}},
      {"oneOf discriminator", R"({"oneOf":[{"properties":{"t":{"const":"a"}},"required":["t"]},{"properties":{"t":{"const":"b"}},"required":["t"]}]})", {R"({"t":"a"})", R"({"t":"b","z":1})"}, {R"({"t":"c"})", "{}"}},
      {"oneOf exclusive", R"({"oneOf":[{"required":["a"]},{"required":["b"]}]})", {R"({"a":1})", R"({"b":1})"}, {R"({"a":1,"b":2})", "{}", "1"}},
      {"oneOf overlapping ranges", R"({"oneOf":[{"minimum":1},{"maximum":5}]})", {"0", "6"}, {"1", "3", "5", "\"x\""}},
      {"oneOf per type", R"({"oneOf":[{"type":"string"},{"type":["string","integer"],"maxLength":2}]})", {"\"abc\"", "7"}, {"\"ab\"", "null"}},
      {"not type", R"({"not":{"type":"string"}})", {"1", "null", "{}"}, {R"("s")"}},
      {"not enum", R"({"type":"string","not":{"enum":["a","b"]}})", {R"("c")", R"("ab")"}, {R"("a")", R"("b")"}},
      {"not required", R"({"type":"object","not":{"required":["a","b"]}})", {R"({"a":1})", "{}"}, {R"({"a":1,"b":2})"}},
      {"not pattern", R"({"type":"string","not":{"pattern":"^x"}})", {R"("ax")"}, {R"("xa")"}},
      {"not minimum", R"({"type":"number","not":{"minimum":5}})", {"4.99", "-1"}, {"5", "6"}},
      {"not properties", R"({"type":"object","not":{"properties":{"a":{"type":"string"}}}})", {R"({"a":1})", R"({"b":1,"a":[]})"}, {"{}", R"({"a":"x"})", R"({"b":1})"}},
      {"not properties and required", R"({"type":"object","not":{"properties":{"a":{"const":1}},"required":["a"]}})", {"{}", R"({"a":2})"}, {R"({"a":1})", R"({"a":1,"b":0})"}},
      {"not dependentRequired", R"({"type":"object","not":{"dependentRequired":{"a":["b"]}}})", {R"({"a":1})", R"({"c":1,"a":1})"}, {R"({"a":1,"b":1})", "{}", R"({"b":1})"}},
      {"not min/maxProperties and required", R"({"type":"object","not":{"required":["a"],"maxProperties":1}})", {"{}", R"({"a":1,"b":2})"}, {R"({"a":1})"}},
      {"not of a recursive object", R"({"$defs":{"n":{"anyOf":[{"type":"null"},{"type":"object","properties":{"next":{"$ref":"#/$defs/n"}}}]}},"not":{"$ref":"#/$defs/n"}})", {"1", R"({"next":1})", R"({"next":{"next":"x"}})"}, {"null", "{}", R"({"next":null})", R"({"next":{}})"}},
      {"oneOf overlapping objects", R"({"oneOf":[{"properties":{"a":{"type":"string"}}},{"properties":{"b":{"type":"string"}}}]})", {R"({"a":1})", R"({"a":"x","b":1})"}, {"{}", R"({"a":"x","b":"y"})", R"({"a":1,"b":2})"}},
      {"if/then/else", R"({"if":{"properties":{"kind":{"const":"a"}},"required":["kind"]},"then":{"required":["x"]},"else":{"required":["y"]}})", {R"({"kind":"a","x":1})", R"({"kind":"b","y":1})", R"({"y":1})", "5"}, {R"({"kind":"a","y":1})", R"({"kind":"b","x":1})", "{}"}},
      {"if/then", R"({"if":{"type":"string"},"then":{"minLength":2}})", {R"("ab")", "5"}, {R"("a")"}},
      {"if/else", R"({"type":"integer","if":{"minimum":10},"else":{"multipleOf":2}})", {"11", "4"}, {"3"}},
      {"if without then/else is an annotation", R"({"if":{"type":"string"}})", {"1", R"("s")"}, {}},
      {"draft 4 has no if", R"({"$schema":"http://json-schema.org/draft-04/schema#","if":{"type":"string"},"then":{"minLength":2}})", {R"("a")"}, {}},
      {"dependentSchemas", R"({"dependentSchemas":{"a":{"required":["b"],"properties":{"b":{"type":"integer"}}}}})", {R"({"a":1,"b":2})", R"({"b":"x"})", "{}", "3"}, {R"({"a":1})", R"({"a":1,"b":"x"})"}},
      {"dependencies (schema)", R"({"dependencies":{"a":{"properties":{"b":{"type":"string"}}}}})", {R"({"a":1,"b":"s"})", R"({"b":1})"}, {R"({"a":1,"b":1})"}},
  });
}

TEST(GrammarKeywords, Refs) {
  run({
      {"definitions", R"({"definitions":{"p":{"type":"integer"}},"properties":{"a":{"$ref":"#/definitions/p"}}})", {R"({"a":1})"}, {R"({"a":"x"})"}},
      {"$defs and siblings (2020)", R"({"$defs":{"p":{"type":"integer"}},"$ref":"#/$defs/p","minimum":3})", {"3"}, {"2"}},
      {"draft 7 ignores siblings of $ref", R"({"$schema":"http://json-schema.org/draft-07/schema#","definitions":{"p":{"type":"integer"}},"$ref":"#/definitions/p","minimum":3})", {"2"}, {"\"x\""}},
      {"recursion", R"({"$defs":{"n":{"type":"object","properties":{"kids":{"type":"array","items":{"$ref":"#/$defs/n"}}},"additionalProperties":false}},"$ref":"#/$defs/n"})", {R"({"kids":[{"kids":[]},{}]})"}, {R"({"kids":[{"x":1}]})"}},
      {"root recursion", R"({"type":["array","integer"],"items":{"$ref":"#"}})", {"[1,[2,[3]]]"}, {"[1,[\"a\"]]"}},
      {"$id and anchors", R"({"$id":"http://x.y/root.json","$defs":{"a":{"$id":"a.json","type":"string"},"b":{"$anchor":"bee","type":"integer"}},"properties":{"p":{"$ref":"a.json"},"q":{"$ref":"#bee"}}})", {R"({"p":"s","q":1})"}, {R"({"p":1})", R"({"q":"s"})"}},
      {"escaped pointer", R"({"$defs":{"a/b":{"type":"null"},"c~d":{"type":"boolean"}},"properties":{"x":{"$ref":"#/$defs/a~1b"},"y":{"$ref":"#/$defs/c~0d"}}})", {R"({"x":null,"y":true})"}, {R"({"x":1})"}},
  });
}

TEST(GrammarKeywords, RefusedWithPointer) {
  struct R {
    const char* schema;
    const char* keyword;
    const char* pointer;
  };
  std::vector<R> cases = {
      {R"({"properties":{"a":{"uniqueItems":true}}})", "uniqueItems", "/properties/a/uniqueItems"},
      {R"({"if":{"additionalProperties":{"type":"integer"}},"then":{"required":["a"]}})", "not", "at /if"},
      {R"({"items":{"contains":{"type":"integer"}}})", "contains", "/items/contains"},
      {R"({"unevaluatedProperties":false})", "unevaluatedProperties", "/unevaluatedProperties"},
      {R"({"pattern":"(?=a)b"})", "pattern", "/pattern"},
      {R"({"pattern":"(a)\\1"})", "pattern", "/pattern"},
      {R"({"format":"regex"})", "format", "/format"},
      {R"({"multipleOf":0.01})", "multipleOf", "/multipleOf"},
      {R"({"$ref":"http://example.com/other.json"})", "$ref", "/$ref"},
      {R"({"dependentSchemas":{"a":{"uniqueItems":true}}})", "uniqueItems", "/dependentSchemas/a/uniqueItems"},
      {R"({"oneOf":[{"patternProperties":{"^x":{"type":"integer"}}},{"properties":{"b":{"type":"integer"}}}]})", "oneOf", "/oneOf"},
      {R"({"not":{"additionalProperties":{"type":"integer"}}})", "not", "/not"},
      {R"({"$defs":{"a":{"$ref":"#/$defs/a"}},"$ref":"#/$defs/a"})", "circular", "/$defs/a"},
  };
  for (const R& r : cases) {
    try {
      compile(r.schema);
      ADD_FAILURE() << "not refused: " << r.schema;
    } catch (const SchemaUnsupported& e) {
      std::string what = e.what();
      EXPECT_NE(what.find(r.keyword), std::string::npos) << what;
      EXPECT_NE(what.find(r.pointer), std::string::npos) << what;
    }
  }
}

TEST(GrammarKeywords, StrictFormatsRefuseUnknown) {
  CompileOptions strict;
  strict.strict_formats = true;
  EXPECT_THROW(compile(R"({"format":"int32"})", strict), SchemaUnsupported);
  EXPECT_NO_THROW(compile(R"({"format":"int32"})"));
}

// A schema no value satisfies (`false` included) is refused at compile time (test_unsat.cpp
// covers the explanations): a request must never start from a constraint it cannot meet.
TEST(GrammarKeywords, UnsatisfiableSchemaIsRefused) {
  EXPECT_THROW(compile("false"), SchemaUnsupported);
  EXPECT_THROW(compile(R"({"type":"object","required":["a"],"properties":{"a":false}})"), SchemaUnsupported);
}

}  // namespace
}  // namespace hearth::grammar::test
