#include "loader/tokenizer/stream_decoder.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "loader/tokenizer/test_tokenizer_json.h"
#include "loader/tokenizer/tokenizer.h"

namespace df11::tokenizer {
namespace {

using ::testing::ElementsAreArray;

Tokenizer Load() {
  auto tok = Tokenizer::FromJson(testing::ByteLevelTokenizerJson().dump(),
                                 "test.json");
  EXPECT_TRUE(tok.ok()) << tok.status();
  return std::move(tok).value();
}

struct StreamCase {
  const char* name;
  std::string text;
  std::vector<std::string> deltas;  // one per token
};

class StreamTest : public ::testing::TestWithParam<StreamCase> {};

TEST_P(StreamTest, EmitsWholeCharactersPerToken) {
  const Tokenizer t = Load();
  auto ids = t.Encode(GetParam().text);
  ASSERT_TRUE(ids.ok());
  StreamDecoder stream(&t);
  std::vector<std::string> deltas;
  for (int32_t id : *ids) {
    auto d = stream.Step(id);
    ASSERT_TRUE(d.ok()) << d.status();
    deltas.push_back(*d);
  }
  EXPECT_THAT(deltas, ElementsAreArray(GetParam().deltas));
  auto rest = stream.Flush();
  ASSERT_TRUE(rest.ok());
  EXPECT_EQ(*rest, "");
}

INSTANTIATE_TEST_SUITE_P(
    Table, StreamTest,
    ::testing::Values(
        StreamCase{"ascii", "hello world", {"hello", " w", "o", "r", "l", "d"}},
        // Each byte is a token here, so multi-byte characters wait.
        StreamCase{"two_byte", "\xC3\xA9!", {"", "\xC3\xA9", "!"}},
        StreamCase{
            "four_byte", "\xF0\x9F\x98\x80", {"", "", "", "\xF0\x9F\x98\x80"}},
        StreamCase{"mixed",
                   "a\xE4\xB8\xAD"
                   "b",
                   {"a", "", "", "\xE4\xB8\xAD", "b"}}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(StreamDecoder, FlushReturnsIncompleteTail) {
  const Tokenizer t = Load();
  StreamDecoder stream(&t);
  auto d = stream.Step(*t.TokenToId("h"));
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(*d, "h");
  // The first byte of "é" alone (0xC3 is byte-level "Ã").
  d = stream.Step(*t.TokenToId("\xC3\x83"));
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(*d, "");
  auto rest = stream.Flush();
  ASSERT_TRUE(rest.ok());
  EXPECT_EQ(*rest, "\xEF\xBF\xBD");
}

TEST(StreamDecoder, UnknownIdIsAnErrorAndLeavesTheStream) {
  const Tokenizer t = Load();
  StreamDecoder stream(&t);
  ASSERT_TRUE(stream.Step(*t.TokenToId("h")).ok());
  auto bad = stream.Step(100000);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  auto d = stream.Step(*t.TokenToId("i"));
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(*d, "i");
}

TEST(StreamDecoder, SkipsSpecialTokensOnRequest) {
  const Tokenizer t = Load();
  StreamDecoder stream(&t, /*skip_special_tokens=*/true);
  std::string out;
  for (int32_t id : {0, *t.TokenToId("hello"), 0}) {
    auto d = stream.Step(id);
    ASSERT_TRUE(d.ok());
    out += *d;
  }
  auto rest = stream.Flush();
  ASSERT_TRUE(rest.ok());
  EXPECT_EQ(out + *rest, "hello");
}

}  // namespace
}  // namespace df11::tokenizer
