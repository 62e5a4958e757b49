// Constrained generation end to end. A random-weight Qwen3 with the full 151,936-row
// vocabulary and the real Qwen3 tokenizer samples at temperature 1 under a few dozen JSON
// Schemas: every output must end because its value completed ("stop"), and must parse and
// validate with an independent validator (python3-jsonschema, via
// tests/unit/grammar/validate_outputs.py). The batched Engine must produce the Generator's
// tokens under the same seeds.
//
// Random weights pick string and array lengths at random: a string ends only when a token
// holding '"' is drawn, which happens every few tokens over this vocabulary but has no bound.
// The schemas below therefore bound free-form strings and arrays (maxLength / maxItems) so
// that every value finishes inside max_tokens; unfinished outputs are still counted and
// reported, and the test fails on any.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "common/tiny_model.h"
#include "hearth/core/error.h"
#include "hearth/engine/engine.h"
#include "hearth/engine/generator.h"
#include "hearth/engine/request_rules.h"
#include "hearth/grammar/grammar.h"
#include "hearth/grammar/maskbench.h"
#include "hearth/sampling/constrained_decoder.h"
#include "hearth/tokenizer/tokenizer.h"
#include "mask_step_bench.h"

namespace hearth {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::string shared_dir() {
  if (const char* env = std::getenv("HEARTH_SHARED_DIR")) return env;
  return HEARTH_SHARED_DIR;
}

// Tiny hidden sizes, the full Qwen3 vocabulary and EOS ids.
json full_vocab_config() {
  return {{"architectures", {"Qwen3ForCausalLM"}},
          {"model_type", "qwen3"},
          {"vocab_size", 151936},
          {"hidden_size", 32},
          {"intermediate_size", 64},
          {"num_hidden_layers", 1},
          {"num_attention_heads", 2},
          {"num_key_value_heads", 1},
          {"head_dim", 16},
          {"rms_norm_eps", 1e-6},
          {"max_position_embeddings", 4096},
          {"tie_word_embeddings", true},
          {"bos_token_id", 151643},
          {"eos_token_id", {151645, 151643}},
          {"rope_parameters", {{"rope_theta", 1000000.0}, {"rope_type", "default"}}},
          {"dtype", "float32"}};
}

// Objects, arrays, enums, const, numbers with bounds, strings with patterns and formats,
// anyOf / oneOf, allOf, $ref / $defs with recursion, min/max properties.
const char* kSchemas = R"JSON([
  {"type": "object", "properties": {"name": {"type": "string", "maxLength": 12}, "age": {"type": "integer", "minimum": 0, "maximum": 120}}, "required": ["name", "age"], "additionalProperties": false},
  {"type": "integer"},
  {"type": "integer", "minimum": -50, "maximum": 50},
  {"type": "integer", "exclusiveMinimum": 1000, "maximum": 100000},
  {"type": "number", "minimum": 0.5, "maximum": 2.25},
  {"type": "number", "exclusiveMinimum": -1, "exclusiveMaximum": 1},
  {"type": "boolean"},
  {"type": "null"},
  {"enum": ["red", "green", "blue", 3, null, true]},
  {"const": {"kind": "fixed", "n": [1, 2]}},
  {"type": "string", "maxLength": 16},
  {"type": "string", "minLength": 3, "maxLength": 6},
  {"type": "string", "pattern": "^[A-Z]{2}-[0-9]{3,5}$"},
  {"type": "string", "pattern": "ab+c", "maxLength": 10},
  {"type": "string", "format": "date"},
  {"type": "string", "format": "time"},
  {"type": "string", "format": "date-time"},
  {"type": "string", "format": "uuid"},
  {"type": "string", "format": "ipv4"},
  {"type": "string", "format": "ipv6"},
  {"type": "string", "format": "email", "maxLength": 24},
  {"type": "string", "format": "hostname", "maxLength": 20},
  {"type": "array", "items": {"type": "integer", "minimum": 0, "maximum": 9}, "maxItems": 5},
  {"type": "array", "items": {"type": "string", "maxLength": 4}, "minItems": 2, "maxItems": 4},
  {"type": "array", "prefixItems": [{"type": "boolean"}, {"enum": ["x", "y"]}], "items": false},
  {"type": ["integer", "null", "boolean"]},
  {"anyOf": [{"type": "integer", "maximum": 5}, {"type": "string", "maxLength": 5}]},
  {"oneOf": [{"type": "object", "properties": {"k": {"const": "a"}}, "required": ["k"], "additionalProperties": false}, {"type": "array", "maxItems": 2, "items": {"type": "null"}}]},
  {"allOf": [{"type": "object", "properties": {"a": {"type": "integer", "minimum": 0, "maximum": 999}}, "required": ["a"]}, {"properties": {"a": true, "b": {"type": "boolean"}}, "required": ["b"], "additionalProperties": false}]},
  {"$defs": {"point": {"type": "object", "properties": {"x": {"type": "number", "minimum": -10, "maximum": 10}, "y": {"type": "number", "minimum": -10, "maximum": 10}}, "required": ["x", "y"], "additionalProperties": false}}, "type": "object", "properties": {"from": {"$ref": "#/$defs/point"}, "to": {"$ref": "#/$defs/point"}}, "required": ["from", "to"], "additionalProperties": false},
  {"$defs": {"node": {"type": "object", "properties": {"v": {"type": "integer", "minimum": 0, "maximum": 99}, "next": {"anyOf": [{"type": "null"}, {"$ref": "#/$defs/node"}]}}, "required": ["v", "next"], "additionalProperties": false}}, "$ref": "#/$defs/node"},
  {"definitions": {"tag": {"enum": ["a", "b", "c"]}}, "type": "array", "items": {"$ref": "#/definitions/tag"}, "maxItems": 6},
  {"type": "object", "properties": {"id": {"type": "string", "format": "uuid"}, "when": {"type": "string", "format": "date"}, "score": {"type": "number", "minimum": 0, "maximum": 1}, "tags": {"type": "array", "items": {"enum": ["new", "old"]}, "maxItems": 3}}, "required": ["id", "when", "score"], "additionalProperties": false},
  {"type": "object", "properties": {"title": {"type": "string", "maxLength": 20}, "salary": {"type": "object", "properties": {"min": {"type": "integer", "minimum": 0, "maximum": 1000000}, "max": {"type": "integer", "minimum": 0, "maximum": 1000000}, "currency": {"enum": ["EUR", "USD", "GBP"]}}, "required": ["min", "currency"], "additionalProperties": false}, "remote": {"type": "boolean"}}, "required": ["title", "salary", "remote"], "additionalProperties": false},
  {"type": "object", "additionalProperties": {"type": "integer", "minimum": 0, "maximum": 9}, "propertyNames": {"maxLength": 3}, "maxProperties": 3},
  {"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}, "c": {"type": "integer"}}, "additionalProperties": false, "minProperties": 2}
])JSON";

