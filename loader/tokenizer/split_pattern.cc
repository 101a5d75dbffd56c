#include "loader/tokenizer/split_pattern.h"

#include <array>

#include "loader/tokenizer/unicode_classes.h"
#include "loader/tokenizer/utf8.h"

namespace df11::tokenizer {
namespace {

constexpr std::string_view kGpt2Regex =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|"
    "\\s+(?!\\S)|\\s+";
constexpr std::string_view kLlama3Regex =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|"
    "\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|"
    "\\s+";
constexpr std::string_view kQwen2Regex =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|"
    "\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

// Class bits of the ASCII range, so the common case needs no table walk.
constexpr std::array<uint8_t, 128> MakeAsciiClasses() {
  std::array<uint8_t, 128> t{};
  for (int c = 0; c < 128; ++c) {
    uint8_t bits = 0;
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) bits = kLetter;
    if (c >= '0' && c <= '9') bits = kNumber;
    if (c == ' ' || (c >= 0x09 && c <= 0x0D)) bits = kWhitespace;
    t[c] = bits;
  }
  return t;
}
constexpr std::array<uint8_t, 128> kAsciiClasses = MakeAsciiClasses();

// Scans one piece at a time. Positions are byte offsets into text_.
class Scanner {
 public:
  explicit Scanner(std::string_view text) : text_(text) {}

  size_t size() const { return text_.size(); }

  // Class bits and byte length of the character at `pos` (pos < size()).
  uint8_t ClassAt(size_t pos, int* len) const {
    const auto b = static_cast<unsigned char>(text_[pos]);
    if (b < 0x80) {
      *len = 1;
      return kAsciiClasses[b];
    }
    char32_t cp;
    *len = DecodeUtf8(text_.data() + pos, &cp);
    return CharClassOf(cp);
  }
  unsigned char ByteAt(size_t pos) const {
    return static_cast<unsigned char>(text_[pos]);
  }

  // End of the run of characters whose class has any bit of `any` and none
  // of `none`, starting at `pos`; at most `max_chars` characters.
  size_t RunEnd(size_t pos, uint8_t any, uint8_t none,
                size_t max_chars = SIZE_MAX) const {
    size_t count = 0;
    while (pos < size() && count < max_chars) {
      int len;
      const uint8_t c = ClassAt(pos, &len);
      if (!(c & any) || (c & none)) break;
      pos += len;
      ++count;
    }
    return pos;
  }

  // End of the run of "other" characters: not \s, \p{L} or \p{N}.
  size_t OtherRunEnd(size_t pos) const {
    while (pos < size()) {
      int len;
      if (ClassAt(pos, &len) & (kLetter | kNumber | kWhitespace)) break;
      pos += len;
    }
    return pos;
  }

  bool IsOther(size_t pos) const {
    int len;
    return pos < size() &&
           !(ClassAt(pos, &len) & (kLetter | kNumber | kWhitespace));
  }
  bool IsLetter(size_t pos) const {
    int len;
    return pos < size() && (ClassAt(pos, &len) & kLetter);
  }

  // Length of the contraction at `pos` ('s 't 're 've 'm 'll 'd), or 0.
  // Case-insensitive matching follows Oniguruma's case folding, under which
  // U+017F LATIN SMALL LETTER LONG S matches 's'.
  size_t ContractionLength(size_t pos, bool ignore_case) const {
    if (ByteAt(pos) != '\'' || pos + 1 >= size()) return 0;
    auto lower = [&](size_t p) -> int {
      if (p >= size()) return -1;
      const unsigned char b = ByteAt(p);
      if (!ignore_case) return b;
      return (b >= 'A' && b <= 'Z') ? b + 32 : b;
    };
    const int c1 = lower(pos + 1);
    switch (c1) {
      case 's':
      case 't':
      case 'm':
      case 'd':
        return 2;
      case 'r':
      case 'v':
        return lower(pos + 2) == 'e' ? 3 : 0;
      case 'l':
        return lower(pos + 2) == 'l' ? 3 : 0;
      default:
        break;
    }
    if (ignore_case && ByteAt(pos + 1) == 0xC5 && pos + 2 < size() &&
        ByteAt(pos + 2) == 0xBF) {
      return 3;  // 'ſ
    }
    return 0;
  }

