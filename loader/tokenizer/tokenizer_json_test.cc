#include "loader/tokenizer/tokenizer_json.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <functional>
#include <nlohmann/json.hpp>
#include <string>

#include "loader/tokenizer/test_tokenizer_json.h"
#include "loader/tokenizer/tokenizer.h"

namespace df11::tokenizer {
namespace {

using ::testing::HasSubstr;
using Json = nlohmann::json;

struct BadFileCase {
  const char* name;
  std::function<void(Json&)> edit;
  std::string message;  // expected in the error, after "bad.json: "
};

class BadFileTest : public ::testing::TestWithParam<BadFileCase> {};

TEST_P(BadFileTest, RejectedAtLoadWithLocation) {
  Json j = testing::ByteLevelTokenizerJson();
  GetParam().edit(j);
  auto tok = Tokenizer::FromJson(j.dump(), "bad.json");
  ASSERT_FALSE(tok.ok()) << "loaded a file it should reject";
  EXPECT_EQ(tok.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(tok.status().message()),
              HasSubstr("bad.json: " + GetParam().message));
}

Json Split(const std::string& regex) {
  return {{"type", "Split"},
          {"pattern", {{"Regex", regex}}},
          {"behavior", "Isolated"},
          {"invert", false}};
}

const Json kByteLevelPre = {{"type", "ByteLevel"},
                            {"add_prefix_space", false},
                            {"trim_offsets", true},
                            {"use_regex", false}};

INSTANTIATE_TEST_SUITE_P(
    Table, BadFileTest,
    ::testing::Values(
        BadFileCase{"unknown_top_field", [](Json& j) { j["extra"] = 1; },
                    "unknown field \"extra\""},
        BadFileCase{"truncation",
                    [](Json& j) {
                      j["truncation"] = {{"max_length", 8}};
                    },
                    "truncation: unsupported (must be null)"},
        BadFileCase{"padding", [](Json& j) { j["padding"] = Json::object(); },
                    "padding: unsupported"},
        BadFileCase{"model_missing", [](Json& j) { j.erase("model"); },
                    "model: missing"},
        BadFileCase{"wordpiece",
                    [](Json& j) { j["model"]["type"] = "WordPiece"; },
                    "model.type: unsupported model \"WordPiece\""},
        BadFileCase{"dropout", [](Json& j) { j["model"]["dropout"] = 0.1; },
                    "model.dropout: BPE dropout is random"},
        BadFileCase{
            "subword_prefix",
            [](Json& j) { j["model"]["continuing_subword_prefix"] = "##"; },
            "model.continuing_subword_prefix: unsupported"},
        BadFileCase{"vocab_string_id",
                    [](Json& j) { j["model"]["vocab"]["h"] = "x"; },
                    "model.vocab.h: expected an integer, got \"x\""},
        BadFileCase{
            "vocab_negative_id", [](Json& j) { j["model"]["vocab"]["h"] = -3; },
            "model.vocab.h: expected an integer in [0, 2147483646], got -3"},
        BadFileCase{"merge_not_pair",
                    [](Json& j) { j["model"]["merges"][2] = 3; },
                    "model.merges[2]: expected \"left right\""},
        BadFileCase{"merge_three_parts",
                    [](Json& j) { j["model"]["merges"][0] = "h e x"; },
                    "model.merges[0]: merge \"h e x\" is not two tokens"},
        BadFileCase{"merge_unknown_token",
                    [](Json& j) {
                      j["model"]["merges"][1] = {"l", "\xE2\x82\xAC"};
                    },
                    "model.merges[1]: right token"},
        BadFileCase{"unk_not_in_vocab",
                    [](Json& j) { j["model"]["unk_token"] = "<unk>"; },
                    "model.unk_token: \"<unk>\" is not in model.vocab"},
        BadFileCase{
            "whitespace_pre_tokenizer",
            [](Json& j) {
              j["pre_tokenizer"] = {{"type", "Whitespace"}};
            },
            "pre_tokenizer.type: unsupported pre-tokenizer \"Whitespace\""},
        BadFileCase{"byte_level_not_last",
                    [](Json& j) {
                      j["pre_tokenizer"] = {
                          {"type", "Sequence"},
                          {"pretokenizers", {kByteLevelPre, Split("\\s+")}}};
                    },
                    "pre_tokenizer.pretokenizers[0]: ByteLevel is supported "
                    "only as the last"},
        BadFileCase{"unknown_split_regex",
                    [](Json& j) {
                      j["pre_tokenizer"] = {
                          {"type", "Sequence"},
                          {"pretokenizers",
                           {Split("\\w+|\\s+"), kByteLevelPre}}};
                    },
                    "pre_tokenizer.pretokenizers[0].pattern.Regex: unsupported "
                    "split regex"},
        BadFileCase{"split_behavior",
                    [](Json& j) {
                      Json s = Split(
                          std::string(SplitPatternRegex(SplitPattern::kGpt2)));
                      s["behavior"] = "Removed";
                      j["pre_tokenizer"] = s;
                    },
                    "pre_tokenizer.behavior: unsupported behavior \"Removed\""},
        BadFileCase{"byte_level_unknown_option",
                    [](Json& j) { j["pre_tokenizer"]["lowercase"] = true; },
                    "pre_tokenizer: unknown field \"lowercase\""},
        BadFileCase{
            "metaspace_scheme",
            [](Json& j) {
              j["pre_tokenizer"] = {{"type", "Metaspace"},
                                    {"replacement", "\xE2\x96\x81"},
                                    {"prepend_scheme", "sometimes"},
                                    {"split", true}};
            },
            "pre_tokenizer.prepend_scheme: unknown scheme \"sometimes\""},
        BadFileCase{
            "metaspace_two_chars",
            [](Json& j) {
              j["pre_tokenizer"] = {{"type", "Metaspace"},
                                    {"replacement", "__"}};
            },
            "pre_tokenizer.replacement: expected exactly one character"},
        BadFileCase{"lowercase_normalizer",
                    [](Json& j) {
                      j["normalizer"] = {{"type", "Lowercase"}};
                    },
                    "normalizer.type: unsupported normalizer \"Lowercase\""},
        BadFileCase{"regex_replace",
                    [](Json& j) {
                      j["normalizer"] = {{"type", "Sequence"},
                                         {"normalizers",
                                          {{{"type", "NFC"}},
                                           {{"type", "Replace"},
                                            {"pattern", {{"Regex", " +"}}},
                                            {"content", " "}}}}};
                    },
                    "normalizer.normalizers[1].pattern: unsupported pattern"},
        BadFileCase{"wordpiece_decoder",
                    [](Json& j) {
                      j["decoder"] = {{"type", "WordPiece"}};
                    },
                    "decoder.type: unsupported decoder \"WordPiece\""},
        BadFileCase{"roberta_processing",
                    [](Json& j) {
                      j["post_processor"] = {{"type", "RobertaProcessing"}};
                    },
                    "post_processor.type: unsupported post-processor"},
        BadFileCase{
            "template_with_b",
            [](Json& j) {
              j["post_processor"] = {
                  {"type", "TemplateProcessing"},
                  {"single",
                   {{{"SpecialToken", {{"id", "<s>"}, {"type_id", 0}}}},
                    {{"Sequence", {{"id", "B"}, {"type_id", 0}}}}}},
                  {"pair", Json::array()},
                  {"special_tokens",
                   {{"<s>",
                     {{"id", "<s>"}, {"ids", {0}}, {"tokens", {"<s>"}}}}}}};
            },
            "post_processor.single[1]: sequence \"B\""},
        BadFileCase{
            "template_unknown_special",
            [](Json& j) {
              j["post_processor"] = {
                  {"type", "TemplateProcessing"},
                  {"single",
                   {{{"SpecialToken", {{"id", "<bos>"}, {"type_id", 0}}}}}},
                  {"pair", Json::array()},
                  {"special_tokens", Json::object()}};
            },
            "post_processor.single[0]: special token \"<bos>\" is not in"},
        BadFileCase{"added_token_without_id",
                    [](Json& j) { j["added_tokens"][0].erase("id"); },
                    "added_tokens[0].id: missing"},
        BadFileCase{"added_token_unknown_field",
                    [](Json& j) { j["added_tokens"][1]["weight"] = 2; },
                    "added_tokens[1]: unknown field \"weight\""},
        BadFileCase{
            "special_token_ids_path",
            [](Json& j) {
              j["post_processor"] = {
                  {"type", "TemplateProcessing"},
                  {"single",
                   {{{"SpecialToken", {{"id", "<s>"}, {"type_id", 0}}}},
                    {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}}},
                  {"pair", Json::array()},
                  {"special_tokens",
                   {{"<s>",
                     {{"id", "<s>"}, {"ids", {0, -1}}, {"tokens", {"<s>"}}}}}}};
            },
            "post_processor.special_tokens[\"<s>\"].ids[1]: expected "
            "an integer in [0, 2147483647], got -1"},
        BadFileCase{
            "added_token_id_conflict",
            [](Json& j) { j["added_tokens"][0]["id"] = 5; },
            "added_tokens[0]: \"<s>\" has id 5 but model.vocab gives it "
            "id 0"}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(TokenizerJson, MalformedJsonNamesLineAndColumn) {
  const std::string text = "{\n  \"model\": {\n    \"type\": \"BPE\",,\n  }\n}";
  auto spec = ParseTokenizerJson(text, "/models/x/tokenizer.json");
  ASSERT_FALSE(spec.ok());
  EXPECT_EQ(spec.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(
      std::string(spec.status().message()),
      HasSubstr("/models/x/tokenizer.json: not valid JSON: parse error at "
                "line 3, column 19"));
}

// nlohmann keeps the last of two equal keys; a tokenizer.json with one
// would encode differently than Hugging Face's reader intends.
TEST(TokenizerJson, DuplicateKeysAreRejectedNamingThePath) {
  struct Case {
    const char* find;
    const char* replace;
    const char* message;
  };
  const Case cases[] = {
      {"\"model\":{", "\"model\":{\"dropout\":null,",
       "t.json: model: duplicate key \"dropout\""},
      {"\"vocab\":{", "\"vocab\":{\"l\":1,",
       "t.json: model.vocab: duplicate key \"l\""},
      {"\"added_tokens\":[{", "\"added_tokens\":[{\"id\":0,",
       "t.json: added_tokens[0]: duplicate key \"id\""},
  };
  for (const Case& c : cases) {
    std::string text = testing::ByteLevelTokenizerJson().dump();
    const size_t at = text.find(c.find);
    ASSERT_NE(at, std::string::npos) << c.find;
    text.replace(at, std::string(c.find).size(), c.replace);
    auto spec = ParseTokenizerJson(text, "t.json");
    ASSERT_FALSE(spec.ok()) << c.replace;
    EXPECT_EQ(spec.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(spec.status().message(), c.message);
  }
}

TEST(TokenizerJson, TruncatedFileIsAParseError) {
  const std::string full = testing::ByteLevelTokenizerJson().dump();
  auto spec = ParseTokenizerJson(full.substr(0, full.size() / 2), "t.json");
  ASSERT_FALSE(spec.ok());
  EXPECT_THAT(std::string(spec.status().message()),
              HasSubstr("t.json: not valid JSON: parse error"));
}

TEST(TokenizerJson, NotAnObject) {
  auto spec = ParseTokenizerJson("[1, 2]", "t.json");
  ASSERT_FALSE(spec.ok());
  EXPECT_THAT(std::string(spec.status().message()),
              HasSubstr("t.json: expected an object, got [1,2]"));
}

TEST(TokenizerJson, ReadsTheSupportedParts) {
  Json j = testing::ByteLevelTokenizerJson();
  j["pre_tokenizer"] = {
      {"type", "Sequence"},
      {"pretokenizers",
       {Split(std::string(SplitPatternRegex(SplitPattern::kLlama3))),
        kByteLevelPre}}};
  j["normalizer"] = {{"type", "NFC"}};
  j["model"]["merges"] = {"h e", "l l"};  // the older string format
  auto spec = ParseTokenizerJson(j.dump(), "t.json");
  ASSERT_TRUE(spec.ok()) << spec.status();
  ASSERT_EQ(spec->pre_tokenizer.splits.size(), 1u);
  EXPECT_EQ(spec->pre_tokenizer.splits[0], SplitPattern::kLlama3);
  EXPECT_EQ(spec->pre_tokenizer.final, PreTokenizerSpec::Final::kByteLevel);
  EXPECT_FALSE(spec->pre_tokenizer.use_regex);
  EXPECT_TRUE(spec->bpe.byte_level);
  ASSERT_EQ(spec->normalizer.size(), 1u);
  EXPECT_EQ(spec->normalizer[0].kind, NormalizerStep::Kind::kNfc);
  ASSERT_EQ(spec->merges.size(), 2u);
  EXPECT_EQ(spec->merges[1], (std::pair<std::string, std::string>{"l", "l"}));
  ASSERT_EQ(spec->added_tokens.size(), 2u);
  EXPECT_TRUE(spec->added_tokens[0].special);
  EXPECT_TRUE(spec->added_tokens[1].lstrip);
  EXPECT_EQ(spec->vocab.size(), 263u);
}

TEST(Tokenizer, MissingFileIsNotFound) {
  auto tok = Tokenizer::FromFile("/nonexistent/dir/tokenizer.json");
  ASSERT_FALSE(tok.ok());
  EXPECT_EQ(tok.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(tok.status().message()),
              HasSubstr("/nonexistent/dir/tokenizer.json"));
}

}  // namespace
}  // namespace df11::tokenizer
