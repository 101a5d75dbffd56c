#include "loader/codec/exponent_histogram.h"

#include <cmath>

namespace df11 {

ExponentHistogram CountExponents(absl::Span<const uint16_t> values) {
  // Four partial histograms, so that runs of one exponent do not serialize
  // on a single counter.
  uint32_t part[4][256] = {};
  ExponentHistogram histogram{};
  const uint16_t* v = values.data();
  size_t n = values.size();
  while (n > 0) {
    // Flush before a 32-bit counter could overflow.
    const size_t batch = n < (size_t{1} << 30) ? n : (size_t{1} << 30);
    size_t i = 0;
    for (; i + 4 <= batch; i += 4) {
      ++part[0][Bf16Exponent(v[i])];
      ++part[1][Bf16Exponent(v[i + 1])];
      ++part[2][Bf16Exponent(v[i + 2])];
      ++part[3][Bf16Exponent(v[i + 3])];
    }
    for (; i < batch; ++i) ++part[0][Bf16Exponent(v[i])];
    for (int s = 0; s < 256; ++s) {
      histogram[s] +=
          uint64_t{part[0][s]} + part[1][s] + part[2][s] + part[3][s];
      part[0][s] = part[1][s] = part[2][s] = part[3][s] = 0;
    }
    v += batch;
    n -= batch;
  }
  return histogram;
}

void AddHistogram(const ExponentHistogram& other, ExponentHistogram& sum) {
  for (int s = 0; s < 256; ++s) sum[s] += other[s];
}

uint64_t HistogramTotal(const ExponentHistogram& histogram) {
  uint64_t total = 0;
  for (uint64_t c : histogram) total += c;
  return total;
}

double ExponentEntropy(const ExponentHistogram& histogram) {
  const uint64_t total = HistogramTotal(histogram);
  if (total == 0) return 0.0;
  double bits = 0.0;
  for (uint64_t c : histogram) {
    if (c == 0) continue;
    const double p = static_cast<double>(c) / static_cast<double>(total);
    bits -= p * std::log2(p);
  }
  return bits;
}

}  // namespace df11
