#include "loader/tokenizer/utf8.h"

#include <gtest/gtest.h>

#include <string>

namespace df11::tokenizer {
namespace {

struct ValidityCase {
  const char* name;
  std::string text;
  size_t first_bad;  // npos: valid
};

class ValidityTest : public ::testing::TestWithParam<ValidityCase> {};

TEST_P(ValidityTest, FindsFirstIllFormedByte) {
  const ValidityCase& c = GetParam();
  const size_t expected =
      c.first_bad == std::string::npos ? c.text.size() : c.first_bad;
  EXPECT_EQ(FindInvalidUtf8(c.text), expected);
  const absl::Status s = ValidateUtf8(c.text);
  if (c.first_bad == std::string::npos) {
    EXPECT_TRUE(s.ok()) << s;
  } else {
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(s.message().find("at byte " + std::to_string(c.first_bad)),
              std::string::npos)
        << s;
  }
}

constexpr size_t kValid = std::string::npos;

INSTANTIATE_TEST_SUITE_P(
    Table, ValidityTest,
    ::testing::Values(
        ValidityCase{"empty", "", kValid},
        ValidityCase{"ascii_long", std::string(100, 'a') + "b", kValid},
        ValidityCase{"two_three_four", "\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80",
                     kValid},
        ValidityCase{"max_scalar", "\xF4\x8F\xBF\xBF", kValid},
        ValidityCase{"nul_is_valid", std::string("a\0b", 3), kValid},
        ValidityCase{"lone_continuation", "abc\x80", 3},
        ValidityCase{"overlong_two", "\xC0\x80", 0},
        ValidityCase{"overlong_three", "ab\xE0\x80\x80", 2},
        ValidityCase{"surrogate", "x\xED\xA0\x80", 1},
        ValidityCase{"above_max", "\xF4\x90\x80\x80", 0},
        ValidityCase{"f5_lead", "\xF5\x80\x80\x80", 0},
        ValidityCase{"truncated_at_end", "ok\xE2\x82", 2},
        ValidityCase{"bad_after_ascii_run",
                     std::string(17, 'x') + "\xFF" + std::string(9, 'y'), 17}),
    [](const auto& info) { return std::string(info.param.name); });

struct ReplaceCase {
  const char* name;
  std::string in;
  std::string out;
};

class ReplaceTest : public ::testing::TestWithParam<ReplaceCase> {};

TEST_P(ReplaceTest, ReplacesMaximalSubparts) {
  const std::string got = ReplaceInvalidUtf8(GetParam().in);
  EXPECT_EQ(got, GetParam().out);
  EXPECT_EQ(FindInvalidUtf8(got), got.size());
}

#define R "\xEF\xBF\xBD"
INSTANTIATE_TEST_SUITE_P(
    Table, ReplaceTest,
    ::testing::Values(
        ReplaceCase{"valid_unchanged", "h\xC3\xA9llo", "h\xC3\xA9llo"},
        // The example of Unicode 15 §3.9 Table 3-8 (as Python's
        // errors="replace" and Rust's from_utf8_lossy do it).
        ReplaceCase{"unicode_table_3_8",
                    "\x61\xF1\x80\x80\xE1\x80\xC2\x62\x80\x63\x80\xBF\x64",
                    "a" R R R "b" R "c" R R "d"},
        ReplaceCase{"surrogate_is_three", "\xED\xA0\x80", R R R},
        ReplaceCase{"truncated_four", "\xF0\x9F\x98", R},
        ReplaceCase{"truncated_then_ascii", "\xE2\x82z", R "z"},
        ReplaceCase{"ff_bytes", "\xFF\xFE", R R}),
    [](const auto& info) { return std::string(info.param.name); });
#undef R

TEST(Utf8, EncodeDecodeRoundTripAtBoundaries) {
  for (char32_t cp : {0x0u, 0x7Fu, 0x80u, 0x7FFu, 0x800u, 0xD7FFu, 0xE000u,
                      0xFFFFu, 0x10000u, 0x10FFFFu}) {
    std::string s;
    AppendUtf8(cp, &s);
    ASSERT_EQ(FindInvalidUtf8(s), s.size()) << std::hex << cp;
    EXPECT_EQ(static_cast<size_t>(Utf8SequenceLength(s[0])), s.size());
    char32_t back = 0;
    EXPECT_EQ(static_cast<size_t>(DecodeUtf8(s.data(), &back)), s.size());
    EXPECT_EQ(back, cp);
  }
}

}  // namespace
}  // namespace df11::tokenizer
