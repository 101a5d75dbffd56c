// BF16 test data: LLM-like weights and adversarial bit patterns. Every
// generator is deterministic for a given seed.
#ifndef DF11_LOADER_CODEC_SYNTHETIC_WEIGHTS_H_
#define DF11_LOADER_CODEC_SYNTHETIC_WEIGHTS_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace df11 {

// float -> BF16 with round-to-nearest-even; NaN stays a quiet NaN.
uint16_t Bf16FromFloat(float value);
float FloatFromBf16(uint16_t bits);

// N(0, stddev^2) samples rounded to BF16, like trained weight matrices.
std::vector<uint16_t> GaussianBf16(size_t n, double stddev, uint64_t seed);

// All 65536 bit patterns (NaN payloads, +-Inf, subnormals, +-0), shuffled.
std::vector<uint16_t> AllBf16Patterns(uint64_t seed);

// Uniformly random 16-bit patterns.
std::vector<uint16_t> RandomBits(size_t n, uint64_t seed);

// Exponent k (of 1..40) with probability about 2^-k, so that an unlimited
// Huffman code would need ~40-bit codes: forces the length limit.
std::vector<uint16_t> SkewedExponents(size_t n, uint64_t seed);

struct NamedWeights {
  std::string name;
  size_t rows = 0, cols = 0;
  std::vector<uint16_t> values;  // [rows, cols] row-major BF16
};

// The seven matrices of one Llama-style decoder layer (q, k, v, o, gate, up,
// down; 4x fewer KV heads than query heads) with Gaussian weights at
// trained-like scales (std 0.006-0.03).
std::vector<NamedWeights> LlamaLikeLayer(size_t hidden, size_t ffn,
                                         uint64_t seed);

}  // namespace df11

#endif  // DF11_LOADER_CODEC_SYNTHETIC_WEIGHTS_H_
