#include "loader/codec/synthetic_weights.h"

#include <algorithm>
#include <cstring>
#include <numeric>
#include <random>

namespace df11 {

uint16_t Bf16FromFloat(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, 4);
  if ((bits & 0x7FFFFFFF) > 0x7F800000) {
    return static_cast<uint16_t>((bits >> 16) | 0x0040);  // quiet NaN
  }
  const uint32_t rounding = 0x7FFF + ((bits >> 16) & 1);
  return static_cast<uint16_t>((bits + rounding) >> 16);
}

float FloatFromBf16(uint16_t bits) {
  const uint32_t wide = uint32_t{bits} << 16;
  float value;
  std::memcpy(&value, &wide, 4);
  return value;
}

std::vector<uint16_t> GaussianBf16(size_t n, double stddev, uint64_t seed) {
  std::vector<uint16_t> out(n);
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, static_cast<float>(stddev));
  for (uint16_t& v : out) v = Bf16FromFloat(normal(rng));
  return out;
}

std::vector<uint16_t> AllBf16Patterns(uint64_t seed) {
  std::vector<uint16_t> out(65536);
  std::iota(out.begin(), out.end(), 0);
  std::mt19937_64 rng(seed);
  std::shuffle(out.begin(), out.end(), rng);
  return out;
}

std::vector<uint16_t> RandomBits(size_t n, uint64_t seed) {
  std::vector<uint16_t> out(n);
  std::mt19937_64 rng(seed);
  for (uint16_t& v : out) v = static_cast<uint16_t>(rng());
  return out;
}

std::vector<uint16_t> SkewedExponents(size_t n, uint64_t seed) {
  std::vector<uint16_t> out(n);
  std::mt19937_64 rng(seed);
  for (uint16_t& v : out) {
    const uint64_t r = rng();
    // Trailing zeros of a random word: k with probability 2^-(k+1).
    const int k = std::min(39, r == 0 ? 39 : __builtin_ctzll(r));
    const uint16_t exponent = static_cast<uint16_t>(100 + k);
    v = static_cast<uint16_t>((r >> 48) & 0x807F) | (exponent << 7);
  }
  return out;
}

std::vector<NamedWeights> LlamaLikeLayer(size_t hidden, size_t ffn,
                                         uint64_t seed) {
  struct Spec {
    const char* name;
    size_t rows, cols;
    double stddev;
  };
  const size_t kv = hidden / 4;
  const Spec specs[] = {
      {"q_proj", hidden, hidden, 0.02},  {"k_proj", kv, hidden, 0.03},
      {"v_proj", kv, hidden, 0.008},     {"o_proj", hidden, hidden, 0.01},
      {"gate_proj", ffn, hidden, 0.015}, {"up_proj", ffn, hidden, 0.012},
      {"down_proj", hidden, ffn, 0.006},
  };
  std::vector<NamedWeights> layer;
  for (const Spec& s : specs) {
    layer.push_back({s.name, s.rows, s.cols,
                     GaussianBf16(s.rows * s.cols, s.stddev, seed++)});
  }
  return layer;
}

}  // namespace df11
