// libFuzzer: arbitrary bytes as a safetensors file. The parser must return a table whose
// every tensor lies inside the input, or throw hearth::Error; anything else is a bug.
//
// Two input forms, so that mutations reach the header's meaning and not only its syntax:
//  - raw:  the bytes are the file;
//  - text: "J<header JSON>\n#<data size>" (first byte 'J'); the harness prepends the
//    8-byte length and appends a data region of that size (capped at 1 MiB). The seed
//    corpus that model.cmake writes uses this form, since CMake cannot write NUL bytes.
// The file is always copied into a heap buffer of exactly its size, so ASan flags any read
// past its end; the checks below catch ranges that escape it without a read.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string_view>

#include "hearth/core/error.h"
#include "hearth/model/safetensors.h"

namespace {

void check(const uint8_t* data, size_t size) {
  try {
    const hearth::SafetensorsFile f = hearth::SafetensorsFile::parse(data, size, "fuzz.safetensors");
    uint64_t covered = 8 + f.header_size();
    uint8_t acc = 0;
    for (const hearth::SafetensorsTensor& t : f.tensors()) {
      if (t.data != data + t.offset || t.offset != covered) std::abort();  // sorted, contiguous
      if (t.offset + t.nbytes > size) std::abort();
      if (static_cast<uint64_t>(t.numel()) * t.element_size != t.nbytes) std::abort();
      if (f.find(t.name) != &t) std::abort();
      if (t.nbytes > 0) acc = static_cast<uint8_t>(acc ^ t.data[0] ^ t.data[t.nbytes - 1]);
      covered += t.nbytes;
    }
    if (covered != size) std::abort();
    volatile uint8_t sink = acc;
    (void)sink;
  } catch (const hearth::Error&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0 || data[0] != 'J') {
    check(data, size);
    return 0;
  }
  const std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  const size_t sep = in.rfind("\n#");
  const std::string_view header = in.substr(0, sep);
  size_t data_size = 0;
  if (sep != std::string_view::npos) {
    for (const char c : in.substr(sep + 2)) {
      if (c < '0' || c > '9') break;
      data_size = std::min<size_t>(data_size * 10 + static_cast<size_t>(c - '0'), size_t{1} << 20);
    }
  }
  const size_t total = 8 + header.size() + data_size;
  std::unique_ptr<uint8_t[]> file(new uint8_t[total]);
  for (int i = 0; i < 8; ++i) file[i] = static_cast<uint8_t>(static_cast<uint64_t>(header.size()) >> (8 * i));
  std::memcpy(file.get() + 8, header.data(), header.size());
  for (size_t i = 0; i < data_size; ++i) file[8 + header.size() + i] = static_cast<uint8_t>(i * 31);
  check(file.get(), total);
  return 0;
}