struct Fixture {
  std::unique_ptr<Tokenizer> tokenizer;
  std::shared_ptr<const grammar::Vocabulary> vocab;
  testing::TempDir dir;
  std::unique_ptr<Checkpoint> checkpoint;
  std::vector<int> eos;
};

// The tokenizer's tokens as the matcher sees them (the CLI's grammar_vocabulary).
std::shared_ptr<const grammar::Vocabulary> vocabulary_of(const Tokenizer& t, const std::vector<int>& eos) {
  std::vector<std::string> bytes(static_cast<size_t>(t.vocab_size()));
  for (int32_t i = 0; i < t.vocab_size(); ++i) bytes[static_cast<size_t>(i)] = t.token_bytes(i);
  std::vector<int32_t> stops(eos.begin(), eos.end()), specials;
  for (const AddedToken& a : t.added_tokens())
    if (a.special && std::find(stops.begin(), stops.end(), a.id) == stops.end()) specials.push_back(a.id);
  return std::make_shared<const grammar::Vocabulary>(std::move(bytes), std::move(stops), std::move(specials));
}

// Null (and the test skips) when ../shared's Qwen3 tokenizer is absent.
Fixture* fixture() {
  static Fixture* f = [] {
    const std::string tok_dir = shared_dir() + "/tokenizer/qwen3";
    if (!Tokenizer::has_tokenizer_files(tok_dir)) return static_cast<Fixture*>(nullptr);
    auto* fx = new Fixture;
    fx->tokenizer = Tokenizer::load(tok_dir);
    LoadOptions opts;
    opts.random_seed = 11;
    opts.random_dtype = DType::F32;
    fx->checkpoint = Checkpoint::open("random:" + fx->dir.write("config.json", full_vocab_config().dump()), opts);
    fx->eos = merged_eos_token_ids(*fx->checkpoint);
    fx->vocab = vocabulary_of(*fx->tokenizer, fx->eos);
    return fx;
  }();
  return f;
}

#define NEED_FIXTURE()                                                                              \
  Fixture* fx = fixture();                                                                          \
  if (fx == nullptr) GTEST_SKIP() << "no Qwen3 tokenizer in " << shared_dir() << "/tokenizer/qwen3 " \
                                  << "(set HEARTH_SHARED_DIR)"

std::shared_ptr<const Constraint> constraint_of(const Fixture& fx, const json& schema, int32_t start_after = -1) {
  auto c = std::make_shared<Constraint>();
  c->grammar = grammar::Grammar::from_json_schema(schema);
  c->vocabulary = fx.vocab;
  c->start_after_token = start_after;
  return c;
}

GenerationRequest request_of(const Fixture& fx, const json& schema, uint64_t seed, int max_tokens) {
  GenerationRequest r;
  r.prompt_ids = fx.tokenizer->encode("Give me JSON:");
  r.params.temperature = 1.0f;
  r.params.seed = seed;
  r.params.max_tokens = max_tokens;
  r.params.constraint = constraint_of(fx, schema);
  return r;
}

bool is_eos(const Fixture& fx, int32_t id) { return std::find(fx.eos.begin(), fx.eos.end(), id) != fx.eos.end(); }

// The output's bytes: its tokens' bytes, a final EOS left out.
std::string output_bytes(const Fixture& fx, const std::vector<int32_t>& ids) {
  std::string s;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i + 1 == ids.size() && is_eos(fx, ids[i])) break;
    s += fx.vocab->token(ids[i]);
  }
  return s;
}

