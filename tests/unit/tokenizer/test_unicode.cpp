// UTF-8 scanning/replacement and the segmented NFC, checked against utf8proc's whole-string
// NFC and the Unicode standard's rules for replacing ill-formed sequences.
#include <utf8proc.h>

#include <cstdlib>
#include <random>

#include "hearth/tokenizer/unicode.h"
#include "tokenizer_test_util.h"

namespace hearth::test {
namespace {

std::string utf8proc_nfc_whole(const std::string& s) {
  utf8proc_uint8_t* out = nullptr;
  const auto n = utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(s.data()), static_cast<utf8proc_ssize_t>(s.size()),
                              &out, static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_COMPOSE));
  EXPECT_GE(n, 0);
  std::string r(reinterpret_cast<const char*>(out), static_cast<size_t>(n < 0 ? 0 : n));
  std::free(out);
  return r;
}

// Independent decoder for the replacement rule: a code point is decoded by trying lengths
// 1..4 against the well-formed ranges of Unicode Table 3-7; a maximal subpart is the
// longest prefix that some well-formed sequence starts with.
bool is_prefix_of_well_formed(const unsigned char* p, size_t n) {
  if (n == 0) return true;
  const unsigned char b = p[0];
  struct Range { unsigned char lo, hi; };
  std::vector<Range> r;
  if (b <= 0x7F) r = {{0, 0x7F}};
  else if (b >= 0xC2 && b <= 0xDF) r = {{0xC2, 0xDF}, {0x80, 0xBF}};
  else if (b == 0xE0) r = {{0xE0, 0xE0}, {0xA0, 0xBF}, {0x80, 0xBF}};
  else if ((b >= 0xE1 && b <= 0xEC) || b == 0xEE || b == 0xEF) r = {{b, b}, {0x80, 0xBF}, {0x80, 0xBF}};
  else if (b == 0xED) r = {{0xED, 0xED}, {0x80, 0x9F}, {0x80, 0xBF}};
  else if (b == 0xF0) r = {{0xF0, 0xF0}, {0x90, 0xBF}, {0x80, 0xBF}, {0x80, 0xBF}};
  else if (b >= 0xF1 && b <= 0xF3) r = {{b, b}, {0x80, 0xBF}, {0x80, 0xBF}, {0x80, 0xBF}};
  else if (b == 0xF4) r = {{0xF4, 0xF4}, {0x80, 0x8F}, {0x80, 0xBF}, {0x80, 0xBF}};
  else return false;
  if (n > r.size()) return false;
  for (size_t i = 0; i < n; ++i) {
    if (p[i] < r[i].lo || p[i] > r[i].hi) return false;
  }
  return true;
}

std::string reference_sanitize(const std::string& s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  std::string out;
  size_t i = 0;
  while (i < s.size()) {
    size_t len = 1;
    while (len < 4 && i + len < s.size() && is_prefix_of_well_formed(p + i, len + 1)) ++len;
    const bool complete = is_prefix_of_well_formed(p + i, len) && (p[i] < 0x80 || len == (p[i] >= 0xF0 ? 4u : p[i] >= 0xE0 ? 3u : 2u));
    if (complete) {
      out.append(s, i, len);
    } else {
      out += "\xEF\xBF\xBD";
      if (!is_prefix_of_well_formed(p + i, 1)) len = 1;
    }
    i += len;
  }
  return out;
}

TEST(TokenizerUnicode, SanitizeMatchesTheMaximalSubpartRule) {
  std::mt19937 rng(1234);
  const unsigned char interesting[] = {0x00, 0x41, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC1, 0xC2,
                                       0xDF, 0xE0, 0xE1, 0xEC, 0xED, 0xEE, 0xEF, 0xF0, 0xF1, 0xF3, 0xF4, 0xF5, 0xFF};
  for (int iter = 0; iter < 20000; ++iter) {
    std::string s;
    const int n = static_cast<int>(rng() % 12);
    for (int k = 0; k < n; ++k) s.push_back(static_cast<char>(interesting[rng() % sizeof interesting]));
    std::string got;
    unicode::append_sanitized(got, s);
    ASSERT_EQ(got, reference_sanitize(s)) << "input hex " << nlohmann::json(std::vector<unsigned char>(s.begin(), s.end())).dump();
    ASSERT_TRUE(unicode::is_valid_utf8(got));
    ASSERT_EQ(unicode::is_valid_utf8(s), got == s);
  }
}

TEST(TokenizerUnicode, SegmentedNfcEqualsWholeStringNfc) {
  std::mt19937 rng(99);
  // Starters, marks of several combining classes, Hangul jamo and syllables, singletons,
  // exclusions, and characters that compose as second halves with ccc=0.
  const char32_t pool[] = {'a', 'e', 'o', 'A', ' ', 'x', 0xE9, 0x0301, 0x0300, 0x0323, 0x0308, 0x0344, 0x0345,
                           0x0327, 0x1100, 0x1161, 0x11A8, 0xAC00, 0xAC01, 0x212B, 0x2126, 0x0958, 0x093C,
                           0x0915, 0x0B47, 0x0B3E, 0x0B57, 0x0BC6, 0x0BBE, 0x0DD9, 0x0DCF, 0x1B05, 0x1B35,
                           0x3099, 0x304B, 0x05D0, 0x05B7, 0xFB2E, 0x1E0A, 0x0307, 0x03B9, 0x1F00, 0x0342,
                           0x110A5, 0x110BA, 0x11131, 0x11127, 0x0F71, 0x0F72, 0x0F73, 0x4E00, 0x1F600};
  for (int iter = 0; iter < 30000; ++iter) {
    std::string s;
    const int n = 1 + static_cast<int>(rng() % 10);
    for (int k = 0; k < n; ++k) unicode::append_utf8(s, pool[rng() % (sizeof pool / sizeof pool[0])]);
    std::string storage;
    ASSERT_EQ(std::string(unicode::nfc(s, storage)), utf8proc_nfc_whole(s)) << nlohmann::json(s).dump();
  }
}

TEST(TokenizerUnicode, ScanReportsIncompleteAtTheEnd) {
  const std::string euro = "\xE2\x82\xAC";
  for (size_t cut = 1; cut < euro.size(); ++cut) {
    size_t len = 0;
    EXPECT_EQ(unicode::scan_utf8(reinterpret_cast<const unsigned char*>(euro.data()), cut, len),
              unicode::Utf8Status::kIncomplete);
    EXPECT_EQ(len, cut);
  }
  size_t len = 0;
  EXPECT_EQ(unicode::scan_utf8(reinterpret_cast<const unsigned char*>(euro.data()), 3, len), unicode::Utf8Status::kValid);
  EXPECT_EQ(len, 3u);
}

}  // namespace
}  // namespace hearth::test
