// Runs the supported tokenizer.json normalizers (Prepend, Replace with a
// literal, and the Unicode normalization forms via ICU) over a string.
//
//   std::string out = Normalize(spec.normalizer, "Hey you");  // "▁Hey▁you"
#ifndef DF11_LOADER_TOKENIZER_NORMALIZER_H_
#define DF11_LOADER_TOKENIZER_NORMALIZER_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "loader/tokenizer/tokenizer_spec.h"

namespace df11::tokenizer {

// OkStatus when every step can run here (ICU's normalization data loads).
// Call once at load time; Normalize aborts if a form is unavailable.
absl::Status CheckNormalizers(const std::vector<NormalizerStep>& steps);

// Applies `steps` in order. REQUIRES: `text` is valid UTF-8. Thread-safe.
std::string Normalize(const std::vector<NormalizerStep>& steps,
                      std::string_view text);

}  // namespace df11::tokenizer

#endif  // DF11_LOADER_TOKENIZER_NORMALIZER_H_
