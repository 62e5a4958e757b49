#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>

#include "hearth/model/checkpoint.h"
#include "model_test_util.h"

namespace hearth {
namespace {

namespace fs = std::filesystem;
using test::checkpoint_entries;
using test::expect_error;
using test::find_entry;
using test::json;
using test::TempDir;
using test::tiny_config;
using test::write_model_dir;

void expect_same_bytes(const Weight& w, const SafetensorsEntry& e) {
  ASSERT_EQ(w.t.nbytes(), e.bytes.size()) << e.name;
  EXPECT_EQ(std::memcmp(w.t.data, e.bytes.data(), e.bytes.size()), 0) << e.name;
}

TEST(Checkpoint, LoadsTiedModel) {
  TempDir dir;
  const json cfg = tiny_config(/*tied=*/true);
  const auto entries = checkpoint_entries(cfg);
  const json gen = {{"eos_token_id", {4, 2}}, {"temperature", 0.7}, {"top_k", 20}, {"do_sample", true}};
  write_model_dir(dir.path(), cfg, entries, gen);

  const auto ck = Checkpoint::open(dir.path());
  EXPECT_EQ(ck->directory(), dir.path());
  EXPECT_FALSE(ck->is_random());
  const ModelConfig& c = ck->config();
  EXPECT_EQ(c.hidden_size, 32);
  EXPECT_EQ(c.head_dim, 16);
  // eos: generation_config's ids first, then config.json's (2, already present).
  EXPECT_EQ(ck->generation_config().eos_token_ids, (std::vector<int>{4, 2}));
  EXPECT_FLOAT_EQ(*ck->generation_config().temperature, 0.7f);
  EXPECT_EQ(*ck->generation_config().top_k, 20);

  const ModelWeights& w = ck->weights();
  ASSERT_EQ(w.layers.size(), 2u);
  EXPECT_EQ(w.embed_tokens.t.shape, (Shape{64, 32}));
  EXPECT_EQ(w.layers[1].q_proj.t.shape, (Shape{64, 32}));  // q_dim = 4 * 16
  EXPECT_EQ(w.layers[1].k_proj.t.shape, (Shape{32, 32}));  // kv_dim = 2 * 16
  EXPECT_EQ(w.layers[1].o_proj.t.shape, (Shape{32, 64}));
  EXPECT_EQ(w.layers[0].q_norm.t.shape, (Shape{16}));
  EXPECT_EQ(w.layers[0].down_proj.t.shape, (Shape{32, 48}));
  EXPECT_EQ(w.layers[0].down_proj.name, "model.layers.0.mlp.down_proj.weight");
  EXPECT_EQ(w.layers[0].down_proj.t.dtype, DType::BF16);
  // Tied: lm_head is the embedding view itself.
  EXPECT_EQ(w.lm_head.t.data, w.embed_tokens.t.data);
  EXPECT_EQ(w.lm_head.t.shape, w.embed_tokens.t.shape);
  // The views hold the file's bytes.
  auto e = entries;
  expect_same_bytes(w.embed_tokens, *find_entry(e, "model.embed_tokens.weight"));
  expect_same_bytes(w.layers[1].up_proj, *find_entry(e, "model.layers.1.mlp.up_proj.weight"));
  expect_same_bytes(w.norm, *find_entry(e, "model.norm.weight"));
}

TEST(Checkpoint, LoadsUntiedModelWithMixedDtypes) {
  TempDir dir;
  const json cfg = tiny_config(/*tied=*/false);
  // Norms in F32, attention in F16, the rest BF16: each Weight keeps its own dtype.
  const auto entries = checkpoint_entries(cfg, [](const std::string& n) -> std::string {
    if (n.find("norm") != std::string::npos) return "F32";
    if (n.find("self_attn") != std::string::npos) return "F16";
    return "BF16";
  });
  write_model_dir(dir.path(), cfg, entries);
  const auto ck = Checkpoint::open(dir.path());
  const ModelWeights& w = ck->weights();
  EXPECT_NE(w.lm_head.t.data, w.embed_tokens.t.data);
  EXPECT_EQ(w.lm_head.name, "lm_head.weight");
  EXPECT_EQ(w.lm_head.t.shape, (Shape{64, 32}));
  EXPECT_EQ(w.norm.t.dtype, DType::F32);
  EXPECT_EQ(w.layers[0].q_proj.t.dtype, DType::F16);
  EXPECT_EQ(w.layers[0].q_norm.t.dtype, DType::F32);
  EXPECT_EQ(w.layers[0].gate_proj.t.dtype, DType::BF16);
  auto e = entries;
  expect_same_bytes(w.lm_head, *find_entry(e, "lm_head.weight"));
  expect_same_bytes(w.layers[0].q_norm, *find_entry(e, "model.layers.0.self_attn.q_norm.weight"));
  // No generation_config.json: eos ids come from config.json.
  EXPECT_EQ(ck->generation_config().eos_token_ids, std::vector<int>{2});
}

TEST(Checkpoint, LoadsShardedCheckpoint) {
  TempDir dir;
  const json cfg = tiny_config(false);
  const auto entries = checkpoint_entries(cfg);
  std::vector<SafetensorsEntry> a(entries.begin(), entries.begin() + 7), b(entries.begin() + 7, entries.end());
  write_safetensors(dir.file("model-00001-of-00002.safetensors"), a);
  write_safetensors(dir.file("model-00002-of-00002.safetensors"), b);
  json map = json::object();
  for (const auto& x : a) map[x.name] = "model-00001-of-00002.safetensors";
  for (const auto& x : b) map[x.name] = "model-00002-of-00002.safetensors";
  test::write_text(dir.file("model.safetensors.index.json"), json{{"metadata", {{"total_size", 1}}}, {"weight_map", map}}.dump());
  test::write_text(dir.file("config.json"), cfg.dump());
  const auto ck = Checkpoint::open(dir.path());
  auto e = entries;
  expect_same_bytes(ck->weights().embed_tokens, *find_entry(e, "model.embed_tokens.weight"));
  expect_same_bytes(ck->weights().lm_head, *find_entry(e, "lm_head.weight"));
  expect_same_bytes(ck->weights().layers[1].v_proj, *find_entry(e, "model.layers.1.self_attn.v_proj.weight"));

  // Index pointing to a shard that is not there.
  map["lm_head.weight"] = "model-00003-of-00003.safetensors";
  test::write_text(dir.file("model.safetensors.index.json"), json{{"weight_map", map}}.dump());
  expect_error([&] { Checkpoint::open(dir.path()); },
               {dir.file("model.safetensors.index.json"), "model-00003-of-00003.safetensors", "lm_head.weight", "missing"});

  // Index naming the wrong (existing) shard for a tensor.
  map["lm_head.weight"] = "model-00001-of-00002.safetensors";
  test::write_text(dir.file("model.safetensors.index.json"), json{{"weight_map", map}}.dump());
  expect_error([&] { Checkpoint::open(dir.path()); }, {"tensor lm_head.weight is in model-00001-of-00002.safetensors", "does not contain it"});

  // Shard names may not leave the model directory.
  map["lm_head.weight"] = "../elsewhere.safetensors";
  test::write_text(dir.file("model.safetensors.index.json"), json{{"weight_map", map}}.dump());
  expect_error([&] { Checkpoint::open(dir.path()); }, {"weight_map: tensor lm_head.weight", "inside the model directory"});

  test::write_text(dir.file("model.safetensors.index.json"), "{\"weight_map\": [}");
  expect_error([&] { Checkpoint::open(dir.path()); }, {dir.file("model.safetensors.index.json"), "malformed JSON"});
}

TEST(Checkpoint, TiedCheckpointMayCarryLmHead) {
  TempDir dir;
  const json cfg = tiny_config(true);
  auto entries = checkpoint_entries(cfg);
  entries.push_back({"lm_head.weight", "BF16", {64, 32}, test::tensor_bytes("BF16", 64 * 32, 99)});
  entries.push_back({"model.layers.0.self_attn.rotary_emb.inv_freq", "F32", {8}, test::tensor_bytes("F32", 8, 5)});
  write_model_dir(dir.path(), cfg, entries);
  const auto ck = Checkpoint::open(dir.path());
  EXPECT_EQ(ck->weights().lm_head.t.data, ck->weights().embed_tokens.t.data);
}

TEST(Checkpoint, DropsEosIdsOutsideTheVocabulary) {
  TempDir dir;
  json cfg = tiny_config(true);
  cfg["eos_token_id"] = {151645, 3};
  write_model_dir(dir.path(), cfg, checkpoint_entries(cfg), json{{"eos_token_id", 151643}});
  const auto ck = Checkpoint::open(dir.path());
  EXPECT_EQ(ck->generation_config().eos_token_ids, std::vector<int>{3});
  EXPECT_EQ(ck->config().eos_token_ids, std::vector<int>{3});
}

// Writes a model directory whose checkpoint is `entries` after `edit`, and expects open()
// to fail with every fragment of `expect` in the message.
void expect_bad_checkpoint(const std::function<void(std::vector<SafetensorsEntry>&)>& edit,
                           std::initializer_list<std::string> expect, bool tied = true) {
  TempDir dir;
  const json cfg = tiny_config(tied);
  auto entries = checkpoint_entries(cfg);
  edit(entries);
  write_model_dir(dir.path(), cfg, entries);
  std::vector<std::string> parts{dir.file("model.safetensors")};
  parts.insert(parts.end(), expect.begin(), expect.end());
  try {
    Checkpoint::open(dir.path());
    ADD_FAILURE() << "opened a bad checkpoint";
  } catch (const Error& e) {
    const std::string msg = e.what();
    for (const auto& p : parts) EXPECT_NE(msg.find(p), std::string::npos) << msg << "\nmissing: " << p;
  }
}

TEST(Checkpoint, MissingTensor) {
  expect_bad_checkpoint(
      [](auto& e) { e.erase(std::find_if(e.begin(), e.end(), [](auto& x) { return x.name == "model.layers.1.mlp.up_proj.weight"; })); },
      {"tensor model.layers.1.mlp.up_proj.weight: missing (config expects shape [48, 32])"});
  expect_bad_checkpoint(
      [](auto& e) { e.erase(std::find_if(e.begin(), e.end(), [](auto& x) { return x.name == "lm_head.weight"; })); },
      {"tensor lm_head.weight: missing"}, /*tied=*/false);
}

TEST(Checkpoint, WrongShape) {
  expect_bad_checkpoint(
      [](auto& e) {
        auto* q = find_entry(e, "model.layers.1.self_attn.q_proj.weight");
        q->shape = {32, 64};
      },
      {"tensor model.layers.1.self_attn.q_proj.weight: shape [32, 64] but config expects [64, 32]"});
  expect_bad_checkpoint(
      [](auto& e) {
        auto* n = find_entry(e, "model.norm.weight");
        n->shape = {1, 32};
      },
      {"tensor model.norm.weight: shape [1, 32] but config expects [32]"});
}

TEST(Checkpoint, WrongDtype) {
  expect_bad_checkpoint(
      [](auto& e) { find_entry(e, "model.layers.0.self_attn.k_norm.weight")->dtype = "I16"; },
      {"tensor model.layers.0.self_attn.k_norm.weight: dtype I16 is not supported for weights"});
  expect_bad_checkpoint(
      [](auto& e) { find_entry(e, "model.embed_tokens.weight")->dtype = "BF17"; },
      {"tensor model.embed_tokens.weight: unknown dtype \"BF17\""});
}

TEST(Checkpoint, UnexpectedTensor) {
  expect_bad_checkpoint(
      [](auto& e) { e.push_back({"model.layers.2.mlp.up_proj.weight", "BF16", {48, 32}, test::tensor_bytes("BF16", 48 * 32, 7)}); },
      {"tensor model.layers.2.mlp.up_proj.weight: unexpected for this config (2 layers"});
}

TEST(Checkpoint, CorruptFiles) {
  const json cfg = tiny_config(true);
  const std::vector<uint8_t> good = serialize_safetensors(checkpoint_entries(cfg));
  struct Case {
    const char* what;
    std::vector<uint8_t> bytes;
    std::vector<std::string> expect;
  };
  std::vector<uint8_t> truncated(good.begin(), good.end() - 100);
  std::vector<uint8_t> long_header = good;
  long_header[5] = 0x7f;  // header length now far beyond the file
  std::vector<uint8_t> garbage = good;
  for (size_t i = 8; i < 40; ++i) garbage[i] = 'x';
  std::vector<uint8_t> overlap = test::raw_safetensors(
      R"({"model.embed_tokens.weight":{"dtype":"BF16","shape":[64,32],"data_offsets":[0,4096]},)"
      R"("model.norm.weight":{"dtype":"BF16","shape":[32],"data_offsets":[64,128]}})",
      4096);
  const std::vector<Case> cases = {
      {"truncated", truncated, {"extend past the end of the file", "truncated"}},
      {"header length larger than file", long_header, {"header length", "exceeds"}},
      {"garbage header", garbage, {"corrupt safetensors header"}},
      {"overlapping offsets", overlap, {"overlap"}},
      {"empty file", {}, {"too small"}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    TempDir dir;
    test::write_text(dir.file("config.json"), cfg.dump());
    test::write_bytes(dir.file("model.safetensors"), c.bytes);
    std::vector<std::string> parts{dir.file("model.safetensors")};
    parts.insert(parts.end(), c.expect.begin(), c.expect.end());
    try {
      Checkpoint::open(dir.path());
      ADD_FAILURE() << "opened";
    } catch (const Error& e) {
      for (const auto& p : parts) EXPECT_NE(std::string(e.what()).find(p), std::string::npos) << e.what() << "\nmissing: " << p;
    }
  }
}

TEST(Checkpoint, BadDirectoriesAndConfigs) {
  TempDir dir;
  expect_error([&] { Checkpoint::open(dir.file("nope")); }, {dir.file("nope"), "no such model directory"});
  test::write_text(dir.file("file.txt"), "x");
  expect_error([&] { Checkpoint::open(dir.file("file.txt")); }, {"not a directory"});
  expect_error([&] { Checkpoint::open(""); }, {"empty"});

  // Missing config.json.
  expect_error([&] { Checkpoint::open(dir.path()); }, {dir.file("config.json"), "missing"});
  // Malformed config.json.
  test::write_text(dir.file("config.json"), "{\"vocab_size\": 64,");
  expect_error([&] { Checkpoint::open(dir.path()); }, {dir.file("config.json"), "malformed JSON"});
  // Unknown architecture.
  json cfg = tiny_config();
  cfg["architectures"] = {"MistralForCausalLM"};
  cfg["model_type"] = "mistral";
  test::write_text(dir.file("config.json"), cfg.dump());
  expect_error([&] { Checkpoint::open(dir.path()); }, {dir.file("config.json"), "architectures", "MistralForCausalLM"});
  // Valid config, no weights.
  test::write_text(dir.file("config.json"), tiny_config().dump());
  expect_error([&] { Checkpoint::open(dir.path()); }, {"no model.safetensors or model.safetensors.index.json"});
  write_safetensors(dir.file("weights.safetensors"), {});
  expect_error([&] { Checkpoint::open(dir.path()); }, {"found weights.safetensors without an index"});
  // Malformed generation_config.json is an error too (never silently ignored).
  write_safetensors(dir.file("model.safetensors"), checkpoint_entries(tiny_config()));
  test::write_text(dir.file("generation_config.json"), "{\"top_p\": 7}");
  expect_error([&] { Checkpoint::open(dir.path()); }, {dir.file("generation_config.json"), "top_p"});
  fs::remove(dir.file("generation_config.json"));
  EXPECT_NO_THROW(Checkpoint::open(dir.path()));
}

}  // namespace
}  // namespace hearth
