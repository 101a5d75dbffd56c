// Unicode character classes used by pre-tokenization and added-token
// matching, looked up in a two-stage table built once from ICU.
//
//   uint8_t c = CharClassOf(U'é');
//   if (c & kLetter) ...
//
// The classes follow what Hugging Face `tokenizers` uses:
//   kLetter      \p{L}  (general category Lu, Ll, Lt, Lm, Lo)
//   kNumber      \p{N}  (Nd, Nl, No)
//   kWhitespace  \s     (the White_Space property, 25 code points)
//   kWord        regex \w: Alphabetic, \p{M}, \p{Nd}, \p{Pc}, Join_Control
//                (what single_word added tokens check next to a match)
// HF's regex engine (Oniguruma) knows Unicode 16; Debian 12's ICU 72 knows
// Unicode 15. Letters and digits assigned in Unicode 16 are added from a
// small table, only where ICU calls the code point unassigned.
//
// Thread safety: the table is immutable after its first (thread-safe) use.
#ifndef DF11_LOADER_TOKENIZER_UNICODE_CLASSES_H_
#define DF11_LOADER_TOKENIZER_UNICODE_CLASSES_H_

#include <cstdint>

namespace df11::tokenizer {

enum CharClassBit : uint8_t {
  kLetter = 1,
  kNumber = 2,
  kWhitespace = 4,
  kWord = 8,
};

namespace internal {
struct CharClassTable {
  // stage1[cp >> 8] is the index of the 256-entry block in stage2.
  const uint16_t* stage1;
  const uint8_t* stage2;
};
const CharClassTable& GetCharClassTable();
}  // namespace internal

// Bitwise OR of CharClassBit for `cp`. Values above U+10FFFF get 0.
inline uint8_t CharClassOf(char32_t cp) {
  if (cp > 0x10FFFF) return 0;
  const internal::CharClassTable& t = internal::GetCharClassTable();
  return t
      .stage2[(static_cast<uint32_t>(t.stage1[cp >> 8]) << 8) | (cp & 0xFF)];
}

}  // namespace df11::tokenizer

#endif  // DF11_LOADER_TOKENIZER_UNICODE_CLASSES_H_
