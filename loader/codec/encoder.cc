#include "loader/codec/encoder.h"

#include <algorithm>
#include <cstring>
#include <functional>
#include <limits>
#include <vector>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "absl/strings/str_cat.h"
#include "loader/base/parallel_for.h"
#include "loader/base/status_macros.h"
#include "loader/codec/exponent_histogram.h"

namespace df11 {
namespace {

using codec_internal::EdgeBytes;
using codec_internal::Segment;

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "the DF11 stream is written with little-endian word stores");

// Elements per segment: segments are encoded in parallel, each from a known
// starting bit, so they must be large enough to amortize their set-up.
constexpr size_t kMinSegment = size_t{1} << 18;

// Elements per inner batch: the sign/mantissa pass and the code pass then
// read the same input from L1.
constexpr size_t kBatch = 4096;

// Codes at the end of a segment that are packed in a local buffer, because
// the branch-free stores would otherwise reach into the next segment's bytes.
constexpr size_t kTail = 128;

// The sign/mantissa bytes of n values, 16 at a time with SSE2.
void SplitSignMantissa(const uint16_t* values, size_t n,
                       uint8_t* sign_mantissa) {
  size_t i = 0;
#ifdef __SSE2__
  const __m128i sign = _mm_set1_epi16(0x80), mantissa = _mm_set1_epi16(0x7F);
  auto split = [&](__m128i x) {
    return _mm_or_si128(_mm_and_si128(_mm_srli_epi16(x, 8), sign),
                        _mm_and_si128(x, mantissa));
  };
  for (; i + 16 <= n; i += 16) {
    const __m128i lo =
        _mm_loadu_si128(reinterpret_cast<const __m128i*>(values + i));
    const __m128i hi =
        _mm_loadu_si128(reinterpret_cast<const __m128i*>(values + i + 8));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(sign_mantissa + i),
                     _mm_packus_epi16(split(lo), split(hi)));
  }
#endif
  for (; i < n; ++i) sign_mantissa[i] = Bf16SignMantissa(values[i]);
}

// The codes of every exponent pair (e0, e1), indexed e0 | e1 << 8: both
// codes in bits 0-23 (e0's first), their total length in bits 24-31, e0's
// length in bits 32-35. 512 KB, of which trained weights touch a few dozen
// rows; built only for tensors large enough to repay it.
std::vector<uint64_t> BuildPairTable(const EncodeTable& table) {
  std::vector<uint64_t> pairs(1 << 16);
  for (uint32_t e1 = 0; e1 < 256; ++e1) {
    for (uint32_t e0 = 0; e0 < 256; ++e0) {
      const uint64_t l0 = table.length[e0], l1 = table.length[e1];
      const uint64_t code =
          table.reversed_code[e0] | uint64_t{table.reversed_code[e1]} << l0;
      pairs[e0 | e1 << 8] = code | (l0 + l1) << 24 | l0 << 32;
    }
  }
  return pairs;
}

// Tensors at least this large encode two codes per table lookup.
constexpr size_t kMinPairTableElements = size_t{1} << 20;

// Where a segment's encoder is: the partial byte in `acc`, the next code's
// stream bit `pos`, and the next chunk (and its first bit) to mark.
struct BitState {
  uint64_t acc = 0;
  uint32_t acc_bits = 0;
  uint64_t pos = 0;
  uint64_t chunk = 0;
  uint64_t boundary = 0;
};

