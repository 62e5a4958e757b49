#include "hearth/server/api_server.h"

#include <fmt/format.h>

#include <ctime>

#include "hearth/core/error.h"
#include "hearth/core/log.h"
#include "hearth/server/openai_response.h"

namespace hearth::server {
namespace {

bool starts_with(const std::string& s, std::string_view p) { return s.compare(0, p.size(), p) == 0; }

// Compares without an early exit, so the time taken does not reveal how much of a guessed
// key matched.
bool same_secret(std::string_view a, std::string_view b) {
  if (b.empty()) return false;
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i % b.size()]);
  return diff == 0;
}

}  // namespace

std::string format_request_log(const std::string& method, const std::string& path, const RequestLog& l,
                               double latency_ms) {
  std::string s = fmt::format("request id={} {} {} status={}", l.id.empty() ? "-" : l.id, method, path, l.status);
  if (l.prompt_tokens || l.completion_tokens)
    s += fmt::format(" prompt_tokens={} completion_tokens={}", l.prompt_tokens, l.completion_tokens);
  if (l.ttft_ms >= 0) s += fmt::format(" ttft_ms={:.1f}", l.ttft_ms);
  s += fmt::format(" latency_ms={:.1f}", latency_ms);
  if (!l.finish_reason.empty()) s += " finish=" + l.finish_reason;
  if (!l.error.empty()) {
    std::string e = l.error.substr(0, 200);
    for (char& ch : e)
      if (ch == '\n' || ch == '\r' || ch == '"') ch = ' ';
    s += " error=\"" + e + "\"";
  }
  return s;
}

ApiServer::ApiServer(ServerConfig config)
    : config_(std::move(config)),
      metrics_(config_.served_model_name.empty() ? config_.model : config_.served_model_name),
      created_(static_cast<int64_t>(std::time(nullptr))) {
  if (config_.served_model_name.empty()) config_.served_model_name = config_.model;
}

ApiServer::~ApiServer() = default;

void ApiServer::set_model(std::shared_ptr<ModelHost> host) {
  std::lock_guard lock(model_mutex_);
  model_ = std::move(host);
}

void ApiServer::set_load_error(const std::string& message) {
  std::lock_guard lock(model_mutex_);
  load_error_ = message;
}

std::shared_ptr<ModelHost> ApiServer::ready_model() const {
  if (shutting_down_) throw ApiError(503, "the server is shutting down", "service_unavailable", "", "shutting_down");
  std::lock_guard lock(model_mutex_);
  if (!load_error_.empty())
    throw ApiError(503, "the model failed to load: " + load_error_, "service_unavailable", "", "model_load_failed");
  if (!model_) throw ApiError(503, "the model is loading; retry later", "service_unavailable", "", "model_loading");
  return model_;
}

void ApiServer::check_auth(const HttpRequest& req) const {
  if (config_.api_key.empty()) return;
  const std::string* h = req.header("authorization");
  std::string_view token;
  if (h && h->size() > 7) {
    std::string scheme = h->substr(0, 7);
    for (char& ch : scheme) ch = static_cast<char>((ch >= 'A' && ch <= 'Z') ? ch + 32 : ch);
    if (scheme == "bearer ") token = std::string_view(*h).substr(7);
  }
  while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
  if (!same_secret(token, config_.api_key))
    throw ApiError(401, h ? "Incorrect API key provided." : "Missing API key: send 'Authorization: Bearer <key>'.",
                   "invalid_request_error", "", "invalid_api_key");
}

void ApiServer::check_model_name(const std::string& name) const {
  if (name.empty() || name == config_.served_model_name) return;
  throw ApiError(404, fmt::format("The model '{}' does not exist (this server serves '{}')", name,
                                  config_.served_model_name),
                 "invalid_request_error", "model", "model_not_found");
}