// Runs validate_outputs.py on lines {"id", "schema", "output"}; returns its exit status
// (77: python3-jsonschema is missing).
int validate_with_jsonschema(const std::vector<json>& lines, std::string& report) {
  const fs::path file = fs::temp_directory_path() / ("hearth_constrained_" + std::to_string(::getpid()) + ".jsonl");
  {
    std::ofstream out(file);
    for (const json& l : lines) out << l.dump(-1, ' ', false, json::error_handler_t::replace) << "\n";
  }
  const std::string cmd = std::string("python3 ") + HEARTH_SOURCE_DIR + "/tests/unit/grammar/validate_outputs.py " +
                          file.string() + " 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) return -1;
  char buf[4096];
  while (std::fgets(buf, sizeof buf, p) != nullptr) report += buf;
  const int status = ::pclose(p);
  fs::remove(file);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(ConstrainedGeneration, EveryOutputCompletesAndValidates_GeneratorAndEngineAgree) {
  NEED_FIXTURE();
  if (std::system("python3 -c 'import jsonschema' >/dev/null 2>&1") != 0)
    GTEST_SKIP() << "python3-jsonschema is not installed (apt-get install python3-jsonschema)";
  const json schemas = json::parse(kSchemas);
  const std::vector<uint64_t> seeds = {1, 2, 3};
  constexpr int kMaxTokens = 1024;

  auto backend = make_cpu_backend(1);
  Generator gen(*fx->checkpoint, *backend);
  std::vector<GenerationRequest> requests;
  std::vector<GenerationResult> results;
  std::vector<json> lines;
  int unfinished = 0, by_eos = 0, by_completion = 0;
  size_t tokens = 0;
  for (size_t s = 0; s < schemas.size(); ++s) {
    for (uint64_t seed : seeds) {
      requests.push_back(request_of(*fx, schemas[s], seed, kMaxTokens));
      const std::string where = "schema " + std::to_string(s) + " seed " + std::to_string(seed);
      GenerationResult r;
      try {
        r = gen.generate(requests.back());
      } catch (const Error& e) {
        FAIL() << where << ": " << e.what();
      }
      tokens += r.ids.size();
      if (r.finish_reason != "stop") {
        ++unfinished;
        ADD_FAILURE() << where << ": finished with '" << r.finish_reason << "' after " << r.ids.size() << " tokens";
      } else {
        (is_eos(*fx, r.ids.back()) ? by_eos : by_completion)++;
      }
      // No EOS (or other special token) inside the value.
      for (size_t i = 0; i + 1 < r.ids.size(); ++i)
        EXPECT_FALSE(is_eos(*fx, r.ids[i]) || fx->tokenizer->is_special(r.ids[i])) << where << ": token " << i;
      lines.push_back({{"id", where}, {"schema", schemas[s]}, {"output", output_bytes(*fx, r.ids)}});
      results.push_back(std::move(r));
    }
  }
  std::printf("[ constrained ] %zu schemas x %zu seeds: %d ended by EOS, %d by a value that cannot continue, "
              "%d unfinished (max_tokens %d); %zu tokens\n",
              schemas.size(), seeds.size(), by_eos, by_completion, unfinished, kMaxTokens, tokens);
  EXPECT_EQ(unfinished, 0);

  std::string report;
  const int rc = validate_with_jsonschema(lines, report);
  std::printf("[ constrained ] validator: %s", report.c_str());
  EXPECT_EQ(rc, 0) << report;

  // The batched engine, every request in flight at once, gives the same tokens.
  EngineOptions eo;
  eo.max_num_seqs = 32;
  Engine engine(*fx->checkpoint, *backend, eo);
  const std::vector<GenerationResult> batched = engine.generate_all(requests);
  ASSERT_EQ(batched.size(), results.size());
  for (size_t i = 0; i < results.size(); ++i) {
    EXPECT_EQ(batched[i].ids, results[i].ids) << lines[i]["id"];
    EXPECT_EQ(batched[i].finish_reason, results[i].finish_reason) << lines[i]["id"];
  }
}

// Bounds a real-world schema so that a random-weight model finishes its values: over the full
// vocabulary a free string closes only when one of the ~1% of tokens holding '"' is drawn, so an
// object of a few free strings outlasts any reasonable max_tokens. Adds maxLength (strings),
// maxItems (arrays), maxProperties and propertyNames' maxLength (objects) to every subschema
// (lowering larger ones), never below the schema's own minimums, and bounded any-value schemas
// for absent items / additionalProperties. Outputs are validated against the original schema.
json bounded_any(int depth) {
  return depth < 2 ? json::object() : json{{"type", {"string", "number", "boolean", "null"}}};
}

// The longest property name a schema names anywhere (keys of `properties`, `required`).
size_t longest_name(const json& node) {
  size_t n = 0;
  if (node.is_object()) {
    for (const auto& [key, v] : node.items()) {
      if (key == "properties" && v.is_object())
        for (const auto& [name, sub] : v.items()) n = std::max(n, name.size());
      if (key == "required" && v.is_array())
        for (const json& r : v)
          if (r.is_string()) n = std::max(n, r.get<std::string>().size());
      n = std::max(n, longest_name(v));
    }
  } else if (node.is_array()) {
    for (const json& v : node) n = std::max(n, longest_name(v));
  }
  return n;
}

void bound_schema(json& node, size_t key_len, int depth = 0) {
  if (node.is_boolean() && node.get<bool>()) node = bounded_any(depth);  // `true`: any value
  if (!node.is_object()) return;
  auto at_least = [&](const char* min_key, int64_t v) {
    const auto it = node.find(min_key);
    return it != node.end() && it->is_number_integer() ? std::max(v, it->get<int64_t>()) : v;
  };
  // These keywords constrain only values of their own type, so they can be added to any
  // subschema, typed or not; an existing larger bound is lowered the same way (it narrows).
  auto cap = [&](const char* max_key, const char* min_key, int64_t v) {
    v = at_least(min_key, v);
    const auto it = node.find(max_key);
    if (it == node.end() || !it->is_number_integer() || it->get<int64_t>() > v) node[max_key] = v;
  };
  if (!node.contains("$ref") && !node.contains("enum") && !node.contains("const")) {  // those are finite
    cap("maxLength", "minLength", 32);
    cap("maxItems", "minItems", 4);
    const size_t required = node.contains("required") && node["required"].is_array() ? node["required"].size() : 0;
    cap("maxProperties", "minProperties", std::max<int64_t>(8, static_cast<int64_t>(required)));
    // Free keys, long enough for every property the schema names (anywhere: a node's keys may
    // be named in its anyOf / allOf branches).
    if (!node.contains("propertyNames")) node["propertyNames"] = {{"maxLength", key_len}};
    // Absent, these allow any value: bounded the same way, scalars only two levels in.
    if (depth < 3 && !node.contains("additionalProperties")) node["additionalProperties"] = bounded_any(depth + 1);
    if (depth < 3 && !node.contains("items")) node["items"] = bounded_any(depth + 1);
  }
  for (auto& [key, v] : node.items()) {
    if (key == "properties" || key == "$defs" || key == "definitions" || key == "patternProperties" ||
        key == "dependentSchemas") {
      if (v.is_object())
        for (auto& [name, sub] : v.items()) bound_schema(sub, key_len, depth + 1);
    } else if (key == "items" || key == "additionalProperties" || key == "contains" || key == "then" ||
               key == "else" || key == "additionalItems") {  // not `not` / `if`: bounding them would widen
      if (v.is_array()) {
        for (json& sub : v) bound_schema(sub, key_len, depth + 1);
      } else {
        bound_schema(v, key_len, depth + 1);
      }
    } else if (key == "prefixItems" || key == "anyOf" || key == "oneOf" || key == "allOf") {
      if (v.is_array())
        for (json& sub : v) bound_schema(sub, key_len, depth + 1);
    }
  }
}

// Real-world schemas (MaskBench, a spread over the file), bounded by bound_schema. Unfinished
// outputs are counted and reported and fail the test; every output must validate against the
// bounded schema (hence against the original one, which it only narrows).
TEST(ConstrainedGeneration, MaskBenchSchemasFinishedOutputsValidate) {
  NEED_FIXTURE();
  const std::string data = shared_dir() + "/jsonschema/maskbench-dev.jsonl.gz";
  if (!fs::exists(data)) GTEST_SKIP() << "no " << data;
  if (std::system("python3 -c 'import jsonschema' >/dev/null 2>&1") != 0)
    GTEST_SKIP() << "python3-jsonschema is not installed (apt-get install python3-jsonschema)";
  const std::vector<grammar::MaskBenchCase> cases = grammar::load_maskbench(data);
  constexpr size_t kSchemas = 40;
  constexpr int kMaxTokens = 1024;
  auto backend = make_cpu_backend(1);
  Generator gen(*fx->checkpoint, *backend);
  std::vector<json> lines;
  size_t tried = 0, refused = 0, unfinished = 0;
  for (size_t i = 0; i < cases.size() && lines.size() + unfinished < kSchemas; i += cases.size() / (kSchemas * 2)) {
    ++tried;
    GenerationRequest r;
    try {
      json schema = cases[i].schema;
      bound_schema(schema, std::max<size_t>(16, longest_name(schema)));
      r = request_of(*fx, schema, 7 + i, kMaxTokens);
      gen.validate(r);
    } catch (const Error& e) {  // refused by the compiler, or no value left once bounded
      ++refused;
      if (std::getenv("HEARTH_SHOW_UNFINISHED")) std::printf("refused %s: %s\n", cases[i].id.c_str(), e.what());
      continue;
    }
    const GenerationResult out = gen.generate(r);
    if (out.finish_reason != "stop") {
      ++unfinished;
      if (std::getenv("HEARTH_SHOW_UNFINISHED"))
        std::printf("unfinished %s: %s\n", cases[i].id.c_str(), output_bytes(*fx, out.ids).substr(0, 300).c_str());
      continue;
    }
    // The original schema: the bounds only narrow it.
    lines.push_back({{"id", cases[i].id}, {"schema", cases[i].schema}, {"output", output_bytes(*fx, out.ids)}});
  }
  std::printf("[ constrained ] MaskBench: %zu schemas tried, %zu refused (compiler, or unsatisfiable once bounded), %zu finished, "
              "%zu unfinished at max_tokens %d\n", tried, refused, lines.size(), unfinished, kMaxTokens);
  ASSERT_FALSE(lines.empty());
  std::string report;
  const int rc = validate_with_jsonschema(lines, report);
  std::printf("[ constrained ] validator: %s", report.c_str());
  EXPECT_EQ(rc, 0) << report;
  EXPECT_EQ(unfinished, 0u);
}

TEST(ConstrainedGeneration, GreedyAndJsonObjectMode) {
  NEED_FIXTURE();
  auto backend = make_cpu_backend(1);
  Generator gen(*fx->checkpoint, *backend);
  GenerationRequest r;
  r.prompt_ids = fx->tokenizer->encode("{");
  r.params.temperature = 0.0f;
  r.params.max_tokens = 512;
  auto c = std::make_shared<Constraint>();
  c->grammar = grammar::Grammar::any_json_object();
  c->vocabulary = fx->vocab;
  r.params.constraint = c;
  const GenerationResult out = gen.generate(r);
  const std::string text = output_bytes(*fx, out.ids);
  if (out.finish_reason == "stop") {
    const json j = json::parse(text, nullptr, false);
    EXPECT_TRUE(j.is_object()) << text;
  } else {
    // Greedy on random weights may loop inside an unbounded value; then it must still be
    // a prefix the constraint accepted, which accept() checked token by token.
    std::printf("[ constrained ] greedy json_object did not finish in %zu tokens\n", out.ids.size());
    EXPECT_EQ(out.finish_reason, "length");
  }
  EXPECT_FALSE(text.empty());
  EXPECT_EQ(text.front(), '{');
}

TEST(ConstrainedGeneration, LogprobsAreThoseOfTheRawLogits) {
  NEED_FIXTURE();
  auto backend = make_cpu_backend(1);
  Generator gen(*fx->checkpoint, *backend);
  GenerationRequest free_req = request_of(*fx, json::parse(R"({"type": "boolean"})"), 5, 1);
  free_req.params.constraint = nullptr;
  free_req.params.logprobs = 5;
  GenerationRequest constrained = free_req;
  constrained.params.constraint = constraint_of(*fx, json::parse(R"({"type": "boolean"})"));
  const GenerationResult a = gen.generate(free_req), b = gen.generate(constrained);
  ASSERT_EQ(a.logprobs.size(), 1u);
  ASSERT_EQ(b.logprobs.size(), 1u);
  // The same first step: the same raw distribution whatever the mask allowed.
  EXPECT_EQ(a.logprobs[0].top, b.logprobs[0].top);
  const std::string first = fx->vocab->token(b.ids[0]);
  EXPECT_TRUE(std::string("true").starts_with(first) || std::string("false").starts_with(first)) << first;
}

TEST(ConstrainedDecoder, StartsAfterThinkAndFinishesWhenNothingCanFollow) {
  NEED_FIXTURE();
  const auto think_end = fx->tokenizer->token_to_id("</think>");
  ASSERT_TRUE(think_end.has_value());
  const json schema = json::parse(R"({"type": "object", "properties": {"a": {"enum": [1, 2]}},
                                      "required": ["a"], "additionalProperties": false})");
  ConstrainedDecoder d(constraint_of(*fx, schema, *think_end), fx->eos);
  const size_t vocab = 151936;
  std::vector<float> logits(vocab, 0.0f);
  // Free while thinking: only EOS masked (the value is still owed), any token accepted.
  EXPECT_FALSE(d.active());
  d.apply(logits);
  for (size_t i = 0; i < vocab; ++i)
    ASSERT_EQ(logits[i], is_eos(*fx, static_cast<int32_t>(i)) ? -std::numeric_limits<float>::infinity() : 0.0f) << i;
  std::fill(logits.begin(), logits.end(), 0.0f);
  for (int32_t t : fx->tokenizer->encode("hmm, let me think")) d.accept(t);
  EXPECT_FALSE(d.active());
  d.accept(*think_end);
  ASSERT_TRUE(d.active());
  d.apply(logits);
  const auto open = fx->tokenizer->encode("{\"");
  const auto word = fx->tokenizer->encode("hello");
  EXPECT_NE(logits[static_cast<size_t>(fx->tokenizer->encode("{")[0])], -std::numeric_limits<float>::infinity());
  EXPECT_EQ(logits[static_cast<size_t>(word[0])], -std::numeric_limits<float>::infinity());
  for (int id : fx->eos) EXPECT_EQ(logits[static_cast<size_t>(id)], -std::numeric_limits<float>::infinity());
  for (size_t i = fx->vocab->size(); i < vocab; ++i) ASSERT_EQ(logits[i], -std::numeric_limits<float>::infinity());
  // A forbidden token is refused with an error, not accepted.
  EXPECT_THROW(d.accept(word[0]), Error);
  EXPECT_THROW(d.accept(fx->eos[0]), Error);
  for (int32_t t : fx->tokenizer->encode("{\"a\":2")) d.accept(t);
  EXPECT_FALSE(d.finished());
  for (int32_t t : fx->tokenizer->encode("}")) d.accept(t);
  // Complete, and only EOS may follow: done without waiting for the model's EOS.
  EXPECT_TRUE(d.finished());
  (void)open;
}

