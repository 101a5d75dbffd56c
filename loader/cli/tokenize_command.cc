// df11 tokenize: encode text to ids, or decode ids to text, with a Hugging
// Face tokenizer.json.
//
//   echo -n "Hello world" | df11 tokenize --tokenizer tokenizer.json
//   {"ids":[128000,9906,1917]}
//   echo '{"ids":[9906,1917]}' | df11 tokenize --tokenizer tokenizer.json
//   --decode
//   {"text":"Hello world"}
//
// Input that is not valid UTF-8 is rejected (exit 1) with the byte offset.
#include <cstdint>
#include <cstdio>
#include <iostream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "loader/cli/commands.h"
#include "loader/tokenizer/tokenizer.h"

ABSL_FLAG(std::string, tokenizer, "",
          "tokenize: path of a Hugging Face tokenizer.json");
ABSL_FLAG(bool, decode, false,
          "tokenize: read {\"ids\": [...]} and print {\"text\": ...}");
ABSL_FLAG(bool, add_special_tokens, true,
          "tokenize: add the post-processor's tokens (e.g. BOS) when encoding");
ABSL_FLAG(bool, skip_special_tokens, false,
          "tokenize: leave special tokens out of decoded text");

namespace df11::cli {
namespace {

using Json = nlohmann::json;

int Fail(const std::string& message) {
  std::fprintf(stderr, "df11 tokenize: %s\n", message.c_str());
  return 1;
}

int Decode(const tokenizer::Tokenizer& tok, const std::string& input) {
  const Json j = Json::parse(input, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object() || !j.contains("ids") ||
      !j["ids"].is_array()) {
    return Fail("stdin: expected a JSON object {\"ids\": [...]}");
  }
  std::vector<int32_t> ids;
  for (size_t i = 0; i < j["ids"].size(); ++i) {
    const Json& v = j["ids"][i];
    if (!v.is_number_integer() || v.get<int64_t>() < 0 ||
        v.get<int64_t>() > INT32_MAX) {
      return Fail("stdin: ids[" + std::to_string(i) +
                  "] is not a non-negative 32-bit integer");
    }
    ids.push_back(static_cast<int32_t>(v.get<int64_t>()));
  }
  auto text = tok.Decode(ids, absl::GetFlag(FLAGS_skip_special_tokens));
  if (!text.ok()) return Fail(std::string(text.status().message()));
  const Json out = {{"text", *text}};
  std::printf("%s\n",
              out.dump(-1, ' ', false, Json::error_handler_t::replace).c_str());
  return 0;
}

}  // namespace

int RunTokenize(const std::vector<std::string>& args) {
  const std::string path = absl::GetFlag(FLAGS_tokenizer);
  if (path.empty() || !args.empty()) {
    std::fprintf(stderr,
                 "usage: df11 tokenize --tokenizer FILE [--decode] "
                 "[--noadd_special_tokens] [--skip_special_tokens] < input\n");
    return 2;
  }
  auto tok = tokenizer::Tokenizer::FromFile(path);
  if (!tok.ok()) return Fail(std::string(tok.status().message()));
  std::string input(std::istreambuf_iterator<char>(std::cin), {});
  if (absl::GetFlag(FLAGS_decode)) return Decode(*tok, input);
  tokenizer::EncodeOptions options;
  options.add_special_tokens = absl::GetFlag(FLAGS_add_special_tokens);
  auto ids = tok->Encode(input, options);
  if (!ids.ok()) return Fail("stdin: " + std::string(ids.status().message()));
  const Json out = {{"ids", *ids}};
  std::printf("%s\n", out.dump().c_str());
  return 0;
}

}  // namespace df11::cli
