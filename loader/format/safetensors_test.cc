#include "loader/format/safetensors.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace df11 {
namespace {

using ::testing::HasSubstr;

std::string TempPath(absl::string_view name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  return absl::StrCat(dir != nullptr ? dir : "/tmp", "/", name);
}

bool Exists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}

void WriteBytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string LengthPrefix(uint64_t n) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  return s;
}

std::string WithHeader(const std::string& header, const std::string& data) {
  return LengthPrefix(header.size()) + header + data;
}

// A file with the given header JSON followed by `data`.
std::string MakeFile(absl::string_view name, const std::string& header,
                     const std::string& data) {
  std::string path = TempPath(name);
  WriteBytes(path, WithHeader(header, data));
  return path;
}

std::vector<uint8_t> Bytes(absl::Span<const uint8_t> s) {
  return std::vector<uint8_t>(s.begin(), s.end());
}

TEST(SafetensorsFileTest, ReadsValidFile) {
  // Out of offset order in the JSON, a scalar, an empty tensor sharing an
  // offset, leading and trailing whitespace, and metadata.
  const std::string header =
      R"(  {"b":{"dtype":"I16","shape":[2],"data_offsets":[4,8]},)"
      R"("__metadata__":{"format":"pt"},)"
      R"("a":{"dtype":"F32","shape":[],"data_offsets":[0,4]},)"
      R"("e":{"dtype":"BF16","shape":[0,3],"data_offsets":[8,8]},)"
      R"("c":{"dtype":"U8","shape":[1,3],"data_offsets":[8,11]}}   )";
  const std::string data = "AAAABBCCxyz";
  std::string path = MakeFile("valid.safetensors", header, data);

  auto file = SafetensorsFile::Open(path);
  ASSERT_TRUE(file.ok()) << file.status();
  const auto& tensors = (*file)->tensors();
  ASSERT_EQ(tensors.size(), 4u);
  EXPECT_EQ(tensors[0].name, "a");
  EXPECT_EQ(tensors[1].name, "b");
  EXPECT_EQ(tensors[2].name, "e");
  EXPECT_EQ(tensors[3].name, "c");
  EXPECT_EQ((*file)->metadata().at("format"), "pt");

  const TensorInfo* c = (*file)->Find("c");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->dtype, Dtype::kU8);
  EXPECT_EQ(c->shape, (std::vector<uint64_t>{1, 3}));
  EXPECT_EQ(c->num_elements(), 3u);
  auto bytes = (*file)->Data(*c);
  EXPECT_EQ(std::string(bytes.begin(), bytes.end()), "xyz");
  EXPECT_EQ((*file)->Find("a")->num_elements(), 1u);
  EXPECT_EQ((*file)->Find("e")->num_bytes(), 0u);
  EXPECT_EQ((*file)->Find("zz"), nullptr);
}

TEST(SafetensorsFileTest, ReadsEmptyAndNullMetadata) {
  auto empty = SafetensorsFile::Open(MakeFile("empty.safetensors", "{}", ""));
  ASSERT_TRUE(empty.ok()) << empty.status();
  EXPECT_TRUE((*empty)->tensors().empty());
  auto null_meta = SafetensorsFile::Open(
      MakeFile("null_meta.safetensors", R"({"__metadata__":null})", ""));
  ASSERT_TRUE(null_meta.ok()) << null_meta.status();
}

struct BadHeaderCase {
  const char* label;
  std::string header;
  std::string data;
  const char* tensor;  // expected in the message; "" when none
  const char* detail;  // expected in the message
};

class BadHeaderTest : public ::testing::TestWithParam<BadHeaderCase> {};

TEST_P(BadHeaderTest, IsInvalidArgumentNamingFileAndTensor) {
  const BadHeaderCase& c = GetParam();
  std::string path =
      MakeFile(absl::StrCat("bad_", c.label, ".safetensors"), c.header, c.data);
  auto file = SafetensorsFile::Open(path);
  ASSERT_FALSE(file.ok());
  EXPECT_EQ(file.status().code(), absl::StatusCode::kInvalidArgument)
      << file.status();
  EXPECT_THAT(file.status().message(), HasSubstr(path));
  if (*c.tensor != '\0') {
    EXPECT_THAT(file.status().message(),
                HasSubstr(absl::StrCat("tensor '", c.tensor, "'")));
  }
  EXPECT_THAT(file.status().message(), HasSubstr(c.detail));

  // The parser alone reports the same.
  auto header = ParseSafetensorsHeader(c.header, c.data.size(), path);
  ASSERT_FALSE(header.ok());
  EXPECT_EQ(header.status(), file.status());
}

