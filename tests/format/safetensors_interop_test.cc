// Interoperability with the reference Python safetensors package, both ways.
// testdata/ was made by make_safetensors_fixtures.py (see its docstring):
//   - py_*.safetensors: written by the reference writer; py_expected.json
//     holds their contents as numpy saw them. We must read every byte.
//   - df11_written.safetensors: written by our SafetensorsWriter from
//     df11_written_recipe.json, then read and checked by the reference
//     reader (record: df11_written.verified.json). We must still write
//     exactly that file. python_reads_df11_test.sh repeats the reference
//     check live where the package is installed.
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "loader/format/safetensors.h"
#include "nlohmann/json.hpp"
#include "tests/format/interop_fixture.h"

namespace df11 {
namespace {

std::string TestData(absl::string_view name) {
  return absl::StrCat("tests/format/testdata/", name);
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)),
                     std::istreambuf_iterator<char>());
}

nlohmann::json ReadJson(const std::string& path) {
  return nlohmann::json::parse(ReadAll(path), nullptr,
                               /*allow_exceptions=*/false);
}

class PythonWrittenTest : public ::testing::TestWithParam<std::string> {};

TEST_P(PythonWrittenTest, ReadsEveryByte) {
  const nlohmann::json expected = ReadJson(TestData("py_expected.json"));
  ASSERT_TRUE(expected.is_object());
  const nlohmann::json& want = expected.at("files").at(GetParam());

  auto file = SafetensorsFile::Open(TestData(GetParam()));
  ASSERT_TRUE(file.ok()) << file.status();
  std::map<std::string, std::string> want_meta;
  for (auto it = want.at("metadata").begin(); it != want.at("metadata").end();
       ++it) {
    want_meta[it.key()] = it->get<std::string>();
  }
  EXPECT_EQ((*file)->metadata(), want_meta);
  EXPECT_EQ((*file)->tensors().size(), want.at("tensors").size());
  for (auto it = want.at("tensors").begin(); it != want.at("tensors").end();
       ++it) {
    SCOPED_TRACE(it.key());
    const TensorInfo* t = (*file)->Find(it.key());
    ASSERT_NE(t, nullptr);
    EXPECT_EQ(DtypeName(t->dtype), it->at("dtype").get<std::string>());
    EXPECT_EQ(t->shape, it->at("shape").get<std::vector<uint64_t>>());
    auto data = (*file)->Data(*t);
    EXPECT_EQ(absl::BytesToHexString(absl::string_view(
                  reinterpret_cast<const char*>(data.data()), data.size())),
              it->at("hex").get<std::string>());
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, PythonWrittenTest,
                         ::testing::Values("py_numeric.safetensors",
                                           "py_bf16.safetensors",
                                           "py_empty.safetensors"),
                         [](const ::testing::TestParamInfo<std::string>& i) {
                           return i.param.substr(0, i.param.find('.'));
                         });

TEST(OurWriterTest, WritesTheFilePythonVerified) {
  const char* tmp = std::getenv("TEST_TMPDIR");
  std::string out =
      absl::StrCat(tmp != nullptr ? tmp : "/tmp", "/df11_written.safetensors");
  absl::Status s =
      WriteInteropFixture(TestData("df11_written_recipe.json"), out);
  ASSERT_TRUE(s.ok()) << s;
  const std::string committed = ReadAll(TestData("df11_written.safetensors"));
  ASSERT_FALSE(committed.empty());
  EXPECT_TRUE(ReadAll(out) == committed)
      << "our writer no longer produces the file the reference package "
         "verified; rerun make_safetensors_fixtures.py verify (see "
         "tests/format/BUILD)";

  const nlohmann::json record =
      ReadJson(TestData("df11_written.verified.json"));
  ASSERT_TRUE(record.is_object());
  EXPECT_EQ(record.at("result"), "ok");
  EXPECT_EQ(record.at("file"), "df11_written.safetensors");
}

}  // namespace
}  // namespace df11
