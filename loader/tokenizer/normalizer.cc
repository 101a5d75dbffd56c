#include "loader/tokenizer/normalizer.h"

#include <unicode/bytestream.h>
#include <unicode/normalizer2.h>
#include <unicode/stringpiece.h>

#include <cstdio>
#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"

namespace df11::tokenizer {
namespace {

const icu::Normalizer2* TryInstance(NormalizerStep::Kind kind,
                                    UErrorCode* error) {
  UErrorCode& err = *error;
  const icu::Normalizer2* n = nullptr;
  switch (kind) {
    case NormalizerStep::Kind::kNfc:
      n = icu::Normalizer2::getNFCInstance(err);
      break;
    case NormalizerStep::Kind::kNfd:
      n = icu::Normalizer2::getNFDInstance(err);
      break;
    case NormalizerStep::Kind::kNfkc:
      n = icu::Normalizer2::getNFKCInstance(err);
      break;
    case NormalizerStep::Kind::kNfkd:
      n = icu::Normalizer2::getNFKDInstance(err);
      break;
    default:
      break;
  }
  return U_FAILURE(err) ? nullptr : n;
}

const icu::Normalizer2* Instance(NormalizerStep::Kind kind) {
  UErrorCode err = U_ZERO_ERROR;
  const icu::Normalizer2* n = TryInstance(kind, &err);
  // CheckNormalizers passed at load time, so this is an invariant.
  if (n == nullptr) {
    std::fprintf(stderr, "df11 tokenizer: ICU normalizer unavailable: %s\n",
                 u_errorName(err));
    std::abort();
  }
  return n;
}

std::string UnicodeNormalize(NormalizerStep::Kind kind, std::string_view text) {
  const icu::Normalizer2* n = Instance(kind);
  const icu::StringPiece in(text.data(), static_cast<int32_t>(text.size()));
  UErrorCode err = U_ZERO_ERROR;
  if (n->isNormalizedUTF8(in, err) && U_SUCCESS(err)) return std::string(text);
  std::string out;
  icu::StringByteSink<std::string> sink(&out,
                                        static_cast<int32_t>(text.size()));
  err = U_ZERO_ERROR;
  n->normalizeUTF8(0, in, sink, nullptr, err);
  if (U_FAILURE(err)) {
    // Only reachable for ill-formed UTF-8, which callers have rejected.
    std::fprintf(stderr, "df11 tokenizer: ICU normalize failed: %s\n",
                 u_errorName(err));
    std::abort();
  }
  return out;
}

}  // namespace

absl::Status CheckNormalizers(const std::vector<NormalizerStep>& steps) {
  for (const NormalizerStep& step : steps) {
    if (step.kind == NormalizerStep::Kind::kPrepend ||
        step.kind == NormalizerStep::Kind::kReplace) {
      continue;
    }
    UErrorCode err = U_ZERO_ERROR;
    if (TryInstance(step.kind, &err) == nullptr) {
      return absl::FailedPreconditionError(absl::StrCat(
          "ICU normalization data is unavailable: ", u_errorName(err)));
    }
  }
  return absl::OkStatus();
}

std::string Normalize(const std::vector<NormalizerStep>& steps,
                      std::string_view text) {
  std::string s(text);
  for (const NormalizerStep& step : steps) {
    switch (step.kind) {
      case NormalizerStep::Kind::kPrepend:
        // HF prepends only to non-empty strings.
        if (!s.empty()) s.insert(0, step.content);
        break;
      case NormalizerStep::Kind::kReplace:
        s = absl::StrReplaceAll(s, {{step.pattern, step.content}});
        break;
      default:
        s = UnicodeNormalize(step.kind, s);
        break;
    }
  }
  return s;
}

}  // namespace df11::tokenizer
