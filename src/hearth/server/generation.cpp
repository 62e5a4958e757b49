// POST /v1/chat/completions and /v1/completions: prompt -> admission -> engine requests (one
// per prompt and choice) -> outputs parsed into reasoning / content / tool calls -> one JSON
// response or an SSE stream. A client that disconnects aborts its requests (the disconnect
// watcher), and so does a stop string once it is seen.
#include <fmt/format.h>

#include <mutex>
#include <random>

#include "hearth/core/error.h"
#include "hearth/core/log.h"
#include "hearth/sampling/constrained_decoder.h"
#include "hearth/server/api_server.h"
#include "hearth/server/openai_response.h"
#include "hearth/server/output_parser.h"

namespace hearth::server {
namespace {

using Clock = std::chrono::steady_clock;

uint64_t random_seed() {
  static std::mutex mu;
  static std::mt19937_64 rng{std::random_device{}()};
  std::lock_guard lock(mu);
  return rng();
}

double seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// One choice: an engine request and the parsing of its output.
struct Choice {
  int index = 0;
  int prompt_index = 0;
  int prompt_tokens = 0;
  RequestStream stream;
  std::unique_ptr<StreamDecoder> decoder;
  StopStrings stops{{}};
  OutputParser parser{{}};
  ParsedDelta total;
  std::vector<TokenLogprobs> logprobs;
  std::string finish;  // empty while running
  std::string error;
  int tokens = 0;
  int cached_tokens = 0;
  bool done = false;
  bool first_token = true;
  Clock::time_point last;
  int tool_index = 0;     // streamed tool calls so far
  std::string tool_json;  // constrained tool_choice: the generated JSON
  size_t text_offset = 0; // completions logprobs
};

// The output constraint of a request (response_format, or tool_choice required / named).
std::shared_ptr<const Constraint> make_constraint(const ApiRequest& r, ModelHost& m, bool after_think) {
  std::shared_ptr<const grammar::Grammar> g;
  std::string param;
  try {
    if (r.tool_choice == ToolChoice::kRequired || r.tool_choice == ToolChoice::kNamed) {
      param = "tools";
      nlohmann::json any_of = nlohmann::json::array();
      nlohmann::json named;
      for (size_t i = 0; i < r.tools->size(); ++i) {
        const OrderedJson& fn = (*r.tools)[i]["function"];
        nlohmann::json params = nlohmann::json{{"type", "object"}};
        if (fn.contains("parameters") && !fn["parameters"].is_null()) params = nlohmann::json::parse(fn["parameters"].dump());
        const std::string name = fn["name"].get<std::string>();
        if (r.tool_choice == ToolChoice::kNamed && name == r.tool_name) {
          named = params;
          param = fmt::format("tools[{}].function.parameters", i);
        }
        any_of.push_back({{"type", "object"},
                          {"properties", {{"name", {{"const", name}}}, {"parameters", params}}},
                          {"required", {"name", "parameters"}},
                          {"additionalProperties", false}});
      }
      // vLLM's shapes: the named function's arguments, or an array of {name, parameters}.
      g = m.compile_schema(r.tool_choice == ToolChoice::kNamed
                               ? named
                               : nlohmann::json{{"type", "array"}, {"minItems", 1}, {"items", {{"anyOf", any_of}}}});
    } else if (r.response_format.kind == ResponseFormat::Kind::kJsonObject) {
      g = m.json_object_grammar();
    } else if (r.response_format.kind == ResponseFormat::Kind::kJsonSchema) {
      param = "response_format.json_schema.schema";
      g = m.compile_schema(r.response_format.schema);
    } else {
      return nullptr;
    }
  } catch (const Error& e) {
    // grammar::SchemaUnsupported names the keyword and its JSON pointer.
    invalid(param, "'{}': {}", param, e.what());
  }
  auto c = std::make_shared<Constraint>();
  c->grammar = std::move(g);
  c->vocabulary = m.vocabulary();
  if (after_think) c->start_after_token = m.think_end_id();
  return c;
}

// Constrained tool_choice: the JSON content becomes tool calls (false when it does not parse,
// e.g. cut off by max_tokens: then it stays content).
bool content_to_tool_calls(ParsedDelta& d, const ApiRequest& r) {
  const nlohmann::json j = nlohmann::json::parse(d.content, nullptr, false);
  if (j.is_discarded()) return false;
  std::vector<ToolCall> calls;
  if (r.tool_choice == ToolChoice::kNamed) {
    calls.push_back({new_tool_call_id(), r.tool_name, dump_json(j)});
  } else {
    if (!j.is_array()) return false;
    for (const auto& e : j) {
      if (!e.is_object() || !e.contains("name") || !e["name"].is_string()) return false;
      calls.push_back({new_tool_call_id(), e["name"].get<std::string>(), dump_json(e.value("parameters", nlohmann::json::object()))});
    }
  }
  d.content.clear();
  d.tool_calls = std::move(calls);
  return true;
}

void merge(ParsedDelta& into, ParsedDelta&& d) {
  into.reasoning += d.reasoning;
  into.content += d.content;
  for (ToolCall& c : d.tool_calls) into.tool_calls.push_back(std::move(c));
}

}  // namespace

void ApiServer::handle_generation(Ctx& c, Endpoint endpoint) {
  std::shared_ptr<ModelHost> m = ready_model();
  const OrderedJson body = parse_json_body(c.req.body);
  const ApiRequest r = endpoint == Endpoint::kChat ? parse_chat_request(body) : parse_completion_request(body);
  check_model_name(r.model);
  const bool chat = endpoint == Endpoint::kChat;
  const std::string id = new_response_id(chat ? "chatcmpl-" : "cmpl-");
  c.log.id = id;
  const Tokenizer& tok = m->tokenizer();
  const size_t max_text = m->max_token_bytes() * static_cast<size_t>(m->max_model_len());

  // Prompts.
  std::vector<std::vector<int32_t>> prompts;
  OutputParser::Options parse;
  const bool constrained_tool = r.tool_choice == ToolChoice::kRequired || r.tool_choice == ToolChoice::kNamed;
  if (chat) {
    const ChatTemplate* t = m->chat_template();
    if (!t) invalid("messages", "this model has no chat template; use /v1/completions");
    ChatOptions opts;
    opts.add_generation_prompt = r.add_generation_prompt;
    opts.enable_thinking = r.enable_thinking;
    if (r.tools && r.tool_choice != ToolChoice::kNone) opts.tools = *r.tools;
    std::string text;
    try {
      text = t->render(r.messages, opts);
    } catch (const Error& e) {
      invalid("messages", "{}", e.what());
    }
    if (text.size() > max_text) invalid("messages", "the messages are far longer than the context of {} tokens", m->max_model_len());
    prompts.push_back(tok.encode(text));
    parse.reasoning = t->kind() == ChatTemplate::Kind::kQwen3Thinking2507 ||
                      (t->kind() == ChatTemplate::Kind::kQwen3 && r.enable_thinking.value_or(true));
    parse.starts_in_reasoning = parse.reasoning && text.size() >= 8 && text.compare(text.size() - 8, 8, "<think>\n") == 0;
    parse.tools = r.tools.has_value() && r.tool_choice == ToolChoice::kAuto;
  } else {
    for (size_t i = 0; i < r.prompts.size(); ++i) {
      const PromptInput& p = r.prompts[i];
      if (p.text && p.text->size() > max_text) invalid("prompt", "the prompt is far longer than the context of {} tokens", m->max_model_len());
      prompts.push_back(p.text ? tok.encode(*p.text) : p.ids);
      if (prompts.back().empty()) invalid("prompt", "'prompt': empty prompt (no tokens)");
    }
  }
  const char* prompt_param = chat ? "messages" : "prompt";
  for (const auto& ids : prompts) {
    if (static_cast<int>(ids.size()) >= m->max_model_len())
      invalid(prompt_param, "This model's maximum context length is {} tokens; the prompt has {} tokens",
              m->max_model_len(), ids.size());
    if (r.max_tokens && static_cast<int64_t>(ids.size()) + *r.max_tokens > m->max_model_len())
      invalid(chat ? "max_completion_tokens" : "max_tokens",
              "This model's maximum context length is {} tokens. However, you requested {} tokens ({} in the {}, {} in "
              "the completion)",
              m->max_model_len(), static_cast<int64_t>(ids.size()) + *r.max_tokens, ids.size(), prompt_param,
              *r.max_tokens);
  }

  // Sampling.
  const GenerationConfig& gen = m->generation_config();
  SamplingParams base;
  if (r.temperature) base.temperature = *r.temperature;
  else if (config_.default_temperature) base.temperature = *config_.default_temperature;
  else base.temperature = (gen.do_sample.has_value() && !*gen.do_sample) ? 0.0f : gen.temperature.value_or(1.0f);
  base.top_k = r.top_k.value_or(gen.top_k.value_or(0));
  base.top_p = r.top_p.value_or(gen.top_p.value_or(1.0f));
  base.min_p = r.min_p.value_or(gen.min_p.value_or(0.0f));
  base.repetition_penalty = r.repetition_penalty.value_or(gen.repetition_penalty.value_or(1.0f));
  base.presence_penalty = r.presence_penalty;
  base.frequency_penalty = r.frequency_penalty;
  base.stop_token_ids = r.stop_token_ids;
  base.ignore_eos = r.ignore_eos;
  base.logprobs = r.logprobs ? std::max(1, r.top_logprobs) : 0;
  base.constraint = make_constraint(r, *m, parse.reasoning);
  try {
    base.validate(m->vocab_size());
  } catch (const Error& e) {
    invalid("", "{}", e.what());
  }
  const uint64_t seed = r.seed ? *r.seed : random_seed();

  // Admission: sequences beyond max_num_seqs wait in the engine's queue, up to
  // max_queued_requests of them; past that the client should retry (429).
  const int seqs = static_cast<int>(prompts.size()) * r.n;
  const int limit = config_.engine.max_num_seqs + config_.max_queued_requests;
  const int before = in_flight_seqs_.fetch_add(seqs);
  struct Release {
    std::atomic<int>& a;
    int n;
    ~Release() { a.fetch_sub(n); }
  } release{in_flight_seqs_, seqs};
  if (before > 0 && before + seqs > limit) {
    metrics_.on_rejected("queue_full");
    throw ApiError(429, fmt::format("the server is at capacity ({} sequences in flight, {} queued at most); retry later",
                                    before, config_.max_queued_requests),
                   "rate_limit_error", "", "rate_limit_exceeded");
  }
  ++in_flight_requests_;
  struct Count {
    std::atomic<int>& a;
    ~Count() { --a; }
  } count{in_flight_requests_};

  // Submit every choice.
  std::vector<Choice> choices(seqs);
  for (int p = 0, k = 0; p < static_cast<int>(prompts.size()); ++p) {
    for (int j = 0; j < r.n; ++j, ++k) {
      Choice& ch = choices[static_cast<size_t>(k)];
      ch.index = k;
      ch.prompt_index = p;
      ch.prompt_tokens = static_cast<int>(prompts[static_cast<size_t>(p)].size());
      ch.decoder = std::make_unique<StreamDecoder>(tok, r.skip_special_tokens);
      ch.stops = StopStrings(r.stop);
      OutputParser::Options o = parse;
      if (constrained_tool) o.tools = false;
      ch.parser = OutputParser(o);
      Request req;
      req.prompt_ids = prompts[static_cast<size_t>(p)];
      req.params = base;
      req.params.seed = seed + static_cast<uint64_t>(k);
      // Without max_tokens: up to the context (vLLM), or the server's default within it.
      const int room = m->max_model_len() - ch.prompt_tokens;
      req.params.max_tokens = r.max_tokens ? *r.max_tokens : std::min(room, config_.default_max_tokens.value_or(room));
      try {
        ch.stream = m->engine().submit(std::move(req));
      } catch (const Error& e) {
        if (shutting_down_) throw ApiError(503, "the server is shutting down", "service_unavailable", "", "shutting_down");
        invalid(prompt_param, "{}", e.what());
      }
    }
  }
  std::vector<RequestId> ids;
  for (const Choice& ch : choices) ids.push_back(ch.stream.id());
  auto disconnected = std::make_shared<std::atomic<bool>>(false);
  AsyncEngine* engine = &m->engine();
  DisconnectWatcher::Scope watch(watcher_, c.w.fd(), [engine, ids, disconnected] {
    disconnected->store(true);
    for (RequestId rid : ids) engine->abort(rid);
  });

  const TokenText token_text = [&tok](int32_t t) { return tok.token_bytes(t); };
  // Applies one engine output to its choice; returns the new parsed text and logprobs.
  auto process = [&](Choice& ch, RequestOutput&& out, std::vector<TokenLogprobs>& lps) {
    ParsedDelta delta;
    const Clock::time_point now = Clock::now();
    if (!out.token_ids.empty()) {
      if (ch.first_token) {
        ch.first_token = false;
        metrics_.observe_ttft(seconds(now - c.start));
        if (c.log.ttft_ms < 0) c.log.ttft_ms = seconds(now - c.start) * 1000.0;
      } else {
        metrics_.observe_inter_token(seconds(now - ch.last), static_cast<int>(out.token_ids.size()));
      }
      ch.last = now;
    }
    std::string text;
    const int tokens_before = ch.tokens;
    for (size_t i = 0; i < out.token_ids.size() && !ch.stops.stopped(); ++i) {
      text += ch.stops.push(ch.decoder->push(out.token_ids[i]));
      ++ch.tokens;
      if (i < out.logprobs.size()) lps.push_back(out.logprobs[i]);
    }
    metrics_.add_tokens(tokens_before == 0 && ch.tokens > 0 ? ch.prompt_tokens : 0, ch.tokens - tokens_before);
    ch.cached_tokens = out.usage.cached_tokens;
    if (ch.stops.stopped()) {
      ch.stream.abort();  // the stop string is the end; tokens already in flight are dropped
      ch.finish = "stop";
    } else if (out.finished()) {
      text += ch.stops.push(ch.decoder->flush());
      text += ch.stops.flush();
      switch (out.finish_reason) {
        case FinishReason::Stop: ch.finish = "stop"; break;
        case FinishReason::Length: ch.finish = "length"; break;
        case FinishReason::Abort: ch.finish = "abort"; break;
        default: ch.finish = "error"; ch.error = out.error; break;
      }
    }
    delta = ch.parser.push(text);
    if (!ch.finish.empty()) {
      merge(delta, ch.parser.finish());
      ch.done = true;
    }
    if (constrained_tool) {
      // The JSON is held back and becomes tool calls at the end (content if it is cut off).
      ch.tool_json += delta.content;
      delta.content.clear();
      if (ch.done) {
        ParsedDelta calls;
        calls.content = ch.tool_json;
        if (ch.finish == "stop" && content_to_tool_calls(calls, r)) delta.tool_calls = std::move(calls.tool_calls);
        else delta.content = ch.tool_json;
      }
    }
    if (ch.done) {
      if (chat && ch.finish == "stop" && (ch.parser.saw_tool_calls() || !delta.tool_calls.empty() || !ch.total.tool_calls.empty()))
        ch.finish = "tool_calls";
      metrics_.on_finished(ch.finish == "tool_calls" ? "stop" : ch.finish, seconds(Clock::now() - c.start));
    }
    return delta;
  };
  auto usage = [&] {
    UsageCounts u;
    std::vector<bool> counted(prompts.size(), false);
    for (const Choice& ch : choices) {
      if (!counted[static_cast<size_t>(ch.prompt_index)]) {
        counted[static_cast<size_t>(ch.prompt_index)] = true;
        u.prompt_tokens += ch.prompt_tokens;
        u.cached_tokens += ch.cached_tokens;
      }
      u.completion_tokens += ch.tokens;
    }
    c.log.prompt_tokens = u.prompt_tokens;
    c.log.completion_tokens = u.completion_tokens;
    return u;
  };
  auto logprobs_json = [&](const Choice& ch, const std::vector<TokenLogprobs>& lps) -> nlohmann::json {
    if (!r.logprobs) return nullptr;
    if (chat) return {{"content", chat_logprobs_entries(lps, r.top_logprobs, token_text)}};
    return completion_logprobs_json(lps, r.top_logprobs, token_text, ch.text_offset);
  };
  const int64_t created = static_cast<int64_t>(std::time(nullptr));
  const std::string& model_name = config_.served_model_name;
  auto error_of = [&](const Choice& ch) {
    // A dead end of the constraint comes from the schema the client sent (unsatisfiable).
    if (ch.error == kConstraintDeadEnd)
      return ApiError(400, ch.error, "invalid_request_error", chat ? "response_format" : "response_format");
    return ApiError(500, "generation failed: " + ch.error, "internal_error");
  };

  if (!r.stream) {
    for (Choice& ch : choices) {
      while (!ch.done) {
        std::optional<RequestOutput> out = ch.stream.next();
        if (!out) break;
        std::vector<TokenLogprobs> lps;
        merge(ch.total, process(ch, std::move(*out), lps));
        for (TokenLogprobs& lp : lps) ch.logprobs.push_back(std::move(lp));
      }
    }
    const UsageCounts u = usage();
    if (disconnected->load()) {
      c.log.status = 499;  // nobody to answer (nginx's "client closed request")
      c.log.finish_reason = "abort";
      c.w.set_close();
      c.w.send(499, {}, "", "");
      return;
    }
    for (const Choice& ch : choices)
      if (ch.finish == "error") throw error_of(ch);
    nlohmann::json out_choices = nlohmann::json::array();
    for (const Choice& ch : choices) {
      nlohmann::json cj = nlohmann::json::object();
      cj["index"] = ch.index;
      if (chat) cj["message"] = chat_message_json(ch.total);
      else cj["text"] = ch.total.content;
      cj["logprobs"] = logprobs_json(ch, ch.logprobs);
      cj["finish_reason"] = ch.finish;
      out_choices.push_back(std::move(cj));
    }
    c.log.finish_reason = choices.front().finish;
    const nlohmann::json resp = {{"id", id},
                                 {"object", chat ? "chat.completion" : "text_completion"},
                                 {"created", created},
                                 {"model", model_name},
                                 {"choices", std::move(out_choices)},
                                 {"usage", usage_json(u)}};
    send_json(c, 200, dump_json(resp));
    return;
  }

  // Streaming.
  HeaderList headers = c.cors;
  headers.emplace_back("Cache-Control", "no-cache");
  headers.emplace_back("X-Accel-Buffering", "no");
  c.log.status = 200;
  bool alive = c.w.begin_stream(200, headers, "text/event-stream");
  auto chunk = [&](nlohmann::json choice_list) {
    nlohmann::json j = {{"id", id},
                        {"object", chat ? "chat.completion.chunk" : "text_completion"},
                        {"created", created},
                        {"model", model_name},
                        {"choices", std::move(choice_list)}};
    if (r.include_usage) j["usage"] = nullptr;
    return j;
  };
  if (chat && alive) {
    std::string first;
    for (const Choice& ch : choices) {
      nlohmann::json cj = nlohmann::json::object();
      cj["index"] = ch.index;
      cj["delta"] = {{"role", "assistant"}, {"content", ""}};
      cj["logprobs"] = nullptr;
      cj["finish_reason"] = nullptr;
      first += sse_event(chunk(nlohmann::json::array({std::move(cj)})));
    }
    alive = c.w.write(first);
  }
  size_t remaining = choices.size();
  size_t turn = 0;
  while (remaining > 0 && alive) {
    Choice& ch = choices[turn % choices.size()];
    ++turn;
    if (ch.done) continue;
    std::optional<RequestOutput> out = choices.size() == 1 ? ch.stream.next() : ch.stream.next_for(std::chrono::milliseconds(2));
    if (!out) {
      if (ch.stream.done() && !ch.done) {  // ended without a final output (cannot happen; be safe)
        ch.done = true;
        ch.finish = "abort";
        --remaining;
      }
      continue;
    }
    std::vector<TokenLogprobs> lps;
    ParsedDelta delta = process(ch, std::move(*out), lps);
    if (ch.done) --remaining;
    if (ch.finish == "error") {
      const ApiError e = error_of(ch);
      c.log.error = e.message();
      alive = c.w.write(sse_event(nlohmann::json::parse(e.body())));
      continue;
    }
    if (delta.empty() && lps.empty() && !ch.done) continue;
    nlohmann::json cj = nlohmann::json::object();
    cj["index"] = ch.index;
    if (chat) {
      cj["delta"] = chat_delta_json(delta, false, ch.tool_index);
      ch.tool_index += static_cast<int>(delta.tool_calls.size());
    } else {
      cj["text"] = delta.content;
    }
    cj["logprobs"] = logprobs_json(ch, lps);
    for (const TokenLogprobs& lp : lps) ch.text_offset += tok.token_bytes(lp.id).size();
    cj["finish_reason"] = ch.done ? nlohmann::json(ch.finish) : nlohmann::json(nullptr);
    merge(ch.total, std::move(delta));
    alive = c.w.write(sse_event(chunk(nlohmann::json::array({std::move(cj)}))));
  }
  const UsageCounts u = usage();
  c.log.finish_reason = choices.front().finish;
  if (!alive || disconnected->load()) {
    for (Choice& ch : choices) ch.stream.abort();
    c.log.status = 499;
    c.log.finish_reason = "abort";
    c.w.set_close();
    return;
  }
  std::string tail;
  if (r.include_usage) {
    nlohmann::json j = chunk(nlohmann::json::array());
    j["usage"] = usage_json(u);
    tail += sse_event(j);
  }
  tail += kSseDone;
  c.w.write(tail);
  c.w.end_stream();
}

}  // namespace hearth::server