  // The whitespace alternatives `\s+(?!\S)|\s+` at `pos`, which holds a
  // whitespace character. `newline_alt` adds Llama 3's `\s*[\r\n]+` before
  // them.
  size_t WhitespaceEnd(size_t pos, bool newline_alt) const {
    size_t end = pos;
    size_t last_char_start = pos;
    size_t last_newline_end = 0;
    size_t chars = 0;
    while (end < size()) {
      int len;
      if (!(ClassAt(end, &len) & kWhitespace)) break;
      const unsigned char b = ByteAt(end);
      if (b == '\r' || b == '\n') last_newline_end = end + 1;
      last_char_start = end;
      end += len;
      ++chars;
    }
    // \s*[\r\n]+ : greedy \s* backtracks to the last newline of the run.
    if (newline_alt && last_newline_end != 0) return last_newline_end;
    // \s+(?!\S) : the whole run at the end of text, else all but its last
    // character, which must leave at least one.
    if (end == size()) return end;
    if (chars >= 2) return last_char_start;
    return end;  // \s+
  }

 private:
  std::string_view text_;
};

size_t NextGpt2(const Scanner& s, size_t pos) {
  if (size_t n = s.ContractionLength(pos, /*ignore_case=*/false)) {
    return pos + n;
  }
  size_t start = pos;
  if (s.ByteAt(pos) == ' ' && pos + 1 < s.size()) start = pos + 1;
  int len;
  const uint8_t c = s.ClassAt(start, &len);
  if (c & kLetter) return s.RunEnd(start, kLetter, 0);
  if (c & kNumber) return s.RunEnd(start, kNumber, 0);
  if (!(c & kWhitespace)) return s.OtherRunEnd(start);
  // `start` is whitespace; when it follows a leading space the optional
  // space was taken for nothing, and the whitespace rules start at `pos`.
  return s.WhitespaceEnd(pos, /*newline_alt=*/false);
}

size_t NextLlama3(const Scanner& s, size_t pos, size_t max_digits) {
  if (size_t n = s.ContractionLength(pos, /*ignore_case=*/true)) {
    return pos + n;
  }
  int len;
  const uint8_t c = s.ClassAt(pos, &len);
  const unsigned char b = s.ByteAt(pos);
  // [^\r\n\p{L}\p{N}]?\p{L}+
  if (c & kLetter) return s.RunEnd(pos, kLetter, 0);
  if (!(c & kNumber) && b != '\r' && b != '\n' && s.IsLetter(pos + len)) {
    return s.RunEnd(pos + len, kLetter, 0);
  }
  // \p{N}{1,3}
  if (c & kNumber) return s.RunEnd(pos, kNumber, 0, max_digits);
  // ` ?[^\s\p{L}\p{N}]+[\r\n]*`
  size_t other = SIZE_MAX;
  if (b == ' ' && s.IsOther(pos + 1)) {
    other = pos + 1;
  } else if (!(c & kWhitespace)) {
    other = pos;
  }
  if (other != SIZE_MAX) {
    size_t end = s.OtherRunEnd(other);
    while (end < s.size() && (s.ByteAt(end) == '\r' || s.ByteAt(end) == '\n')) {
      ++end;
    }
    return end;
  }
  return s.WhitespaceEnd(pos, /*newline_alt=*/true);
}

}  // namespace

std::string_view SplitPatternRegex(SplitPattern pattern) {
  switch (pattern) {
    case SplitPattern::kGpt2:
      return kGpt2Regex;
    case SplitPattern::kLlama3:
      return kLlama3Regex;
    case SplitPattern::kQwen2:
      return kQwen2Regex;
  }
  return {};
}

std::optional<SplitPattern> SplitPatternFromRegex(std::string_view regex) {
  for (SplitPattern p :
       {SplitPattern::kGpt2, SplitPattern::kLlama3, SplitPattern::kQwen2}) {
    if (regex == SplitPatternRegex(p)) return p;
  }
  return std::nullopt;
}

void SplitWithPattern(SplitPattern pattern, std::string_view text,
                      uint32_t base, std::vector<Piece>* pieces) {
  const Scanner s(text);
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end;
    switch (pattern) {
      case SplitPattern::kGpt2:
        end = NextGpt2(s, pos);
        break;
      case SplitPattern::kLlama3:
        end = NextLlama3(s, pos, 3);
        break;
      case SplitPattern::kQwen2:
      default:
        end = NextLlama3(s, pos, 1);
        break;
    }
    pieces->push_back(
        {static_cast<uint32_t>(base + pos), static_cast<uint32_t>(base + end)});
    pos = end;
  }
}

}  // namespace df11::tokenizer
