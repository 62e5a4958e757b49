#include "hearth/tokenizer/tokenizer.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "hearth/core/error.h"
#include "hearth/tokenizer/byte_level.h"
#include "hearth/tokenizer/pre_tokenizer.h"
#include "hearth/tokenizer/tokenizer_impl.h"
#include "hearth/tokenizer/unicode.h"

namespace hearth {
namespace {

namespace fs = std::filesystem;
using tok_detail::TokenizerImpl;
using tok_detail::TokenizerSpec;

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("{}: cannot open", path.string());
  std::string data;
  in.seekg(0, std::ios::end);
  const std::streamoff size = in.tellg();
  if (size < 0) fail("{}: cannot read", path.string());
  data.resize(static_cast<size_t>(size));
  in.seekg(0, std::ios::beg);
  in.read(data.data(), size);
  if (!in) fail("{}: cannot read", path.string());
  return data;
}

// Encodes one piece of text that holds no raw added token: NFC, then normalized added
// tokens, then the split pre-tokenizer and BPE per pre-token.
void encode_piece(const TokenizerImpl& t, std::string_view piece, std::vector<int32_t>& out) {
  std::string storage;
  const std::string_view norm = t.nfc ? unicode::nfc(piece, storage) : piece;
  auto encode_text = [&](std::string_view text) {
    tok_detail::qwen2_split(text, t.char_table, [&](std::string_view word) { t.bpe.encode_word(word, out); });
  };
  if (t.added_normalized.empty()) {
    encode_text(norm);
  } else {
    t.added_normalized.split(norm, encode_text, [&](int32_t id) { out.push_back(id); });
  }
}

}  // namespace

Tokenizer::Tokenizer(std::unique_ptr<TokenizerImpl> impl) : impl_(std::move(impl)) {}
Tokenizer::~Tokenizer() = default;

bool Tokenizer::has_tokenizer_files(const std::string& dir) {
  std::error_code ec;
  const fs::path d(dir);
  return fs::is_regular_file(d / "tokenizer.json", ec) ||
         (fs::is_regular_file(d / "vocab.json", ec) && fs::is_regular_file(d / "merges.txt", ec));
}

std::unique_ptr<Tokenizer> Tokenizer::from_json(std::string_view text, const std::string& what) {
  TokenizerSpec spec;
  spec.what = what;
  tok_detail::parse_tokenizer_json(text, spec);
  return std::unique_ptr<Tokenizer>(new Tokenizer(tok_detail::build_tokenizer(std::move(spec))));
}

std::unique_ptr<Tokenizer> Tokenizer::load(const std::string& dir) {
  const fs::path d(dir);
  std::error_code ec;
  if (!fs::is_directory(d, ec)) fail("{}: not a directory", dir);
  const fs::path tj = d / "tokenizer.json";
  if (fs::is_regular_file(tj, ec)) return from_json(read_file(tj), tj.string());
  const fs::path vj = d / "vocab.json", mt = d / "merges.txt", tc = d / "tokenizer_config.json";
  if (!fs::is_regular_file(vj, ec) || !fs::is_regular_file(mt, ec)) {
    fail("{}: no tokenizer files (expected tokenizer.json, or vocab.json + merges.txt)", dir);
  }
  TokenizerSpec spec;
  spec.what = vj.string();
  tok_detail::parse_vocab_json(read_file(vj), vj.string(), spec);
  tok_detail::parse_merges_txt(read_file(mt), mt.string(), spec);
  if (fs::is_regular_file(tc, ec)) tok_detail::parse_added_tokens_decoder(read_file(tc), tc.string(), spec);
  // Qwen2Tokenizer's fixed pipeline: NFC and the Qwen2 split pattern.
  spec.nfc = true;
  return std::unique_ptr<Tokenizer>(new Tokenizer(tok_detail::build_tokenizer(std::move(spec))));
}

