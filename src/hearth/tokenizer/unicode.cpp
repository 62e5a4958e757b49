#include "hearth/tokenizer/unicode.h"

#include <utf8proc.h>

#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "hearth/core/error.h"

namespace hearth::unicode {
namespace {

constexpr char32_t kMaxCodePoint = 0x10FFFF;

struct ClassOverride {
  char32_t first, last;
  CharClass cls;
};
struct CodePointRange {
  char32_t first, last;
};

#include "hearth/tokenizer/unicode_hf_data.inc"

bool is_white_space(char32_t cp) {
  // Oniguruma's Unicode \s: U+0009..U+000D, U+0085 and General_Category Zs, Zl, Zp. Listed
  // rather than read from utf8proc so that it cannot drift with the Unicode version.
  if (cp >= 0x09 && cp <= 0x0D) return true;
  switch (cp) {
    case 0x20: case 0x85: case 0xA0: case 0x1680: case 0x2028: case 0x2029: case 0x202F:
    case 0x205F: case 0x3000:
      return true;
    default:
      return cp >= 0x2000 && cp <= 0x200A;
  }
}

std::string encode_one(char32_t cp) {
  std::string s;
  append_utf8(s, cp);
  return s;
}

std::string utf8proc_nfc(std::string_view s) {
  utf8proc_uint8_t* out = nullptr;
  const utf8proc_ssize_t n =
      utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(s.data()),
                   static_cast<utf8proc_ssize_t>(s.size()), &out,
                   static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_COMPOSE));
  if (n < 0) {
    std::free(out);
    fail("NFC normalization failed: {}", utf8proc_errmsg(n));
  }
  std::string result(reinterpret_cast<const char*>(out), static_cast<size_t>(n));
  std::free(out);
  return result;
}

std::unique_ptr<uint8_t[]> build_table() {
  auto table = std::make_unique<uint8_t[]>(kMaxCodePoint + 1);
  // Code points that can be the second half of a canonical composition: the last code
  // point of every canonical decomposition, and the Hangul medial vowels and final
  // consonants that compose algorithmically. NFC may merge them into what precedes them.
  std::vector<bool> second(kMaxCodePoint + 1, false);
  for (char32_t cp = 0x1161; cp <= 0x1175; ++cp) second[cp] = true;
  for (char32_t cp = 0x11A8; cp <= 0x11C2; ++cp) second[cp] = true;
  std::vector<char32_t> canonical;
  for (char32_t cp = 0; cp <= kMaxCodePoint; ++cp) {
    const utf8proc_property_t* p = utf8proc_get_property(static_cast<utf8proc_int32_t>(cp));
    if (p->decomp_seqindex != UINT16_MAX && p->decomp_type == 0) {
      canonical.push_back(cp);
      utf8proc_int32_t buf[8];
      int boundclass = 0;
      const utf8proc_ssize_t n = utf8proc_decompose_char(
          static_cast<utf8proc_int32_t>(cp), buf, 8, UTF8PROC_DECOMPOSE, &boundclass);
      if (n >= 2 && n <= 8) second[static_cast<char32_t>(buf[n - 1])] = true;
    }
  }
  for (char32_t cp = 0; cp <= kMaxCodePoint; ++cp) {
    const utf8proc_property_t* p = utf8proc_get_property(static_cast<utf8proc_int32_t>(cp));
    uint8_t cls = kOther;
    switch (p->category) {
      case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT:
      case UTF8PROC_CATEGORY_LM: case UTF8PROC_CATEGORY_LO:
        cls = kLetter;
        break;
      case UTF8PROC_CATEGORY_ND: case UTF8PROC_CATEGORY_NL: case UTF8PROC_CATEGORY_NO:
        cls = kNumber;
        break;
      default:
        break;
    }
    if (is_white_space(cp)) cls = kSpace;
    // Marks are treated as possible composition partners even with ccc=0: costs a little
    // speed on some scripts, and keeps NFC exact should a pair escape the rule above.
    const bool mark = p->category == UTF8PROC_CATEGORY_MN || p->category == UTF8PROC_CATEGORY_MC ||
                      p->category == UTF8PROC_CATEGORY_ME;
    const bool boundary = p->combining_class == 0 && !second[cp] && !mark;
    table[cp] = static_cast<uint8_t>(cls | (boundary ? kNfcBoundary : 0));
  }
  // A starter with a canonical decomposition is a boundary only when NFC keeps it
  // (singletons and composition exclusions change).
  for (char32_t cp : canonical) {
    if ((table[cp] & kNfcBoundary) == 0) continue;
    const std::string s = encode_one(cp);
    if (utf8proc_nfc(s) != s) table[cp] = static_cast<uint8_t>(table[cp] & ~kNfcBoundary);
  }
  for (const ClassOverride& o : kHfClassOverrides) {
    for (char32_t cp = o.first; cp <= o.last; ++cp) table[cp] = static_cast<uint8_t>((table[cp] & ~kClassMask) | o.cls);
  }
  for (const CodePointRange& r : kHfUnknownMarks) {
    for (char32_t cp = r.first; cp <= r.last; ++cp) table[cp] |= kNfcBoundary | kNfcIsolated;
  }
  // HF does not compose U+11935 U+11930 into U+11938 (Unicode 13): cut before U+11930.
  table[0x11930] |= kNfcBoundary | kNfcIsolated;
  for (const CodePointRange& r : kHfWordChars) {
    for (char32_t cp = r.first; cp <= r.last; ++cp) table[cp] |= kWordChar;
  }
  // Surrogates never reach the table through valid UTF-8; keep them inert.
  for (char32_t cp = 0xD800; cp <= 0xDFFF; ++cp) table[cp] = kOther | kNfcBoundary;
  return table;
}

}  // namespace