// Encodes one segment. Writes its sign/mantissa bytes, its own stream bytes,
// and the gap and block start of each chunk boundary in [bit_begin, bit_end).
// `pairs`, if not null, is BuildPairTable(table).
EdgeBytes EncodeSegment(absl::Span<const uint16_t> values, const Segment& s,
                        const EncodeTable& table, const uint64_t* pairs,
                        const CodecLayout& layout, uint8_t* stream,
                        uint8_t* sign_mantissa, uint8_t* chunk_gap,
                        uint32_t* block_starts) {
  // code in bits 0-15, length in bits 16-23: one load per element.
  uint32_t packed[256];
  for (int e = 0; e < 256; ++e) {
    packed[e] = table.reversed_code[e] | (uint32_t{table.length[e]} << 16);
  }
  const uint64_t chunk_bits = uint64_t{layout.chunk_bytes} * 8;
  const uint64_t block_mask = layout.chunks_per_block - 1;

  // Codes are packed into `acc` and stored 8 bytes at a time at `out`, which
  // then advances by the whole bytes written: no branch on the flush. The
  // store runs up to 7 bytes ahead of the last whole byte.
  BitState state;
  state.acc_bits = s.bit_begin % 8;
  state.pos = s.bit_begin;
  state.chunk = (s.bit_begin + chunk_bits - 1) / chunk_bits;
  state.boundary = state.chunk * chunk_bits;
  auto mark_chunk = [&](uint64_t chunk, uint64_t gap, size_t element) {
    chunk_gap[chunk] = static_cast<uint8_t>(gap);
    if ((chunk & block_mask) == 0) {
      block_starts[chunk / layout.chunks_per_block] =
          static_cast<uint32_t>(element);
    }
  };
  // The state lives in locals for the loop: stores through a byte pointer
  // could alias anything the compiler cannot prove is private.
  auto encode = [&](size_t begin, size_t end, uint8_t* out) {
    BitState st = state;
    for (size_t batch = begin; batch < end; batch += kBatch) {
      const size_t batch_end = std::min(end, batch + kBatch);
      SplitSignMantissa(values.data() + batch, batch_end - batch,
                        sign_mantissa + batch);
      uint64_t acc = st.acc, pos = st.pos, boundary = st.boundary;
      uint32_t acc_bits = st.acc_bits;
      // Appends `length` bits of `code`; stores 8 bytes and keeps the
      // partial byte, with no branch on the flush.
      auto put = [&](uint64_t code, uint32_t length) {
        acc |= code << acc_bits;
        acc_bits += length;
        pos += length;
        std::memcpy(out, &acc, 8);
        out += acc_bits >> 3;
        acc >>= acc_bits & ~7u;
        acc_bits &= 7;
      };
      size_t i = batch;
      if (pairs != nullptr) {
        // Two codes per lookup. A chunk holds at least 64 bits and a pair at
        // most 24, so at most one chunk starts within a pair.
        for (; i + 2 <= batch_end; i += 2) {
          const uint32_t pair =
              (values[i] >> 7 & 0xFF) | (uint32_t{values[i + 1]} << 1 & 0xFF00);
          const uint64_t entry = pairs[pair];
          const uint32_t first = entry >> 32;
          if (pos + first >= boundary) {
            const bool at_first = pos >= boundary;
            mark_chunk(st.chunk++, pos + (at_first ? 0 : first) - boundary,
                       at_first ? i : i + 1);
            boundary += chunk_bits;
          }
          put(entry & 0xFFFFFF, entry >> 24 & 0xFF);
        }
      }
      for (; i < batch_end; ++i) {
        if (pos >= boundary) {
          mark_chunk(st.chunk++, pos - boundary, i);
          boundary += chunk_bits;
        }
        const uint32_t entry = packed[Bf16Exponent(values[i])];
        put(entry & 0xFFFF, entry >> 16);
      }
      st.acc = acc;
      st.pos = pos;
      st.boundary = boundary;
      st.acc_bits = acc_bits;
    }
    state = st;
    return out;
  };

  // All but the last kTail codes go straight into the stream: each code is at
  // least one bit, so the stores stay below the segment's last byte, which it
  // may share with the next segment. The last codes go to a small buffer.
  const uint64_t first_byte = s.bit_begin / 8;
  const uint64_t last_byte = (s.bit_end - 1) / 8;
  const size_t direct_end = s.end - std::min<size_t>(kTail, s.end - s.begin);
  const uint64_t tail_first =
      encode(s.begin, direct_end, stream + first_byte) - stream;
  uint8_t tail[kTail * kMaxCodeLength / 8 + 16] = {};
  uint8_t* tail_out = encode(direct_end, s.end, tail);
  std::memcpy(tail_out, &state.acc, 8);
  // Chunks that start after the segment's last code start begin at the next
  // segment's first code (or, for the last segment, at the end of stream).
  for (; state.boundary < s.bit_end; state.boundary += chunk_bits) {
    mark_chunk(state.chunk++, s.bit_end - state.boundary, s.end);
  }

  // The first and last bytes may be shared: they are merged in after all
  // segments finish. The bytes between are this segment's alone.
  EdgeBytes edges;
  edges.head_index = first_byte;
  edges.tail_index = last_byte;
  edges.head = tail_first == first_byte ? tail[0] : stream[first_byte];
  edges.tail = tail[last_byte - tail_first];
  const uint64_t copy_begin = std::max(tail_first, first_byte + 1);
  if (last_byte > copy_begin) {
    std::memcpy(stream + copy_begin, tail + (copy_begin - tail_first),
                last_byte - copy_begin);
  }
  return edges;
}

