#include "loader/codec/encoded_tensor.h"

#include "absl/strings/str_cat.h"
#include "loader/base/status_macros.h"

namespace df11 {

EncodedSizes SizesFor(uint64_t stream_bits, const CodecLayout& layout) {
  EncodedSizes s;
  const uint64_t chunk_bits = uint64_t{layout.chunk_bytes} * 8;
  s.num_chunks = (stream_bits + chunk_bits - 1) / chunk_bits;
  s.num_blocks =
      (s.num_chunks + layout.chunks_per_block - 1) / layout.chunks_per_block;
  s.stream_bytes = (s.num_chunks + 1) * layout.chunk_bytes;
  s.gap_bytes = (s.num_chunks + 1) / 2;
  s.block_start_entries = s.num_blocks + 1;
  return s;
}

absl::Status ValidateLayout(const CodecLayout& layout) {
  const uint32_t c = layout.chunk_bytes;
  if (c != 8 && c != 16 && c != 32 && c != 64) {
    return absl::InvalidArgumentError(
        absl::StrCat("chunk_bytes must be 8, 16, 32 or 64, not ", c));
  }
  const uint32_t b = layout.chunks_per_block;
  if (b == 0 || b > 4096 || (b & (b - 1)) != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "chunks_per_block must be a power of two in [1, 4096], not ", b));
  }
  return absl::OkStatus();
}

namespace {

absl::Status CheckSize(const char* what, uint64_t actual, uint64_t expected) {
  if (actual == expected) return absl::OkStatus();
  return absl::DataLossError(absl::StrCat(
      what, " has ", actual, " entries, the header implies ", expected));
}

}  // namespace

absl::Status ValidateEncodedTensor(const EncodedTensorView& t) {
  RETURN_IF_ERROR(ValidateLayout(t.layout));
  RETURN_IF_ERROR(ValidateCodeLengths(t.code_lengths));
  if (t.num_elements > kMaxElements) {
    return absl::InvalidArgumentError(
        absl::StrCat("tensor has ", t.num_elements,
                     " elements; one stream holds at most ", kMaxElements));
  }
  // Every element costs between 1 and kMaxCodeLength bits.
  if (t.stream_bits < t.num_elements ||
      t.stream_bits > t.num_elements * kMaxCodeLength) {
    return absl::DataLossError(absl::StrCat("stream of ", t.stream_bits,
                                            " bits cannot hold ",
                                            t.num_elements, " codes"));
  }
  const EncodedSizes s = SizesFor(t.stream_bits, t.layout);
  RETURN_IF_ERROR(
      CheckSize("sign_mantissa", t.sign_mantissa.size(), t.num_elements));
  RETURN_IF_ERROR(
      CheckSize("exponent_stream", t.exponent_stream.size(), s.stream_bytes));
  RETURN_IF_ERROR(CheckSize("chunk_gaps", t.chunk_gaps.size(), s.gap_bytes));
  RETURN_IF_ERROR(
      CheckSize("block_starts", t.block_starts.size(), s.block_start_entries));
  if (t.block_starts.front() != 0 || t.block_starts.back() != t.num_elements) {
    return absl::DataLossError(absl::StrCat(
        "block_starts must run from 0 to ", t.num_elements, ", not from ",
        t.block_starts.front(), " to ", t.block_starts.back()));
  }
  // Bits past the last code are zero, so a decoder that reads ahead of a
  // chunk sees no stray codes.
  for (uint64_t byte = t.stream_bits / 8; byte < s.stream_bytes; ++byte) {
    const uint8_t keep =
        byte == t.stream_bits / 8 ? (1u << (t.stream_bits % 8)) - 1 : 0;
    if ((t.exponent_stream[byte] & ~keep) != 0) {
      return absl::DataLossError(
          absl::StrCat("exponent_stream has nonzero padding at byte ", byte));
    }
  }
  for (size_t b = 1; b < t.block_starts.size(); ++b) {
    if (t.block_starts[b] < t.block_starts[b - 1]) {
      return absl::DataLossError(
          absl::StrCat("block_starts decreases at block ", b));
    }
  }
  return absl::OkStatus();
}

}  // namespace df11