std::vector<int32_t> Tokenizer::encode(std::string_view text) const {
  std::string clean;
  if (!unicode::is_valid_utf8(text)) {
    unicode::append_sanitized(clean, text);
    text = clean;
  }
  std::vector<int32_t> out;
  out.reserve(text.size() / 3 + 4);
  const TokenizerImpl& t = *impl_;
  t.added_raw.split(
      text, [&](std::string_view piece) { encode_piece(t, piece, out); },
      [&](int32_t id) { out.push_back(id); });
  return out;
}

std::string Tokenizer::decode(std::span<const int32_t> ids, bool skip_special_tokens) const {
  const TokenizerImpl& t = *impl_;
  std::string bytes;
  for (int32_t id : ids) {
    if (id < 0 || static_cast<size_t>(id) >= t.flags.size()) continue;
    const uint8_t f = t.flags[static_cast<size_t>(id)];
    if (!(f & tok_detail::kExists)) continue;
    if (skip_special_tokens && (f & tok_detail::kSpecial)) continue;
    bytes += t.id_bytes[static_cast<size_t>(id)];
  }
  if (unicode::is_valid_utf8(bytes)) return bytes;
  std::string out;
  unicode::append_sanitized(out, bytes);
  return out;
}

int Tokenizer::vocab_size() const { return static_cast<int>(impl_->flags.size()); }

const std::string& Tokenizer::token_bytes(int32_t id) const {
  static const std::string kEmpty;
  if (id < 0 || static_cast<size_t>(id) >= impl_->id_bytes.size()) return kEmpty;
  return impl_->id_bytes[static_cast<size_t>(id)];
}

std::optional<int32_t> Tokenizer::token_to_id(std::string_view token) const {
  for (const AddedToken& a : impl_->added) {
    if (a.content == token) return a.id;
  }
  const int32_t id = impl_->vocab.find(token);
  if (id >= 0) return id;
  return std::nullopt;
}

std::string Tokenizer::id_to_token(int32_t id) const {
  if (id < 0 || static_cast<size_t>(id) >= impl_->flags.size()) return {};
  const uint8_t f = impl_->flags[static_cast<size_t>(id)];
  if (!(f & tok_detail::kExists)) return {};
  for (const AddedToken& a : impl_->added) {
    if (a.id == id) return a.content;
  }
  const std::string& b = impl_->id_bytes[static_cast<size_t>(id)];
  return (f & tok_detail::kUnmappable) ? b : tok_detail::bytes_to_byte_level(b);
}

bool Tokenizer::is_special(int32_t id) const {
  if (id < 0 || static_cast<size_t>(id) >= impl_->flags.size()) return false;
  return (impl_->flags[static_cast<size_t>(id)] & tok_detail::kSpecial) != 0;
}

const std::vector<AddedToken>& Tokenizer::added_tokens() const { return impl_->added; }

StreamDecoder::StreamDecoder(const Tokenizer& tok, bool skip_special_tokens)
    : tok_(tok), skip_special_(skip_special_tokens) {}

std::string StreamDecoder::push(int32_t id) {
  if (skip_special_ && tok_.is_special(id)) return {};
  pending_ += tok_.token_bytes(id);
  // Emit every complete character; an invalid sequence is already final (more bytes cannot
  // make it valid), so its U+FFFD goes out now; an incomplete one waits.
  std::string out;
  const auto* p = reinterpret_cast<const unsigned char*>(pending_.data());
  const size_t n = pending_.size();
  size_t i = 0, run = 0;
  while (i < n) {
    size_t len = 0;
    const auto st = unicode::scan_utf8(p + i, n - i, len);
    if (st == unicode::Utf8Status::kValid) {
      i += len;
      continue;
    }
    if (st == unicode::Utf8Status::kIncomplete) break;
    out.append(pending_, run, i - run);
    out.append("\xEF\xBF\xBD");
    i += len;
    run = i;
  }
  out.append(pending_, run, i - run);
  pending_.erase(0, i);
  return out;
}

std::string StreamDecoder::flush() {
  std::string out;
  unicode::append_sanitized(out, pending_);
  pending_.clear();
  return out;
}

}  // namespace hearth