absl::Status CheckInput(absl::Span<const uint16_t> values,
                        const EncodeOptions& options) {
  RETURN_IF_ERROR(ValidateLayout(options.layout));
  if (options.max_code_length < 1 || options.max_code_length > kMaxCodeLength) {
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

absl::StatusOr<SegmentedEncoder> SegmentedEncoder::Create(
    absl::Span<const uint16_t> values, const EncodeOptions& options,
    size_t segment_elements) {
  RETURN_IF_ERROR(CheckInput(values, options));
  SegmentedEncoder e;
  e.values_ = values;
  e.options_ = options;
  const size_t size = std::max<size_t>(1, segment_elements);
  const size_t count = std::max<size_t>(1, (values.size() + size - 1) / size);
  e.segments_.resize(count);
  for (size_t i = 0; i < count; ++i) {
    e.segments_[i].begin = std::min(values.size(), i * size);
    e.segments_[i].end = std::min(values.size(), (i + 1) * size);
  }
  return e;
}

SegmentedEncoder::SegmentedEncoder() = default;
SegmentedEncoder::~SegmentedEncoder() = default;
SegmentedEncoder::SegmentedEncoder(SegmentedEncoder&&) noexcept = default;
SegmentedEncoder& SegmentedEncoder::operator=(SegmentedEncoder&&) noexcept =
    default;

void SegmentedEncoder::Count(size_t i) {
  Segment& s = segments_[i];
  s.histogram = CountExponents(values_.subspan(s.begin, s.end - s.begin));
}

void SegmentedEncoder::SumHistograms() {
  histogram_.fill(0);
  for (const Segment& s : segments_) AddHistogram(s.histogram, histogram_);
}

absl::Status SegmentedEncoder::BuildCode() {
  SumHistograms();
  ASSIGN_OR_RETURN(CodeLengths lengths,
                   BuildCodeLengths(histogram_, options_.max_code_length));
  return Prepare(lengths);
}

absl::Status SegmentedEncoder::UseCode(const CodeLengths& code_lengths) {
  RETURN_IF_ERROR(ValidateCodeLengths(code_lengths, options_.max_code_length));
  SumHistograms();
  return Prepare(code_lengths);
}

absl::Status SegmentedEncoder::Prepare(const CodeLengths& code_lengths) {
  for (int e = 0; e < 256; ++e) {
    if (histogram_[e] != 0 && code_lengths[e] == 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "exponent ", e, " occurs ", histogram_[e], " times but has no code"));
    }
  }
  uint64_t bits = 0;
  for (Segment& s : segments_) {
    s.bit_begin = bits;
    bits += CodedBits(s.histogram, code_lengths);
    s.bit_end = bits;
  }
  EncodedTensor& t = tensor_;
  t.num_elements = values_.size();
  t.stream_bits = bits;
  t.layout = options_.layout;
  t.code_lengths = code_lengths;
  const EncodedSizes sizes = SizesFor(bits, options_.layout);
  // Left unwritten here: the segments write every byte but the shared ones,
  // which Finish merges, and the padding, which Finish zeroes.
  if (options_.take_buffer) {
    t.exponent_stream = options_.take_buffer(sizes.stream_bytes);
    t.sign_mantissa = options_.take_buffer(values_.size());
  }
  t.exponent_stream.resize(sizes.stream_bytes);
  t.sign_mantissa.resize(values_.size());
  t.block_starts.assign(sizes.block_start_entries, 0);
  t.block_starts.back() = static_cast<uint32_t>(values_.size());
  gaps_.assign(sizes.num_chunks, 0);
  edges_.assign(segments_.size(), EdgeBytes{});
  table_ = std::make_unique<EncodeTable>(BuildEncodeTable(code_lengths));
  if (values_.size() >= kMinPairTableElements) {
    pairs_ = BuildPairTable(*table_);
  }
  return absl::OkStatus();
}

