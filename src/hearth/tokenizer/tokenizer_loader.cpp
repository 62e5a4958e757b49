// Reading tokenizer files: tokenizer.json (HF tokenizers' format), or the older pair
// vocab.json + merges.txt with tokenizer_config.json's added_tokens_decoder.
// Only what hearth reproduces exactly is accepted; anything else is refused with the file,
// the JSON path and the reason.
#include <nlohmann/json.hpp>

#include <algorithm>
#include <map>

#include "hearth/core/error.h"
#include "hearth/tokenizer/byte_level.h"
#include "hearth/tokenizer/json_scan.h"
#include "hearth/tokenizer/pre_tokenizer.h"
#include "hearth/tokenizer/tokenizer_impl.h"
#include "hearth/tokenizer/unicode.h"

namespace hearth::tok_detail {
namespace {

using nlohmann::json;

json parse_small(std::string_view raw, const std::string& what, std::string_view path) {
  try {
    return json::parse(raw.begin(), raw.end());
  } catch (const json::exception& e) {
    fail("{}: {}: invalid JSON: {}", what, path, e.what());
  }
}

int32_t checked_id(int64_t id, const std::string& what, std::string_view path) {
  if (id < 0 || id > kMaxTokenId) fail("{}: {}: token id {} out of range [0, {}]", what, path, id, kMaxTokenId);
  return static_cast<int32_t>(id);
}

void parse_vocab_object(JsonScanner& sc, StringIdMap& vocab) {
  sc.expect('{');
  vocab.reserve(200000);  // Qwen3: 151,643 entries; avoids rehashing while reading
  std::string key;
  if (sc.accept('}')) return;
  while (true) {
    key.clear();
    sc.read_string(key);
    sc.expect(':');
    const int64_t id = sc.read_integer();
    if (id < 0 || id > kMaxTokenId) sc.error(fmt::format("token id {} out of range", id));
    vocab.insert(key, static_cast<int32_t>(id));
    if (sc.accept(',')) continue;
    sc.expect('}');
    return;
  }
}

void add_merge(TokenizerSpec& spec, std::string_view a, std::string_view b) {
  auto& arena = spec.merge_arena;
  if (arena.size() + a.size() + b.size() > UINT32_MAX) fail("{}: merges too large", spec.what);
  TokenizerSpec::Merge m{static_cast<uint32_t>(arena.size()), static_cast<uint32_t>(a.size()), 0,
                         static_cast<uint32_t>(b.size())};
  arena.append(a);
  m.b_off = static_cast<uint32_t>(arena.size());
  arena.append(b);
  spec.merges.push_back(m);
}

// "a b" with exactly one space, as HF requires of the string form of a merge.
bool split_merge(std::string_view s, std::string_view& a, std::string_view& b) {
  const size_t sp = s.find(' ');
  if (sp == std::string_view::npos || s.find(' ', sp + 1) != std::string_view::npos) return false;
  a = s.substr(0, sp);
  b = s.substr(sp + 1);
  return true;
}

void parse_merges_array(JsonScanner& sc, TokenizerSpec& spec) {
  sc.expect('[');
  spec.merges.reserve(1 << 17);
  std::string s, t;
  if (sc.accept(']')) return;
  while (true) {
    s.clear();
    if (sc.peek() == '"') {
      sc.read_string(s);
      std::string_view a, b;
      if (!split_merge(s, a, b)) {
        sc.error(fmt::format("merge #{} '{}' is not two tokens separated by one space", spec.merges.size(), s));
      }
      add_merge(spec, a, b);
    } else {
      sc.expect('[');
      t.clear();
      sc.read_string(s);
      sc.expect(',');
      sc.read_string(t);
      sc.expect(']');
      add_merge(spec, s, t);
    }
    if (sc.accept(',')) continue;
    sc.expect(']');
    return;
  }
}

bool is_null_or_empty_string(const json& j) { return j.is_null() || (j.is_string() && j.get<std::string>().empty()); }

void check_model_options(const std::map<std::string, json>& opts, TokenizerSpec& spec) {
  const std::string& what = spec.what;
  auto get = [&](const char* k) -> const json* {
    auto it = opts.find(k);
    return it == opts.end() ? nullptr : &it->second;
  };
  if (const json* t = get("type"); t && !(t->is_string() && t->get<std::string>() == "BPE")) {
    fail("{}: /model/type: unsupported model {} (hearth implements BPE)", what, t->dump());
  }
  if (const json* d = get("dropout"); d && !d->is_null() && !(d->is_number() && d->get<double>() == 0.0)) {
    fail("{}: /model/dropout: BPE dropout is random and not supported", what);
  }
  for (const char* k : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    if (const json* v = get(k); v && !is_null_or_empty_string(*v)) {
      fail("{}: /model/{}: not supported (must be null or empty)", what, k);
    }
  }
  if (const json* v = get("byte_fallback"); v && !(v->is_boolean() && !v->get<bool>()) && !v->is_null()) {
    fail("{}: /model/byte_fallback: not supported", what);
  }
  if (const json* v = get("ignore_merges"); v && !v->is_null()) {
    if (!v->is_boolean()) fail("{}: /model/ignore_merges: expected a boolean", what);
    spec.ignore_merges = v->get<bool>();
  }
  if (const json* v = get("unk_token"); v && !v->is_null()) {
    if (!v->is_string()) fail("{}: /model/unk_token: expected a string or null", what);
    spec.unk_token = v->get<std::string>();
    if (const json* f = get("fuse_unk"); f && f->is_boolean() && f->get<bool>()) {
      fail("{}: /model/fuse_unk: not supported", what);
    }
  }
}

void parse_model(JsonScanner& sc, TokenizerSpec& spec) {
  sc.expect('{');
  std::map<std::string, json> opts;
  bool have_vocab = false, have_merges = false;
  std::string key;
  if (!sc.accept('}')) {
    while (true) {
      key.clear();
      sc.read_string(key);
      sc.expect(':');
      if (key == "vocab") {
        parse_vocab_object(sc, spec.vocab);
        have_vocab = true;
      } else if (key == "merges") {
        parse_merges_array(sc, spec);
        have_merges = true;
      } else {
        opts[key] = parse_small(sc.skip_value(), spec.what, "/model/" + key);
      }
      if (sc.accept(',')) continue;
      sc.expect('}');
      break;
    }
  }
  if (!have_vocab) fail("{}: /model: no vocab", spec.what);
  if (!have_merges) fail("{}: /model: no merges", spec.what);
  check_model_options(opts, spec);
}

void check_normalizer(const json& n, TokenizerSpec& spec, const std::string& path) {
  if (n.is_null()) return;
  const std::string type = n.is_object() && n.contains("type") && n["type"].is_string() ? n["type"].get<std::string>() : "";
  if (type == "NFC") {
    spec.nfc = true;
    return;
  }
  if (type == "Sequence" && n.contains("normalizers") && n["normalizers"].is_array()) {
    size_t i = 0;
    for (const json& sub : n["normalizers"]) check_normalizer(sub, spec, path + "/normalizers/" + std::to_string(i++));
    return;
  }
  fail("{}: {}: unsupported normalizer {} (hearth implements NFC)", spec.what, path, n.dump());
}

void check_pre_tokenizer(const json& p, const std::string& what) {
  auto fail_pt = [&](std::string_view why) {
    fail("{}: /pre_tokenizer: {} (hearth implements Split with the Qwen2 pattern followed by "
         "ByteLevel without prefix space or regex)", what, why);
  };
  if (!p.is_object() || p.value("type", json()).dump() != "\"Sequence\"" || !p.contains("pretokenizers") ||
      !p["pretokenizers"].is_array() || p["pretokenizers"].size() != 2) {
    fail_pt("unsupported pre-tokenizer");
  }
  const json& split = p["pretokenizers"][0];
  const json& bl = p["pretokenizers"][1];
  if (!split.is_object() || split.value("type", json()) != json("Split")) fail_pt("first step is not Split");
  const json pattern = split.value("pattern", json());
  if (!pattern.is_object() || !pattern.contains("Regex") || !pattern["Regex"].is_string() ||
      pattern["Regex"].get<std::string>() != kQwen2SplitPattern) {
    fail_pt("the Split pattern is not the Qwen2 pattern");
  }
  if (split.value("behavior", json()) != json("Isolated") || split.value("invert", json(false)) != json(false)) {
    fail_pt("Split must be behavior Isolated, invert false");
  }
  if (!bl.is_object() || bl.value("type", json()) != json("ByteLevel")) fail_pt("second step is not ByteLevel");
  if (bl.value("add_prefix_space", json(false)) != json(false) || bl.value("use_regex", json(false)) != json(false)) {
    fail_pt("ByteLevel must have add_prefix_space and use_regex false");
  }
}

std::vector<AddedToken> parse_added_list(const json& arr, const std::string& what) {
  if (!arr.is_array()) fail("{}: /added_tokens: expected an array", what);
  std::vector<AddedToken> out;
  for (size_t i = 0; i < arr.size(); ++i) {
    const json& t = arr[i];
    const std::string path = "/added_tokens/" + std::to_string(i);
    if (!t.is_object()) fail("{}: {}: expected an object", what, path);
    if (!t.contains("id") || !t["id"].is_number_integer()) fail("{}: {}/id: expected an integer", what, path);
    if (!t.contains("content") || !t["content"].is_string()) fail("{}: {}/content: expected a string", what, path);
    AddedToken a;
    a.id = checked_id(t["id"].get<int64_t>(), what, path + "/id");
    a.content = t["content"].get<std::string>();
    auto flag = [&](const char* k, bool def) {
      if (!t.contains(k) || t[k].is_null()) return def;
      if (!t[k].is_boolean()) fail("{}: {}/{}: expected a boolean", what, path, k);
      return t[k].get<bool>();
    };
    a.special = flag("special", false);
    a.single_word = flag("single_word", false);
    a.lstrip = flag("lstrip", false);
    a.rstrip = flag("rstrip", false);
    a.normalized = flag("normalized", !a.special);
    out.push_back(std::move(a));
  }
  return out;
}

}  // namespace

void parse_tokenizer_json(std::string_view text, TokenizerSpec& spec) {
  JsonScanner sc(text, spec.what);
  sc.expect('{');
  bool have_model = false;
  std::map<std::string, json> sections;
  std::string key;
  if (!sc.accept('}')) {
    while (true) {
      key.clear();
      sc.read_string(key);
      sc.expect(':');
      if (key == "model") {
        parse_model(sc, spec);
        have_model = true;
      } else {
        sections[key] = parse_small(sc.skip_value(), spec.what, "/" + key);
      }
      if (sc.accept(',')) continue;
      sc.expect('}');
      break;
    }
  }
  if (!sc.at_end()) sc.error("unexpected text after the top-level object");
  if (!have_model) fail("{}: no /model section", spec.what);
  auto section = [&](const char* k) { return sections.count(k) ? sections[k] : json(); };

  for (const char* k : {"truncation", "padding"}) {
    if (!section(k).is_null()) fail("{}: /{}: must be null (hearth encodes whole texts)", spec.what, k);
  }
  spec.nfc = false;
  check_normalizer(section("normalizer"), spec, "/normalizer");
  check_pre_tokenizer(section("pre_tokenizer"), spec.what);
  const json dec = section("decoder");
  if (!dec.is_object() || dec.value("type", json()) != json("ByteLevel")) {
    fail("{}: /decoder: unsupported decoder {} (hearth implements ByteLevel)", spec.what, dec.dump());
  }
  const json post = section("post_processor");
  if (!post.is_null() && !(post.is_object() && post.value("type", json()) == json("ByteLevel"))) {
    fail("{}: /post_processor: unsupported post-processor {} (it would add tokens; hearth implements "
         "ByteLevel or none)", spec.what, post.dump());
  }
  const json added = section("added_tokens");
  if (!added.is_null()) spec.added = parse_added_list(added, spec.what);
}

void parse_vocab_json(std::string_view text, const std::string& what, TokenizerSpec& spec) {
  JsonScanner sc(text, what);
  parse_vocab_object(sc, spec.vocab);
  if (!sc.at_end()) sc.error("unexpected text after the top-level object");
}

void parse_merges_txt(std::string_view text, const std::string& what, TokenizerSpec& spec) {
  // As transformers' slow tokenizer reads it: a first line "#version..." is skipped, lines
  // are stripped, empty ones skipped, the rest must be two tokens separated by one space.
  size_t pos = 0;
  size_t line_no = 0;
  spec.merges.reserve(1 << 17);
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    ++line_no;
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) line.remove_suffix(1);
    while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
    if (line.empty() || (line_no == 1 && line.substr(0, 9) == "#version:")) continue;
    std::string_view a, b;
    if (!split_merge(line, a, b)) fail("{}: line {}: expected two tokens separated by one space", what, line_no);
    if (!unicode::is_valid_utf8(line)) fail("{}: line {}: invalid UTF-8", what, line_no);
    add_merge(spec, a, b);
  }
}

