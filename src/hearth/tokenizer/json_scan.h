// A minimal JSON scanner for the two large sections of a tokenizer file (the vocabulary
// and the merges, ~150k entries each): nlohmann::json takes far longer than the 300 ms
// load budget on an 11 MB tokenizer.json, so those are read in place and the rest of
// the file, small, is handed to nlohmann as raw spans.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace hearth::tok_detail {

class JsonScanner {
 public:
  // `what` names the input in error messages (a file path).
  JsonScanner(std::string_view text, std::string what) : text_(text), what_(std::move(what)) {}

  void skip_ws();
  bool at_end();
  // Next non-space character without consuming it ('\0' at the end).
  char peek();
  void expect(char c);
  // Consumes c if it is next.
  bool accept(char c);
  // Reads a string value, appending its decoded UTF-8 bytes to out.
  void read_string(std::string& out);
  int64_t read_integer();
  // Skips any value and returns its raw text.
  std::string_view skip_value();
  size_t offset() const { return pos_; }

  // Throws hearth::Error naming the file, line and column.
  [[noreturn]] void error(std::string_view msg) const;

 private:
  void skip_string();
  void append_escape(std::string& out);
  uint32_t read_hex4();

  std::string_view text_;
  std::string what_;
  size_t pos_ = 0;
  int depth_ = 0;
};

}  // namespace hearth::tok_detail
