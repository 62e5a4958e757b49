// Opening a model: a Hugging Face directory (config.json, *.safetensors, optional
// model.safetensors.index.json and generation_config.json) or a synthetic
// "random:<preset>" / "random:<path/to/config.json>" model with seeded random weights.
// Every tensor's name, shape and dtype is validated against the config before any
// compute; errors name the file and the tensor.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "hearth/core/mapped_file.h"
#include "hearth/model/config.h"
#include "hearth/model/weights.h"

namespace hearth {

struct LoadOptions {
  uint64_t random_seed = 0;            // for random: models
  DType random_dtype = DType::BF16;    // storage type of random: weights (F32, F16 or BF16)
  int threads = 0;                     // threads filling random: weights (0 = all cores);
                                       // the values do not depend on it
};

class Checkpoint {
 public:
  // Throws hearth::Error with a message naming the file and tensor on any problem.
  static std::unique_ptr<Checkpoint> open(const std::string& model, const LoadOptions& opts = {});

  const ModelConfig& config() const { return config_; }
  const GenerationConfig& generation_config() const { return generation_; }
  // Host-memory weights (views into the mmaps or into random buffers owned here).
  const ModelWeights& weights() const { return weights_; }
  // Model directory; empty for random: models. Tokenizer files, if any, live here.
  const std::string& directory() const { return directory_; }
  bool is_random() const { return directory_.empty(); }

 private:
  Checkpoint() = default;
  friend class CheckpointLoader;

  ModelConfig config_;
  GenerationConfig generation_;
  ModelWeights weights_;
  std::string directory_;
  std::vector<MappedFile> files_;                 // safetensors mappings
  std::vector<std::vector<uint8_t>> owned_;       // random weights / converted copies

  // random: weights, in page-aligned anonymous mappings. Not std::vector: value-initialising
  // 16 GB would zero it on one thread before the parallel fill writes it again.
  struct UnmapDeleter {
    size_t size = 0;
    void operator()(uint8_t* p) const;
  };
  std::vector<std::unique_ptr<uint8_t[], UnmapDeleter>> random_buffers_;
};

}  // namespace hearth
