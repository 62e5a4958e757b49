#include "hearth/server/openai_request.h"

#include <fmt/format.h>

#include <cmath>
#include <limits>

#include "hearth/server/api_error.h"

namespace hearth::server {
namespace {

using Json = OrderedJson;

std::string at(const std::string& base, size_t i) { return fmt::format("{}[{}]", base, i); }
std::string dot(const std::string& base, const char* key) { return base + "." + key; }

const char* type_name(const Json& v) { return v.type_name(); }

// Absent and null are the same for optional fields (OpenAI's SDKs send null).
const Json* field(const Json& obj, const char* key) {
  const auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return nullptr;
  return &*it;
}

int64_t get_int(const Json& v, const std::string& param, int64_t lo, int64_t hi) {
  if (!v.is_number_integer()) invalid(param, "'{}': expected an integer, found {}", param, type_name(v));
  if (v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
    invalid(param, "'{}': {} is out of range [{}, {}]", param, v.dump(), lo, hi);
  const int64_t x = v.get<int64_t>();
  if (x < lo || x > hi) invalid(param, "'{}': {} is out of range [{}, {}]", param, x, lo, hi);
  return x;
}

double get_number(const Json& v, const std::string& param, double lo, double hi) {
  if (!v.is_number()) invalid(param, "'{}': expected a number, found {}", param, type_name(v));
  const double x = v.get<double>();
  if (!std::isfinite(x) || x < lo || x > hi) invalid(param, "'{}': {} is out of range [{}, {}]", param, v.dump(), lo, hi);
  return x;
}

bool get_bool(const Json& v, const std::string& param) {
  if (!v.is_boolean()) invalid(param, "'{}': expected true or false, found {}", param, type_name(v));
  return v.get<bool>();
}

std::string get_string(const Json& v, const std::string& param) {
  if (!v.is_string()) invalid(param, "'{}': expected a string, found {}", param, type_name(v));
  return v.get<std::string>();
}

const Json& get_object(const Json& v, const std::string& param) {
  if (!v.is_object()) invalid(param, "'{}': expected an object, found {}", param, type_name(v));
  return v;
}

const Json& get_array(const Json& v, const std::string& param) {
  if (!v.is_array()) invalid(param, "'{}': expected an array, found {}", param, type_name(v));
  return v;
}

// Message content: a string, null, or an array of text parts (joined, as vLLM does with
// "\n" between parts... OpenAI's own join is "": hearth follows vLLM's text-only path).
Json normalize_content(const Json& c, const std::string& param) {
  if (c.is_null() || c.is_string()) return c;
  if (!c.is_array()) invalid(param, "'{}': expected a string or an array of content parts, found {}", param, type_name(c));
  std::string text;
  for (size_t j = 0; j < c.size(); ++j) {
    const std::string p = at(param, j);
    const Json& part = get_object(c[j], p);
    const Json* type = field(part, "type");
    if (!type) invalid(dot(p, "type"), "'{}': missing", dot(p, "type"));
    const std::string t = get_string(*type, dot(p, "type"));
    if (t != "text" && t != "input_text")
      invalid(dot(p, "type"), "'{}': content part type '{}' is not supported (text only)", dot(p, "type"), t);
    const Json* tx = field(part, "text");
    if (!tx) invalid(dot(p, "text"), "'{}': missing", dot(p, "text"));
    if (j > 0) text += "\n";
    text += get_string(*tx, dot(p, "text"));
  }
  return text;
}

Json normalize_tool_calls(const Json& calls, const std::string& param) {
  get_array(calls, param);
  Json out = Json::array();
  for (size_t k = 0; k < calls.size(); ++k) {
    const std::string p = at(param, k);
    const Json& call = get_object(calls[k], p);
    const Json* fn = field(call, "function");
    if (!fn) invalid(dot(p, "function"), "'{}': missing", dot(p, "function"));
    const std::string fp = dot(p, "function");
    get_object(*fn, fp);
    const Json* name = field(*fn, "name");
    if (!name) invalid(dot(fp, "name"), "'{}': missing", dot(fp, "name"));
    get_string(*name, dot(fp, "name"));
    const Json* args = field(*fn, "arguments");
    Json arguments;
    if (!args) {
      arguments = Json::object();
    } else if (args->is_string()) {
      // OpenAI sends arguments as JSON text; the template wants the object (it writes
      // strings verbatim, which is right only when the text is JSON).
      Json parsed = Json::parse(args->get<std::string>(), nullptr, false);
      if (parsed.is_discarded())
        invalid(dot(fp, "arguments"), "'{}': expected a JSON object encoded as a string", dot(fp, "arguments"));
      arguments = std::move(parsed);
    } else if (args->is_object()) {
      arguments = *args;
    } else {
      invalid(dot(fp, "arguments"), "'{}': expected a JSON string or an object", dot(fp, "arguments"));
    }
    Json c = Json::object();
    if (const Json* id = field(call, "id")) c["id"] = get_string(*id, dot(p, "id"));
    c["type"] = "function";
    c["function"] = Json{{"name", *name}, {"arguments", std::move(arguments)}};
    out.push_back(std::move(c));
  }
  return out;
}

Json normalize_messages(const Json& msgs) {
  get_array(msgs, "messages");
  if (msgs.empty()) invalid("messages", "'messages': at least one message is required");
  Json out = Json::array();
  for (size_t i = 0; i < msgs.size(); ++i) {
    const std::string p = at("messages", i);
    const Json& m = get_object(msgs[i], p);
    const Json* role = field(m, "role");
    if (!role) invalid(dot(p, "role"), "'{}': missing", dot(p, "role"));
    std::string r = get_string(*role, dot(p, "role"));
    if (r == "developer") r = "system";
    if (r != "system" && r != "user" && r != "assistant" && r != "tool")
      invalid(dot(p, "role"), "'{}': '{}' is not one of system, developer, user, assistant, tool", dot(p, "role"), r);
    Json n = Json::object();
    n["role"] = r;
    const Json* content = field(m, "content");
    n["content"] = content ? normalize_content(*content, dot(p, "content")) : Json(nullptr);
    if (r == "assistant") {
      const Json* rc = field(m, "reasoning_content");
      if (!rc) rc = field(m, "reasoning");
      if (rc) n["reasoning_content"] = get_string(*rc, dot(p, "reasoning_content"));
      if (const Json* calls = field(m, "tool_calls")) n["tool_calls"] = normalize_tool_calls(*calls, dot(p, "tool_calls"));
      if (n["content"].is_null() && !n.contains("tool_calls"))
        invalid(dot(p, "content"), "'{}': an assistant message needs content or tool_calls", dot(p, "content"));
    } else if (r != "tool" && n["content"].is_null()) {
      invalid(dot(p, "content"), "'{}': missing", dot(p, "content"));
    }
    if (r == "tool" && field(m, "tool_call_id")) get_string(m["tool_call_id"], dot(p, "tool_call_id"));
    if (const Json* name = field(m, "name")) get_string(*name, dot(p, "name"));
    out.push_back(std::move(n));
  }
  return out;
}

void parse_tools(const Json& body, ApiRequest& r) {
  if (const Json* tools = field(body, "tools")) {
    get_array(*tools, "tools");
    Json out = Json::array();
    for (size_t i = 0; i < tools->size(); ++i) {
      const std::string p = at("tools", i);
      const Json& t = get_object((*tools)[i], p);
      const Json* type = field(t, "type");
      if (type && get_string(*type, dot(p, "type")) != "function")
        invalid(dot(p, "type"), "'{}': only 'function' tools are supported", dot(p, "type"));
      const Json* fn = field(t, "function");
      if (!fn) invalid(dot(p, "function"), "'{}': missing", dot(p, "function"));
      const std::string fp = dot(p, "function");
      get_object(*fn, fp);
      const Json* name = field(*fn, "name");
      if (!name) invalid(dot(fp, "name"), "'{}': missing", dot(fp, "name"));
      if (get_string(*name, dot(fp, "name")).empty()) invalid(dot(fp, "name"), "'{}': empty", dot(fp, "name"));
      if (const Json* d = field(*fn, "description")) get_string(*d, dot(fp, "description"));
      if (const Json* params = field(*fn, "parameters"))
        if (!params->is_object() && !params->is_boolean())
          invalid(dot(fp, "parameters"), "'{}': expected a JSON Schema object", dot(fp, "parameters"));
      if (const Json* s = field(*fn, "strict")) get_bool(*s, dot(fp, "strict"));
      out.push_back(t);
    }
    if (!out.empty()) r.tools = std::move(out);
  }
  const Json* choice = field(body, "tool_choice");
  if (!choice) {
    r.tool_choice = r.tools ? ToolChoice::kAuto : ToolChoice::kNone;
    return;
  }
  if (choice->is_string()) {
    const std::string c = choice->get<std::string>();
    if (c == "none") r.tool_choice = ToolChoice::kNone;
    else if (c == "auto") r.tool_choice = ToolChoice::kAuto;
    else if (c == "required") r.tool_choice = ToolChoice::kRequired;
    else invalid("tool_choice", "'tool_choice': '{}' is not one of none, auto, required or a named function", c);
  } else if (choice->is_object()) {
    const Json* fn = field(*choice, "function");
    if (!fn || !fn->is_object() || !field(*fn, "name") || !(*fn)["name"].is_string())
      invalid("tool_choice.function.name", "'tool_choice': expected {{\"type\": \"function\", \"function\": {{\"name\": ...}}}}");
    r.tool_choice = ToolChoice::kNamed;
    r.tool_name = (*fn)["name"].get<std::string>();
  } else {
    invalid("tool_choice", "'tool_choice': expected a string or an object, found {}", type_name(*choice));
  }
  if (!r.tools && (r.tool_choice == ToolChoice::kRequired || r.tool_choice == ToolChoice::kNamed))
    invalid("tool_choice", "'tool_choice': '{}' needs 'tools'", r.tool_choice == ToolChoice::kRequired ? "required" : r.tool_name);
  if (r.tool_choice == ToolChoice::kNamed) {
    bool found = false;
    for (const Json& t : *r.tools) found = found || t["function"]["name"] == r.tool_name;
    if (!found) invalid("tool_choice.function.name", "'tool_choice': no tool named '{}' in 'tools'", r.tool_name);
  }
  if (!r.tools) r.tool_choice = ToolChoice::kNone;
}

void parse_response_format(const Json& body, ApiRequest& r) {
  const Json* rf = field(body, "response_format");
  if (!rf) return;
  get_object(*rf, "response_format");
  const Json* type = field(*rf, "type");
  if (!type) invalid("response_format.type", "'response_format.type': missing");
  const std::string t = get_string(*type, "response_format.type");
  if (t == "text") {
    r.response_format.kind = ResponseFormat::Kind::kText;
  } else if (t == "json_object") {
    r.response_format.kind = ResponseFormat::Kind::kJsonObject;
  } else if (t == "json_schema") {
    r.response_format.kind = ResponseFormat::Kind::kJsonSchema;
    const Json* js = field(*rf, "json_schema");
    if (!js) invalid("response_format.json_schema", "'response_format.json_schema': missing");
    get_object(*js, "response_format.json_schema");
    if (const Json* name = field(*js, "name")) r.response_format.name = get_string(*name, "response_format.json_schema.name");
    if (const Json* s = field(*js, "strict")) r.response_format.strict = get_bool(*s, "response_format.json_schema.strict");
    const Json* schema = field(*js, "schema");
    if (!schema) invalid("response_format.json_schema.schema", "'response_format.json_schema.schema': missing");
    if (!schema->is_object() && !schema->is_boolean())
      invalid("response_format.json_schema.schema", "'response_format.json_schema.schema': expected a JSON Schema object");
    r.response_format.schema = nlohmann::json::parse(schema->dump());  // compiler takes nlohmann::json
  } else {
    invalid("response_format.type", "'response_format.type': '{}' is not one of text, json_object, json_schema", t);
  }
}

// Fields shared by both endpoints.
void parse_common(const Json& body, ApiRequest& r) {
  if (const Json* m = field(body, "model")) r.model = get_string(*m, "model");
  if (const Json* v = field(body, "max_tokens")) r.max_tokens = static_cast<int>(get_int(*v, "max_tokens", 1, INT32_MAX));
  if (r.endpoint == Endpoint::kChat)
    if (const Json* v = field(body, "max_completion_tokens"))
      r.max_tokens = static_cast<int>(get_int(*v, "max_completion_tokens", 1, INT32_MAX));
  if (const Json* v = field(body, "temperature")) r.temperature = static_cast<float>(get_number(*v, "temperature", 0.0, 1e6));
  if (const Json* v = field(body, "top_p")) {
    r.top_p = static_cast<float>(get_number(*v, "top_p", 0.0, 1.0));
    if (*r.top_p <= 0.0f) invalid("top_p", "'top_p': must be in (0, 1], found {}", v->dump());
  }
  if (const Json* v = field(body, "top_k")) {
    r.top_k = static_cast<int>(get_int(*v, "top_k", -1, INT32_MAX));
    if (*r.top_k < 0) r.top_k = 0;  // vLLM: -1 disables
  }
  if (const Json* v = field(body, "min_p")) r.min_p = static_cast<float>(get_number(*v, "min_p", 0.0, 1.0));
  if (const Json* v = field(body, "presence_penalty"))
    r.presence_penalty = static_cast<float>(get_number(*v, "presence_penalty", -2.0, 2.0));
  if (const Json* v = field(body, "frequency_penalty"))
    r.frequency_penalty = static_cast<float>(get_number(*v, "frequency_penalty", -2.0, 2.0));
  if (const Json* v = field(body, "repetition_penalty")) {
    r.repetition_penalty = static_cast<float>(get_number(*v, "repetition_penalty", 0.0, 1e3));
    if (*r.repetition_penalty <= 0.0f) invalid("repetition_penalty", "'repetition_penalty': must be > 0");
  }
  if (const Json* v = field(body, "seed"))
    r.seed = static_cast<uint64_t>(get_int(*v, "seed", std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max()));
  if (const Json* v = field(body, "stop")) {
    if (v->is_string()) {
      r.stop.push_back(v->get<std::string>());
    } else if (v->is_array()) {
      if (v->size() > kMaxStops) invalid("stop", "'stop': at most {} stop strings", kMaxStops);
      for (size_t i = 0; i < v->size(); ++i) r.stop.push_back(get_string((*v)[i], at("stop", i)));
    } else {
      invalid("stop", "'stop': expected a string or an array of strings, found {}", type_name(*v));
    }
    for (size_t i = 0; i < r.stop.size(); ++i)
      if (r.stop[i].empty()) invalid(at("stop", i), "'{}': empty stop string", at("stop", i));
  }
  if (const Json* v = field(body, "stop_token_ids")) {
    get_array(*v, "stop_token_ids");
    for (size_t i = 0; i < v->size(); ++i)
      r.stop_token_ids.push_back(static_cast<int>(get_int((*v)[i], at("stop_token_ids", i), 0, INT32_MAX)));
  }
  if (const Json* v = field(body, "ignore_eos")) r.ignore_eos = get_bool(*v, "ignore_eos");
  if (const Json* v = field(body, "skip_special_tokens")) r.skip_special_tokens = get_bool(*v, "skip_special_tokens");
  if (const Json* v = field(body, "n")) r.n = static_cast<int>(get_int(*v, "n", 1, kMaxN));
  if (const Json* v = field(body, "best_of"))
    if (get_int(*v, "best_of", 1, kMaxN) != r.n) invalid("best_of", "'best_of': only best_of == n is supported");
  if (const Json* v = field(body, "stream")) r.stream = get_bool(*v, "stream");
  if (const Json* v = field(body, "stream_options")) {
    get_object(*v, "stream_options");
    if (!r.stream) invalid("stream_options", "'stream_options': only allowed when 'stream' is true");
    if (const Json* u = field(*v, "include_usage")) r.include_usage = get_bool(*u, "stream_options.include_usage");
  }
  if (const Json* v = field(body, "user")) get_string(*v, "user");
}

}  // namespace

OrderedJson parse_json_body(std::string_view body) {
  // Nesting is bounded before parsing: recursion elsewhere (templates, schema compiler, dump)
  // must not meet a 100,000-deep array from a client.
  int depth = 0;
  bool in_string = false, escaped = false;
  for (char c : body) {
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > kMaxJsonDepth) invalid("", "request body nests deeper than {} levels", kMaxJsonDepth);
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  Json j = Json::parse(body.begin(), body.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) invalid("", "request body is not valid JSON");
  if (!j.is_object()) invalid("", "request body must be a JSON object, found {}", j.type_name());
  return j;
}

ApiRequest parse_chat_request(const OrderedJson& body) {
  ApiRequest r;
  r.endpoint = Endpoint::kChat;
  const Json* msgs = field(body, "messages");
  if (!msgs) invalid("messages", "'messages': missing");
  r.messages = normalize_messages(*msgs);
  parse_common(body, r);
  parse_tools(body, r);
  parse_response_format(body, r);
  if (const Json* v = field(body, "logprobs")) r.logprobs = get_bool(*v, "logprobs");
  if (const Json* v = field(body, "top_logprobs")) {
    r.top_logprobs = static_cast<int>(get_int(*v, "top_logprobs", 0, kMaxTopLogprobs));
    if (!r.logprobs && r.top_logprobs > 0) invalid("top_logprobs", "'top_logprobs': needs 'logprobs': true");
  }
  if (const Json* v = field(body, "parallel_tool_calls")) get_bool(*v, "parallel_tool_calls");
  if (const Json* kw = field(body, "chat_template_kwargs")) {
    get_object(*kw, "chat_template_kwargs");
    if (const Json* t = field(*kw, "enable_thinking")) r.enable_thinking = get_bool(*t, "chat_template_kwargs.enable_thinking");
    if (const Json* t = field(*kw, "add_generation_prompt"))
      r.add_generation_prompt = get_bool(*t, "chat_template_kwargs.add_generation_prompt");
  }
  if (r.tool_choice != ToolChoice::kNone && r.tool_choice != ToolChoice::kAuto &&
      r.response_format.kind != ResponseFormat::Kind::kText)
    invalid("response_format", "'response_format' cannot be combined with tool_choice '{}'",
            r.tool_choice == ToolChoice::kRequired ? "required" : "function");
  return r;
}

ApiRequest parse_completion_request(const OrderedJson& body) {
  ApiRequest r;
  r.endpoint = Endpoint::kCompletions;
  const Json* prompt = field(body, "prompt");
  if (!prompt) invalid("prompt", "'prompt': missing");
  auto ids_of = [](const Json& arr, const std::string& param) {
    PromptInput in;
    if (arr.empty()) invalid(param, "'{}': empty token list", param);
    for (size_t i = 0; i < arr.size(); ++i) in.ids.push_back(static_cast<int32_t>(get_int(arr[i], at(param, i), 0, INT32_MAX)));
    return in;
  };
  if (prompt->is_string()) {
    r.prompts.push_back({prompt->get<std::string>(), {}});
  } else if (prompt->is_array()) {
    if (prompt->empty()) invalid("prompt", "'prompt': empty");
    if ((*prompt)[0].is_number()) {
      r.prompts.push_back(ids_of(*prompt, "prompt"));
    } else {
      if (prompt->size() > kMaxN) invalid("prompt", "'prompt': at most {} prompts per request", kMaxN);
      for (size_t i = 0; i < prompt->size(); ++i) {
        const Json& p = (*prompt)[i];
        if (p.is_string()) r.prompts.push_back({p.get<std::string>(), {}});
        else if (p.is_array()) r.prompts.push_back(ids_of(p, at("prompt", i)));
        else invalid(at("prompt", i), "'{}': expected a string or an array of token ids", at("prompt", i));
      }
    }
  } else {
    invalid("prompt", "'prompt': expected a string, an array of strings or token ids, found {}", type_name(*prompt));
  }
  parse_common(body, r);
  if (r.n * static_cast<int>(r.prompts.size()) > kMaxN)
    invalid("n", "'n' times the number of prompts must be at most {}", kMaxN);
  if (const Json* v = field(body, "logprobs")) {
    r.top_logprobs = static_cast<int>(get_int(*v, "logprobs", 0, kMaxTopLogprobs));
    r.logprobs = true;
  }
  if (const Json* v = field(body, "echo"))
    if (get_bool(*v, "echo")) invalid("echo", "'echo': not supported");
  if (const Json* v = field(body, "suffix")) {
    if (!get_string(*v, "suffix").empty()) invalid("suffix", "'suffix': not supported");
  }
  parse_response_format(body, r);
  return r;
}

}  // namespace hearth::server
