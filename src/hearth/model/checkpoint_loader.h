// Internal to hearth/model: the two ways a Checkpoint gets built. CheckpointLoader is the
// friend of Checkpoint that fills its private members.
#pragma once

#include <memory>
#include <string>

#include "hearth/model/checkpoint.h"

namespace hearth {

class CheckpointLoader {
 public:
  // A Hugging Face model directory (checkpoint.cpp).
  static std::unique_ptr<Checkpoint> open_directory(const std::string& dir, const LoadOptions& opts);
  // "random:<preset>" or "random:<path/to/config.json>"; `spec` is the part after "random:"
  // (random_checkpoint.cpp).
  static std::unique_ptr<Checkpoint> open_random(const std::string& spec, const LoadOptions& opts);

 private:
  static void merge_eos_ids(Checkpoint& ck, const std::string& source);
  friend class Checkpoint;
};

}  // namespace hearth
