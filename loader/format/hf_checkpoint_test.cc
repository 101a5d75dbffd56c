#include "loader/format/hf_checkpoint.h"

#include <sys/stat.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "loader/format/safetensors.h"

namespace df11 {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::string MakeDir(absl::string_view name) {
  const char* tmp = std::getenv("TEST_TMPDIR");
  std::string dir = absl::StrCat(tmp != nullptr ? tmp : "/tmp", "/", name);
  mkdir(dir.c_str(), 0755);
  return dir;
}

void WriteText(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
}

// Writes a shard whose tensor `name` holds U8 bytes {seed, seed+1, ...}.
void WriteShard(const std::string& path, const std::vector<std::string>& names,
                uint8_t seed = 0) {
  std::vector<SafetensorsWriter::Declared> declared;
  for (const std::string& n : names) declared.push_back({n, Dtype::kU8});
  SafetensorsWriter w(path, declared);
  ASSERT_TRUE(w.Open().ok());
  for (const std::string& n : names) {
    std::vector<uint8_t> bytes = {seed, static_cast<uint8_t>(seed + 1)};
    ++seed;
    ASSERT_TRUE(w.Append(n, {2}, bytes).ok());
  }
  ASSERT_TRUE(w.Finish().ok());
}

std::string Index(const std::map<std::string, std::string>& weight_map) {
  std::string s = R"({"metadata": {"total_size": 6}, "weight_map": {)";
  bool first = true;
  for (const auto& [t, f] : weight_map) {
    absl::StrAppend(&s, first ? "" : ",", "\"", t, "\":\"", f, "\"");
    first = false;
  }
  return s + "}}";
}

TEST(HfCheckpointTest, OpensSingleFile) {
  std::string dir = MakeDir("single");
  WriteShard(dir + "/model.safetensors", {"z.weight", "a.weight"}, 10);
  WriteText(dir + "/config.json", "{}");
  WriteText(dir + "/tokenizer.json", "{}");
  auto ckpt = HfCheckpoint::Open(dir);
  ASSERT_TRUE(ckpt.ok()) << ckpt.status();
  ASSERT_EQ((*ckpt)->tensors().size(), 2u);
  EXPECT_EQ((*ckpt)->tensors()[0].info.name, "a.weight");
  EXPECT_EQ((*ckpt)->tensors()[1].info.name, "z.weight");
  const HfTensor* z = (*ckpt)->Find("z.weight");
  ASSERT_NE(z, nullptr);
  auto data = (*ckpt)->Data(*z);
  EXPECT_EQ(std::vector<uint8_t>(data.begin(), data.end()),
            (std::vector<uint8_t>{10, 11}));
  EXPECT_EQ((*ckpt)->Find("missing"), nullptr);
  EXPECT_THAT((*ckpt)->side_files(),
              ElementsAre("config.json", "tokenizer.json"));
}

TEST(HfCheckpointTest, OpensShardedIndex) {
  std::string dir = MakeDir("sharded");
  WriteShard(dir + "/model-00001-of-00002.safetensors", {"b", "a"}, 0);
  WriteShard(dir + "/model-00002-of-00002.safetensors", {"c"}, 20);
  WriteText(dir + "/model.safetensors.index.json",
            Index({{"a", "model-00001-of-00002.safetensors"},
                   {"b", "model-00001-of-00002.safetensors"},
                   {"c", "model-00002-of-00002.safetensors"}}));
  auto ckpt = HfCheckpoint::Open(dir);
  ASSERT_TRUE(ckpt.ok()) << ckpt.status();
  ASSERT_EQ((*ckpt)->tensors().size(), 3u);
  const HfTensor* c = (*ckpt)->Find("c");
  ASSERT_NE(c, nullptr);
  EXPECT_THAT((*ckpt)->file(c->file).path(),
              HasSubstr("model-00002-of-00002.safetensors"));
  auto data = (*ckpt)->Data(*c);
  EXPECT_EQ(data[0], 20);
  EXPECT_TRUE((*ckpt)->side_files().empty());
}

struct BadCase {
  const char* label;
  // Shard file name -> tensors in it.
  std::map<std::string, std::vector<std::string>> shards;
  std::string index;  // "" for no index file
  absl::StatusCode code;
  std::vector<const char*> in_message;  // besides the directory
};

class BadCheckpointTest : public ::testing::TestWithParam<BadCase> {};

TEST_P(BadCheckpointTest, IsRejectedNamingFileAndTensor) {
  const BadCase& c = GetParam();
  std::string dir = MakeDir(absl::StrCat("bad_", c.label));
  for (const auto& [name, tensors] : c.shards) {
    WriteShard(absl::StrCat(dir, "/", name), tensors);
  }
  if (!c.index.empty()) {
    WriteText(dir + "/model.safetensors.index.json", c.index);
  }
  auto ckpt = HfCheckpoint::Open(dir);
  ASSERT_FALSE(ckpt.ok());
  EXPECT_EQ(ckpt.status().code(), c.code) << ckpt.status();
  EXPECT_THAT(ckpt.status().message(), HasSubstr(dir));
  for (const char* s : c.in_message) {
    EXPECT_THAT(ckpt.status().message(), HasSubstr(s));
  }
}

INSTANTIATE_TEST_SUITE_P(
    Errors, BadCheckpointTest,
    ::testing::Values(
        BadCase{"empty_dir",
                {},
                "",
                absl::StatusCode::kNotFound,
                {"model.safetensors"}},
        BadCase{"bad_index_json",
                {},
                "{\"weight_map\": ",
                absl::StatusCode::kInvalidArgument,
                {"model.safetensors.index.json", "not valid JSON"}},
        BadCase{"no_weight_map",
                {},
                R"({"metadata": {}})",
                absl::StatusCode::kInvalidArgument,
                {"model.safetensors.index.json", "weight_map"}},
        BadCase{"missing_shard",
                {{"s1.safetensors", {"a"}}},
                Index({{"a", "s1.safetensors"}, {"b", "s2.safetensors"}}),
                absl::StatusCode::kNotFound,
                {"s2.safetensors", "does not exist"}},
        BadCase{"tensor_missing_from_shard",
                {{"s1.safetensors", {"a"}}},
                Index({{"a", "s1.safetensors"}, {"b", "s1.safetensors"}}),
                absl::StatusCode::kInvalidArgument,
                {"s1.safetensors", "tensor 'b'", "not in the shard"}},
        BadCase{"tensor_not_in_index",
                {{"s1.safetensors", {"a", "b"}}},
                Index({{"a", "s1.safetensors"}}),
                absl::StatusCode::kInvalidArgument,
                {"s1.safetensors", "tensor 'b'", "not listed"}},
        BadCase{"tensor_in_two_shards",
                {{"s1.safetensors", {"a"}}, {"s2.safetensors", {"a", "b"}}},
                Index({{"a", "s1.safetensors"}, {"b", "s2.safetensors"}}),
                absl::StatusCode::kInvalidArgument,
                {"s2.safetensors", "tensor 'a'", "s1.safetensors"}},
        BadCase{"path_escape",
                {},
                Index({{"a", "../s1.safetensors"}}),
                absl::StatusCode::kInvalidArgument,
                {"weight_map.a: shard '../s1.safetensors' is not a plain "
                 "file name"}},
        BadCase{
            "duplicate_tensor_in_index",
            {{"s1.safetensors", {"a"}}, {"s2.safetensors", {"b"}}},
            R"({"weight_map": {"a": "s1.safetensors", "b": "s2.safetensors",)"
            R"( "a": "s2.safetensors"}})",
            absl::StatusCode::kInvalidArgument,
            {"model.safetensors.index.json: weight_map: duplicate key "
             "\"a\""}},
        BadCase{"shard_not_a_string",
                {{"s1.safetensors", {"a"}}},
                R"({"weight_map": {"a": 1}})",
                absl::StatusCode::kInvalidArgument,
                {"model.safetensors.index.json: weight_map.a: expected a "
                 "string, got 1"}}),
    [](const ::testing::TestParamInfo<BadCase>& info) {
      return std::string(info.param.label);
    });

TEST(HfCheckpointTest, CorruptShardNamesShard) {
  std::string dir = MakeDir("corrupt");
  WriteText(dir + "/model.safetensors", "short");
  auto ckpt = HfCheckpoint::Open(dir);
  EXPECT_EQ(ckpt.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(ckpt.status().message(), HasSubstr(dir + "/model.safetensors"));
}

}  // namespace
}  // namespace df11
