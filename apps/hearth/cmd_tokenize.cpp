// `hearth tokenize`, `hearth detokenize` and `hearth bench tokenizer`: the issue-3 CLI
// contract. Scripts and tests depend on the flags and the output format: keep them stable.
//
//   hearth tokenize --model DIR (--text-file F | --messages F.json [--no-thinking]
//                   [--no-generation-prompt] | --batch-file F.jsonl)
//     prints a JSON array of ids; with --batch-file one array per input line, in order.
//     Batch lines: {"text": "..."} or {"messages": [...], "enable_thinking": bool,
//     "add_generation_prompt": bool, "tools": [...]} (enable_thinking absent: the
//     template's default; add_generation_prompt absent: true). --messages takes a JSON
//     array of messages, or an object with "messages" and optionally "tools".
//   hearth detokenize --model DIR (--ids 1,2,3 | --ids-file F.json | --batch-file F.jsonl)
//                     [--json] [--skip-special-tokens]
//     prints the text as it is (with --json: as a JSON string and a newline); with
//     --batch-file (lines: [ids] or {"ids": [...], "skip_special_tokens": bool}) one JSON
//     string per line.
//   hearth bench tokenizer --model DIR [--text-file F]... [--repeat N]
//     prints JSON: load_ms and, per sample, encode and decode MB/s on one thread (best of
//     --repeat passes after a first, cold-cache pass; *_cpu_MBps use the thread's CPU time).
// A file name "-" reads standard input.
#include <time.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "cli_io.h"
#include "commands.h"
#include "hearth/core/error.h"
#include "hearth/tokenizer/bench_samples.h"
#include "hearth/tokenizer/chat_template.h"
#include "hearth/tokenizer/tokenizer.h"

