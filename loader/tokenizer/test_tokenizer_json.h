// Test helper: a small byte-level BPE tokenizer.json built in memory.
#ifndef DF11_LOADER_TOKENIZER_TEST_TOKENIZER_JSON_H_
#define DF11_LOADER_TOKENIZER_TEST_TOKENIZER_JSON_H_

#include <nlohmann/json.hpp>
#include <string>

#include "loader/tokenizer/byte_level.h"
#include "loader/tokenizer/utf8.h"

namespace df11::tokenizer::testing {

// GPT-2 style: "<s>" (id 0, special) and "<mask>" (id 1, lstrip), the 256
// byte-level characters (ids 2..257), and merges that build "hello" and "Ġw".
inline nlohmann::json ByteLevelTokenizerJson() {
  using Json = nlohmann::json;
  Json vocab = Json::object();
  vocab["<s>"] = 0;
  vocab["<mask>"] = 1;
  for (int b = 0; b < 256; ++b) {
    std::string ch;
    AppendUtf8(ByteToChar(static_cast<uint8_t>(b)), &ch);
    vocab[ch] = 2 + b;
  }
  Json merges = Json::array();
  int next = 258;
  for (auto [a, b] :
       {std::pair{"h", "e"}, std::pair{"l", "l"}, std::pair{"he", "ll"},
        std::pair{"hell", "o"}, std::pair{"\xC4\xA0", "w"}}) {
    merges.push_back({a, b});
    vocab[std::string(a) + b] = next++;
  }
  Json j = {
      {"version", "1.0"},
      {"truncation", nullptr},
      {"padding", nullptr},
      {"added_tokens",
       {{{"id", 0},
         {"content", "<s>"},
         {"single_word", false},
         {"lstrip", false},
         {"rstrip", false},
         {"normalized", false},
         {"special", true}},
        {{"id", 1},
         {"content", "<mask>"},
         {"single_word", false},
         {"lstrip", true},
         {"rstrip", false},
         {"normalized", false},
         {"special", false}}}},
      {"normalizer", nullptr},
      {"pre_tokenizer",
       {{"type", "ByteLevel"},
        {"add_prefix_space", false},
        {"trim_offsets", true},
        {"use_regex", true}}},
      {"post_processor", nullptr},
      {"decoder",
       {{"type", "ByteLevel"},
        {"add_prefix_space", true},
        {"trim_offsets", true},
        {"use_regex", true}}},
      {"model",
       {{"type", "BPE"},
        {"dropout", nullptr},
        {"unk_token", nullptr},
        {"continuing_subword_prefix", nullptr},
        {"end_of_word_suffix", nullptr},
        {"fuse_unk", false},
        {"byte_fallback", false},
        {"ignore_merges", false},
        {"vocab", vocab},
        {"merges", merges}}},
  };
  return j;
}

}  // namespace df11::tokenizer::testing

#endif  // DF11_LOADER_TOKENIZER_TEST_TOKENIZER_JSON_H_