std::string Entry(absl::string_view name, absl::string_view dtype,
                  absl::string_view shape, absl::string_view offsets) {
  return absl::StrCat("\"", name, "\":{\"dtype\":\"", dtype,
                      "\",\"shape\":", shape, ",\"data_offsets\":", offsets,
                      "}");
}

std::string Obj(absl::string_view a, absl::string_view b = "") {
  return absl::StrCat("{", a, b.empty() ? "" : ",", b, "}");
}

INSTANTIATE_TEST_SUITE_P(
    Validation, BadHeaderTest,
    ::testing::Values(
        BadHeaderCase{"bad_json", R"({"a":{"dtype":)", "", "",
                      "not valid JSON"},
        BadHeaderCase{"not_object", "[1,2]", "", "",
                      "expected an object, got [1,2]"},
        BadHeaderCase{"trailing_garbage", "{} x", "", "", "not valid JSON"},
        BadHeaderCase{"invalid_utf8", "{\"a\xff\":{}}", "", "",
                      "not valid JSON"},
        BadHeaderCase{"unknown_dtype", Obj(Entry("w", "Q8", "[2]", "[0,2]")),
                      "xy", "w", "unknown dtype 'Q8'"},
        BadHeaderCase{"dtype_not_string",
                      R"({"w":{"dtype":1,"shape":[2],"data_offsets":[0,2]}})",
                      "xy", "w", "dtype"},
        BadHeaderCase{"missing_shape",
                      R"({"w":{"dtype":"U8","data_offsets":[0,2]}})", "xy", "w",
                      "shape"},
        BadHeaderCase{"size_mismatch", Obj(Entry("w", "F32", "[2]", "[0,4]")),
                      "abcd", "w", "is 8 bytes but data_offsets [0, 4] span 4"},
        BadHeaderCase{"negative_dim", Obj(Entry("w", "U8", "[-2]", "[0,2]")),
                      "xy", "w",
                      "shape[0]: expected an unsigned integer, got -2"},
        BadHeaderCase{"float_dim", Obj(Entry("w", "U8", "[2.0]", "[0,2]")),
                      "xy", "w",
                      "shape[0]: expected an unsigned integer, got 2.0"},
        BadHeaderCase{"shape_overflow",
                      Obj(Entry("w", "U8", "[4294967296,4294967296]", "[0,2]")),
                      "xy", "w", "overflows"},
        BadHeaderCase{"bytes_overflow",
                      Obj(Entry("w", "F64", "[4611686018427387904]", "[0,2]")),
                      "xy", "w", "overflows"},
        BadHeaderCase{"offsets_arity", Obj(Entry("w", "U8", "[2]", "[0,2,4]")),
                      "xy", "w", "data_offsets"},
        BadHeaderCase{"offset_negative", Obj(Entry("w", "U8", "[2]", "[-1,1]")),
                      "xy", "w",
                      "data_offsets[0]: expected an unsigned integer"},
        BadHeaderCase{"end_before_begin", Obj(Entry("w", "U8", "[0]", "[2,0]")),
                      "xy", "w", "end before begin"},
        BadHeaderCase{"out_of_bounds", Obj(Entry("w", "U8", "[4]", "[0,4]")),
                      "xy", "w", "past the end of the 2-byte data section"},
        BadHeaderCase{"overlap",
                      Obj(Entry("a", "U8", "[4]", "[0,4]"),
                          Entry("b", "U8", "[4]", "[2,6]")),
                      "abcdef", "b", "overlap tensor 'a'"},
        BadHeaderCase{"gap",
                      Obj(Entry("a", "U8", "[2]", "[0,2]"),
                          Entry("b", "U8", "[2]", "[4,6]")),
                      "abcdef", "b", "gap"},
        BadHeaderCase{"uncovered_tail", Obj(Entry("a", "U8", "[2]", "[0,2]")),
                      "abcd", "", "tensors cover 2 of the 4 bytes"},
        BadHeaderCase{"duplicate_name",
                      Obj(Entry("a", "U8", "[2]", "[0,2]"),
                          Entry("a", "U8", "[2]", "[0,2]")),
                      "xy", "", ": duplicate key \"a\""},
        BadHeaderCase{"duplicate_key",
                      R"({"w":{"dtype":"U8","dtype":"U8","shape":[2],)"
                      R"("data_offsets":[0,2]}})",
                      "xy", "", ": w: duplicate key \"dtype\""},
        BadHeaderCase{"unknown_key",
                      R"({"w":{"dtype":"U8","shape":[2],"data_offsets":[0,2],)"
                      R"("strides":[1]}})",
                      "xy", "w", "unknown field \"strides\""},
        BadHeaderCase{"entry_not_object", R"({"w":[1,2]})", "", "w",
                      "expected an object, got [1,2]"},
        BadHeaderCase{"metadata_not_string", R"({"__metadata__":{"k":1}})", "",
                      "", "__metadata__.k: expected a string, got 1"},
        BadHeaderCase{"metadata_not_object", R"({"__metadata__":[]})", "", "",
                      "__metadata__: expected an object, got []"}),
    [](const ::testing::TestParamInfo<BadHeaderCase>& info) {
      return std::string(info.param.label);
    });

