#include "loader/tokenizer/bpe_model.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

namespace df11::tokenizer {
namespace {

using ::testing::ElementsAreArray;
using ::testing::HasSubstr;
using Vocab = std::vector<std::pair<std::string, int32_t>>;
using Merges = std::vector<std::pair<std::string, std::string>>;

struct EncodeCase {
  const char* name;
  Vocab vocab;
  Merges merges;
  BpeOptions options;
  std::string piece;
  std::vector<int32_t> ids;
};

class BpeEncodeTest : public ::testing::TestWithParam<EncodeCase> {};

TEST_P(BpeEncodeTest, Encodes) {
  const EncodeCase& c = GetParam();
  auto bpe = BpeModel::Create(c.vocab, c.merges, c.options);
  ASSERT_TRUE(bpe.ok()) << bpe.status();
  // Twice: the second call is served from the cache.
  for (int pass = 0; pass < 2; ++pass) {
    std::vector<int32_t> ids = {-7};  // Encode appends.
    (*bpe)->Encode(c.piece, &ids);
    std::vector<int32_t> expected = {-7};
    expected.insert(expected.end(), c.ids.begin(), c.ids.end());
    EXPECT_THAT(ids, ElementsAreArray(expected)) << "pass " << pass;
  }
}

const Vocab kAbc = {{"a", 0}, {"b", 1}, {"c", 2}, {"ab", 3}, {"bc", 4}};

BpeOptions With(bool byte_fallback, bool fuse_unk, bool ignore_merges,
                const char* unk, bool byte_level = false) {
  BpeOptions o;
  o.byte_fallback = byte_fallback;
  o.fuse_unk = fuse_unk;
  o.ignore_merges = ignore_merges;
  if (unk != nullptr) o.unk_token = unk;
  o.byte_level = byte_level;
  return o;
}

INSTANTIATE_TEST_SUITE_P(
    Table, BpeEncodeTest,
    ::testing::Values(
        EncodeCase{"lower_rank_first",
                   kAbc,
                   {{"b", "c"}, {"a", "b"}},
                   {},
                   "abc",
                   {0, 4}},
        EncodeCase{"rank_order_reversed",
                   kAbc,
                   {{"a", "b"}, {"b", "c"}},
                   {},
                   "abc",
                   {3, 2}},
        EncodeCase{"chained_merges",
                   {{"a", 0}, {"b", 1}, {"c", 2}, {"ab", 3}, {"abc", 4}},
                   {{"a", "b"}, {"ab", "c"}},
                   {},
                   "abcab",
                   {4, 3}},
        EncodeCase{"ties_go_left",
                   {{"a", 0}, {"aa", 1}},
                   {{"a", "a"}},
                   {},
                   "aaa",
                   {1, 0}},
        EncodeCase{"ties_go_left_even",
                   {{"a", 0}, {"aa", 1}},
                   {{"a", "a"}},
                   {},
                   "aaaa",
                   {1, 1}},
        EncodeCase{"empty_piece", kAbc, {}, {}, "", {}},
        EncodeCase{"byte_fallback",
                   {{"a", 0}, {"<0xC3>", 1}, {"<0xA9>", 2}},
                   {},
                   With(true, false, false, nullptr),
                   "a\xC3\xA9",
                   {0, 1, 2}},
        EncodeCase{"unk_not_fused",
                   {{"<unk>", 0}, {"a", 1}},
                   {},
                   With(false, false, false, "<unk>"),
                   "xya",
                   {0, 0, 1}},
        EncodeCase{"unk_fused",
                   {{"<unk>", 0}, {"a", 1}},
                   {},
                   With(false, true, false, "<unk>"),
                   "xyaz",
                   {0, 1, 0}},
        EncodeCase{"fallback_before_unk",
                   {{"<unk>", 0}, {"a", 1}, {"<0x7A>", 2}},
                   {},
                   With(true, true, false, "<unk>"),
                   "az",
                   {1, 2}},
        EncodeCase{
            "missing_dropped_without_unk", {{"a", 0}}, {}, {}, "xa", {0}},
        EncodeCase{"ignore_merges_whole_word",
                   {{"h", 0}, {"i", 1}, {"hi", 2}, {"hii", 3}},
                   {{"h", "i"}},
                   With(false, false, true, nullptr),
                   "hii",
                   {3}},
        EncodeCase{"merges_without_ignore",
                   {{"h", 0}, {"i", 1}, {"hi", 2}, {"hii", 3}},
                   {{"h", "i"}},
                   {},
                   "hii",
                   {2, 1}},
        // Byte-level: ' ' is U+0120 "Ġ", and pieces are raw bytes.
        EncodeCase{"byte_level",
                   {{"\xC4\xA0", 0},
                    {"a", 1},
                    {"\xC4\xA0"
                     "a",
                     2},
                    {"\xC3\x83", 3},
                    {"\xC2\xA9", 4}},
                   {{"\xC4\xA0", "a"}},
                   With(false, false, false, nullptr, true),
                   " a\xC3\xA9",
                   {2, 3, 4}}),
    [](const auto& info) { return std::string(info.param.name); });

struct ErrorCase {
  const char* name;
  Vocab vocab;
  Merges merges;
  BpeOptions options;
  std::string message;
};

class BpeErrorTest : public ::testing::TestWithParam<ErrorCase> {};

TEST_P(BpeErrorTest, RejectsWithPath) {
  const ErrorCase& c = GetParam();
  auto bpe = BpeModel::Create(c.vocab, c.merges, c.options);
  ASSERT_FALSE(bpe.ok());
  EXPECT_EQ(bpe.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(bpe.status().message()), HasSubstr(c.message));
}

INSTANTIATE_TEST_SUITE_P(
    Table, BpeErrorTest,
    ::testing::Values(
        ErrorCase{"merge_left_missing",
                  kAbc,
                  {{"a", "b"}, {"x", "b"}},
                  {},
                  "model.merges[1]: left token"},
        ErrorCase{"merge_result_missing",
                  kAbc,
                  {{"a", "c"}},
                  {},
                  "model.merges[0]: merged token"},
        ErrorCase{"duplicate_id",
                  {{"a", 0}, {"b", 0}},
                  {},
                  {},
                  "id 0 is used by both"},
        ErrorCase{"negative_id", {{"a", -1}}, {}, {}, "is negative"},
        ErrorCase{"unk_missing",
                  kAbc,
                  {},
                  With(false, false, false, "<unk>"),
                  "model.unk_token: \"<unk>\" is not in model.vocab"}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(BpeModel, LooksUpTokensAndIds) {
  auto bpe = BpeModel::Create({{"a", 0}, {"b", 5}}, {}, {});
  ASSERT_TRUE(bpe.ok());
  EXPECT_EQ((*bpe)->TokenToId("b"), 5);
  EXPECT_EQ((*bpe)->TokenToId("c"), std::nullopt);
  ASSERT_NE((*bpe)->IdToToken(5), nullptr);
  EXPECT_EQ(*(*bpe)->IdToToken(5), "b");
  EXPECT_EQ((*bpe)->IdToToken(3), nullptr);  // a gap in the ids
  EXPECT_EQ((*bpe)->IdToToken(6), nullptr);
  EXPECT_EQ((*bpe)->IdToToken(-1), nullptr);
  EXPECT_EQ((*bpe)->id_limit(), 6);
}

}  // namespace
}  // namespace df11::tokenizer
