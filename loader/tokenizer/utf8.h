// UTF-8 helpers for the tokenizer: validation, lossy repair, decode, encode.
//
// Policy (see docs/tokenizer.md): Tokenizer::Encode rejects text that is not
// valid UTF-8 and names the byte offset of the first bad sequence. Callers
// that prefer to repair input call ReplaceInvalidUtf8 first; it replaces
// invalid bytes the way Python's `bytes.decode(errors="replace")` and Rust's
// `String::from_utf8_lossy` do.
#ifndef DF11_LOADER_TOKENIZER_UTF8_H_
#define DF11_LOADER_TOKENIZER_UTF8_H_

#include <cstddef>
#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace df11::tokenizer {

// U+FFFD REPLACEMENT CHARACTER in UTF-8.
inline constexpr std::string_view kReplacementChar = "\xEF\xBF\xBD";

// Returns the offset of the first byte that does not start a well-formed
// UTF-8 sequence (overlongs, surrogates and values above U+10FFFF are
// ill-formed), or text.size() when all of `text` is valid.
size_t FindInvalidUtf8(std::string_view text);

// OkStatus when `text` is valid UTF-8; otherwise InvalidArgument naming the
// byte offset and the bad bytes.
absl::Status ValidateUtf8(std::string_view text);

// Returns `text` with every maximal ill-formed subpart replaced by U+FFFD
// (Unicode 15 §3.9, "U+FFFD substitution of maximal subparts").
std::string ReplaceInvalidUtf8(std::string_view text);

// Decodes one code point at `p`. REQUIRES: `p` starts a well-formed sequence
// that lies inside the buffer. Returns the sequence length (1 to 4).
inline int DecodeUtf8(const char* p, char32_t* cp) {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  if (u[0] < 0x80) {
    *cp = u[0];
    return 1;
  }
  if (u[0] < 0xE0) {
    *cp = ((u[0] & 0x1Fu) << 6) | (u[1] & 0x3Fu);
    return 2;
  }
  if (u[0] < 0xF0) {
    *cp = ((u[0] & 0x0Fu) << 12) | ((u[1] & 0x3Fu) << 6) | (u[2] & 0x3Fu);
    return 3;
  }
  *cp = ((u[0] & 0x07u) << 18) | ((u[1] & 0x3Fu) << 12) |
        ((u[2] & 0x3Fu) << 6) | (u[3] & 0x3Fu);
  return 4;
}

// Length of the sequence that starts with lead byte `b` of valid UTF-8.
inline int Utf8SequenceLength(unsigned char b) {
  return b < 0x80 ? 1 : b < 0xE0 ? 2 : b < 0xF0 ? 3 : 4;
}

// Appends the UTF-8 encoding of `cp`. REQUIRES: cp is a Unicode scalar value.
void AppendUtf8(char32_t cp, std::string* out);

}  // namespace df11::tokenizer

#endif  // DF11_LOADER_TOKENIZER_UTF8_H_
