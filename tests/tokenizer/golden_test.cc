// Golden test: our tokenizer against Hugging Face tokenizers, id for id.
//
// testdata/ holds four small tokenizers trained by make_golden.py (one per
// supported family) and, for each, the encodings and decodings HF produced
// for held-out text. DF11_TOKENIZER_GOLDEN_DIR points the test at another
// directory made by the same script (e.g. with --fuzz 5000).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "loader/tokenizer/stream_decoder.h"
#include "loader/tokenizer/tokenizer.h"

namespace df11::tokenizer {
namespace {

using ::testing::ElementsAreArray;
using Json = nlohmann::json;

EncodeOptions Options(bool add_special_tokens, bool parse_special_tokens) {
  EncodeOptions o;
  o.add_special_tokens = add_special_tokens;
  o.parse_special_tokens = parse_special_tokens;
  return o;
}

std::string GoldenDir() {
  const char* dir = std::getenv("DF11_TOKENIZER_GOLDEN_DIR");
  return dir != nullptr ? dir : "tests/tokenizer/testdata";
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<int32_t> Ids(const Json& j) {
  return j.get<std::vector<int32_t>>();
}

class GoldenTest : public ::testing::TestWithParam<std::string> {};

TEST_P(GoldenTest, MatchesHuggingFace) {
  const std::string dir = GoldenDir();
  const Json golden = Json::parse(
      ReadFile(dir + "/" + GetParam() + ".cases.json"), nullptr, false);
  ASSERT_FALSE(golden.is_discarded()) << "cannot read cases for " << GetParam();
  auto tok =
      Tokenizer::FromFile(dir + "/" + golden["tokenizer"].get<std::string>());
  ASSERT_TRUE(tok.ok()) << tok.status();
  const Json& cases = golden["cases"];
  ASSERT_GT(cases.size(), 100u);
  // Byte-level BPE is lossless: decode(encode(x)) == x for all text.
  const bool lossless = GetParam() == "llama3_style";
  for (size_t i = 0; i < cases.size(); ++i) {
    const Json& c = cases[i];
    const std::string text = c["text"].get<std::string>();
    SCOPED_TRACE("case " + std::to_string(i) + ": " + c["text"].dump());
    const std::vector<int32_t> ids = Ids(c["ids"]);
    const std::vector<int32_t> plain =
        c.contains("ids_no_special") ? Ids(c["ids_no_special"]) : ids;
    const std::vector<int32_t> literal = c.contains("ids_literal_special")
                                             ? Ids(c["ids_literal_special"])
                                             : plain;

    auto got = tok->Encode(text);
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_THAT(*got, ElementsAreArray(ids));
    got = tok->Encode(text, Options(false, true));
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_THAT(*got, ElementsAreArray(plain));
    got = tok->Encode(text, Options(false, false));
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_THAT(*got, ElementsAreArray(literal));

    auto text_out = tok->Decode(plain);
    ASSERT_TRUE(text_out.ok()) << text_out.status();
    EXPECT_EQ(*text_out, c["decoded"].get<std::string>());
    if (lossless) {
      EXPECT_EQ(*text_out, text);
    }
    auto skipped = tok->Decode(ids, /*skip_special_tokens=*/true);
    ASSERT_TRUE(skipped.ok()) << skipped.status();
    EXPECT_EQ(*skipped, c["decoded_skip_special"].get<std::string>());

    // Streaming gives the same text, in pieces of whole characters.
    StreamDecoder stream(&*tok);
    std::string streamed;
    for (int32_t id : plain) {
      auto delta = stream.Step(id);
      ASSERT_TRUE(delta.ok()) << delta.status();
      // An incomplete character would decode to U+FFFD at the end.
      EXPECT_FALSE(delta->size() >= 3 &&
                   delta->compare(delta->size() - 3, 3, "\xEF\xBF\xBD") == 0)
          << "delta \"" << *delta << "\" for id " << id;
      streamed += *delta;
    }
    auto rest = stream.Flush();
    ASSERT_TRUE(rest.ok()) << rest.status();
    streamed += *rest;
    EXPECT_EQ(streamed, *text_out);
  }
}

INSTANTIATE_TEST_SUITE_P(Families, GoldenTest,
                         ::testing::Values("llama3_style", "gpt2_style",
                                           "llama2_style", "metaspace_style"));

}  // namespace
}  // namespace df11::tokenizer
