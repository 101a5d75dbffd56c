#include "loader/serve/output_text.h"

#include <algorithm>
#include <utility>

namespace df11::serve {

OutputText::OutputText(const tokenizer::Tokenizer* tokenizer,
                       std::vector<std::string> stop)
    : stop_(std::move(stop)) {
  if (tokenizer != nullptr) {
    decoder_.emplace(tokenizer, /*skip_special_tokens=*/true);
  }
}

std::string OutputText::Add(int32_t token, bool* stopped) {
  *stopped = false;
  if (!decoder_) return "";
  absl::StatusOr<std::string> delta = decoder_->Step(token);
  if (delta.ok()) text_ += *delta;
  return Release(/*final=*/false, stopped);
}

std::string OutputText::Finish() {
  if (!decoder_) return "";
  absl::StatusOr<std::string> rest = decoder_->Flush();
  if (rest.ok()) text_ += *rest;
  bool stopped = false;
  return Release(/*final=*/true, &stopped);
}

std::string OutputText::Release(bool final, bool* stopped) {
  // A stop string cannot begin before sent_: any text that could still
  // become one was held back (below).
  size_t cut = std::string::npos;
  for (const std::string& s : stop_) {
    const size_t at = text_.find(s, sent_);
    if (at != std::string::npos) cut = std::min(cut, at);
  }
  if (cut != std::string::npos) {
    *stopped = true;
    std::string out = text_.substr(sent_, cut - sent_);
    sent_ = text_.size();
    return out;
  }
  // Hold back the longest tail that is a proper prefix of a stop string.
  // Stop strings are valid UTF-8, so the tail starts on a character.
  size_t hold = 0;
  if (!final) {
    const size_t pending = text_.size() - sent_;
    for (const std::string& s : stop_) {
      for (size_t k = std::min(s.size() - 1, pending); k > hold; --k) {
        if (text_.compare(text_.size() - k, k, s, 0, k) == 0) {
          hold = k;
          break;
        }
      }
    }
  }
  const size_t end = text_.size() - hold;
  std::string out = text_.substr(sent_, end - sent_);
  sent_ = end;
  return out;
}

}  // namespace df11::serve