// The constraint starts after a given token (</think> for thinking models). Random weights never
// draw </think>, so the start token here is the one greedy decoding picks first anyway.
TEST(ConstrainedGeneration, ConstraintStartsAfterTheStartToken) {
  NEED_FIXTURE();
  auto backend = make_cpu_backend(1);
  Generator gen(*fx->checkpoint, *backend);
  GenerationRequest r = request_of(*fx, json::parse(R"({"type": "boolean"})"), 1, 64);
  r.params.temperature = 0.0f;
  GenerationRequest free_run = r;
  free_run.params.constraint = nullptr;
  free_run.params.max_tokens = 1;
  const int32_t start = gen.generate(free_run).ids.at(0);
  ASSERT_FALSE(is_eos(*fx, start));
  r.params.constraint = constraint_of(*fx, json::parse(R"({"type": "boolean"})"), start);
  const GenerationResult out = gen.generate(r);
  ASSERT_EQ(out.finish_reason, "stop");
  ASSERT_GE(out.ids.size(), 2u);
  EXPECT_EQ(out.ids[0], start);
  const std::string value = output_bytes(*fx, std::vector<int32_t>(out.ids.begin() + 1, out.ids.end()));
  EXPECT_TRUE(value == "true" || value == "false") << value;
  // The batched engine agrees.
  Engine engine(*fx->checkpoint, *backend);
  const std::vector<GenerationRequest> one = {r};
  EXPECT_EQ(engine.generate_all(one).at(0).ids, out.ids);
}