struct BadFileCase {
  const char* label;
  std::string bytes;
  absl::StatusCode code;
  const char* detail;
};

class BadFileTest : public ::testing::TestWithParam<BadFileCase> {};

TEST_P(BadFileTest, IsRejectedNamingFile) {
  const BadFileCase& c = GetParam();
  std::string path = TempPath(absl::StrCat("badfile_", c.label));
  WriteBytes(path, c.bytes);
  auto file = SafetensorsFile::Open(path);
  ASSERT_FALSE(file.ok());
  EXPECT_EQ(file.status().code(), c.code) << file.status();
  EXPECT_THAT(file.status().message(), HasSubstr(path));
  EXPECT_THAT(file.status().message(), HasSubstr(c.detail));
}

INSTANTIATE_TEST_SUITE_P(
    Validation, BadFileTest,
    ::testing::Values(
        BadFileCase{"empty", "", absl::StatusCode::kInvalidArgument,
                    "too short"},
        BadFileCase{"short", "abc", absl::StatusCode::kInvalidArgument,
                    "too short"},
        BadFileCase{"length_past_end", LengthPrefix(100) + "{}",
                    absl::StatusCode::kInvalidArgument,
                    "header length 100 runs past the end of the 10-byte file"},
        BadFileCase{"length_over_limit",
                    LengthPrefix(kMaxSafetensorsHeaderBytes + 1) + "{}",
                    absl::StatusCode::kInvalidArgument, "exceeds the limit"},
        BadFileCase{"length_huge", LengthPrefix(~uint64_t{0}) + "{}",
                    absl::StatusCode::kInvalidArgument, "exceeds the limit"},
        BadFileCase{
            "truncated_data",
            WithHeader(
                R"({"w":{"dtype":"U8","shape":[4],"data_offsets":[0,4]}})",
                "ab"),
            absl::StatusCode::kInvalidArgument, "tensor 'w'"}),
    [](const ::testing::TestParamInfo<BadFileCase>& info) {
      return std::string(info.param.label);
    });

TEST(SafetensorsFileTest, MissingFileIsNotFound) {
  std::string path = TempPath("does_not_exist.safetensors");
  auto file = SafetensorsFile::Open(path);
  EXPECT_EQ(file.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(file.status().message(), HasSubstr(path));
}

std::vector<uint8_t> RandomBytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<uint8_t> v(n);
  for (uint8_t& b : v) b = static_cast<uint8_t>(rng());
  return v;
}

