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
#include <functional>
#include <memory>
#include <vector>

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
  // If set, supplies the two large output arrays (the stream and the
  // sign/mantissa bytes): an empty vector, ideally with capacity >= `bytes`
  // left by an earlier tensor, so that memory is reused instead of faulted
  // in fresh (e.g. BufferPool::Take).
  std::function<ByteVector(uint64_t bytes)> take_buffer;
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

namespace codec_internal {

struct Segment {
  size_t begin, end;            // elements
  uint64_t bit_begin, bit_end;  // stream bits
  ExponentHistogram histogram;
};

// The bytes a segment shares with its neighbours (when it starts or ends
// inside a byte), OR-ed in by Finish. Every other byte of the segment's
// stream is written by the segment itself.
struct EdgeBytes {
  uint64_t head_index = 0, tail_index = 0;
  uint8_t head = 0, tail = 0;
};

}  // namespace codec_internal

// The encoder's steps, for callers that schedule many tensors' work on one
// set of threads (df11 compress); EncodeBf16 runs them with ParallelFor. The
// values are cut into segments of `segment_elements`; Count and Encode may
// run for different segments on different threads at once.
//
//   ASSIGN_OR_RETURN(SegmentedEncoder e,
//                    SegmentedEncoder::Create(values, options, 1 << 21));
//   for (size_t i = 0; i < e.segments(); ++i) e.Count(i);   // any order
//   RETURN_IF_ERROR(e.BuildCode());                         // after all Counts
//   for (size_t i = 0; i < e.segments(); ++i) e.Encode(i);  // any order
//   EncodedTensor t = e.Finish();                           // after all
//   Encodes
//
// The bytes do not depend on the segment size. `values` must outlive the
// encoder; options.threads and options.histogram are not used.
class SegmentedEncoder {
 public:
  // Errors: as EncodeBf16.
  static absl::StatusOr<SegmentedEncoder> Create(
      absl::Span<const uint16_t> values, const EncodeOptions& options,
      size_t segment_elements);
  ~SegmentedEncoder();
  SegmentedEncoder(SegmentedEncoder&&) noexcept;
  SegmentedEncoder& operator=(SegmentedEncoder&&) noexcept;

  size_t segments() const { return segments_.size(); }
  void Count(size_t segment);
  // The tensor's own code from the histogram of all segments.
  absl::Status BuildCode();
  // A given code; errors as EncodeBf16WithCode.
  absl::Status UseCode(const CodeLengths& code_lengths);
  // Valid after BuildCode or UseCode.
  const ExponentHistogram& histogram() const { return histogram_; }
  void Encode(size_t segment);
  EncodedTensor Finish();

 private:
  SegmentedEncoder();
  void SumHistograms();  // the segments' counts into histogram_
  absl::Status Prepare(const CodeLengths& code_lengths);

  absl::Span<const uint16_t> values_;
  EncodeOptions options_;
  std::vector<codec_internal::Segment> segments_;
  ExponentHistogram histogram_{};
  std::unique_ptr<EncodeTable> table_;
  std::vector<uint64_t> pairs_;  // two codes per entry, for large tensors
  ByteVector gaps_;              // one per chunk, packed by Finish
  std::vector<codec_internal::EdgeBytes> edges_;
  EncodedTensor tensor_;
};

}  // namespace df11

#endif  // DF11_LOADER_CODEC_ENCODER_H_