TEST(ConstrainedGeneration, RequestValidation) {
  NEED_FIXTURE();
  auto backend = make_cpu_backend(1);
  Generator gen(*fx->checkpoint, *backend);
  GenerationRequest r = request_of(*fx, json::parse(R"({"type": "integer"})"), 1, 8);
  r.params.ignore_eos = true;
  EXPECT_THROW(gen.validate(r), Error);
  r.params.ignore_eos = false;
  auto c = std::make_shared<Constraint>(*r.params.constraint);
  c->vocabulary = nullptr;
  r.params.constraint = c;
  EXPECT_THROW(gen.validate(r), Error);
}

// additionalProperties false with no sibling properties allows no property, yet allOf
// requires "a": unsatisfiable. Either the compiler refuses it, or the request is refused at
// validation (never sampling from an empty mask, never failing other requests).
TEST(ConstrainedGeneration, UnsatisfiableSchemaEndsWithAnError) {
  NEED_FIXTURE();
  const json schema = json::parse(R"({"allOf": [{"type": "object", "properties": {"a": {"type": "integer"}},
                                      "required": ["a"]}], "additionalProperties": false})");
  std::shared_ptr<const Constraint> c;
  try {
    c = constraint_of(*fx, schema);
  } catch (const grammar::SchemaUnsupported& e) {
    std::printf("[ constrained ] the compiler refuses the unsatisfiable schema: %s\n", e.what());
    return;
  }
  auto backend = make_cpu_backend(1);
  GenerationRequest bad = request_of(*fx, schema, 1, 64);
  GenerationRequest good = request_of(*fx, json::parse(R"({"type": "boolean"})"), 1, 64);
  try {
    Generator(*fx->checkpoint, *backend).generate(bad);
    ADD_FAILURE() << "an unsatisfiable constraint generated a value";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("satisfiable"), std::string::npos) << e.what();
  }
  Engine engine(*fx->checkpoint, *backend);
  engine.add_request(Request{good.prompt_ids, good.params, {}});
  EXPECT_THROW(engine.add_request(Request{bad.prompt_ids, bad.params, {}}), Error);
  std::vector<RequestOutput> outs;
  while (engine.has_unfinished())
    for (RequestOutput& o : engine.step()) outs.push_back(std::move(o));
  ASSERT_FALSE(outs.empty());
  EXPECT_EQ(outs.back().finish_reason, FinishReason::Stop);  // the other request is unaffected
}

