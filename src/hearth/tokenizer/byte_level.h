// The GPT-2 byte-level alphabet: each byte 0..255 is written as one printable code point
// (printable Latin-1 bytes as themselves, the others as U+0100 + their rank), so that a
// vocabulary of strings can name every byte sequence.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace hearth::tok_detail {

// Code point that stands for byte b.
char32_t byte_to_char(uint8_t b);

// Byte that code point c stands for, or -1 when c is not in the alphabet.
int char_to_byte(char32_t c);

// Appends the bytes a vocabulary string stands for; false (out unchanged) when one of its
// characters is outside the alphabet.
bool byte_level_to_bytes(std::string_view token, std::string& out);

// The vocabulary string of a byte sequence.
std::string bytes_to_byte_level(std::string_view bytes);

}  // namespace hearth::tok_detail
