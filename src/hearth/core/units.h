// Parsing of human-written quantities in flags and config files.
#pragma once

#include <cstdint>
#include <string_view>

namespace hearth {

// "14GiB", "512MiB", "2GB", "1.5 GiB", "1073741824" -> bytes. Binary suffixes (KiB, MiB,
// GiB, TiB) are powers of 1024, decimal ones (KB, MB, GB, TB) powers of 1000, and a bare
// number is bytes. Throws hearth::Error naming `what` and the text for anything else.
uint64_t parse_byte_size(std::string_view text, std::string_view what);

}  // namespace hearth