// The next mask computed while the forward pass runs (a deferred accept: the Generator on its
// own thread, the Engine on worker threads) changes no output: tokens, logprobs and finish
// reasons equal those of the sequential order (accept, then schedule the next step), on the
// backend's sampling path and on the host's, with penalties (the accept updates their counts).
TEST(ConstrainedGeneration, MasksOverlappedWithTheForwardPassChangeNothing) {
  NEED_FIXTURE();
  const json schemas = json::parse(kSchemas);
  std::vector<GenerationRequest> requests;
  for (size_t s = 0; s < schemas.size(); s += 3) {
    GenerationRequest r = request_of(*fx, schemas[s], 40 + s, 256);
    if (s % 2 == 1) r.params.repetition_penalty = 1.3f;
    if (s % 4 == 0) r.params.logprobs = 2;
    if (s % 5 == 2) r.params.temperature = 0.0f;
    requests.push_back(std::move(r));
  }
  auto backend = make_cpu_backend(1);
  GeneratorOptions sequential;
  sequential.overlap_masks = false;
  Generator reference(*fx->checkpoint, *backend, sequential);
  Generator overlapped(*fx->checkpoint, *backend);
  std::vector<GenerationResult> want;
  for (size_t i = 0; i < requests.size(); ++i) {
    want.push_back(reference.generate(requests[i]));
    const GenerationResult got = overlapped.generate(requests[i]);
    EXPECT_EQ(got.ids, want[i].ids) << "generator, request " << i;
    EXPECT_EQ(got.finish_reason, want[i].finish_reason) << "generator, request " << i;
    ASSERT_EQ(got.logprobs.size(), want[i].logprobs.size()) << i;
    for (size_t k = 0; k < got.logprobs.size(); ++k) EXPECT_EQ(got.logprobs[k].top, want[i].logprobs[k].top) << i;
  }
  struct Variant {
    bool overlap;
    int threads;
    bool device_sampling;
  };
  for (const Variant v : {Variant{false, 0, true}, Variant{true, 0, true}, Variant{true, 3, true}, Variant{true, 2, false}}) {
    EngineOptions eo;
    eo.max_num_seqs = 8;  // more requests than that: admissions while others decode
    eo.overlap_masks = v.overlap;
    eo.mask_threads = v.threads;
    eo.device_sampling = v.device_sampling;
    eo.pad_decode = 1;    // the bucketed decode steps of a GPU, on the CPU
    Engine engine(*fx->checkpoint, *backend, eo);
    const std::vector<GenerationResult> got = engine.generate_all(requests);
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < want.size(); ++i) {
      const std::string where = "engine overlap " + std::to_string(v.overlap) + " threads " + std::to_string(v.threads) +
                                " device " + std::to_string(v.device_sampling) + ", request " + std::to_string(i);
      EXPECT_EQ(got[i].ids, want[i].ids) << where;
      EXPECT_EQ(got[i].finish_reason, want[i].finish_reason) << where;
      ASSERT_EQ(got[i].logprobs.size(), want[i].logprobs.size()) << where;
      for (size_t k = 0; k < got[i].logprobs.size(); ++k) EXPECT_EQ(got[i].logprobs[k].top, want[i].logprobs[k].top) << where;
    }
    // The step phases: masks computed during the forward pass only when overlapped, and then
    // timed as a whole (work), per accept (cpu) and as the join's wait, once per such step.
    const EngineStats st = engine.stats();
    EXPECT_EQ(st.mask_threads, v.threads);
    EXPECT_EQ(st.phases.step.count, st.steps);
    EXPECT_EQ(st.phases.launch.count, st.steps);
    EXPECT_EQ(st.phases.pick.count, st.steps);
    EXPECT_EQ(st.phases.pick_read.count, st.steps);
    EXPECT_GE(st.phases.step.sum_ms, st.phases.pick.sum_ms);
    if (v.overlap) {
      EXPECT_GT(st.phases.mask_work.count, 0u);
      EXPECT_LT(st.phases.mask_work.count, st.steps);  // not the first step, nor prefills
      EXPECT_EQ(st.phases.mask_wait.count, st.phases.mask_work.count);
      EXPECT_EQ(st.phases.mask_cpu.count, st.phases.mask_work.count);
      EXPECT_GT(st.phases.mask_cpu.sum_ms, 0.0);
    } else {
      EXPECT_EQ(st.phases.mask_work.count, 0u);
    }
  }
}