HeaderList ApiServer::cors_headers(const HttpRequest& req) const {
  HeaderList h;
  const std::string* origin = req.header("origin");
  if (!origin || config_.allowed_origins.empty()) return h;
  for (const std::string& o : config_.allowed_origins) {
    if (o == "*") {
      h.emplace_back("Access-Control-Allow-Origin", "*");
      return h;
    }
    if (o == *origin) {
      h.emplace_back("Access-Control-Allow-Origin", *origin);
      h.emplace_back("Vary", "Origin");
      return h;
    }
  }
  return h;
}

void ApiServer::send_json(Ctx& c, int status, const std::string& body, HeaderList extra) const {
  HeaderList h = c.cors;
  for (auto& kv : extra) h.push_back(std::move(kv));
  c.log.status = status;
  c.w.send(status, h, body, "application/json");
}

void ApiServer::send_error(Ctx& c, const ApiError& e) const {
  HeaderList extra;
  if (e.status() == 429 || e.status() == 503) extra.emplace_back("Retry-After", "1");
  if (e.status() == 401) extra.emplace_back("WWW-Authenticate", "Bearer");
  c.log.error = e.message();
  send_json(c, e.status(), e.body(), std::move(extra));
}

void ApiServer::handle(const HttpRequest& req, ResponseWriter& w) {
  Ctx c{req, w, cors_headers(req), {}, Clock::now()};
  try {
    route(c);
  } catch (const ApiError& e) {
    if (!w.started()) send_error(c, e);
  } catch (const std::bad_alloc&) {
    if (!w.started()) send_error(c, ApiError(503, "out of memory", "service_unavailable", "", "out_of_memory"));
  } catch (const std::exception& e) {
    // Not user input (that is ApiError): a bug or a failing device. Never a crash.
    log::error("serve: {} {}: {}", req.method, req.path, e.what());
    if (!w.started()) send_error(c, ApiError(500, std::string("internal error: ") + e.what(), "internal_error"));
  }
  if (!w.started()) send_error(c, ApiError(500, "internal error: no response", "internal_error"));
  const bool quiet = req.path == "/health" || req.path == "/metrics";
  if (config_.log_requests && (!quiet || c.log.status >= 400 || log::level() <= log::Level::Debug)) {
    const double ms = std::chrono::duration<double, std::milli>(Clock::now() - c.start).count();
    log::info("{}", format_request_log(req.method, req.path, c.log, ms));
  }
}

void ApiServer::route(Ctx& c) {
  const HttpRequest& req = c.req;
  const std::string& path = req.path;
  if (req.method == "OPTIONS") {
    // CORS preflight: no API key (browsers send none), the allowed origin echoed back.
    HeaderList h = c.cors;
    if (!h.empty()) {
      h.emplace_back("Access-Control-Allow-Methods", "GET, POST, OPTIONS");
      const std::string* asked = req.header("access-control-request-headers");
      h.emplace_back("Access-Control-Allow-Headers", asked ? *asked : "Authorization, Content-Type");
      h.emplace_back("Access-Control-Max-Age", "600");
    }
    c.log.status = 204;
    c.w.send(204, h, "", "");
    return;
  }
  auto expect = [&](const char* method) {
    if (req.method != method)
      throw ApiError(405, fmt::format("{} {} is not allowed (use {})", req.method, path, method),
                     "invalid_request_error", "", "method_not_allowed");
  };
  if (path == "/health") {
    expect("GET");
    handle_health(c);
  } else if (path == "/metrics") {
    expect("GET");
    handle_metrics(c);
  } else if (path == "/version") {
    expect("GET");
    send_json(c, 200, R"({"version":"0.1.0"})");
  } else if (path == "/v1/models" || starts_with(path, "/v1/models/")) {
    expect("GET");
    check_auth(req);
    handle_models(c);
  } else if (path == "/v1/chat/completions") {
    expect("POST");
    check_auth(req);
    handle_generation(c, Endpoint::kChat);
  } else if (path == "/v1/completions") {
    expect("POST");
    check_auth(req);
    handle_generation(c, Endpoint::kCompletions);
  } else if (path == "/tokenize" || path == "/detokenize") {
    expect("POST");
    check_auth(req);
    handle_tokenize(c, path == "/detokenize");
  } else {
    throw ApiError(404, fmt::format("Invalid URL ({} {})", req.method, path), "invalid_request_error", "",
                   "unknown_url");
  }
}

