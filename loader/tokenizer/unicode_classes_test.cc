#include "loader/tokenizer/unicode_classes.h"

#include <gtest/gtest.h>

namespace df11::tokenizer {
namespace {

struct ClassCase {
  char32_t cp;
  uint8_t bits;
};

class CharClassTest : public ::testing::TestWithParam<ClassCase> {};

TEST_P(CharClassTest, MatchesHuggingFaceClasses) {
  EXPECT_EQ(CharClassOf(GetParam().cp), GetParam().bits)
      << "U+" << std::hex << static_cast<uint32_t>(GetParam().cp);
}

// Expected values were checked against HF tokenizers' \p{L}, \p{N}, \s and
// single_word behaviour (see make_golden.py and docs/tokenizer.md).
INSTANTIATE_TEST_SUITE_P(
    Table, CharClassTest,
    ::testing::Values(
        ClassCase{U'a', kLetter | kWord}, ClassCase{U'Z', kLetter | kWord},
        ClassCase{U'5', kNumber | kWord}, ClassCase{U'_', kWord},
        ClassCase{U'!', 0}, ClassCase{U' ', kWhitespace},
        ClassCase{U'\t', kWhitespace}, ClassCase{U'\r', kWhitespace},
        ClassCase{0x0B, kWhitespace}, ClassCase{0x85, kWhitespace},
        ClassCase{0xA0, kWhitespace}, ClassCase{0x1680, kWhitespace},
        ClassCase{0x2028, kWhitespace}, ClassCase{0x3000, kWhitespace},
        ClassCase{0x200B, 0},                 // ZERO WIDTH SPACE: Cf
        ClassCase{0x200D, kWord},             // ZWJ: Join_Control
        ClassCase{0x0301, kWord},             // combining acute: Mn
        ClassCase{0x00B2, kNumber},           // superscript two: No
        ClassCase{0x2160, kNumber | kWord},   // roman numeral: Nl
        ClassCase{0x0661, kNumber | kWord},   // Arabic-Indic one: Nd
        ClassCase{0x4E2D, kLetter | kWord},   // CJK
        ClassCase{0x017F, kLetter | kWord},   // long s
        ClassCase{0x1F600, 0},                // emoji
        ClassCase{0x1C89, kLetter | kWord},   // Unicode 16 letter
        ClassCase{0x10D40, kNumber | kWord},  // Unicode 16 digit
        ClassCase{0xE000, 0},                 // private use
        ClassCase{0x10FFFF, 0}, ClassCase{0x110000, 0}));

}  // namespace
}  // namespace df11::tokenizer
