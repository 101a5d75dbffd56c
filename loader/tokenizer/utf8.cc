#include "loader/tokenizer/utf8.h"

#include <cstdint>
#include <cstring>

#include "absl/strings/str_format.h"

namespace df11::tokenizer {
namespace {

// Length of the well-formed prefix of the sequence starting at text[i]
// (Unicode Table 3-7). Returns 0 when text[i] itself cannot start a sequence;
// returns `need` (2..4) when the whole sequence is well formed; otherwise the
// number of bytes of the maximal ill-formed subpart, negated.
int CheckSequence(const unsigned char* s, size_t n, size_t i, int* need_out) {
  const unsigned char b = s[i];
  int need;
  unsigned char lo = 0x80, hi = 0xBF;
  if (b >= 0xC2 && b <= 0xDF) {
    need = 2;
  } else if (b >= 0xE0 && b <= 0xEF) {
    need = 3;
    if (b == 0xE0) lo = 0xA0;
    if (b == 0xED) hi = 0x9F;
  } else if (b >= 0xF0 && b <= 0xF4) {
    need = 4;
    if (b == 0xF0) lo = 0x90;
    if (b == 0xF4) hi = 0x8F;
  } else {
    *need_out = 0;
    return 0;
  }
  *need_out = need;
  int got = 1;
  for (int k = 1; k < need; ++k) {
    if (i + k >= n) break;
    const unsigned char c = s[i + k];
    const unsigned char l = k == 1 ? lo : 0x80;
    const unsigned char h = k == 1 ? hi : 0xBF;
    if (c < l || c > h) break;
    ++got;
  }
  return got == need ? need : -got;
}

}  // namespace

size_t FindInvalidUtf8(std::string_view text) {
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  const size_t n = text.size();
  size_t i = 0;
  while (i < n) {
    // ASCII fast path, eight bytes at a time.
    while (i + 8 <= n) {
      uint64_t w;
      std::memcpy(&w, s + i, 8);
      if (w & 0x8080808080808080ull) break;
      i += 8;
    }
    if (i >= n) break;
    if (s[i] < 0x80) {
      ++i;
      continue;
    }
    int need;
    const int got = CheckSequence(s, n, i, &need);
    if (got <= 0) return i;
    i += got;
  }
  return n;
}

absl::Status ValidateUtf8(std::string_view text) {
  const size_t bad = FindInvalidUtf8(text);
  if (bad == text.size()) return absl::OkStatus();
  std::string bytes;
  for (size_t k = bad; k < text.size() && k < bad + 4; ++k) {
    absl::StrAppendFormat(&bytes, "%s%02X", k == bad ? "" : " ",
                          static_cast<unsigned char>(text[k]));
  }
  return absl::InvalidArgumentError(absl::StrFormat(
      "text is not valid UTF-8: ill-formed sequence at byte %d (bytes %s)", bad,
      bytes));
}

std::string ReplaceInvalidUtf8(std::string_view text) {
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  const size_t n = text.size();
  std::string out;
  out.reserve(n);
  size_t i = 0;
  while (i < n) {
    if (s[i] < 0x80) {
      out.push_back(static_cast<char>(s[i]));
      ++i;
      continue;
    }
    int need;
    const int got = CheckSequence(s, n, i, &need);
    if (got > 0) {
      out.append(text.data() + i, got);
      i += got;
    } else {
      out.append(kReplacementChar);
      i += got == 0 ? 1 : -got;
    }
  }
  return out;
}

void AppendUtf8(char32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

}  // namespace df11::tokenizer
