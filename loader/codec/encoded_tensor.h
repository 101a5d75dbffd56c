// The in-memory form of one DF11-encoded BF16 tensor: the contract between the
// encoder, the CPU and GPU decoders, and the model format. docs/format.md is
// the normative spec; this header mirrors it.
//
// A tensor of n elements becomes:
//   exponent_stream  Huffman codes of the n exponents, LSB-first, cut into
//                    fixed chunks of `chunk_bytes`; zero-padded, plus one
//                    extra zero chunk so a decoder may read one chunk ahead.
//   sign_mantissa    n bytes: sign in bit 7, the 7 mantissa bits below.
//   chunk_gaps       per chunk, 4 bits: how far past the chunk's first bit the
//                    first code that starts in the chunk begins. Two per
//                    byte, even chunks in the low nibble.
//   block_starts     per block of `chunks_per_block` chunks, the index of the
//                    first element coded in it; one more entry holds n.
#ifndef DF11_LOADER_CODEC_ENCODED_TENSOR_H_
#define DF11_LOADER_CODEC_ENCODED_TENSOR_H_

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "loader/base/default_init_allocator.h"
#include "loader/codec/huffman_code.h"

namespace df11 {

// Layout parameters. The defaults suit the GPU decoder: one 16-byte load per
// thread, 256 threads per block.
struct CodecLayout {
  uint32_t chunk_bytes = 16;        // 8, 16, 32 or 64
  uint32_t chunks_per_block = 256;  // power of two, 1..4096
};

// The largest tensor one stream holds: block_starts are 32-bit.
inline constexpr uint64_t kMaxElements = 0xFFFFFFFFu;

// Non-owning view of an encoded tensor, e.g. over a mmapped file.
struct EncodedTensorView {
  uint64_t num_elements = 0;
  uint64_t stream_bits = 0;  // bits of code in exponent_stream
  CodecLayout layout;
  CodeLengths code_lengths{};
  absl::Span<const uint8_t> exponent_stream;
  absl::Span<const uint8_t> sign_mantissa;
  absl::Span<const uint8_t> chunk_gaps;
  absl::Span<const uint32_t> block_starts;
};

// Owning form, as the encoder produces it. The byte arrays are ByteVectors so
// that the encoder's workers, not one thread zero-filling, touch them first.
struct EncodedTensor {
  uint64_t num_elements = 0;
  uint64_t stream_bits = 0;
  CodecLayout layout;
  CodeLengths code_lengths{};
  ByteVector exponent_stream;
  ByteVector sign_mantissa;
  ByteVector chunk_gaps;
  std::vector<uint32_t> block_starts;

  EncodedTensorView view() const {
    return {num_elements,    stream_bits,   layout,     code_lengths,
            exponent_stream, sign_mantissa, chunk_gaps, block_starts};
  }
  // Bytes of payload: stream, sign/mantissa and index.
  uint64_t PayloadBytes() const {
    return exponent_stream.size() + sign_mantissa.size() + chunk_gaps.size() +
           block_starts.size() * sizeof(uint32_t);
  }
};

// Sizes that follow from the header fields.
struct EncodedSizes {
  uint64_t num_chunks;
  uint64_t num_blocks;
  uint64_t stream_bytes;         // (num_chunks + 1) * chunk_bytes
  uint64_t gap_bytes;            // ceil(num_chunks / 2)
  uint64_t block_start_entries;  // num_blocks + 1
};
EncodedSizes SizesFor(uint64_t stream_bits, const CodecLayout& layout);

absl::Status ValidateLayout(const CodecLayout& layout);

// Checks everything about `tensor` that costs no pass over the stream: the
// layout, the code, every array's size, stream_bits against the chunk count,
// and block_starts (first 0, last n, non-decreasing). The decoder checks the
// rest while decoding. Errors are InvalidArgument / DataLoss.
absl::Status ValidateEncodedTensor(const EncodedTensorView& tensor);

}  // namespace df11

#endif  // DF11_LOADER_CODEC_ENCODED_TENSOR_H_