namespace hearth::cli {
namespace {

using ojson = nlohmann::ordered_json;
using Clock = std::chrono::steady_clock;

// Calls fn(line_number, json) for each non-blank line of a JSONL file.
template <typename F>
void for_each_jsonl(const std::string& path, F&& fn) {
  std::istringstream in(read_input(path));
  std::string line;
  size_t n = 0;
  while (std::getline(in, line)) {
    ++n;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    fn(n, parse_json<ojson>(line, fmt::format("{} line {}", path, n)));
  }
}

std::string ids_json(const std::vector<int32_t>& ids) { return ojson(ids).dump(); }

std::vector<int32_t> ids_from_json(const ojson& j, const std::string& what) {
  if (!j.is_array()) fail("{}: expected an array of token ids", what);
  std::vector<int32_t> ids;
  ids.reserve(j.size());
  for (size_t i = 0; i < j.size(); ++i) {
    const auto& v = j[i];
    if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<int64_t>() > INT32_MAX) {
      fail("{}: item {} ({}) is not a token id", what, i, v.dump());
    }
    ids.push_back(static_cast<int32_t>(v.get<int64_t>()));
  }
  return ids;
}

std::vector<int32_t> parse_id_list(const std::string& s) {
  std::vector<int32_t> ids;
  size_t i = 0;
  if (s.find_first_not_of(" ") == std::string::npos) return ids;
  while (i <= s.size()) {
    size_t j = s.find(',', i);
    if (j == std::string::npos) j = s.size();
    const std::string item = s.substr(i, j - i);
    const size_t b = item.find_first_not_of(' '), e = item.find_last_not_of(' ');
    const std::string t = b == std::string::npos ? "" : item.substr(b, e - b + 1);
    size_t used = 0;
    long long v = -1;
    try {
      v = std::stoll(t, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (t.empty() || used != t.size() || v < 0 || v > INT32_MAX) fail("--ids: '{}' is not a token id", t);
    ids.push_back(static_cast<int32_t>(v));
    i = j + 1;
  }
  return ids;
}

// A conversation: an array of messages, or {"messages": [...], "tools": [...], ...}.
struct Conversation {
  ojson messages;
  ChatOptions opts;
};

Conversation conversation_from(const ojson& j, const std::string& what) {
  Conversation c;
  if (j.is_array()) {
    c.messages = j;
    return c;
  }
  if (!j.is_object() || !j.contains("messages")) fail("{}: expected an array of messages or an object with \"messages\"", what);
  c.messages = j["messages"];
  if (j.contains("tools") && !j["tools"].is_null()) {
    if (!j["tools"].is_array()) fail("{}: \"tools\" must be an array", what);
    c.opts.tools = j["tools"];
  }
  if (j.contains("enable_thinking") && !j["enable_thinking"].is_null()) {
    if (!j["enable_thinking"].is_boolean()) fail("{}: \"enable_thinking\" must be a boolean", what);
    c.opts.enable_thinking = j["enable_thinking"].get<bool>();
  }
  if (j.contains("add_generation_prompt") && !j["add_generation_prompt"].is_null()) {
    if (!j["add_generation_prompt"].is_boolean()) fail("{}: \"add_generation_prompt\" must be a boolean", what);
    c.opts.add_generation_prompt = j["add_generation_prompt"].get<bool>();
  }
  return c;
}

std::string render(const ChatTemplate& t, const Conversation& c, const std::string& what) {
  try {
    return t.render(c.messages, c.opts);
  } catch (const Error& e) {
    fail("{}: {}", what, e.what());
  }
}

struct TokenizeArgs {
  std::string model, text_file, messages, batch_file;
  bool no_thinking = false, no_generation_prompt = false;
};

int run_tokenize(const TokenizeArgs& a) {
  const int given = !a.text_file.empty() + !a.messages.empty() + !a.batch_file.empty();
  if (given != 1) fail("tokenize: give exactly one of --text-file, --messages, --batch-file");
  const auto tok = Tokenizer::load(a.model);
  std::optional<ChatTemplate> tmpl;
  auto chat_template = [&]() -> const ChatTemplate& {
    if (!tmpl) tmpl = ChatTemplate::load(a.model);
    return *tmpl;
  };
  std::string out;
  if (!a.text_file.empty()) {
    out = ids_json(tok->encode(read_input(a.text_file))) + "\n";
  } else if (!a.messages.empty()) {
    Conversation c = conversation_from(parse_json<ojson>(read_input(a.messages), a.messages), a.messages);
    if (a.no_thinking) c.opts.enable_thinking = false;
    if (a.no_generation_prompt) c.opts.add_generation_prompt = false;
    out = ids_json(tok->encode(render(chat_template(), c, a.messages))) + "\n";
  } else {
    for_each_jsonl(a.batch_file, [&](size_t n, const ojson& j) {
      const std::string what = fmt::format("{} line {}", a.batch_file, n);
      if (!j.is_object()) fail("{}: expected an object with \"text\" or \"messages\"", what);
      if (j.contains("text")) {
        if (!j["text"].is_string()) fail("{}: \"text\" must be a string", what);
        out += ids_json(tok->encode(j["text"].get_ref<const std::string&>())) + "\n";
      } else if (j.contains("messages")) {
        out += ids_json(tok->encode(render(chat_template(), conversation_from(j, what), what))) + "\n";
      } else {
        fail("{}: expected an object with \"text\" or \"messages\"", what);
      }
    });
  }
  std::fwrite(out.data(), 1, out.size(), stdout);
  return 0;
}

struct DetokenizeArgs {
  std::string model, ids, ids_file, batch_file;
  bool json = false, skip_special = false;
  CLI::Option* o_ids = nullptr;
};

int run_detokenize(const DetokenizeArgs& a) {
  const int given = (a.o_ids->count() > 0) + !a.ids_file.empty() + !a.batch_file.empty();
  if (given != 1) fail("detokenize: give exactly one of --ids, --ids-file, --batch-file");
  const auto tok = Tokenizer::load(a.model);
  std::string out;
  if (!a.batch_file.empty()) {
    for_each_jsonl(a.batch_file, [&](size_t n, const ojson& j) {
      const std::string what = fmt::format("{} line {}", a.batch_file, n);
      bool skip = a.skip_special;
      std::vector<int32_t> ids;
      if (j.is_object()) {
        if (!j.contains("ids")) fail("{}: expected an array of ids or an object with \"ids\"", what);
        ids = ids_from_json(j["ids"], what);
        if (j.contains("skip_special_tokens")) {
          if (!j["skip_special_tokens"].is_boolean()) fail("{}: \"skip_special_tokens\" must be a boolean", what);
          skip = j["skip_special_tokens"].get<bool>();
        }
      } else {
        ids = ids_from_json(j, what);
      }
      out += ojson(tok->decode(ids, skip)).dump() + "\n";
    });
  } else {
    const std::vector<int32_t> ids = a.o_ids->count() > 0 ? parse_id_list(a.ids)
                                                          : ids_from_json(parse_json<ojson>(read_input(a.ids_file), a.ids_file), a.ids_file);
    const std::string text = tok->decode(ids, a.skip_special);
    out = a.json ? ojson(text).dump() + "\n" : text;
  }
  std::fwrite(out.data(), 1, out.size(), stdout);
  return 0;
}

struct BenchArgs {
  std::string model;
  std::vector<std::string> text_files;
  int repeat = 5;
};

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// CPU time of this thread: unlike wall time, not inflated when other work shares the cores.
double thread_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

int run_bench_tokenizer(const BenchArgs& a) {
  const auto t0 = Clock::now();
  const auto tok = Tokenizer::load(a.model);
  const double load_ms = seconds_since(t0) * 1e3;

  std::vector<std::pair<std::string, std::string>> samples;  // name, path
  if (a.text_files.empty()) {
    const std::string dir = tokenizer_bench_sample_dir();
    for (const char* name : {"prose", "code"}) samples.emplace_back(name, dir + "/" + name + ".txt");
    for (const auto& [name, path] : samples) {
      if (!std::filesystem::exists(path)) fail("{}: sample missing (pass --text-file)", path);
    }
  } else {
    for (const auto& f : a.text_files) samples.emplace_back(std::filesystem::path(f).filename().string(), f);
  }
  ojson results = ojson::array();
  for (const auto& [name, path] : samples) {
    const std::string text = read_input(path);
    const double mb = static_cast<double>(text.size()) / 1e6;
    // The first pass runs with a cold pre-token cache; later passes show the steady state
    // (HF keeps such a cache too). Best of --repeat, one thread.
    auto t = Clock::now();
    double c = thread_cpu_seconds();
    std::vector<int32_t> ids = tok->encode(text);
    const double cold = seconds_since(t);
    double enc = 1e30, enc_cpu = 1e30, dec = 1e30, dec_cpu = 1e30;
    for (int r = 0; r < a.repeat; ++r) {
      t = Clock::now();
      c = thread_cpu_seconds();
      ids = tok->encode(text);
      enc = std::min(enc, seconds_since(t));
      enc_cpu = std::min(enc_cpu, thread_cpu_seconds() - c);
    }
    std::string back;
    for (int r = 0; r < a.repeat; ++r) {
      t = Clock::now();
      c = thread_cpu_seconds();
      back = tok->decode(ids);
      dec = std::min(dec, seconds_since(t));
      dec_cpu = std::min(dec_cpu, thread_cpu_seconds() - c);
    }
    ojson s;
    s["name"] = name;
    s["bytes"] = text.size();
    s["tokens"] = ids.size();
    s["encode_MBps"] = mb / enc;
    s["encode_cold_MBps"] = mb / cold;
    s["decode_MBps"] = mb / dec;
    s["encode_cpu_MBps"] = mb / enc_cpu;
    s["decode_cpu_MBps"] = mb / dec_cpu;
    results.push_back(s);
  }
  ojson out;
  out["bench"] = "tokenizer";
  out["model"] = a.model;
  out["threads"] = 1;
  out["load_ms"] = load_ms;
  out["vocab_size"] = tok->vocab_size();
  out["samples"] = results;
  std::printf("%s\n", out.dump(1).c_str());
  return 0;
}

}  // namespace

void register_tokenize(CLI::App& app, Runner& runner) {
  auto t = std::make_shared<TokenizeArgs>();
  CLI::App* tc = app.add_subcommand("tokenize", "encode text or a conversation to token ids (JSON)");
  tc->add_option("--model", t->model, "model directory (tokenizer.json, tokenizer_config.json)")->required();
  auto* o_text = tc->add_option("--text-file", t->text_file, "text to encode, as is ('-' = stdin)");
  auto* o_msgs = tc->add_option("--messages", t->messages, "JSON conversation to render with the chat template");
  auto* o_batch = tc->add_option("--batch-file", t->batch_file, "JSONL: {\"text\"} or {\"messages\", ...} per line");
  o_text->excludes(o_msgs)->excludes(o_batch);
  o_msgs->excludes(o_batch);
  tc->add_flag("--no-thinking", t->no_thinking, "render with enable_thinking=false")->needs(o_msgs);
  tc->add_flag("--no-generation-prompt", t->no_generation_prompt, "render without the assistant prompt")->needs(o_msgs);
  tc->callback([t, &runner] { runner = [t] { return run_tokenize(*t); }; });

  auto d = std::make_shared<DetokenizeArgs>();
  CLI::App* dc = app.add_subcommand("detokenize", "decode token ids to text");
  dc->add_option("--model", d->model, "model directory")->required();
  d->o_ids = dc->add_option("--ids", d->ids, "comma-separated token ids");
  auto* o_ids_file = dc->add_option("--ids-file", d->ids_file, "JSON array of token ids ('-' = stdin)");
  auto* o_dbatch = dc->add_option("--batch-file", d->batch_file, "JSONL: [ids] or {\"ids\": [...]} per line");
  d->o_ids->excludes(o_ids_file)->excludes(o_dbatch);
  o_ids_file->excludes(o_dbatch);
  dc->add_flag("--json", d->json, "print the text as a JSON string");
  dc->add_flag("--skip-special-tokens", d->skip_special, "leave out special tokens such as <|im_end|>");
  dc->callback([d, &runner] { runner = [d] { return run_detokenize(*d); }; });
}

void register_bench_tokenizer(CLI::App& bench, Runner& runner) {
  auto b = std::make_shared<BenchArgs>();
  CLI::App* bc = bench.add_subcommand("tokenizer", "tokenizer encode/decode speed (JSON)");
  bc->add_option("--model", b->model, "model directory")->required();
  bc->add_option("--text-file", b->text_files, "sample text (repeatable; default: prose and code samples)");
  bc->add_option("--repeat", b->repeat, "timed passes per sample (best is reported)")->check(CLI::Range(1, 1000));
  bc->callback([b, &runner] { runner = [b] { return run_bench_tokenizer(*b); }; });
}

}  // namespace hearth::cli