// `hearth bench masks`' driver: the same picks (so the same output) whatever the worker
// count, every row through every step until its value ends, and the slowest accepts listed.
TEST(ConstrainedMaskBench, SameOutputForEveryWorkerCount) {
  NEED_FIXTURE();
  const json schema = json::parse(R"({"type":"object","properties":{"title":{"type":"string","maxLength":40},"n":{"type":"integer"}},"required":["title","n"],"additionalProperties":false})");
  bench::MaskStepSpec spec;
  spec.rows = 6;
  spec.steps = 24;
  spec.workers = {0, 2};
  spec.slowest = 3;
  spec.forward_ms = 0;  // every step outlasts it: the modeled excess is the modeled wall
  // A fresh Vocabulary per run (cold mask cache), as the CLI does.
  auto make = [&] {
    auto c = std::make_shared<Constraint>(*constraint_of(*fx, schema));
    c->vocabulary = vocabulary_of(*fx->tokenizer, fx->eos);
    return std::shared_ptr<const Constraint>(c);
  };
  const std::vector<bench::MaskStepRun> runs = bench::run_mask_steps(spec, make, fx->eos);
  ASSERT_EQ(runs.size(), 2u);
  for (const bench::MaskStepRun& r : runs) {
    EXPECT_GT(r.steps_run, 0);
    EXPECT_LE(r.steps_run, spec.steps);
    EXPECT_GT(r.output_bytes, 0u);
    EXPECT_GT(r.cpu_ms_per_step, 0.0);
    EXPECT_GE(r.step_ms_max, r.step_ms_p50);
    EXPECT_EQ(r.slowest.size(), 3u);
    EXPECT_GE(r.slowest[0].us, r.slowest[2].us);
    const json j = r.to_json();
    EXPECT_EQ(j.at("threads"), r.workers + 1);
  }
  // One thread: the modeled wall is the accepts' sum; three: at most that, at least a third.
  EXPECT_NEAR(runs[0].modeled_over_forward_ms, runs[0].cpu_ms_per_step, 1e-9);
  EXPECT_EQ(runs[0].modeled_over_forward_steps, runs[0].steps_run);
  EXPECT_EQ(runs[0].over_forward_steps, runs[0].steps_run);
  EXPECT_LE(runs[1].modeled_over_forward_ms, runs[1].cpu_ms_per_step + 1e-9);
  EXPECT_GE(runs[1].modeled_over_forward_ms, runs[1].cpu_ms_per_step / 3 - 1e-9);
  EXPECT_EQ(runs[0].output_bytes, runs[1].output_bytes);
  EXPECT_EQ(runs[0].finished_rows, runs[1].finished_rows);
  EXPECT_EQ(runs[0].steps_run, runs[1].steps_run);
  spec.workers = {};
  EXPECT_THROW(bench::run_mask_steps(spec, make, fx->eos), Error);
}

