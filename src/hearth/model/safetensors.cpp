#include "hearth/model/safetensors.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <set>

#include "hearth/core/error.h"
#include "hearth/model/json_util.h"

namespace hearth {

using model_detail::describe;
using model_detail::json;

namespace {

// The reference implementation refuses headers above 100 MB; real ones are < 1 MB.
constexpr uint64_t kMaxHeaderSize = 100'000'000;
constexpr size_t kMaxDims = 16;

struct DTypeInfo {
  const char* name;
  size_t size;
};
// Every dtype the safetensors format defines with a whole number of bytes per element.
constexpr DTypeInfo kDTypes[] = {
    {"BOOL", 1}, {"U8", 1},  {"I8", 1},  {"F8_E5M2", 1}, {"F8_E4M3", 1}, {"F8_E8M0", 1},
    {"I16", 2},  {"U16", 2}, {"F16", 2}, {"BF16", 2},    {"I32", 4},     {"U32", 4},
    {"F32", 4},  {"I64", 8}, {"U64", 8}, {"F64", 8},     {"C64", 8},
};

uint64_t read_le64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

// a * b, or nullopt on uint64 overflow.
std::optional<uint64_t> mul_checked(uint64_t a, uint64_t b) {
  if (a != 0 && b > UINT64_MAX / a) return std::nullopt;
  return a * b;
}

std::string shape_str(const std::vector<int64_t>& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

}  // namespace

size_t safetensors_dtype_size(std::string_view dtype) {
  for (const DTypeInfo& d : kDTypes)
    if (dtype == d.name) return d.size;
  return 0;
}

std::string_view safetensors_dtype_name(DType t) {
  switch (t) {
    case DType::F32: return "F32";
    case DType::F16: return "F16";
    case DType::BF16: return "BF16";
    case DType::I32: return "I32";
    case DType::I64: return "I64";
    case DType::U8: return "U8";
    case DType::I8: return "I8";
  }
  return "?";
}

int64_t SafetensorsTensor::numel() const {
  int64_t n = 1;
  for (const int64_t d : shape) n *= d;
  return n;
}

std::optional<DType> SafetensorsTensor::hearth_dtype() const {
  if (dtype == "F32") return DType::F32;
  if (dtype == "F16") return DType::F16;
  if (dtype == "BF16") return DType::BF16;
  if (dtype == "I32") return DType::I32;
  if (dtype == "I64") return DType::I64;
  if (dtype == "U8") return DType::U8;
  if (dtype == "I8") return DType::I8;
  return std::nullopt;
}

const SafetensorsTensor* SafetensorsFile::find(std::string_view name) const {
  const auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

SafetensorsFile SafetensorsFile::parse(const uint8_t* bytes, size_t size, const std::string& source) {
  SafetensorsFile f;
  f.source_ = source;
  if (size < 8) fail("{}: {} bytes is too small for a safetensors file (needs an 8-byte header length)", source, size);
  const uint64_t n = read_le64(bytes);
  if (n > size - 8)
    fail("{}: corrupt or truncated safetensors file: header length {} exceeds the {} bytes that follow it", source, n,
         size - 8);
  if (n > kMaxHeaderSize) fail("{}: corrupt safetensors header: length {} exceeds the {} byte limit", source, n, kMaxHeaderSize);
  if (n < 2 || bytes[8] != '{')
    fail("{}: corrupt safetensors header: expected a JSON object after the 8-byte length", source);
  f.header_size_ = n;
  const uint64_t data_size = size - 8 - n;
  const uint8_t* data = bytes + 8 + n;

  // Duplicate tensor names would make the file ambiguous; nlohmann keeps only one of them,
  // so catch them while parsing (depth 1 = keys of the top-level object).
  std::set<std::string> seen;
  std::string duplicate;
  json header;
  try {
    header = json::parse(bytes + 8, bytes + 8 + n, [&](int depth, json::parse_event_t ev, json& parsed) {
      if (ev == json::parse_event_t::key && depth == 1 && parsed.is_string()) {
        if (!seen.insert(parsed.get<std::string>()).second && duplicate.empty()) duplicate = parsed.get<std::string>();
      }
      return true;
    });
  } catch (const json::exception& e) {
    std::string what = e.what();
    if (const size_t p = what.find("] "); what.rfind("[json.exception", 0) == 0 && p != std::string::npos)
      what = what.substr(p + 2);
    fail("{}: corrupt safetensors header: malformed JSON: {}", source, what);
  }
  if (!header.is_object()) fail("{}: corrupt safetensors header: expected a JSON object", source);
  if (!duplicate.empty()) fail("{}: corrupt safetensors header: tensor \"{}\" appears twice", source, duplicate);

  for (auto it = header.begin(); it != header.end(); ++it) {
    const std::string& name = it.key();
    const json& v = it.value();
    if (name == "__metadata__") {
      if (!v.is_object()) fail("{}: __metadata__: expected an object of strings, got {}", source, describe(v));
      for (auto m = v.begin(); m != v.end(); ++m) {
        if (!m.value().is_string())
          fail("{}: __metadata__: {}: expected a string, got {}", source, m.key(), describe(m.value()));
        f.metadata_[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    auto bad = [&](const std::string& problem) { fail("{}: tensor {}: {}", source, name, problem); };
    if (!v.is_object()) bad(fmt::format("expected an object with dtype, shape and data_offsets, got {}", describe(v)));
    SafetensorsTensor t;
    t.name = name;
    const auto dt = v.find("dtype");
    if (dt == v.end() || !dt->is_string()) bad("dtype: missing or not a string");
    t.dtype = dt->get<std::string>();
    t.element_size = safetensors_dtype_size(t.dtype);
    if (t.element_size == 0) bad(fmt::format("unknown dtype \"{}\"", t.dtype));

    const auto sh = v.find("shape");
    if (sh == v.end() || !sh->is_array()) bad("shape: missing or not an array");
    if (sh->size() > kMaxDims) bad(fmt::format("shape has {} dimensions (limit {})", sh->size(), kMaxDims));
    uint64_t numel = 1;
    for (const json& d : *sh) {
      const auto x = model_detail::as_int(d, 0, INT64_MAX);
      if (!x) bad(fmt::format("shape: expected non-negative integers, found {}", describe(d)));
      t.shape.push_back(*x);
      const auto m = mul_checked(numel, static_cast<uint64_t>(*x));
      if (!m) bad(fmt::format("shape {} has too many elements", shape_str(t.shape)));
      numel = *m;
    }
    const auto expected = mul_checked(numel, t.element_size);
    if (!expected) bad(fmt::format("shape {} has too many elements", shape_str(t.shape)));

    const auto off = v.find("data_offsets");
    if (off == v.end() || !off->is_array() || off->size() != 2) bad("data_offsets: expected [begin, end]");
    const auto begin = model_detail::as_int((*off)[0], 0, INT64_MAX);
    const auto end = model_detail::as_int((*off)[1], 0, INT64_MAX);
    if (!begin || !end) bad("data_offsets: expected two non-negative integers");
    if (*begin > *end) bad(fmt::format("data_offsets [{}, {}]: begin is after end", *begin, *end));
    const uint64_t span = static_cast<uint64_t>(*end - *begin);
    if (span != *expected)
      bad(fmt::format("shape {} of {} needs {} bytes but data_offsets [{}, {}] hold {}", shape_str(t.shape), t.dtype,
                      *expected, *begin, *end, span));
    if (static_cast<uint64_t>(*end) > data_size)
      bad(fmt::format("data_offsets [{}, {}] extend past the end of the file (data region is {} bytes): file truncated?",
                      *begin, *end, data_size));
    t.offset = 8 + n + static_cast<uint64_t>(*begin);
    t.nbytes = span;
    t.data = data + *begin;
    f.tensors_.push_back(std::move(t));
  }

  // The data region must be tiled exactly: overlaps would alias tensors, holes could hide
  // a second payload (the format forbids both, as does the reference implementation).
  std::sort(f.tensors_.begin(), f.tensors_.end(), [](const SafetensorsTensor& a, const SafetensorsTensor& b) {
    return a.offset != b.offset ? a.offset < b.offset : a.nbytes < b.nbytes;
  });
  uint64_t pos = 8 + n;
  const SafetensorsTensor* prev = nullptr;
  for (const SafetensorsTensor& t : f.tensors_) {
    if (t.offset < pos)
      fail("{}: tensors {} and {} overlap (byte ranges [{}, {}) and [{}, {}) of the data region)", source,
           prev ? prev->name : "?", t.name, prev ? prev->offset - 8 - n : 0, prev ? prev->offset - 8 - n + prev->nbytes : 0,
           t.offset - 8 - n, t.offset - 8 - n + t.nbytes);
    if (t.offset > pos)
      fail("{}: {} unused bytes before tensor {} in the data region (offset {}); the format allows no holes", source,
           t.offset - pos, t.name, pos - 8 - n);
    pos = t.offset + t.nbytes;
    prev = &t;
  }
  if (pos != size)
    fail("{}: {} bytes after the last tensor are not covered by the header", source, size - pos);
  for (size_t i = 0; i < f.tensors_.size(); ++i) f.index_.emplace(f.tensors_[i].name, i);
  return f;
}

namespace {

std::string build_header(const std::vector<SafetensorsEntry>& tensors, const std::map<std::string, std::string>& metadata) {
  json h = json::object();
  if (!metadata.empty()) h["__metadata__"] = metadata;
  uint64_t pos = 0;
  for (const SafetensorsEntry& e : tensors) {
    if (e.name == "__metadata__") fail("write_safetensors: \"__metadata__\" is not a valid tensor name");
    if (h.contains(e.name)) fail("write_safetensors: tensor {} given twice", e.name);
    const size_t es = safetensors_dtype_size(e.dtype);
    if (es != 0) {
      uint64_t numel = 1;
      for (const int64_t d : e.shape) {
        if (d < 0) fail("write_safetensors: tensor {}: negative dimension in shape {}", e.name, shape_str(e.shape));
        numel *= static_cast<uint64_t>(d);
      }
      if (numel * es != e.bytes.size())
        fail("write_safetensors: tensor {}: shape {} of {} needs {} bytes, got {}", e.name, shape_str(e.shape), e.dtype,
             numel * es, e.bytes.size());
    }
    h[e.name] = {{"dtype", e.dtype}, {"shape", e.shape}, {"data_offsets", {pos, pos + e.bytes.size()}}};
    pos += e.bytes.size();
  }
  std::string text = h.dump();
  // Pad with spaces (valid JSON whitespace) so the data region starts 8-byte aligned.
  while ((text.size() + 8) % 8 != 0) text.push_back(' ');
  return text;
}

}  // namespace

std::vector<uint8_t> serialize_safetensors(const std::vector<SafetensorsEntry>& tensors,
                                           const std::map<std::string, std::string>& metadata) {
  const std::string header = build_header(tensors, metadata);
  size_t total = 8 + header.size();
  for (const auto& e : tensors) total += e.bytes.size();
  std::vector<uint8_t> out;
  out.reserve(total);
  const uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<uint8_t>(n >> (8 * i)));
  out.insert(out.end(), header.begin(), header.end());
  for (const auto& e : tensors) out.insert(out.end(), e.bytes.begin(), e.bytes.end());
  return out;
}

void write_safetensors(const std::string& path, const std::vector<SafetensorsEntry>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  const std::string header = build_header(tensors, metadata);
  std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(path.c_str(), "wb"), &std::fclose);
  if (!f) fail("{}: cannot create: {}", path, std::strerror(errno));
  uint8_t len[8];
  const uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) len[i] = static_cast<uint8_t>(n >> (8 * i));
  bool ok = std::fwrite(len, 1, 8, f.get()) == 8 && std::fwrite(header.data(), 1, header.size(), f.get()) == header.size();
  for (const auto& e : tensors)
    ok = ok && (e.bytes.empty() || std::fwrite(e.bytes.data(), 1, e.bytes.size(), f.get()) == e.bytes.size());
  ok = (std::fflush(f.get()) == 0) && ok;
  if (!ok) fail("{}: write failed: {}", path, std::strerror(errno));
}

}  // namespace hearth
