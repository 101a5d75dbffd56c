// Hand-written scanners for the pre-tokenizer split regexes of GPT-2 and
// Llama 3, with Unicode classes from unicode_classes.h. They produce exactly
// the pieces that HF tokenizers (Oniguruma, leftmost-first alternation)
// produces with SplitDelimiterBehavior::Isolated, including the `\s+(?!\S)`
// lookahead that RE2 cannot express.
//
//   std::vector<Piece> pieces;
//   SplitWithPattern(SplitPattern::kLlama3, "Hello  world", &pieces);
//   // "Hello", " ", " world"
#ifndef DF11_LOADER_TOKENIZER_SPLIT_PATTERN_H_
#define DF11_LOADER_TOKENIZER_SPLIT_PATTERN_H_

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

namespace df11::tokenizer {

enum class SplitPattern {
  // 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
  // (also what the ByteLevel pre-tokenizer uses when use_regex is true).
  kGpt2,
  // (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
  //  ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
  kLlama3,
  // Llama 3's pattern with \p{N} instead of \p{N}{1,3} (Qwen 2).
  kQwen2,
};

// The regex text, exactly as it appears in tokenizer.json.
std::string_view SplitPatternRegex(SplitPattern pattern);

// The pattern whose regex text is `regex`, or nullopt for any other regex.
std::optional<SplitPattern> SplitPatternFromRegex(std::string_view regex);

// A piece of the input: bytes [begin, end).
struct Piece {
  uint32_t begin;
  uint32_t end;
};

// Appends the pieces of `text` to `pieces`, offset by `base`. The pieces
// cover `text` exactly, in order. REQUIRES: `text` is valid UTF-8 and shorter
// than 4 GiB.
void SplitWithPattern(SplitPattern pattern, std::string_view text,
                      uint32_t base, std::vector<Piece>* pieces);

}  // namespace df11::tokenizer

#endif  // DF11_LOADER_TOKENIZER_SPLIT_PATTERN_H_