std::string run_cli(const std::string& args, int& rc) {
  const std::string cmd = std::string(HEARTH_BINARY) + " " + args + " 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  std::string out;
  char buf[4096];
  while (p != nullptr && std::fgets(buf, sizeof buf, p) != nullptr) out += buf;
  const int status = p ? ::pclose(p) : -1;
  rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return out;
}

TEST(ConstrainedCli, JsonSchemaFlagAndBatchFileKey) {
  NEED_FIXTURE();
  const std::string cfg = fx->dir.write("cli_config.json", full_vocab_config().dump());
  const std::string tok = shared_dir() + "/tokenizer/qwen3";
  const std::string schema = fx->dir.write("s.json", R"({"type":"object","properties":{"n":{"type":"integer","minimum":1,"maximum":9}},"required":["n"],"additionalProperties":false})");
  int rc = 0;
  std::string out = run_cli("generate --model random:" + cfg + " --prompt-ids 1,2,3 --json-schema " + schema, rc);
  EXPECT_NE(rc, 0);
  EXPECT_NE(out.find("needs the model's tokenizer"), std::string::npos) << out;

  out = run_cli("generate --model random:" + cfg + " --tokenizer " + tok + " --prompt hi --seed 4 --json --json-schema " +
                    schema, rc);
  ASSERT_EQ(rc, 0) << out;
  json r = json::parse(out);
  EXPECT_EQ(r["finish_reason"], "stop");
  json v = json::parse(r["text"].get<std::string>());
  EXPECT_TRUE(v["n"].is_number_integer() && v["n"].get<int>() >= 1 && v["n"].get<int>() <= 9) << out;

  out = run_cli("generate --model random:" + cfg + " --tokenizer " + tok + " --prompt hi --json --json-object", rc);
  ASSERT_EQ(rc, 0) << out;
  r = json::parse(out);
  if (r["finish_reason"] == "stop") {
    EXPECT_TRUE(json::parse(r["text"].get<std::string>()).is_object()) << out;
  }

  const std::string batch = fx->dir.write(
      "b.jsonl",
      "{\"prompt\": \"a\", \"seed\": 1, \"max_tokens\": 200, \"json_schema\": {\"enum\": [\"x\", \"y\"]}}\n"
      "{\"prompt_ids\": [5, 6], \"seed\": 2, \"max_tokens\": 200, \"json_schema\": {\"type\": \"array\", \"items\": {\"type\": \"boolean\"}, \"maxItems\": 3}}\n"
      "{\"prompt_ids\": [7], \"max_tokens\": 3}\n");
  out = run_cli("generate --model random:" + cfg + " --tokenizer " + tok + " --batch-file " + batch, rc);
  ASSERT_EQ(rc, 0) << out;
  std::istringstream lines(out);
  std::string l;
  std::vector<json> rs;
  while (std::getline(lines, l)) rs.push_back(json::parse(l));
  ASSERT_EQ(rs.size(), 3u) << out;
  EXPECT_EQ(rs[0]["finish_reason"], "stop");
  const json e = json::parse(rs[0]["text"].get<std::string>());
  EXPECT_TRUE(e == "x" || e == "y") << out;
  EXPECT_EQ(rs[1]["finish_reason"], "stop");
  const json arr = json::parse(rs[1]["text"].get<std::string>());
  EXPECT_TRUE(arr.is_array() && arr.size() <= 3) << out;
  EXPECT_EQ(rs[2]["ids"].size(), 3u);  // unconstrained lines are unchanged

  const std::string bad = fx->dir.write("bad.jsonl", "{\"prompt_ids\": [5], \"json_schema\": {\"type\": \"string\", \"contains\": 1}}\n");
  out = run_cli("generate --model random:" + cfg + " --tokenizer " + tok + " --batch-file " + bad, rc);
  EXPECT_NE(rc, 0);
  EXPECT_NE(out.find("request 1: json_schema"), std::string::npos) << out;
}

}  // namespace
}  // namespace hearth
