#include "loader/tokenizer/split_pattern.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace df11::tokenizer {
namespace {

struct SplitCase {
  SplitPattern pattern;
  std::string text;
  std::vector<std::string> pieces;
};

class SplitTest : public ::testing::TestWithParam<SplitCase> {};

TEST_P(SplitTest, MatchesHuggingFaceSplit) {
  const SplitCase& c = GetParam();
  std::vector<Piece> pieces;
  SplitWithPattern(c.pattern, c.text, 0, &pieces);
  std::vector<std::string> got;
  uint32_t expected_begin = 0;
  for (const Piece& p : pieces) {
    EXPECT_EQ(p.begin, expected_begin) << "pieces must tile the text";
    expected_begin = p.end;
    got.push_back(c.text.substr(p.begin, p.end - p.begin));
  }
  EXPECT_EQ(expected_begin, c.text.size());
  EXPECT_THAT(got, ::testing::ElementsAreArray(c.pieces));
}

// Expected pieces are HF tokenizers 0.23.3's pre_tokenize_str output for
// Split(Regex(<pattern>), "isolated").
INSTANTIATE_TEST_SUITE_P(
    Llama3, SplitTest,
    ::testing::Values(
        SplitCase{
            SplitPattern::kLlama3, "Hello  world", {"Hello", " ", " world"}},
        SplitCase{SplitPattern::kLlama3,
                  "I'm  you'RE '\u017Fx",
                  {"I", "'m", " ", " you", "'RE", " '", "\u017Fx"}},
        SplitCase{SplitPattern::kLlama3, "a   b  ", {"a", "  ", " b", "  "}},
        SplitCase{SplitPattern::kLlama3, "  \n\n b", {"  \n\n", " b"}},
        SplitCase{SplitPattern::kLlama3,
                  "x\r\n\r\n  y",
                  {"x", "\r\n\r\n", " ", " y"}},
        SplitCase{SplitPattern::kLlama3, "1234567", {"123", "456", "7"}},
        SplitCase{SplitPattern::kLlama3, " 42abc", {" ", "42", "abc"}},
        SplitCase{SplitPattern::kLlama3, "\tfoo", {"\tfoo"}},
        SplitCase{SplitPattern::kLlama3,
                  "!!! ?? ...\n\n",
                  {"!!!", " ??", " ...\n\n"}},
        SplitCase{SplitPattern::kLlama3,
                  "\u6771\u4eac \u306f",
                  {"\u6771\u4eac", " \u306f"}},
        SplitCase{SplitPattern::kLlama3,
                  "a\u00a0b\u3000c",
                  {"a", "\u00a0b", "\u3000c"}},
        SplitCase{SplitPattern::kLlama3, "e\u0301t", {"e", "\u0301t"}},
        SplitCase{SplitPattern::kLlama3, "don't", {"don", "'t"}},
        SplitCase{SplitPattern::kLlama3, "", {}},
        SplitCase{SplitPattern::kLlama3, " ", {" "}},
        SplitCase{SplitPattern::kLlama3, "x  ", {"x", "  "}}));

INSTANTIATE_TEST_SUITE_P(
    Gpt2, SplitTest,
    ::testing::Values(
        SplitCase{
            SplitPattern::kGpt2, "Hello  world", {"Hello", " ", " world"}},
        SplitCase{SplitPattern::kGpt2,
                  "I'm  you'RE '\u017Fx",
                  {"I", "'m", " ", " you", "'", "RE", " '", "\u017Fx"}},
        SplitCase{SplitPattern::kGpt2, "a   b  ", {"a", "  ", " b", "  "}},
        SplitCase{
            SplitPattern::kGpt2, "x\r\n\r\n  y", {"x", "\r\n\r\n ", " y"}},
        SplitCase{SplitPattern::kGpt2, "1234567", {"1234567"}},
        SplitCase{SplitPattern::kGpt2, " 42abc", {" 42", "abc"}},
        SplitCase{SplitPattern::kGpt2, "\tfoo", {"\t", "foo"}},
        SplitCase{SplitPattern::kGpt2,
                  "!!! ?? ...\n\n",
                  {"!!!", " ??", " ...", "\n\n"}},
        SplitCase{SplitPattern::kGpt2,
                  "a\u00a0b\u3000c",
                  {"a", "\u00a0", "b", "\u3000", "c"}},
        SplitCase{SplitPattern::kGpt2, "e\u0301t", {"e", "\u0301", "t"}},
        SplitCase{SplitPattern::kGpt2, " ", {" "}},
        SplitCase{SplitPattern::kGpt2, "x  ", {"x", "  "}}));

INSTANTIATE_TEST_SUITE_P(
    Qwen2, SplitTest,
    ::testing::Values(
        SplitCase{SplitPattern::kQwen2,
                  "1234567",
                  {"1", "2", "3", "4", "5", "6", "7"}},
        SplitCase{SplitPattern::kQwen2, " 42abc", {" ", "4", "2", "abc"}},
        SplitCase{SplitPattern::kQwen2,
                  "x\r\n\r\n  y",
                  {"x", "\r\n\r\n", " ", " y"}}));

TEST(SplitPatternRegex, RoundTripsAndRejectsOthers) {
  for (SplitPattern p :
       {SplitPattern::kGpt2, SplitPattern::kLlama3, SplitPattern::kQwen2}) {
    EXPECT_EQ(SplitPatternFromRegex(SplitPatternRegex(p)), p);
  }
  EXPECT_EQ(SplitPatternFromRegex("\\s+"), std::nullopt);
  EXPECT_EQ(SplitPatternFromRegex(""), std::nullopt);
}

TEST(SplitWithPattern, OffsetsByBase) {
  std::vector<Piece> pieces;
  SplitWithPattern(SplitPattern::kLlama3, "a b", 100, &pieces);
  ASSERT_EQ(pieces.size(), 2u);
  EXPECT_EQ(pieces[0].begin, 100u);
  EXPECT_EQ(pieces[1].begin, 101u);
  EXPECT_EQ(pieces[1].end, 103u);
}

}  // namespace
}  // namespace df11::tokenizer
