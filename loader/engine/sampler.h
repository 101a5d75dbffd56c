// Picks the next token from a row of logits: greedy, or temperature with
// optional top-k and top-p (nucleus) truncation. Seeded and reproducible: the
// same params and logits give the same tokens on every rank and run.
//
//   Sampler sampler({.temperature = 0.8f, .top_k = 40, .top_p = 0.95f,
//                    .seed = 7});
//   int32_t next = sampler.Next(logits);
//
// Sampling order: temperature 0 is argmax (the lowest id among equal
// maxima). Otherwise candidates are sorted by logit (ties by id), cut to the
// top_k, turned into probabilities softmax(logit / temperature) in double,
// cut to the shortest prefix whose mass reaches top_p, renormalized, and one
// is drawn with a uniform double from a mt19937_64 seeded with `seed`.
// Not thread-safe (it owns the generator).
#ifndef DF11_LOADER_ENGINE_SAMPLER_H_
#define DF11_LOADER_ENGINE_SAMPLER_H_

#include <cstdint>
#include <random>

#include "absl/status/status.h"
#include "absl/types/span.h"

namespace df11 {

struct SamplingParams {
  float temperature = 0.0f;  // 0: greedy
  int top_k = 0;             // 0: no limit
  float top_p = 1.0f;        // 1: no limit
  uint64_t seed = 0;
};

// InvalidArgument for a negative or non-finite temperature, a negative
// top_k, or top_p outside (0, 1].
absl::Status ValidateSampling(const SamplingParams& params);

class Sampler {
 public:
  // REQUIRES: ValidateSampling(params).ok().
  explicit Sampler(const SamplingParams& params);

  // REQUIRES: logits is not empty.
  int32_t Next(absl::Span<const float> logits);

 private:
  SamplingParams params_;
  std::mt19937_64 rng_;
};

}  // namespace df11

#endif  // DF11_LOADER_ENGINE_SAMPLER_H_