const uint8_t* char_table() {
  static const std::unique_ptr<uint8_t[]> table = build_table();
  return table.get();
}

Utf8Status scan_utf8(const unsigned char* p, size_t n, size_t& len) {
  const unsigned char b0 = p[0];
  if (b0 < 0x80) {
    len = 1;
    return Utf8Status::kValid;
  }
  size_t need = 0;
  unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte (Table 3-7)
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    need = 2;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    need = 3;
    if (b0 == 0xE0) lo = 0xA0;
    if (b0 == 0xED) hi = 0x9F;
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    need = 4;
    if (b0 == 0xF0) lo = 0x90;
    if (b0 == 0xF4) hi = 0x8F;
  } else {
    len = 1;
    return Utf8Status::kInvalid;
  }
  for (size_t i = 1; i < need; ++i) {
    if (i >= n) {
      len = n;
      return Utf8Status::kIncomplete;
    }
    const unsigned char b = p[i];
    const bool ok = i == 1 ? (b >= lo && b <= hi) : (b >= 0x80 && b <= 0xBF);
    if (!ok) {
      len = i;
      return Utf8Status::kInvalid;
    }
  }
  len = need;
  return Utf8Status::kValid;
}

bool is_valid_utf8(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  size_t i = 0;
  while (i < n) {
    // ASCII fast path, 8 bytes at a time.
    if (i + 8 <= n) {
      uint64_t w;
      std::memcpy(&w, p + i, 8);
      if ((w & 0x8080808080808080ull) == 0) {
        i += 8;
        continue;
      }
    }
    size_t len = 0;
    if (scan_utf8(p + i, n - i, len) != Utf8Status::kValid) return false;
    i += len;
  }
  return true;
}

void append_sanitized(std::string& out, std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  size_t i = 0;
  size_t run = 0;  // start of the pending run of valid bytes
  while (i < n) {
    size_t len = 0;
    if (scan_utf8(p + i, n - i, len) == Utf8Status::kValid) {
      i += len;
      continue;
    }
    out.append(s.data() + run, i - run);
    out.append("\xEF\xBF\xBD");
    i += len;
    run = i;
  }
  out.append(s.data() + run, n - run);
}

void append_utf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

std::string_view nfc(std::string_view s, std::string& storage) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  // Every code point below U+0300 is an NFC boundary, and any code point from U+0300 on has
  // a lead byte >= 0xCC: text without such a byte is already NFC.
  size_t i = 0;
  while (i < n && p[i] < 0xCC) ++i;
  if (i == n) return s;

  const uint8_t* table = char_table();
  // Back up to the start of the character that holds byte i, then to the last boundary.
  size_t last_boundary = 0;
  size_t copied = 0;
  bool changed = false;
  i = 0;
  while (i < n) {
    if (p[i] < 0x80) {
      last_boundary = i++;
      continue;
    }
    uint32_t len = 0;
    const char32_t cp = decode_valid(p + i, len);
    if (table[cp] & kNfcBoundary) {
      // An isolated code point belongs to no segment: the next one starts after it.
      last_boundary = (table[cp] & kNfcIsolated) ? i + len : i;
      i += len;
      continue;
    }
    // Normalize from the last boundary to the next one; the rest stays as it is.
    size_t j = i + len;
    while (j < n) {
      if (p[j] < 0x80) break;
      uint32_t l2 = 0;
      const char32_t c2 = decode_valid(p + j, l2);
      if (table[c2] & kNfcBoundary) break;
      j += l2;
    }
    const size_t start = last_boundary < copied ? copied : last_boundary;
    const std::string_view segment = s.substr(start, j - start);
    std::string normalized = utf8proc_nfc(segment);
    if (!changed) {
      if (normalized == segment) {
        i = j;
        continue;
      }
      changed = true;
      storage.clear();
      storage.reserve(n + 16);
    }
    storage.append(s.data() + copied, start - copied);
    storage.append(normalized);
    copied = j;
    i = j;
    last_boundary = j;
  }
  if (!changed) return s;
  storage.append(s.data() + copied, n - copied);
  return storage;
}

}  // namespace hearth::unicode