TEST(SafetensorsWriterTest, RoundTrip) {
  std::string path = TempPath("round_trip.safetensors");
  struct Input {
    std::string name;
    Dtype dtype;
    std::vector<uint64_t> shape;
  };
  const std::vector<Input> inputs = {
      {"model.layers.0.mlp.down_proj.weight", Dtype::kBF16, {7, 19}},
      {"quote\"and\\back\nslash", Dtype::kF32, {3}},
      {"scalar", Dtype::kI64, {}},
      {"empty", Dtype::kU32, {0, 5}},
      {"bytes \xc3\xa9", Dtype::kU8, {733}},
      {"eight_dims", Dtype::kF16, {1, 2, 1, 2, 1, 2, 1, 3}},
  };
  std::vector<SafetensorsWriter::Declared> declared;
  for (const Input& in : inputs) declared.push_back({in.name, in.dtype});
  const std::map<std::string, std::string> metadata = {{"format", "df11"},
                                                       {"k\"", "v\x01"}};
  std::vector<std::vector<uint8_t>> payloads;
  {
    SafetensorsWriter writer(path, declared, metadata);
    ASSERT_TRUE(writer.Open().ok());
    for (size_t i = 0; i < inputs.size(); ++i) {
      uint64_t n = DtypeSize(inputs[i].dtype);
      for (uint64_t d : inputs[i].shape) n *= d;
      payloads.push_back(RandomBytes(n, static_cast<uint32_t>(i)));
      absl::Status s =
          writer.Append(inputs[i].name, inputs[i].shape, payloads.back());
      ASSERT_TRUE(s.ok()) << s;
    }
    absl::Status s = writer.Finish();
    ASSERT_TRUE(s.ok()) << s;
  }
  auto file = SafetensorsFile::Open(path);
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ((*file)->metadata(), metadata);
  ASSERT_EQ((*file)->tensors().size(), inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    SCOPED_TRACE(inputs[i].name);
    const TensorInfo* t = (*file)->Find(inputs[i].name);
    ASSERT_NE(t, nullptr);
    EXPECT_EQ(t->dtype, inputs[i].dtype);
    EXPECT_EQ(t->shape, inputs[i].shape);
    EXPECT_EQ(Bytes((*file)->Data(*t)), payloads[i]);
  }
  // The data section starts 8-byte aligned.
  std::ifstream in(path, std::ios::binary);
  char prefix[8];
  in.read(prefix, 8);
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<uint8_t>(prefix[i]);
  EXPECT_EQ((8 + n) % 8, 0u);
  EXPECT_FALSE(Exists(path + ".tmp"));
}

TEST(SafetensorsWriterTest, PathUntouchedUntilFinish) {
  std::string path = TempPath("atomic.safetensors");
  unlink(path.c_str());
  SafetensorsWriter writer(path, {{"a", Dtype::kU8}, {"b", Dtype::kU8}});
  ASSERT_TRUE(writer.Open().ok());
  std::vector<uint8_t> a = {1, 2, 3};
  ASSERT_TRUE(writer.Append("a", {3}, a).ok());
  EXPECT_FALSE(Exists(path));
  EXPECT_TRUE(Exists(path + ".tmp"));
  ASSERT_TRUE(writer.Append("b", {3}, a).ok());
  EXPECT_FALSE(Exists(path));
  ASSERT_TRUE(writer.Finish().ok());
  EXPECT_TRUE(Exists(path));
  EXPECT_FALSE(Exists(path + ".tmp"));
}

TEST(SafetensorsWriterTest, DestroyedBeforeFinishRemovesTempFile) {
  std::string path = TempPath("abandoned.safetensors");
  WriteBytes(path, "previous contents");
  {
    SafetensorsWriter writer(path, {{"a", Dtype::kU8}});
    ASSERT_TRUE(writer.Open().ok());
    std::vector<uint8_t> a = {1};
    ASSERT_TRUE(writer.Append("a", {1}, a).ok());
    EXPECT_TRUE(Exists(path + ".tmp"));
  }
  EXPECT_FALSE(Exists(path + ".tmp"));
  std::ifstream in(path);
  std::string old((std::istreambuf_iterator<char>(in)),
                  std::istreambuf_iterator<char>());
  EXPECT_EQ(old, "previous contents");
}

