// Everything `hearth serve` loads for its model, owned together: the checkpoint, the backend,
// the serving engine (AsyncEngine), the tokenizer and chat template, the vocabulary the
// grammar matcher needs, and compiled response-format schemas (a small cache: clients send
// the same schema with every request).
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "hearth/backend/backend.h"
#include "hearth/engine.h"
#include "hearth/grammar/grammar.h"
#include "hearth/grammar/vocabulary.h"
#include "hearth/model/checkpoint.h"
#include "hearth/server/server_config.h"
#include "hearth/tokenizer/chat_template.h"
#include "hearth/tokenizer/tokenizer.h"

namespace hearth::server {

class ModelHost {
 public:
  // Loads everything (slow: weights, KV cache). Throws hearth::Error naming the problem.
  explicit ModelHost(const ServerConfig& config);
  ~ModelHost();
  ModelHost(const ModelHost&) = delete;
  ModelHost& operator=(const ModelHost&) = delete;

  AsyncEngine& engine() { return *engine_; }
  const Tokenizer& tokenizer() const { return *tokenizer_; }
  // Null when the tokenizer directory has no chat template (chat completions answer 400).
  const ChatTemplate* chat_template() const { return chat_template_ ? &*chat_template_ : nullptr; }
  const GenerationConfig& generation_config() const { return checkpoint_->generation_config(); }
  const std::vector<int>& eos_ids() const { return eos_ids_; }
  int max_model_len() const { return max_model_len_; }
  int vocab_size() const { return vocab_size_; }
  int32_t think_end_id() const { return think_end_id_; }  // -1: none
  // Bytes of the longest token: a text of more than max_model_len * this bytes cannot fit.
  size_t max_token_bytes() const { return max_token_bytes_; }
  uint64_t memory_peak_bytes() const { return memory_peak_bytes_; }
  std::shared_ptr<const grammar::Vocabulary> vocabulary() const { return vocab_; }

  // The compiled grammar of a schema (cached by its text); throws grammar::SchemaUnsupported
  // or hearth::Error for schemas the compiler refuses.
  std::shared_ptr<const grammar::Grammar> compile_schema(const nlohmann::json& schema);
  std::shared_ptr<const grammar::Grammar> json_object_grammar() const { return json_object_; }

  // Stops the engine: drain lets requests in flight finish, otherwise they end with abort.
  void shutdown(bool drain);

 private:
  std::unique_ptr<Checkpoint> checkpoint_;
  std::unique_ptr<Backend> backend_;
  std::unique_ptr<AsyncEngine> engine_;
  std::unique_ptr<Tokenizer> tokenizer_;
  std::optional<ChatTemplate> chat_template_;
  std::vector<int> eos_ids_;
  int max_model_len_ = 0;
  int vocab_size_ = 0;
  int32_t think_end_id_ = -1;
  size_t max_token_bytes_ = 1;
  uint64_t memory_peak_bytes_ = 0;
  std::shared_ptr<const grammar::Vocabulary> vocab_;
  std::shared_ptr<const grammar::Grammar> json_object_;

  std::mutex cache_mutex_;
  std::list<std::string> cache_order_;  // most recent first
  std::unordered_map<std::string, std::pair<std::shared_ptr<const grammar::Grammar>, std::list<std::string>::iterator>> cache_;
};

}  // namespace hearth::server
