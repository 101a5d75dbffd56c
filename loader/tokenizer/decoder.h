// Turns token strings back into text with the supported tokenizer.json
// decoders (ByteLevel, Metaspace, Replace, ByteFallback, Fuse, Strip), with
// HF tokenizers' semantics: each step maps the list of token strings to a
// new list, and the result is their concatenation.
//
//   std::string text = RunDecoder(spec.decoder, {"Hello", "Ġworld"});
#ifndef DF11_LOADER_TOKENIZER_DECODER_H_
#define DF11_LOADER_TOKENIZER_DECODER_H_

#include <string>
#include <vector>

#include "loader/tokenizer/tokenizer_spec.h"

namespace df11::tokenizer {

// The output is valid UTF-8: bytes that do not form UTF-8 become U+FFFD.
// Thread-safe.
std::string RunDecoder(const std::vector<DecoderStep>& steps,
                       std::vector<std::string> tokens);

}  // namespace df11::tokenizer

#endif  // DF11_LOADER_TOKENIZER_DECODER_H_
