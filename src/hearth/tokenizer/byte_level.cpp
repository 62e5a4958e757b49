#include "hearth/tokenizer/byte_level.h"

#include "hearth/tokenizer/unicode.h"

namespace hearth::tok_detail {
namespace {

struct Tables {
  std::array<char32_t, 256> to_char{};
  std::array<int16_t, 324> to_byte{};  // indexed by code point; the alphabet ends at U+0143

  Tables() {
    to_byte.fill(-1);
    int extra = 0;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
      const char32_t c = printable ? static_cast<char32_t>(b) : static_cast<char32_t>(256 + extra++);
      to_char[static_cast<size_t>(b)] = c;
      to_byte[c] = static_cast<int16_t>(b);
    }
  }
};

const Tables& tables() {
  static const Tables t;
  return t;
}

}  // namespace

char32_t byte_to_char(uint8_t b) { return tables().to_char[b]; }

int char_to_byte(char32_t c) {
  const auto& t = tables().to_byte;
  return c < t.size() ? t[c] : -1;
}

bool byte_level_to_bytes(std::string_view token, std::string& out) {
  const size_t mark = out.size();
  const auto* p = reinterpret_cast<const unsigned char*>(token.data());
  size_t i = 0;
  while (i < token.size()) {
    size_t len = 0;
    if (unicode::scan_utf8(p + i, token.size() - i, len) != unicode::Utf8Status::kValid) {
      out.resize(mark);
      return false;
    }
    uint32_t l = 0;
    const int b = char_to_byte(unicode::decode_valid(p + i, l));
    if (b < 0) {
      out.resize(mark);
      return false;
    }
    out.push_back(static_cast<char>(b));
    i += len;
  }
  return true;
}

std::string bytes_to_byte_level(std::string_view bytes) {
  std::string s;
  for (unsigned char b : bytes) unicode::append_utf8(s, byte_to_char(b));
  return s;
}

}  // namespace hearth::tok_detail