void parse_added_tokens_decoder(std::string_view config, const std::string& what, TokenizerSpec& spec) {
  const json cfg = parse_small(config, what, "/");
  if (!cfg.is_object()) fail("{}: expected a JSON object", what);
  if (!cfg.contains("added_tokens_decoder")) return;
  const json& dec = cfg["added_tokens_decoder"];
  if (!dec.is_object()) fail("{}: /added_tokens_decoder: expected an object", what);
  json arr = json::array();
  std::vector<std::pair<int64_t, json>> items;
  for (auto it = dec.begin(); it != dec.end(); ++it) {
    int64_t id = -1;
    try {
      size_t used = 0;
      id = std::stoll(it.key(), &used);
      if (used != it.key().size()) id = -1;
    } catch (const std::exception&) {
      id = -1;
    }
    if (id < 0) fail("{}: /added_tokens_decoder/{}: the key is not a token id", what, it.key());
    json t = it.value();
    if (!t.is_object()) fail("{}: /added_tokens_decoder/{}: expected an object", what, it.key());
    t["id"] = id;
    items.emplace_back(id, std::move(t));
  }
  std::sort(items.begin(), items.end(), [](const auto& x, const auto& y) { return x.first < y.first; });
  for (auto& [id, t] : items) arr.push_back(std::move(t));
  spec.added = parse_added_list(arr, what + " (added_tokens_decoder)");
}

