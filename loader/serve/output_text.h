// The text of a generated sequence as it streams: UTF-8-safe deltas from
// the tokenizer's StreamDecoder, with stop strings cut out.
//
//   OutputText text(&tokenizer, {"\n\n", "###"});
//   for each new token t:
//     bool stopped = false;
//     Send(text.Add(t, &stopped));   // may be empty
//     if (stopped) break;            // the stop string is not sent
//   Send(text.Finish());             // at EOS / length: the held-back rest
//
// Text is decoded with special tokens skipped (as vLLM and HF pipelines
// return it), so the concatenation of every delta equals
// tokenizer.Decode(tokens, /*skip_special_tokens=*/true), cut before the
// first stop string when one occurs. A suffix that could still become a
// stop string is held back until it cannot (or until Finish). Tokens the
// tokenizer does not know (a model vocabulary larger than the tokenizer's)
// add no text.
//
// Without a tokenizer (null) every delta is empty and nothing stops.
// Not thread-safe; `tokenizer` must outlive the object.
#ifndef DF11_LOADER_SERVE_OUTPUT_TEXT_H_
#define DF11_LOADER_SERVE_OUTPUT_TEXT_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "loader/tokenizer/stream_decoder.h"
#include "loader/tokenizer/tokenizer.h"

namespace df11::serve {

class OutputText {
 public:
  OutputText(const tokenizer::Tokenizer* tokenizer,
             std::vector<std::string> stop);

  // Adds `token`; returns the text that can be sent now. Sets *stopped when
  // the text now contains a stop string: the returned text ends right
  // before it, and the object must not be used again.
  std::string Add(int32_t token, bool* stopped);

  // The text held back (an incomplete character, a possible stop prefix),
  // cut before a stop string if the flushed text completes one.
  std::string Finish();

 private:
  // Sends what is safe in text_, or up to a stop string.
  std::string Release(bool final, bool* stopped);

  std::optional<tokenizer::StreamDecoder> decoder_;
  std::vector<std::string> stop_;
  std::string text_;  // every byte decoded so far
  size_t sent_ = 0;   // text_[0, sent_) was returned
};

}  // namespace df11::serve

#endif  // DF11_LOADER_SERVE_OUTPUT_TEXT_H_