TEST(SafetensorsWriterTest, MisuseIsRejectedNamingFileAndTensor) {
  std::string path = TempPath("misuse.safetensors");
  std::vector<uint8_t> four(4);
  struct Case {
    const char* label;
    std::vector<SafetensorsWriter::Declared> declared;
    // Runs against an opened writer; returns the status under test.
    std::function<absl::Status(SafetensorsWriter&)> act;
    absl::StatusCode code;
    const char* tensor;
  };
  const Case cases[] = {
      {"out_of_order",
       {{"a", Dtype::kU8}, {"b", Dtype::kU8}},
       [&](SafetensorsWriter& w) { return w.Append("b", {4}, four); },
       absl::StatusCode::kFailedPrecondition,
       "b"},
      {"wrong_size",
       {{"a", Dtype::kF32}},
       [&](SafetensorsWriter& w) { return w.Append("a", {2}, four); },
       absl::StatusCode::kInvalidArgument,
       "a"},
      {"too_many_dims",
       {{"a", Dtype::kU8}},
       [&](SafetensorsWriter& w) {
         return w.Append("a", {1, 1, 1, 1, 1, 1, 1, 1, 4}, four);
       },
       absl::StatusCode::kInvalidArgument,
       "a"},
      {"extra_tensor",
       {{"a", Dtype::kU8}},
       [&](SafetensorsWriter& w) {
         absl::Status s = w.Append("a", {4}, four);
         if (!s.ok()) return s;
         return w.Append("z", {4}, four);
       },
       absl::StatusCode::kFailedPrecondition,
       "z"},
      {"finish_early",
       {{"a", Dtype::kU8}, {"b", Dtype::kU8}},
       [&](SafetensorsWriter& w) {
         absl::Status s = w.Append("a", {4}, four);
         if (!s.ok()) return s;
         return w.Finish();
       },
       absl::StatusCode::kFailedPrecondition,
       "b"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.label);
    SafetensorsWriter writer(path, c.declared);
    ASSERT_TRUE(writer.Open().ok());
    absl::Status s = c.act(writer);
    EXPECT_EQ(s.code(), c.code) << s;
    EXPECT_THAT(s.message(), HasSubstr(path));
    EXPECT_THAT(s.message(),
                HasSubstr(absl::StrCat("tensor '", c.tensor, "'")));
  }
}

TEST(SafetensorsWriterTest, BadDeclarationsFailOpen) {
  std::string path = TempPath("bad_decl.safetensors");
  const std::vector<std::vector<SafetensorsWriter::Declared>> cases = {
      {{"a", Dtype::kU8}, {"a", Dtype::kU8}},
      {{"__metadata__", Dtype::kU8}},
      {{"bad\xff", Dtype::kU8}},
  };
  for (const auto& declared : cases) {
    SafetensorsWriter writer(path, declared);
    absl::Status s = writer.Open();
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
    EXPECT_THAT(s.message(), HasSubstr(path));
    EXPECT_THAT(s.message(), HasSubstr("tensor '"));
  }
}

TEST(SafetensorsFileTest, ReleaseKeepsDataReadable) {
  std::string path = TempPath("release.safetensors");
  const std::vector<uint8_t> big = RandomBytes(3 << 20, 7);
  const std::vector<uint8_t> small = RandomBytes(5, 8);
  {
    SafetensorsWriter writer(path, {{"s", Dtype::kU8}, {"big", Dtype::kU8}});
    ASSERT_TRUE(writer.Open().ok());
    ASSERT_TRUE(writer.Append("s", {5}, small).ok());
    ASSERT_TRUE(writer.Append("big", {big.size()}, big).ok());
    ASSERT_TRUE(writer.Finish().ok());
  }
  auto file = SafetensorsFile::Open(path);
  ASSERT_TRUE(file.ok()) << file.status();
  const TensorInfo* t = (*file)->Find("big");
  const TensorInfo* s = (*file)->Find("s");
  ASSERT_EQ(Bytes((*file)->Data(*t)), big);
  (*file)->Release(t->begin, t->end);
  (*file)->Release(s->begin, s->end);  // shares a page with "big"
  (*file)->Release(0, ~uint64_t{0});   // clamped to the mapping
  EXPECT_EQ(Bytes((*file)->Data(*t)), big);
  EXPECT_EQ(Bytes((*file)->Data(*s)), small);
}

}  // namespace
}  // namespace df11
