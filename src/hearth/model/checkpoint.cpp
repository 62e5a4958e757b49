// Loading a Hugging Face model directory: config.json, optional generation_config.json,
// and model.safetensors or model.safetensors.index.json + shards. Every shard is mapped
// once; every tensor the config implies is checked for presence, dtype and shape before
// open() returns, and tensors the config does not explain are refused, so a mismatched
// checkpoint fails here with the file and tensor named rather than as garbage later.
#include <sys/mman.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <unordered_map>

#include "hearth/core/error.h"
#include "hearth/core/log.h"
#include "hearth/model/checkpoint.h"
#include "hearth/model/checkpoint_loader.h"
#include "hearth/model/json_util.h"
#include "hearth/model/safetensors.h"
#include "hearth/model/weight_layout.h"

namespace hearth {

namespace fs = std::filesystem;
using model_detail::describe;
using model_detail::json;

void Checkpoint::UnmapDeleter::operator()(uint8_t* p) const {
  if (p != nullptr) ::munmap(p, size);
}

std::unique_ptr<Checkpoint> Checkpoint::open(const std::string& model, const LoadOptions& opts) {
  static const std::string kRandom = "random:";
  if (model.rfind(kRandom, 0) == 0) return CheckpointLoader::open_random(model.substr(kRandom.size()), opts);
  return CheckpointLoader::open_directory(model, opts);
}

void CheckpointLoader::merge_eos_ids(Checkpoint& ck, const std::string& source) {
  // generation_config.json's ids first (HF's generate() uses those), then config.json's.
  std::vector<int> ids = ck.generation_.eos_token_ids;
  for (const int id : ck.config_.eos_token_ids)
    if (std::find(ids.begin(), ids.end(), id) == ids.end()) ids.push_back(id);
  // An id outside the vocabulary can never be sampled, and would index past the logits of
  // anyone masking it; drop it loudly (small test configs often keep Qwen's 151645).
  auto out_of_vocab = [&](int id) { return id < 0 || id >= ck.config_.vocab_size; };
  for (const int id : ids)
    if (out_of_vocab(id))
      log::warn("{}: eos token id {} is outside the vocabulary (size {}); ignoring it", source, id, ck.config_.vocab_size);
  ids.erase(std::remove_if(ids.begin(), ids.end(), out_of_vocab), ids.end());
  auto& cfg_ids = ck.config_.eos_token_ids;
  cfg_ids.erase(std::remove_if(cfg_ids.begin(), cfg_ids.end(), out_of_vocab), cfg_ids.end());
  ck.generation_.eos_token_ids = std::move(ids);
}

namespace {

std::string join_path(const std::string& dir, const std::string& file) { return (fs::path(dir) / file).string(); }

bool is_regular_file(const std::string& path) {
  std::error_code ec;
  return fs::is_regular_file(path, ec);
}

// Shard names come from a file we did not write: keep them inside the model directory.
void check_shard_name(const std::string& index_path, const std::string& tensor, const std::string& shard) {
  const fs::path p(shard);
  bool ok = !shard.empty() && p.is_relative();
  for (const auto& part : p) ok = ok && part != "..";
  if (!ok)
    fail("{}: weight_map: tensor {}: shard \"{}\" must be a file name inside the model directory", index_path, tensor,
         shard);
}

struct Located {
  const SafetensorsTensor* tensor = nullptr;
  const std::string* file = nullptr;  // path of the shard holding it
};

}  // namespace

std::unique_ptr<Checkpoint> CheckpointLoader::open_directory(const std::string& dir, const LoadOptions& /*opts*/) {
  if (dir.empty()) fail("model path is empty (expected a Hugging Face model directory or random:<preset>)");
  std::error_code ec;
  const auto status = fs::status(dir, ec);
  if (!fs::exists(status)) fail("{}: no such model directory", dir);
  if (!fs::is_directory(status))
    fail("{}: not a directory (expected a Hugging Face model directory with config.json and *.safetensors)", dir);

  std::unique_ptr<Checkpoint> ck(new Checkpoint());
  ck->directory_ = dir;

  const std::string config_path = join_path(dir, "config.json");
  if (!is_regular_file(config_path)) fail("{}: missing (not a Hugging Face model directory?)", config_path);
  ck->config_ = load_model_config(config_path);
  const ModelConfig& cfg = ck->config_;

  const std::string gen_path = join_path(dir, "generation_config.json");
  if (is_regular_file(gen_path)) ck->generation_ = load_generation_config(gen_path);
  merge_eos_ids(*ck, is_regular_file(gen_path) ? gen_path : config_path);

  // ---- map the shards ----------------------------------------------------------------
  const std::string index_path = join_path(dir, "model.safetensors.index.json");
  const std::string single_path = join_path(dir, "model.safetensors");
  std::vector<std::string> shard_paths;
  std::map<std::string, std::string> weight_map;  // tensor -> shard path (sharded only)
  std::string where;                              // the file to name for a missing tensor
  if (is_regular_file(index_path)) {
    where = index_path;
    const json index = model_detail::parse_json(model_detail::read_text_file(index_path), index_path);
    if (!index.is_object()) fail("{}: expected a JSON object, got {}", index_path, describe(index));
    const auto wm = index.find("weight_map");
    if (wm == index.end() || !wm->is_object()) fail("{}: weight_map: missing or not an object", index_path);
    for (auto it = wm->begin(); it != wm->end(); ++it) {
      if (!it.value().is_string())
        fail("{}: weight_map: tensor {}: expected a shard file name, got {}", index_path, it.key(), describe(it.value()));
      const std::string shard = it.value().get<std::string>();
      check_shard_name(index_path, it.key(), shard);
      const std::string path = join_path(dir, shard);
      if (std::find(shard_paths.begin(), shard_paths.end(), path) == shard_paths.end()) {
        if (!is_regular_file(path))
          fail("{}: shard {} (holding tensor {}) is missing: {}", index_path, shard, it.key(), path);
        shard_paths.push_back(path);
      }
      weight_map[it.key()] = path;
    }
    if (shard_paths.empty()) fail("{}: weight_map is empty", index_path);
  } else if (is_regular_file(single_path)) {
    where = single_path;
    shard_paths.push_back(single_path);
  } else {
    std::string found;
    for (const auto& e : fs::directory_iterator(dir, ec))
      if (e.path().extension() == ".safetensors") found += (found.empty() ? "" : ", ") + e.path().filename().string();
    fail("{}: no model.safetensors or model.safetensors.index.json{}", dir,
         found.empty() ? std::string(" (and no *.safetensors at all)") : " (found " + found + " without an index)");
  }

  std::vector<SafetensorsFile> shards;
  shards.reserve(shard_paths.size());
  for (const std::string& path : shard_paths) {
    ck->files_.emplace_back(path);
    const MappedFile& m = ck->files_.back();
    shards.push_back(SafetensorsFile::parse(m.data(), m.size(), path));
  }

  std::unordered_map<std::string, Located> table;
  for (size_t s = 0; s < shards.size(); ++s) {
    for (const SafetensorsTensor& t : shards[s].tensors()) {
      const auto [it, inserted] = table.emplace(t.name, Located{&t, &shard_paths[s]});
      if (!inserted) fail("{}: tensor {} is also in {}; which one to use is ambiguous", shard_paths[s], t.name, *it->second.file);
    }
  }
  for (const auto& [name, path] : weight_map) {
    const auto it = table.find(name);
    if (it == table.end() || *it->second.file != path)
      fail("{}: weight_map says tensor {} is in {}, but that file does not contain it", index_path, name,
           fs::path(path).filename().string());
  }

  // ---- validate and bind every expected tensor ------------------------------------------
  const std::vector<TensorSpec> specs = expected_tensors(cfg);
  const std::vector<Weight*> slots = weight_slots(cfg, ck->weights_);
  std::unordered_map<std::string, bool> used;
  auto bind = [&](const std::string& name, const Shape& shape, Weight* slot) {
    const auto it = table.find(name);
    if (it == table.end()) fail("{}: tensor {}: missing (config expects shape {})", where, name, shape.str());
    const SafetensorsTensor& t = *it->second.tensor;
    const std::string& file = *it->second.file;
    const auto dtype = t.hearth_dtype();
    if (!dtype || (*dtype != DType::F32 && *dtype != DType::F16 && *dtype != DType::BF16))
      fail("{}: tensor {}: dtype {} is not supported for weights (expected F32, F16 or BF16)", file, name, t.dtype);
    bool same = t.shape.size() == static_cast<size_t>(shape.ndim);
    for (int d = 0; same && d < shape.ndim; ++d) same = t.shape[static_cast<size_t>(d)] == shape[d];
    if (!same) {
      std::string got = "[";
      for (size_t d = 0; d < t.shape.size(); ++d) got += (d ? ", " : "") + std::to_string(t.shape[d]);
      fail("{}: tensor {}: shape {}] but config expects {}", file, name, got, shape.str());
    }
    used[name] = true;
    if (slot == nullptr) return;
    TensorView v;
    v.dtype = *dtype;
    v.shape = shape;
    v.data = const_cast<uint8_t*>(t.data);  // read-only mapping: nobody writes weights
    // A header length that is not a multiple of the element size leaves the data
    // misaligned; typed loads from it would be undefined, so such tensors get a copy.
    if (reinterpret_cast<uintptr_t>(t.data) % dtype_size(*dtype) != 0) {
      ck->owned_.emplace_back(t.data, t.data + t.nbytes);
      v.data = ck->owned_.back().data();
    }
    slot->t = v;
    slot->format = WeightFormat::Dense;
    slot->name = name;
  };
  for (size_t i = 0; i < specs.size(); ++i) bind(specs[i].name, specs[i].shape, slots[i]);
  if (cfg.tie_word_embeddings) {
    // Tied checkpoints normally omit lm_head.weight; when one is present HF ties over it.
    // Still check it, since a wrong shape means the file belongs to another config.
    if (table.count("lm_head.weight")) bind("lm_head.weight", Shape{cfg.vocab_size, cfg.hidden_size}, nullptr);
    tie_lm_head(ck->weights_);
  }

  std::vector<std::string> extra;
  for (const auto& [name, loc] : table)
    if (!used.count(name) && !is_ignorable_tensor(name)) extra.push_back(name);
  if (!extra.empty()) {
    std::sort(extra.begin(), extra.end());
    const std::string& file = *table.at(extra.front()).file;
    fail("{}: tensor {}: unexpected for this config ({} layers, tie_word_embeddings={}){}", file, extra.front(),
         cfg.num_hidden_layers, cfg.tie_word_embeddings,
         extra.size() > 1 ? fmt::format("; {} more unexpected tensors", extra.size() - 1) : std::string());
  }
  size_t bytes = 0;
  for (const auto& m : ck->files_) bytes += m.size();
  log::info("loaded {}: {} layers, {} tensors in {} file(s), {:.2f} GB", dir, cfg.num_hidden_layers, specs.size(),
            ck->files_.size(), static_cast<double>(bytes) / 1e9);
  return ck;
}

}  // namespace hearth
