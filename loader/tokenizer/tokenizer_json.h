// Reads Hugging Face tokenizer.json text into a TokenizerSpec.
//
//   ASSIGN_OR_RETURN(TokenizerSpec spec,
//                    ParseTokenizerJson(text, "/models/x/tokenizer.json"));
//
// Every error is InvalidArgument and starts with `source`:
//   - malformed JSON: "<source>: not valid JSON: parse error at line L,
//     column C: ..."
//   - a key twice in one object: "<source>: model.vocab: duplicate key \"a\""
//   - anything unknown or unsupported, which could otherwise change the
//     encoding silently: "<source>: pre_tokenizer.pretokenizers[1].type:
//     unsupported pre-tokenizer \"Whitespace\" (supported: ...)".
#ifndef DF11_LOADER_TOKENIZER_TOKENIZER_JSON_H_
#define DF11_LOADER_TOKENIZER_TOKENIZER_JSON_H_

#include <string_view>

#include "absl/status/statusor.h"
#include "loader/tokenizer/tokenizer_spec.h"

namespace df11::tokenizer {

absl::StatusOr<TokenizerSpec> ParseTokenizerJson(std::string_view text,
                                                 std::string_view source);

}  // namespace df11::tokenizer

#endif  // DF11_LOADER_TOKENIZER_TOKENIZER_JSON_H_
