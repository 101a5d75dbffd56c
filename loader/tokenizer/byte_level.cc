#include "loader/tokenizer/byte_level.h"

#include <array>

#include "loader/tokenizer/utf8.h"

namespace df11::tokenizer {
namespace {

constexpr bool MapsToItself(int b) {
  return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) ||
         (b >= 0xAE && b <= 0xFF);
}

constexpr std::array<char32_t, 256> MakeByteToChar() {
  std::array<char32_t, 256> t{};
  char32_t next = 0x100;
  for (int b = 0; b < 256; ++b) t[b] = MapsToItself(b) ? b : next++;
  return t;
}
constexpr std::array<char32_t, 256> kByteToChar = MakeByteToChar();

// Every mapped character is below U+0144.
constexpr std::array<int16_t, 0x144> MakeCharToByte() {
  std::array<int16_t, 0x144> t{};
  for (auto& v : t) v = -1;
  for (int b = 0; b < 256; ++b) t[kByteToChar[b]] = static_cast<int16_t>(b);
  return t;
}
constexpr std::array<int16_t, 0x144> kCharToByte = MakeCharToByte();

}  // namespace

char32_t ByteToChar(uint8_t b) { return kByteToChar[b]; }

int CharToByte(char32_t cp) {
  return cp < kCharToByte.size() ? kCharToByte[cp] : -1;
}

void AppendByteLevel(std::string_view bytes, std::string* out) {
  for (char c : bytes) AppendUtf8(kByteToChar[static_cast<uint8_t>(c)], out);
}

}  // namespace df11::tokenizer