void ApiServer::handle_health(Ctx& c) {
  ready_model();  // 503 while loading, after a failed load, or shutting down
  c.log.status = 200;
  c.w.send(200, c.cors, "", "");
}

void ApiServer::handle_metrics(Ctx& c) {
  std::shared_ptr<ModelHost> m;
  {
    std::lock_guard lock(model_mutex_);
    m = model_;
  }
  ServerGauges g;
  EngineStats stats;
  if (m) {
    stats = m->engine().stats();
    g.gpu_memory_peak_bytes = m->memory_peak_bytes();
  }
  g.gpu_memory_budget_bytes = config_.device.gpu_memory_budget_bytes;
  g.http_connections = connections_ ? connections_() : 0;
  g.requests_in_flight = in_flight_requests_.load();
  c.log.status = 200;
  c.w.send(200, c.cors, metrics_.render(stats, g), "text/plain; version=0.0.4; charset=utf-8");
}

void ApiServer::handle_models(Ctx& c) {
  auto m = ready_model();
  json card = {{"id", config_.served_model_name}, {"object", "model"},        {"created", created_},
               {"owned_by", "hearth"},            {"root", config_.model},    {"parent", nullptr},
               {"max_model_len", m->max_model_len()}};
  if (c.req.path == "/v1/models") {
    send_json(c, 200, dump_json({{"object", "list"}, {"data", json::array({card})}}));
    return;
  }
  const std::string id = c.req.path.substr(std::string("/v1/models/").size());
  if (id != config_.served_model_name)
    throw ApiError(404, fmt::format("The model '{}' does not exist", id), "invalid_request_error", "model",
                   "model_not_found");
  send_json(c, 200, dump_json(card));
}

void ApiServer::handle_tokenize(Ctx& c, bool detokenize) {
  auto m = ready_model();
  const OrderedJson body = parse_json_body(c.req.body);
  if (const auto it = body.find("model"); it != body.end() && !it->is_null()) {
    if (!it->is_string()) invalid("model", "'model': expected a string");
    check_model_name(it->get<std::string>());
  }
  const Tokenizer& tok = m->tokenizer();
  if (detokenize) {
    const auto it = body.find("tokens");
    if (it == body.end() || !it->is_array()) invalid("tokens", "'tokens': expected an array of token ids");
    std::vector<int32_t> ids;
    for (size_t i = 0; i < it->size(); ++i) {
      const OrderedJson& v = (*it)[i];
      if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<int64_t>() >= m->vocab_size())
        invalid(fmt::format("tokens[{}]", i), "'tokens[{}]': not a token id of this model", i);
      ids.push_back(v.get<int32_t>());
    }
    send_json(c, 200, dump_json({{"prompt", tok.decode(ids, false)}}));
    return;
  }
  std::string text;
  if (body.contains("messages")) {
    ApiRequest r = parse_chat_request(body);
    if (!m->chat_template()) invalid("messages", "this model has no chat template");
    ChatOptions opts;
    opts.add_generation_prompt = r.add_generation_prompt;
    opts.enable_thinking = r.enable_thinking;
    if (r.tools) opts.tools = *r.tools;
    try {
      text = m->chat_template()->render(r.messages, opts);
    } catch (const Error& e) {
      invalid("messages", "{}", e.what());
    }
  } else {
    const auto it = body.find("prompt");
    if (it == body.end() || !it->is_string()) invalid("prompt", "'prompt': expected a string (or give 'messages')");
    text = it->get<std::string>();
  }
  if (text.size() > m->max_token_bytes() * static_cast<size_t>(m->max_model_len()) * 4)
    invalid("prompt", "the text is far longer than the model's context of {} tokens", m->max_model_len());
  const std::vector<int32_t> ids = tok.encode(text);
  send_json(c, 200, dump_json({{"count", ids.size()}, {"max_model_len", m->max_model_len()}, {"tokens", ids}}));
}

}  // namespace hearth::server
