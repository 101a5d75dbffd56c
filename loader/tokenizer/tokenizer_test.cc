#include "loader/tokenizer/tokenizer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "loader/tokenizer/test_tokenizer_json.h"
#include "loader/tokenizer/utf8.h"

namespace df11::tokenizer {
namespace {

using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;
using Json = nlohmann::json;

EncodeOptions Options(bool add_special_tokens, bool parse_special_tokens) {
  EncodeOptions o;
  o.add_special_tokens = add_special_tokens;
  o.parse_special_tokens = parse_special_tokens;
  return o;
}

Tokenizer Load(const Json& j) {
  auto tok = Tokenizer::FromJson(j.dump(), "test.json");
  EXPECT_TRUE(tok.ok()) << tok.status();
  return std::move(tok).value();
}

int32_t Id(const Tokenizer& t, const std::string& token) {
  auto id = t.TokenToId(token);
  EXPECT_TRUE(id.has_value()) << token;
  return id.value_or(-1);
}

TEST(Tokenizer, EncodesWithMergesAndGpt2Split) {
  const Tokenizer t = Load(testing::ByteLevelTokenizerJson());
  auto ids = t.Encode("hello world");
  ASSERT_TRUE(ids.ok()) << ids.status();
  // "hello" | " world": Ġw merges, the rest stays bytes.
  EXPECT_THAT(*ids, ElementsAre(Id(t, "hello"), Id(t, "\xC4\xA0w"), Id(t, "o"),
                                Id(t, "r"), Id(t, "l"), Id(t, "d")));
  auto text = t.Decode(*ids);
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(*text, "hello world");
}

TEST(Tokenizer, RejectsInvalidUtf8AndNamesTheByte) {
  const Tokenizer t = Load(testing::ByteLevelTokenizerJson());
  const std::string bad = "hello\xC3(";
  auto ids = t.Encode(bad);
  ASSERT_FALSE(ids.ok());
  EXPECT_EQ(ids.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(ids.status().message()), HasSubstr("at byte 5"));
  // The documented way to accept such text: repair first.
  auto repaired = t.Encode(ReplaceInvalidUtf8(bad));
  ASSERT_TRUE(repaired.ok());
  auto text = t.Decode(*repaired);
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(*text, "hello\xEF\xBF\xBD(");
}

TEST(Tokenizer, EmptyTextGivesOnlyTemplateTokens) {
  Json j = testing::ByteLevelTokenizerJson();
  j["post_processor"] = {
      {"type", "TemplateProcessing"},
      {"single",
       {{{"SpecialToken", {{"id", "<s>"}, {"type_id", 0}}}},
        {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}}},
      {"pair", Json::array()},
      {"special_tokens",
       {{"<s>", {{"id", "<s>"}, {"ids", {0}}, {"tokens", {"<s>"}}}}}}};
  const Tokenizer t = Load(j);
  auto ids = t.Encode("");
  ASSERT_TRUE(ids.ok());
  EXPECT_THAT(*ids, ElementsAre(0));
  ids = t.Encode("", Options(false, true));
  ASSERT_TRUE(ids.ok());
  EXPECT_TRUE(ids->empty());
  ids = t.Encode("hello");
  ASSERT_TRUE(ids.ok());
  EXPECT_THAT(*ids, ElementsAre(0, Id(t, "hello")));
}

TEST(Tokenizer, SpecialTokensSplitOutOrEncodedLiterally) {
  const Tokenizer t = Load(testing::ByteLevelTokenizerJson());
  auto ids = t.Encode("<s>hello");
  ASSERT_TRUE(ids.ok());
  EXPECT_THAT(*ids, ElementsAre(0, Id(t, "hello")));
  ids = t.Encode("<s>hello", Options(true, false));
  ASSERT_TRUE(ids.ok());
  EXPECT_THAT(*ids,
              ElementsAre(Id(t, "<"), Id(t, "s"), Id(t, ">"), Id(t, "hello")));
  EXPECT_TRUE(t.IsSpecial(0));
  EXPECT_FALSE(t.IsSpecial(1));
  EXPECT_FALSE(t.IsSpecial(Id(t, "hello")));
}

TEST(Tokenizer, LstripTokenTakesTheSpacesBeforeIt) {
  const Tokenizer t = Load(testing::ByteLevelTokenizerJson());
  auto ids = t.Encode("hello   <mask>");
  ASSERT_TRUE(ids.ok());
  EXPECT_THAT(*ids, ElementsAre(Id(t, "hello"), 1));
}

TEST(Tokenizer, DecodeSkipsSpecialTokensOnRequest) {
  const Tokenizer t = Load(testing::ByteLevelTokenizerJson());
  const std::vector<int32_t> ids = {0, Id(t, "hello"), 1};
  auto text = t.Decode(ids);
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(*text, "<s>hello<mask>");
  text = t.Decode(ids, /*skip_special_tokens=*/true);
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(*text, "hello<mask>");  // <mask> is added but not special
}

TEST(Tokenizer, DecodeRejectsUnknownIds) {
  const Tokenizer t = Load(testing::ByteLevelTokenizerJson());
  for (int32_t bad : {-1, t.id_limit(), 1 << 30}) {
    const std::vector<int32_t> ids = {Id(t, "hello"), bad};
    auto text = t.Decode(ids);
    ASSERT_FALSE(text.ok()) << bad;
    EXPECT_EQ(text.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(text.status().message()),
                HasSubstr("id " + std::to_string(bad) + " at position 1"));
  }
}

TEST(Tokenizer, NoDecoderJoinsTokensWithSpaces) {
  Json j = testing::ByteLevelTokenizerJson();
  j["decoder"] = nullptr;
  const Tokenizer t = Load(j);
  auto text = t.Decode({Id(t, "hello"), Id(t, "\xC4\xA0w")});
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(*text, "hello \xC4\xA0w");
}

TEST(Tokenizer, ByteLevelRoundTripsRandomText) {
  const Tokenizer t = Load(testing::ByteLevelTokenizerJson());
  std::mt19937 rng(11);
  const std::vector<char32_t> pool = {
      U'a',  U'h', U'e',   U'l',    U'o',   U' ',   U'\n', U'\t', U'7',
      U'\'', 0xE9, 0x4E2D, 0x1F600, 0x3000, 0x0301, U'<',  U's',  U'>'};
  for (int n = 0; n < 300; ++n) {
    std::string text;
    const int len = static_cast<int>(rng() % 30);
    for (int k = 0; k < len; ++k) AppendUtf8(pool[rng() % pool.size()], &text);
    auto ids = t.Encode(text, Options(true, false));
    ASSERT_TRUE(ids.ok());
    auto back = t.Decode(*ids);
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(*back, text);
  }
}

TEST(Tokenizer, ConcurrentEncodesAgree) {
  const Tokenizer t = Load(testing::ByteLevelTokenizerJson());
  std::string text;
  for (int i = 0; i < 200; ++i)
    text += "hello world " + std::to_string(i) + "\n";
  auto expected = t.Encode(text);
  ASSERT_TRUE(expected.ok());
  std::vector<std::vector<int32_t>> got(4);
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] { got[i] = *t.Encode(text); });
  }
  for (auto& th : threads) th.join();
  for (const auto& g : got) EXPECT_THAT(g, ElementsAreArray(*expected));
}

TEST(Tokenizer, IdAndTokenLookups) {
  const Tokenizer t = Load(testing::ByteLevelTokenizerJson());
  EXPECT_EQ(t.TokenToId("<mask>"), 1);
  EXPECT_EQ(t.TokenToId("not a token"), std::nullopt);
  ASSERT_NE(t.IdToToken(1), nullptr);
  EXPECT_EQ(*t.IdToToken(1), "<mask>");
  EXPECT_EQ(t.IdToToken(-5), nullptr);
  EXPECT_EQ(t.id_limit(), 263);
}

}  // namespace
}  // namespace df11::tokenizer
