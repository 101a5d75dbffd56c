// Statistics of the BF16 exponent field, which DF11 entropy-codes.
//
//   ExponentHistogram h = CountExponents(weights);
//   double bits = ExponentEntropy(h);   // Shannon entropy, bits per element
//
// A BF16 value is sign(1) | exponent(8) | mantissa(7), most significant first.
#ifndef DF11_LOADER_CODEC_EXPONENT_HISTOGRAM_H_
#define DF11_LOADER_CODEC_EXPONENT_HISTOGRAM_H_

#include <array>
#include <cstdint>

#include "absl/types/span.h"

namespace df11 {

using ExponentHistogram = std::array<uint64_t, 256>;

inline uint8_t Bf16Exponent(uint16_t bits) { return (bits >> 7) & 0xFF; }

// Sign bit in bit 7, mantissa in bits 0-6: the raw byte DF11 stores.
inline uint8_t Bf16SignMantissa(uint16_t bits) {
  return static_cast<uint8_t>(((bits >> 8) & 0x80) | (bits & 0x7F));
}

inline uint16_t Bf16FromParts(uint8_t exponent, uint8_t sign_mantissa) {
  return static_cast<uint16_t>(((sign_mantissa & 0x80) << 8) | (exponent << 7) |
                               (sign_mantissa & 0x7F));
}

// Counts each exponent value in `values` (BF16 bit patterns).
ExponentHistogram CountExponents(absl::Span<const uint16_t> values);

// Adds `other` into `sum`.
void AddHistogram(const ExponentHistogram& other, ExponentHistogram& sum);

uint64_t HistogramTotal(const ExponentHistogram& histogram);

// Shannon entropy of the histogram in bits per element; 0 when empty.
double ExponentEntropy(const ExponentHistogram& histogram);

}  // namespace df11

#endif  // DF11_LOADER_CODEC_EXPONENT_HISTOGRAM_H_
