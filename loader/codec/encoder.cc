#include "loader/codec/encoder.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"
#include "loader/base/parallel_for.h"
#include "loader/base/status_macros.h"
#include "loader/codec/exponent_histogram.h"

namespace df11 {
namespace {

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "the DF11 stream is written with little-endian word stores");

// Elements per segment: segments are encoded in parallel, each from a known
// starting bit, so they must be large enough to amortize their set-up.
constexpr size_t kMinSegment = size_t{1} << 18;

struct Segment {
  size_t begin, end;            // elements
  uint64_t bit_begin, bit_end;  // stream bits
  ExponentHistogram histogram;
};

std::vector<Segment> SplitSegments(size_t n, int threads) {
  size_t count = 1;
  if (threads > 1) {
    count = std::min<size_t>(size_t(threads) * 4,
                             std::max<size_t>(1, n / kMinSegment));
  }
  std::vector<Segment> segments(count);
  const size_t size = (n + count - 1) / count;
  for (size_t i = 0; i < count; ++i) {
    segments[i].begin = std::min(n, i * size);
    segments[i].end = std::min(n, (i + 1) * size);
  }
  return segments;
}

void CountSegments(absl::Span<const uint16_t> values,
                   std::vector<Segment>& segments, int threads) {
  ParallelFor(segments.size(), threads, [&](size_t first, size_t last) {
    for (size_t i = first; i < last; ++i) {
      Segment& s = segments[i];
      s.histogram = CountExponents(values.subspan(s.begin, s.end - s.begin));
    }
  });
}

// The 32-bit words a segment shares with its neighbours, OR-ed in after all
// segments finish; every other word of the segment is stored directly.
struct EdgeWords {
  uint64_t head_index = 0, tail_index = 0;
  uint32_t head = 0, tail = 0;
  bool has_tail = false;
};

// Encodes one segment. Writes its sign/mantissa bytes, its own stream words,
// and the gap and block start of each chunk boundary in [bit_begin, bit_end).
EdgeWords EncodeSegment(absl::Span<const uint16_t> values, const Segment& s,
                        const EncodeTable& table, const CodecLayout& layout,
                        uint8_t* stream, uint8_t* sign_mantissa,
                        uint8_t* chunk_gap, uint32_t* block_starts) {
  // code in bits 0-15, length in bits 16-23: one load per element.
  uint32_t packed[256];
  for (int e = 0; e < 256; ++e) {
    packed[e] = table.reversed_code[e] | (uint32_t{table.length[e]} << 16);
  }
  const uint64_t chunk_bits = uint64_t{layout.chunk_bytes} * 8;
  const uint64_t block_mask = layout.chunks_per_block - 1;

  EdgeWords edges;
  edges.head_index = s.bit_begin / 32;
  uint64_t word = edges.head_index;
  uint64_t buffer = 0;
  uint32_t buffered = s.bit_begin % 32;
  uint64_t pos = s.bit_begin;
  uint64_t chunk = (s.bit_begin + chunk_bits - 1) / chunk_bits;
  uint64_t boundary = chunk * chunk_bits;

  auto emit = [&](uint32_t bits) {
    if (word == edges.head_index) {
      edges.head |= bits;
    } else {
      std::memcpy(stream + word * 4, &bits, 4);
    }
  };
  auto mark_chunk = [&](uint64_t code_start, size_t element) {
    chunk_gap[chunk] = static_cast<uint8_t>(code_start - boundary);
    if ((chunk & block_mask) == 0) {
      block_starts[chunk / layout.chunks_per_block] =
          static_cast<uint32_t>(element);
    }
    ++chunk;
    boundary += chunk_bits;
  };

  for (size_t i = s.begin; i < s.end; ++i) {
    const uint16_t x = values[i];
    sign_mantissa[i] = Bf16SignMantissa(x);
    if (pos >= boundary) mark_chunk(pos, i);
    const uint32_t entry = packed[Bf16Exponent(x)];
    const uint32_t length = entry >> 16;
    buffer |= uint64_t{entry & 0xFFFF} << buffered;
    buffered += length;
    pos += length;
    if (buffered >= 32) {
      emit(static_cast<uint32_t>(buffer));
      ++word;
      buffer >>= 32;
      buffered -= 32;
    }
  }
  // Chunks that start after the segment's last code start begin at the next
  // segment's first code (or, for the last segment, at the end of stream).
  while (boundary < s.bit_end) mark_chunk(s.bit_end, s.end);
  if (buffered > 0) {
    if (word == edges.head_index) {
      edges.head |= static_cast<uint32_t>(buffer);
    } else {
      edges.tail_index = word;
      edges.tail = static_cast<uint32_t>(buffer);
      edges.has_tail = true;
    }
  }
  return edges;
}

absl::StatusOr<EncodedTensor> EncodeSegments(absl::Span<const uint16_t> values,
                                             std::vector<Segment>& segments,
                                             const CodeLengths& code_lengths,
                                             const EncodeOptions& options) {
  ExponentHistogram total{};
  uint64_t bits = 0;
  for (Segment& s : segments) {
    AddHistogram(s.histogram, total);
    s.bit_begin = bits;
    bits += CodedBits(s.histogram, code_lengths);
    s.bit_end = bits;
  }
  for (int e = 0; e < 256; ++e) {
    if (total[e] != 0 && code_lengths[e] == 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "exponent ", e, " occurs ", total[e], " times but has no code"));
    }
  }

  EncodedTensor t;
  t.num_elements = values.size();
  t.stream_bits = bits;
  t.layout = options.layout;
  t.code_lengths = code_lengths;
  const EncodedSizes sizes = SizesFor(bits, options.layout);
  t.exponent_stream.assign(sizes.stream_bytes, 0);
  t.sign_mantissa.resize(values.size());
  t.block_starts.assign(sizes.block_start_entries, 0);
  t.block_starts.back() = static_cast<uint32_t>(values.size());
  std::vector<uint8_t> gaps(sizes.num_chunks, 0);

  const EncodeTable table = BuildEncodeTable(code_lengths);
  std::vector<EdgeWords> edges(segments.size());
  ParallelFor(segments.size(), options.threads, [&](size_t first, size_t last) {
    for (size_t i = first; i < last; ++i) {
      if (segments[i].begin == segments[i].end) continue;
      edges[i] = EncodeSegment(values, segments[i], table, options.layout,
                               t.exponent_stream.data(), t.sign_mantissa.data(),
                               gaps.data(), t.block_starts.data());
    }
  });
  auto merge_word = [&](uint64_t index, uint32_t bits) {
    uint32_t word;
    std::memcpy(&word, &t.exponent_stream[index * 4], 4);
    word |= bits;
    std::memcpy(&t.exponent_stream[index * 4], &word, 4);
  };
  for (size_t i = 0; i < segments.size(); ++i) {
    if (segments[i].begin == segments[i].end) continue;
    merge_word(edges[i].head_index, edges[i].head);
    if (edges[i].has_tail) merge_word(edges[i].tail_index, edges[i].tail);
  }

  t.chunk_gaps.assign(sizes.gap_bytes, 0);
  for (uint64_t c = 0; c < sizes.num_chunks; ++c) {
    t.chunk_gaps[c / 2] |= gaps[c] << (4 * (c % 2));
  }
  return t;
}

