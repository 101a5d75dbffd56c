// DF11 encoder: BF16 values in, EncodedTensor out (see encoded_tensor.h).
//
//   EncodeOptions options;
//   options.threads = HardwareThreads();
//   ASSIGN_OR_RETURN(EncodedTensor t, EncodeBf16(weights, options));
//
// Encoding is deterministic: the same values and options give the same bytes
// whatever the thread count.
#ifndef DF11_LOADER_CODEC_ENCODER_H_
#define DF11_LOADER_CODEC_ENCODER_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "loader/codec/encoded_tensor.h"
#include "loader/codec/exponent_histogram.h"
#include "loader/codec/huffman_code.h"

namespace df11 {

struct EncodeOptions {
  CodecLayout layout;
  int max_code_length = kMaxCodeLength;  // 1..kMaxCodeLength
  int threads = 1;
  // If set, receives the exponent histogram of the values (the encoder
  // counts it anyway).
  ExponentHistogram* histogram = nullptr;
};

// Builds the tensor's own code from its exponent histogram, then encodes.
// Errors: InvalidArgument for a bad layout or more than kMaxElements values.
absl::StatusOr<EncodedTensor> EncodeBf16(absl::Span<const uint16_t> values,
                                         const EncodeOptions& options);

// Encodes with a given code, e.g. one shared by several tensors.
// Errors: InvalidArgument if the code is invalid or lacks an exponent that
// occurs in `values`.
absl::StatusOr<EncodedTensor> EncodeBf16WithCode(
    absl::Span<const uint16_t> values, const CodeLengths& code_lengths,
    const EncodeOptions& options);

}  // namespace df11

#endif  // DF11_LOADER_CODEC_ENCODER_H_
