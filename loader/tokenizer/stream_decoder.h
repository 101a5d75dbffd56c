// Incremental decode for streaming generation: feed ids one at a time and
// get the text each one adds, only ever in complete UTF-8 characters.
//
//   StreamDecoder stream(&tokenizer);
//   for (int32_t id : generated) {
//     ASSIGN_OR_RETURN(std::string delta, stream.Step(id));
//     Send(delta);  // may be empty while a character is incomplete
//   }
//   ASSIGN_OR_RETURN(std::string rest, stream.Flush());
//
// The concatenation of the deltas and Flush() equals Decode of all ids.
// Method: decode a short window of ids before and after the newest ones, and
// emit the new suffix once it no longer ends in U+FFFD (an incomplete byte
// sequence decodes to U+FFFD), as HF's DecodeStream does. Context before the
// window (e.g. the Metaspace decoder's first-token rule) is kept through the
// window's first ids.
// Thread safety: one StreamDecoder per stream; `tokenizer` must outlive it.
#ifndef DF11_LOADER_TOKENIZER_STREAM_DECODER_H_
#define DF11_LOADER_TOKENIZER_STREAM_DECODER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "loader/tokenizer/tokenizer.h"

namespace df11::tokenizer {

class StreamDecoder {
 public:
  explicit StreamDecoder(const Tokenizer* tokenizer,
                         bool skip_special_tokens = false)
      : tokenizer_(tokenizer), skip_special_tokens_(skip_special_tokens) {}

  // Adds `id`; returns the text it completes (possibly empty).
  // InvalidArgument for an unknown id (the stream is unchanged).
  absl::StatusOr<std::string> Step(int32_t id);

  // Returns the text still held back (an incomplete character decodes to
  // U+FFFD) and resets the stream.
  absl::StatusOr<std::string> Flush();

 private:
  const Tokenizer* tokenizer_;
  bool skip_special_tokens_;
  std::vector<int32_t> ids_;
  // ids_[prefix_:read_] were emitted and serve as context; ids_[read_:] are
  // pending.
  size_t prefix_ = 0;
  size_t read_ = 0;
};

}  // namespace df11::tokenizer

#endif  // DF11_LOADER_TOKENIZER_STREAM_DECODER_H_
