// GPT-2's reversible map between bytes and printable characters, used by the
// ByteLevel pre-tokenizer and decoder: bytes 0x21-0x7E, 0xA1-0xAC and
// 0xAE-0xFF map to the code point of the same value; the other 68 bytes map,
// in order, to U+0100 and up.
#ifndef DF11_LOADER_TOKENIZER_BYTE_LEVEL_H_
#define DF11_LOADER_TOKENIZER_BYTE_LEVEL_H_

#include <cstdint>
#include <string>
#include <string_view>

namespace df11::tokenizer {

// The character that stands for byte `b`.
char32_t ByteToChar(uint8_t b);

// The byte that code point `cp` stands for, or -1 when `cp` is not one of
// the 256 characters of the map.
int CharToByte(char32_t cp);

// Appends the byte-level form of `bytes` (one character per byte) to `out`.
void AppendByteLevel(std::string_view bytes, std::string* out);

}  // namespace df11::tokenizer

#endif  // DF11_LOADER_TOKENIZER_BYTE_LEVEL_H_
