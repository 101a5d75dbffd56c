#include "loader/tokenizer/decoder.h"

#include <utility>

#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "loader/tokenizer/byte_level.h"
#include "loader/tokenizer/utf8.h"

namespace df11::tokenizer {
namespace {

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// The byte of a "<0xNN>" token, or -1. Parsing follows Rust's
// u8::from_str_radix, which also accepts "+N".
int FallbackByte(const std::string& t) {
  if (t.size() != 6 || t.compare(0, 3, "<0x") != 0 || t[5] != '>') return -1;
  if (t[3] == '+') return HexDigit(t[4]);
  const int hi = HexDigit(t[3]);
  const int lo = HexDigit(t[4]);
  return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

void ByteLevel(std::vector<std::string>* tokens) {
  std::string bytes;
  for (const std::string& t : *tokens) {
    const size_t mark = bytes.size();
    bool all_mapped = true;
    for (size_t i = 0; i < t.size();) {
      char32_t cp;
      i += DecodeUtf8(t.data() + i, &cp);
      const int b = CharToByte(cp);
      if (b < 0) {
        all_mapped = false;
        break;
      }
      bytes.push_back(static_cast<char>(b));
    }
    // A token with any character outside the map passes through as is.
    if (!all_mapped) bytes.replace(mark, std::string::npos, t);
  }
  tokens->assign(1, ReplaceInvalidUtf8(bytes));
}

void Metaspace(const DecoderStep& step, std::vector<std::string>* tokens) {
  for (size_t i = 0; i < tokens->size(); ++i) {
    // HF drops every replacement character of the first token.
    const bool drop = i == 0 && step.prepend_scheme != PrependScheme::kNever;
    (*tokens)[i] =
        absl::StrReplaceAll((*tokens)[i], {{step.pattern, drop ? "" : " "}});
  }
}

void ByteFallback(std::vector<std::string>* tokens) {
  std::vector<std::string> out;
  std::string pending;
  auto flush = [&]() {
    if (pending.empty()) return;
    if (FindInvalidUtf8(pending) == pending.size()) {
      out.push_back(pending);
    } else {
      for (size_t k = 0; k < pending.size(); ++k) {
        out.emplace_back(kReplacementChar);
      }
    }
    pending.clear();
  };
  for (std::string& t : *tokens) {
    const int b = FallbackByte(t);
    if (b >= 0) {
      pending.push_back(static_cast<char>(b));
      continue;
    }
    flush();
    out.push_back(std::move(t));
  }
  flush();
  *tokens = std::move(out);
}

void Strip(const DecoderStep& step, std::vector<std::string>* tokens) {
  const std::string& c = step.pattern;
  for (std::string& t : *tokens) {
    size_t begin = 0;
    for (int k = 0; k < step.start && t.compare(begin, c.size(), c) == 0 &&
                    begin + c.size() <= t.size();
         ++k) {
      begin += c.size();
    }
    size_t end = t.size();
    for (int k = 0; k < step.stop && end >= begin + c.size() &&
                    t.compare(end - c.size(), c.size(), c) == 0;
         ++k) {
      end -= c.size();
    }
    t = t.substr(begin, end - begin);
  }
}

}  // namespace

std::string RunDecoder(const std::vector<DecoderStep>& steps,
                       std::vector<std::string> tokens) {
  using Kind = DecoderStep::Kind;
  for (const DecoderStep& step : steps) {
    switch (step.kind) {
      case Kind::kByteLevel:
        ByteLevel(&tokens);
        break;
      case Kind::kMetaspace:
        Metaspace(step, &tokens);
        break;
      case Kind::kReplace:
        for (std::string& t : tokens) {
          t = absl::StrReplaceAll(t, {{step.pattern, step.content}});
        }
        break;
      case Kind::kByteFallback:
        ByteFallback(&tokens);
        break;
      case Kind::kFuse:
        tokens.assign(1, absl::StrJoin(tokens, ""));
        break;
      case Kind::kStrip:
        Strip(step, &tokens);
        break;
    }
  }
  return absl::StrJoin(tokens, "");
}

}  // namespace df11::tokenizer
