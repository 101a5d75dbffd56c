// Length-limited canonical Huffman codes over the 256 BF16 exponent values.
//
//   ASSIGN_OR_RETURN(CodeLengths lengths,
//                    BuildCodeLengths(histogram, kMaxCodeLength));
//   EncodeTable enc = BuildEncodeTable(lengths);
//   DecodeTable dec = BuildDecodeTable(lengths);
//
// A code is fully described by its 256 code lengths (0 = symbol unused);
// codes are canonical: ordered by (length, symbol). The bitstream is packed
// LSB-first (see docs/format.md), so tables hold bit-reversed codes and the
// decode table is indexed by the next kMaxCodeLength stream bits.
#ifndef DF11_LOADER_CODEC_HUFFMAN_CODE_H_
#define DF11_LOADER_CODEC_HUFFMAN_CODE_H_

#include <array>
#include <cstdint>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "loader/codec/exponent_histogram.h"

namespace df11 {

// The longest code DF11 streams may use. 12 bits gives a one-level decode
// table of 4096 entries (8 KB), which fits GPU shared memory next to other
// work; docs/format.md has the measurements behind the choice.
inline constexpr int kMaxCodeLength = 12;
inline constexpr int kDecodeTableBits = kMaxCodeLength;

using CodeLengths = std::array<uint8_t, 256>;

// Optimal code lengths for `histogram` with no code longer than max_length,
// by package-merge. Zero-count symbols get length 0. A single used symbol
// gets length 1 (code "0"). Deterministic: ties break by symbol value.
// REQUIRES: 1 <= max_length <= 63.
// Errors: InvalidArgument if more symbols are used than 2^max_length allows.
absl::StatusOr<CodeLengths> BuildCodeLengths(const ExponentHistogram& histogram,
                                             int max_length);

// Accepts exactly the lengths BuildCodeLengths can produce: every length
// <= max_length, and the Kraft sum is exactly 1, except that one used symbol
// has length 1 (sum 1/2) and no used symbol is allowed (sum 0).
absl::Status ValidateCodeLengths(const CodeLengths& lengths,
                                 int max_length = kMaxCodeLength);

// Total bits of coding `histogram` with `lengths`.
uint64_t CodedBits(const ExponentHistogram& histogram,
                   const CodeLengths& lengths);

// Per symbol: the canonical code, bit-reversed so that the first code bit is
// bit 0, and its length. REQUIRES: ValidateCodeLengths(lengths).ok().
struct EncodeTable {
  std::array<uint16_t, 256> reversed_code;
  CodeLengths length;
};
EncodeTable BuildEncodeTable(const CodeLengths& lengths);

// Entry for every kDecodeTableBits-bit window of the stream (first stream bit
// in bit 0): symbol in bits 0-7, code length in bits 8-11. A zero length marks
// a window no code starts (possible only with a single used symbol).
// REQUIRES: ValidateCodeLengths(lengths).ok().
using DecodeTable = std::array<uint16_t, 1 << kDecodeTableBits>;
DecodeTable BuildDecodeTable(const CodeLengths& lengths);

}  // namespace df11

#endif  // DF11_LOADER_CODEC_HUFFMAN_CODE_H_
