#include "loader/tokenizer/stream_decoder.h"

#include <string_view>

#include "absl/strings/str_cat.h"
#include "absl/types/span.h"
#include "loader/base/status_macros.h"
#include "loader/tokenizer/utf8.h"

namespace df11::tokenizer {

absl::StatusOr<std::string> StreamDecoder::Step(int32_t id) {
  if (tokenizer_->IdToToken(id) == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("id ", id, " is not in the vocabulary"));
  }
  ids_.push_back(id);
  const absl::Span<const int32_t> all(ids_);
  ASSIGN_OR_RETURN(std::string before,
                   tokenizer_->Decode(all.subspan(prefix_, read_ - prefix_),
                                      skip_special_tokens_));
  ASSIGN_OR_RETURN(std::string after, tokenizer_->Decode(all.subspan(prefix_),
                                                         skip_special_tokens_));
  const bool incomplete =
      after.size() >= kReplacementChar.size() &&
      std::string_view(after).substr(after.size() - kReplacementChar.size()) ==
          kReplacementChar;
  if (after.size() <= before.size() || incomplete) {
    return std::string();
  }
  if (after.compare(0, before.size(), before) != 0) {
    return absl::InternalError(
        "stream decode: the decoded window does not extend its prefix");
  }
  std::string delta = after.substr(before.size());
  prefix_ = read_;
  read_ = ids_.size();
  // Keep only the context the next window needs.
  ids_.erase(ids_.begin(), ids_.begin() + prefix_);
  read_ -= prefix_;
  prefix_ = 0;
  return delta;
}

absl::StatusOr<std::string> StreamDecoder::Flush() {
  const absl::Span<const int32_t> all(ids_);
  ASSIGN_OR_RETURN(std::string before,
                   tokenizer_->Decode(all.subspan(prefix_, read_ - prefix_),
                                      skip_special_tokens_));
  ASSIGN_OR_RETURN(std::string after, tokenizer_->Decode(all.subspan(prefix_),
                                                         skip_special_tokens_));
  ids_.clear();
  prefix_ = read_ = 0;
  if (after.size() <= before.size() ||
      after.compare(0, before.size(), before) != 0) {
    return std::string();
  }
  return after.substr(before.size());
}

}  // namespace df11::tokenizer
