#include "loader/codec/decoder.h"

#include <cstring>
#include <limits>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "loader/base/parallel_for.h"
#include "loader/base/status_macros.h"
#include "loader/codec/exponent_histogram.h"
#include "loader/codec/huffman_code.h"

namespace df11 {
namespace {

constexpr uint32_t kWindowMask = (1u << kDecodeTableBits) - 1;
// A 64-bit load shifted by up to 7 bits keeps 57 valid bits: room for four
// codes of kMaxCodeLength bits.
constexpr int kCodesPerLoad = 4;
static_assert(kCodesPerLoad * kMaxCodeLength <= 57);

uint64_t Load64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

class BlockDecoder {
 public:
  BlockDecoder(const EncodedTensorView& t, const DecodeTable& table,
               absl::Span<uint16_t> out)
      : t_(t),
        table_(table),
        out_(out),
        sizes_(SizesFor(t.stream_bits, t.layout)),
        chunk_bits_(uint64_t{t.layout.chunk_bytes} * 8) {}

  uint64_t num_blocks() const { return sizes_.num_blocks; }

  absl::Status Decode(uint64_t block) const {
    const uint64_t first_chunk = block * t_.layout.chunks_per_block;
    const uint64_t end_chunk = std::min<uint64_t>(
        first_chunk + t_.layout.chunks_per_block, sizes_.num_chunks);
    const uint64_t start = first_chunk * chunk_bits_ + Gap(first_chunk);
    const uint64_t end = end_chunk < sizes_.num_chunks
                             ? end_chunk * chunk_bits_ + Gap(end_chunk)
                             : t_.stream_bits;
    if (start > end || end > t_.stream_bits) {
      return absl::DataLossError(absl::StrCat(
          "block ", block, ": chunk gaps put its codes at bits [", start, ", ",
          end, ") of a ", t_.stream_bits, "-bit stream"));
    }
    const uint8_t* stream = t_.exponent_stream.data();
    const uint8_t* sign_mantissa = t_.sign_mantissa.data();
    uint16_t* out = out_.data();
    size_t i = t_.block_starts[block];
    const size_t i_end = t_.block_starts[block + 1];

    // The next chunk boundary whose gap must match the code start after it.
    uint64_t chunk = first_chunk + 1;
    uint64_t boundary = chunk * chunk_bits_;
    uint64_t pos = start;
    bool bad_gap = false;
    uint32_t invalid_code = 0;
    while (i < i_end) {
      // Stop before any load past `end`; stream_bytes leaves a chunk of
      // slack after it for this 8-byte load.
      if (pos > end) break;
      uint64_t window = Load64(stream + pos / 8) >> (pos % 8);
      const size_t group_end = std::min(i_end, i + kCodesPerLoad);
      for (; i < group_end; ++i) {
        if (pos >= boundary) {
          bad_gap |= pos - boundary != Gap(chunk);
          ++chunk;
          boundary += chunk_bits_;
        }
        const uint16_t entry = table_[window & kWindowMask];
        const uint32_t length = entry >> 8;
        invalid_code |= length == 0;
        out[i] = Bf16FromParts(static_cast<uint8_t>(entry), sign_mantissa[i]);
        window >>= length;
        pos += length;
      }
    }
    if (invalid_code) {
      return absl::DataLossError(
          absl::StrCat("block ", block, ": bits that are no code"));
    }
    if (i != i_end || pos != end) {
      return absl::DataLossError(absl::StrCat(
          "block ", block, ": its ", i_end - t_.block_starts[block],
          " codes end at bit ", pos, ", the index says ", end));
    }
    // Chunks after the block's last code start at the next block's first.
    for (; chunk < end_chunk; ++chunk, boundary += chunk_bits_) {
      bad_gap |= end - boundary != Gap(chunk);
    }
    if (bad_gap) {
      return absl::DataLossError(absl::StrCat(
          "block ", block, ": a chunk gap does not match the stream"));
    }
    return absl::OkStatus();
  }

 private:
  uint32_t Gap(uint64_t chunk) const {
    return (t_.chunk_gaps[chunk / 2] >> (4 * (chunk % 2))) & 0xF;
  }

  const EncodedTensorView& t_;
  const DecodeTable& table_;
  absl::Span<uint16_t> out_;
  const EncodedSizes sizes_;
  const uint64_t chunk_bits_;
};

}  // namespace

absl::Status DecodeBf16(const EncodedTensorView& tensor,
                        absl::Span<uint16_t> out, int threads) {
  RETURN_IF_ERROR(ValidateEncodedTensor(tensor));
  if (out.size() != tensor.num_elements) {
    return absl::InvalidArgumentError(absl::StrCat("output holds ", out.size(),
                                                   " elements, the tensor has ",
                                                   tensor.num_elements));
  }
  const DecodeTable table = BuildDecodeTable(tensor.code_lengths);
  const BlockDecoder decoder(tensor, table, out);

  std::mutex mu;
  uint64_t first_bad = std::numeric_limits<uint64_t>::max();
  absl::Status first_error;
  ParallelFor(decoder.num_blocks(), threads, [&](size_t begin, size_t end) {
    for (size_t b = begin; b < end; ++b) {
      absl::Status s = decoder.Decode(b);
      if (s.ok()) continue;
      std::lock_guard<std::mutex> lock(mu);
      if (b < first_bad) {
        first_bad = b;
        first_error = std::move(s);
      }
      return;
    }
  });
  return first_error;
}

}  // namespace df11