void SegmentedEncoder::Encode(size_t i) {
  const Segment& s = segments_[i];
  if (s.begin == s.end) return;
  edges_[i] = EncodeSegment(
      values_, s, *table_, pairs_.empty() ? nullptr : pairs_.data(),
      options_.layout, tensor_.exponent_stream.data(),
      tensor_.sign_mantissa.data(), gaps_.data(), tensor_.block_starts.data());
}

EncodedTensor SegmentedEncoder::Finish() {
  EncodedTensor& t = tensor_;
  // Segments are in stream order: a byte seen again gets OR-ed, a new one set.
  uint64_t last = std::numeric_limits<uint64_t>::max();
  auto merge = [&](uint64_t index, uint8_t bits) {
    t.exponent_stream[index] =
        index == last ? t.exponent_stream[index] | bits : bits;
    last = index;
  };
  for (size_t i = 0; i < segments_.size(); ++i) {
    if (segments_[i].begin == segments_[i].end) continue;
    merge(edges_[i].head_index, edges_[i].head);
    merge(edges_[i].tail_index, edges_[i].tail);
  }
  const uint64_t code_bytes = (t.stream_bits + 7) / 8;
  std::memset(t.exponent_stream.data() + code_bytes, 0,
              t.exponent_stream.size() - code_bytes);

  const EncodedSizes sizes = SizesFor(t.stream_bits, t.layout);
  t.chunk_gaps.assign(sizes.gap_bytes, 0);
  for (uint64_t c = 0; c < sizes.num_chunks; ++c) {
    t.chunk_gaps[c / 2] |= gaps_[c] << (4 * (c % 2));
  }
  gaps_ = {};
  pairs_ = {};
  return std::move(t);
}

namespace {

// Runs every step of `e` with `threads` workers.
absl::StatusOr<EncodedTensor> RunAll(
    SegmentedEncoder& e, int threads,
    const std::function<absl::Status()>& choose_code,
    ExponentHistogram* histogram) {
  auto each_segment = [&](void (SegmentedEncoder::*step)(size_t)) {
    ParallelFor(e.segments(), threads, [&](size_t first, size_t last) {
      for (size_t i = first; i < last; ++i) (e.*step)(i);
    });
  };
  each_segment(&SegmentedEncoder::Count);
  RETURN_IF_ERROR(choose_code());
  if (histogram != nullptr) *histogram = e.histogram();
  each_segment(&SegmentedEncoder::Encode);
  return e.Finish();
}

// About four segments per thread, each at least kMinSegment elements.
size_t SegmentElementsFor(size_t n, int threads) {
  size_t count = 1;
  if (threads > 1) {
    count = std::min<size_t>(size_t(threads) * 4,
                             std::max<size_t>(1, n / kMinSegment));
  }
  return (n + count - 1) / count;
}

}  // namespace

absl::StatusOr<EncodedTensor> EncodeBf16(absl::Span<const uint16_t> values,
                                         const EncodeOptions& options) {
  ASSIGN_OR_RETURN(
      SegmentedEncoder e,
      SegmentedEncoder::Create(
          values, options, SegmentElementsFor(values.size(), options.threads)));
  return RunAll(
      e, options.threads, [&] { return e.BuildCode(); }, options.histogram);
}

absl::StatusOr<EncodedTensor> EncodeBf16WithCode(
    absl::Span<const uint16_t> values, const CodeLengths& code_lengths,
    const EncodeOptions& options) {
  ASSIGN_OR_RETURN(
      SegmentedEncoder e,
      SegmentedEncoder::Create(
          values, options, SegmentElementsFor(values.size(), options.threads)));
  return RunAll(
      e, options.threads, [&] { return e.UseCode(code_lengths); },
      options.histogram);
}

}  // namespace df11