absl::Status CheckInput(absl::Span<const uint16_t> values,
                        const EncodeOptions& options) {
  RETURN_IF_ERROR(ValidateLayout(options.layout));
  if (options.max_code_length < 1 ||
      options.max_code_length > kMaxCodeLength) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_code_length must be in [1, ", kMaxCodeLength,
                     "], not ", options.max_code_length));
  }
  if (values.size() > kMaxElements) {
    return absl::InvalidArgumentError(
        absl::StrCat("a tensor of ", values.size(),
                     " elements exceeds the stream limit of ", kMaxElements));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<EncodedTensor> EncodeBf16(absl::Span<const uint16_t> values,
                                         const EncodeOptions& options) {
  RETURN_IF_ERROR(CheckInput(values, options));
  std::vector<Segment> segments = SplitSegments(values.size(), options.threads);
  CountSegments(values, segments, options.threads);
  ExponentHistogram total{};
  for (const Segment& s : segments) AddHistogram(s.histogram, total);
  ASSIGN_OR_RETURN(CodeLengths lengths,
                   BuildCodeLengths(total, options.max_code_length));
  return EncodeSegments(values, segments, lengths, options);
}

absl::StatusOr<EncodedTensor> EncodeBf16WithCode(
    absl::Span<const uint16_t> values, const CodeLengths& code_lengths,
    const EncodeOptions& options) {
  RETURN_IF_ERROR(CheckInput(values, options));
  RETURN_IF_ERROR(ValidateCodeLengths(code_lengths, options.max_code_length));
  std::vector<Segment> segments = SplitSegments(values.size(), options.threads);
  CountSegments(values, segments, options.threads);
  return EncodeSegments(values, segments, code_lengths, options);
}

}  // namespace df11
