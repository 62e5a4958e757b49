// safetensors: an 8-byte little-endian header length N, N bytes of JSON
// {"name": {"dtype": "BF16", "shape": [..], "data_offsets": [begin, end]}, ...,
//  "__metadata__": {"k": "v"}}, then the data region that the offsets index.
// The parser checks everything the reference implementation checks (header inside the
// file, well-formed JSON, known dtypes, shape x dtype size == byte range, ranges inside the
// data region, no overlaps or holes) and never reads outside the given bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "hearth/core/dtype.h"

namespace hearth {

struct SafetensorsTensor {
  std::string name;
  std::string dtype;             // as written in the header: "BF16", "F32", "I64", ...
  size_t element_size = 0;       // bytes per element of `dtype`
  std::vector<int64_t> shape;
  uint64_t offset = 0;           // byte offset of the data from the start of the file
  uint64_t nbytes = 0;
  const uint8_t* data = nullptr;  // points into the parsed bytes

  int64_t numel() const;
  // The hearth dtype with the same encoding, if there is one (F32, F16, BF16, I32, I64, U8, I8).
  std::optional<DType> hearth_dtype() const;
};

class SafetensorsFile {
 public:
  // Parses a whole file held in memory (usually a MappedFile). Does not copy or own the
  // bytes: tensors' data pointers stay valid while the bytes do. Throws hearth::Error
  // whose message starts with `source` (the file's path).
  static SafetensorsFile parse(const uint8_t* bytes, size_t size, const std::string& source);

  const std::string& source() const { return source_; }
  // In order of their data offsets.
  const std::vector<SafetensorsTensor>& tensors() const { return tensors_; }
  const SafetensorsTensor* find(std::string_view name) const;
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  uint64_t header_size() const { return header_size_; }

 private:
  std::string source_;
  std::vector<SafetensorsTensor> tensors_;
  std::map<std::string, size_t, std::less<>> index_;
  std::map<std::string, std::string> metadata_;
  uint64_t header_size_ = 0;
};

// Bytes per element of a safetensors dtype name, or 0 when the name is unknown.
size_t safetensors_dtype_size(std::string_view dtype);
// "F32" / "F16" / "BF16" / ... for a hearth dtype.
std::string_view safetensors_dtype_name(DType t);

// One tensor to write. `dtype` is a safetensors dtype name; the writer checks that
// `bytes` holds exactly shape x dtype-size bytes when it knows the dtype, and writes an
// unknown dtype name as given (tests use that to produce files the reader must refuse).
struct SafetensorsEntry {
  std::string name;
  std::string dtype;
  std::vector<int64_t> shape;
  std::vector<uint8_t> bytes;
};

// The whole file as bytes, tensors in the given order and contiguous; the header is padded
// with spaces to a multiple of 8 bytes so that the data of every tensor stays aligned.
std::vector<uint8_t> serialize_safetensors(const std::vector<SafetensorsEntry>& tensors,
                                           const std::map<std::string, std::string>& metadata = {});
// Writes serialize_safetensors(...) to `path` (throws hearth::Error naming the path).
void write_safetensors(const std::string& path, const std::vector<SafetensorsEntry>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

}  // namespace hearth
