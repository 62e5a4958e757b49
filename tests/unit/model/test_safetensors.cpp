#include <gtest/gtest.h>

#include <cstring>

#include "hearth/core/mapped_file.h"
#include "hearth/model/safetensors.h"
#include "model_test_util.h"

namespace hearth {
namespace {

using test::expect_error;
using test::raw_safetensors;

SafetensorsFile parse_bytes(const std::vector<uint8_t>& b, const std::string& src = "t.safetensors") {
  return SafetensorsFile::parse(b.data(), b.size(), src);
}

TEST(Safetensors, RoundTripThroughAFile) {
  test::TempDir dir;
  const std::vector<SafetensorsEntry> entries = {
      {"a.weight", "BF16", {3, 5}, test::tensor_bytes("BF16", 15, 1)},
      {"b.bias", "F32", {7}, test::tensor_bytes("F32", 7, 2)},
      {"scalar", "F16", {}, test::tensor_bytes("F16", 1, 3)},
      {"empty", "F32", {0, 4}, {}},
      {"ids", "I64", {2}, std::vector<uint8_t>(16, 0xab)},
  };
  const std::string path = dir.file("x.safetensors");
  write_safetensors(path, entries, {{"format", "pt"}});
  const MappedFile m(path);
  const SafetensorsFile f = SafetensorsFile::parse(m.data(), m.size(), path);
  EXPECT_EQ(f.source(), path);
  EXPECT_EQ(f.tensors().size(), entries.size());
  EXPECT_EQ(f.metadata().at("format"), "pt");
  EXPECT_EQ((8 + f.header_size()) % 8, 0u) << "writer pads the header for alignment";
  for (const auto& e : entries) {
    SCOPED_TRACE(e.name);
    const SafetensorsTensor* t = f.find(e.name);
    ASSERT_NE(t, nullptr);
    EXPECT_EQ(t->dtype, e.dtype);
    EXPECT_EQ(t->shape, e.shape);
    EXPECT_EQ(t->nbytes, e.bytes.size());
    EXPECT_EQ(t->data, m.data() + t->offset);
    if (!e.bytes.empty()) {
      EXPECT_EQ(std::memcmp(t->data, e.bytes.data(), e.bytes.size()), 0);
    }
  }
  EXPECT_EQ(f.find("a.weight")->hearth_dtype(), DType::BF16);
  EXPECT_EQ(f.find("ids")->hearth_dtype(), DType::I64);
  EXPECT_EQ(f.find("a.weight")->numel(), 15);
  EXPECT_EQ(f.find("scalar")->numel(), 1);
  EXPECT_EQ(f.find("missing"), nullptr);
  // serialize_safetensors produces exactly the bytes write_safetensors wrote.
  const std::vector<uint8_t> mem = serialize_safetensors(entries, {{"format", "pt"}});
  ASSERT_EQ(mem.size(), m.size());
  EXPECT_EQ(std::memcmp(mem.data(), m.data(), m.size()), 0);
}

TEST(Safetensors, AcceptsEveryDefinedDtype) {
  for (const char* dt : {"BOOL", "U8", "I8", "F8_E5M2", "F8_E4M3", "I16", "U16", "F16", "BF16", "I32", "U32", "F32",
                         "I64", "U64", "F64"}) {
    SCOPED_TRACE(dt);
    const size_t es = safetensors_dtype_size(dt);
    ASSERT_GT(es, 0u);
    const auto b = serialize_safetensors({{"t", dt, {3}, std::vector<uint8_t>(3 * es, 1)}});
    EXPECT_EQ(parse_bytes(b).find("t")->nbytes, 3 * es);
  }
}

TEST(Safetensors, HeaderPaddingAndUnalignedHeadersParse) {
  // Hand-written header of odd length, no padding: data starts unaligned; still valid.
  const std::string h = R"({"x":{"dtype":"U8","shape":[3],"data_offsets":[0,3]}})";
  const auto b = raw_safetensors(h, 3);
  EXPECT_EQ(parse_bytes(b).find("x")->nbytes, 3u);
  const auto padded = raw_safetensors(h + "     ", 3);
  EXPECT_EQ(parse_bytes(padded).find("x")->nbytes, 3u);
}

struct BadFile {
  const char* what;
  std::vector<uint8_t> bytes;
  std::vector<std::string> expect;
};

TEST(Safetensors, RefusesCorruptFilesWithClearErrors) {
  const std::string ok1 = R"("a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]})";
  const std::string ok2 = R"("b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]})";
  std::vector<BadFile> cases = {
      {"empty file", {}, {"too small"}},
      {"7 bytes", std::vector<uint8_t>(7, 0), {"too small"}},
      {"header longer than file", raw_safetensors("{" + ok1 + "}", 8, 1000), {"header length 1000 exceeds"}},
      {"header length huge", raw_safetensors("{}", 0, ~uint64_t{0}), {"header length"}},
      {"garbage header", raw_safetensors("{garbage!!", 0), {"malformed JSON"}},
      {"not an object", raw_safetensors("[1,2,3]", 0), {"expected a JSON object"}},
      {"binary header", raw_safetensors(std::string("{\"\xff\xfe\": 1}"), 0), {"malformed JSON"}},
      {"entry not object", raw_safetensors(R"({"a": 5})", 0), {"tensor a:"}},
      {"unknown dtype", raw_safetensors(R"({"a":{"dtype":"Q7","shape":[2],"data_offsets":[0,2]}})", 2),
       {"tensor a: unknown dtype \"Q7\""}},
      {"missing shape", raw_safetensors(R"({"a":{"dtype":"F32","data_offsets":[0,4]}})", 4), {"tensor a: shape"}},
      {"negative dim", raw_safetensors(R"({"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", 4),
       {"tensor a: shape"}},
      {"shape/offset mismatch", raw_safetensors(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8),
       {"tensor a: shape [3] of F32 needs 12 bytes but data_offsets [0, 8] hold 8"}},
      {"shape overflow",
       raw_safetensors(R"({"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}})", 8),
       {"tensor a: shape", "too many elements"}},
      {"begin after end", raw_safetensors(R"({"a":{"dtype":"U8","shape":[0],"data_offsets":[4,0]}})", 4),
       {"begin is after end"}},
      {"offsets past end (truncated)", raw_safetensors("{" + ok1 + "," + ok2 + "}", 12),
       {"tensor b: data_offsets [8, 16] extend past the end of the file", "truncated"}},
      {"overlap",
       raw_safetensors(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", 12),
       {"tensors a and b overlap"}},
      {"hole", raw_safetensors(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", 8), {"unused bytes before tensor a"}},
      {"trailing bytes", raw_safetensors("{" + ok1 + "}", 12), {"4 bytes after the last tensor"}},
      {"duplicate name", raw_safetensors("{" + ok1 + "," + ok1 + "}", 8), {"tensor \"a\" appears twice"}},
      {"metadata not strings", raw_safetensors(R"({"__metadata__":{"k":1}})", 0), {"__metadata__: k"}},
      {"data_offsets shape", raw_safetensors(R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[0]}})", 1),
       {"data_offsets"}},
  };
  for (const BadFile& bf : cases) {
    SCOPED_TRACE(bf.what);
    try {
      parse_bytes(bf.bytes, "dir/model.safetensors");
      ADD_FAILURE() << "accepted";
    } catch (const Error& e) {
      const std::string msg = e.what();
      EXPECT_EQ(msg.rfind("dir/model.safetensors: ", 0), 0u) << msg;
      for (const auto& part : bf.expect) EXPECT_NE(msg.find(part), std::string::npos) << msg << "\nmissing: " << part;
    }
  }
}

TEST(Safetensors, WriterChecksSizes) {
  expect_error([] { serialize_safetensors({{"t", "F32", {2}, std::vector<uint8_t>(4)}}); }, {"tensor t", "needs 8 bytes"});
  expect_error([] { serialize_safetensors({{"t", "F32", {1}, std::vector<uint8_t>(4)}, {"t", "F32", {1}, std::vector<uint8_t>(4)}}); },
               {"given twice"});
  test::TempDir dir;
  expect_error([&] { write_safetensors(dir.file("no/such/dir/x.safetensors"), {}); }, {"cannot create"});
}

}  // namespace
}  // namespace hearth
