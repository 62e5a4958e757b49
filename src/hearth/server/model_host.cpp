#include "hearth/server/model_host.h"

#include <algorithm>
#include <cstdlib>

#include "hearth/core/error.h"
#include "hearth/core/log.h"
#include "hearth/engine/device.h"
#include "hearth/engine/request_rules.h"

namespace hearth::server {
namespace {

constexpr size_t kSchemaCacheEntries = 64;

std::shared_ptr<const grammar::Vocabulary> make_vocabulary(const Tokenizer& tok, const std::vector<int>& eos) {
  std::vector<std::string> bytes(static_cast<size_t>(tok.vocab_size()));
  for (int32_t i = 0; i < tok.vocab_size(); ++i) bytes[static_cast<size_t>(i)] = tok.token_bytes(i);
  std::vector<int32_t> stops, specials;
  for (int id : eos)
    if (id >= 0 && id < tok.vocab_size()) stops.push_back(id);
  for (const AddedToken& t : tok.added_tokens())
    if (t.special && std::find(stops.begin(), stops.end(), t.id) == stops.end()) specials.push_back(t.id);
  return std::make_shared<const grammar::Vocabulary>(std::move(bytes), std::move(stops), std::move(specials));
}

}  // namespace

ModelHost::ModelHost(const ServerConfig& config) {
  // The tokenizer first: a missing one is a quick error, before minutes of weight loading.
  std::string tok_dir = config.tokenizer;
  const bool random_model = config.model.rfind("random:", 0) == 0;
  if (tok_dir.empty() && !random_model) tok_dir = config.model;
  if (tok_dir.empty())
    fail("model '{}' has no tokenizer files: give --tokenizer DIR (e.g. the Qwen3 tokenizer)", config.model);
  if (!Tokenizer::has_tokenizer_files(tok_dir)) fail("--tokenizer: no tokenizer files in '{}'", tok_dir);
  tokenizer_ = Tokenizer::load(tok_dir);
  if (ChatTemplate::has_chat_template(tok_dir)) chat_template_ = ChatTemplate::load(tok_dir);
  else log::warn("serve: no chat template in '{}': /v1/chat/completions is unavailable", tok_dir);
  if (const auto id = tokenizer_->token_to_id("</think>")) think_end_id_ = *id;
  for (int32_t i = 0; i < tokenizer_->vocab_size(); ++i)
    max_token_bytes_ = std::max(max_token_bytes_, tokenizer_->token_bytes(i).size());

  if (config.attention_backend != "auto") ::setenv("HEARTH_PREFILL_KERNEL", config.attention_backend.c_str(), 1);
  LoadOptions load;
  load.random_seed = config.random_seed;
  checkpoint_ = Checkpoint::open(config.model, load);
  eos_ids_ = merged_eos_token_ids(*checkpoint_);
  vocab_size_ = checkpoint_->config().vocab_size;
  if (tokenizer_->vocab_size() > vocab_size_)
    fail("tokenizer '{}' has {} tokens but model '{}' only {} rows", tok_dir, tokenizer_->vocab_size(), config.model,
         vocab_size_);
  backend_ = make_backend(config.device);
  EngineOptions engine_options = config.engine;
  engine_options.enforce_eager = config.enforce_eager;
  engine_ = std::make_unique<AsyncEngine>(*checkpoint_, *backend_, engine_options);
  max_model_len_ = engine_->max_model_len();
  // Read once while the engine thread is idle after start-up (it owns the backend after).
  memory_peak_bytes_ = backend_->peak_memory_bytes();

  vocab_ = make_vocabulary(*tokenizer_, eos_ids_);
  json_object_ = grammar::Grammar::any_json_object();
}

ModelHost::~ModelHost() {
  if (engine_) engine_->shutdown(false);
}

void ModelHost::shutdown(bool drain) { engine_->shutdown(drain); }

std::shared_ptr<const grammar::Grammar> ModelHost::compile_schema(const nlohmann::json& schema) {
  std::string key = schema.dump();
  {
    std::lock_guard lock(cache_mutex_);
    const auto it = cache_.find(key);
    if (it != cache_.end()) {
      cache_order_.splice(cache_order_.begin(), cache_order_, it->second.second);
      return it->second.first;
    }
  }
  auto g = grammar::Grammar::from_json_schema(schema);  // outside the lock: may take a while
  std::lock_guard lock(cache_mutex_);
  if (cache_.count(key)) return g;
  cache_order_.push_front(key);
  cache_.emplace(std::move(key), std::make_pair(g, cache_order_.begin()));
  while (cache_.size() > kSchemaCacheEntries) {
    cache_.erase(cache_order_.back());
    cache_order_.pop_back();
  }
  return g;
}

}  // namespace hearth::server