std::unique_ptr<TokenizerImpl> build_tokenizer(TokenizerSpec&& spec) {
  auto impl = std::make_unique<TokenizerImpl>();
  impl->char_table = unicode::char_table();
  impl->nfc = spec.nfc;
  impl->vocab = std::move(spec.vocab);
  if (impl->vocab.size() == 0) fail("{}: the vocabulary is empty", spec.what);

  // HF gives an added token that is already in the model's vocabulary the model's id,
  // whatever id the file lists for it.
  for (AddedToken& a : spec.added) {
    const int32_t model_id = impl->vocab.find(a.content);
    if (model_id >= 0) a.id = model_id;
  }
  int64_t max_id = -1;
  impl->vocab.for_each([&](std::string_view, int32_t id) { max_id = std::max<int64_t>(max_id, id); });
  for (const AddedToken& a : spec.added) max_id = std::max<int64_t>(max_id, a.id);
  const auto size = static_cast<size_t>(max_id + 1);
  impl->id_bytes.assign(size, std::string());
  impl->flags.assign(size, 0);
  std::string bytes;
  impl->vocab.for_each([&](std::string_view key, int32_t id) {
    const auto i = static_cast<size_t>(id);
    bytes.clear();
    if (byte_level_to_bytes(key, bytes)) {
      impl->id_bytes[i] = bytes;
      impl->flags[i] = kExists;
    } else {
      // The ByteLevel decoder passes such a token through as its UTF-8 text.
      impl->id_bytes[i] = std::string(key);
      impl->flags[i] = kExists | kUnmappable;
    }
  });

  BpeModel& bpe = impl->bpe;
  for (int b = 0; b < 256; ++b) {
    bpe.byte_ids[static_cast<size_t>(b)] =
        impl->vocab.find(bytes_to_byte_level(std::string(1, static_cast<char>(b))));
  }
  bpe.merges.reserve(spec.merges.size());
  std::string joined;
  const std::string_view arena = spec.merge_arena;
  for (size_t r = 0; r < spec.merges.size(); ++r) {
    const auto& m = spec.merges[r];
    const std::string_view a = arena.substr(m.a_off, m.a_len), b = arena.substr(m.b_off, m.b_len);
    const int32_t ia = impl->vocab.find(a), ib = impl->vocab.find(b);
    joined.assign(a);
    joined.append(b);
    const int32_t iab = impl->vocab.find(joined);
    if (ia < 0 || ib < 0 || iab < 0) {
      const std::string_view missing = ia < 0 ? a : ib < 0 ? b : std::string_view(joined);
      fail("{}: merge #{} '{} {}': token '{}' is not in the vocabulary", spec.what, r, a, b, missing);
    }
    bpe.merges.insert(ia, ib, {static_cast<int32_t>(r), iab});
  }
  bpe.ignore_merges = spec.ignore_merges;
  bpe.vocab = &impl->vocab;
  if (!spec.unk_token.empty()) bpe.unk_id = impl->vocab.find(spec.unk_token);

  impl->added = std::move(spec.added);
  std::vector<AddedToken> raw_tokens, norm_tokens;
  std::vector<std::string> raw_patterns, norm_patterns;
  for (const AddedToken& a : impl->added) {
    const auto i = static_cast<size_t>(a.id);
    if (!unicode::is_valid_utf8(a.content)) fail("{}: added token {}: invalid UTF-8", spec.what, a.id);
    bytes.clear();
    uint8_t f = kExists | kAdded | (a.special ? kSpecial : 0);
    if (byte_level_to_bytes(a.content, bytes)) {
      impl->id_bytes[i] = bytes;
    } else {
      impl->id_bytes[i] = a.content;
      f |= kUnmappable;
    }
    impl->flags[i] = f;
    if (a.normalized && impl->nfc) {
      std::string storage;
      norm_tokens.push_back(a);
      norm_patterns.emplace_back(unicode::nfc(a.content, storage));
    } else if (a.normalized) {
      norm_tokens.push_back(a);
      norm_patterns.push_back(a.content);
    } else {
      raw_tokens.push_back(a);
      raw_patterns.push_back(a.content);
    }
  }
  impl->added_raw.build(raw_tokens, raw_patterns, impl->char_table);
  impl->added_normalized.build(norm_tokens, norm_patterns, impl->char_table);
  return impl;
}

}  // namespace hearth::tok_detail
