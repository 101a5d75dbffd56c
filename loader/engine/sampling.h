// Choosing the next token from a row of logits: the parameters a request
// gives, their checks, and the reference sampler every backend follows.
//
//   SampleRequest r;
//   r.sample = true;
//   r.params = {.temperature = 0.8f, .top_k = 40, .top_p = 0.95f, .seed = 7};
//   r.stream = request_key;  // the request's own random stream
//   r.position = 12;         // the index the new token will have
//   SampledToken t = SampleRow(r, logits);
//
// Sampling order: temperature 0 is argmax (the lowest id among equal
// maxima). Otherwise candidates are sorted by logit (ties by id), cut to the
// top_k, turned into probabilities softmax(logit / temperature) in double,
// cut to the shortest prefix whose mass reaches top_p, renormalized, and one
// is drawn by inverse CDF with the uniform PhiloxUniform(seed, stream,
// position) (philox.h). The draw is keyed by the request, never by its place
// in a batch, so a request's tokens do not depend on its batch-mates.
//
// Logprobs are those of the model's distribution, log_softmax(logits) over
// the whole vocabulary in double (temperature and truncation do not change
// them), as OpenAI-style APIs report them.
#ifndef DF11_LOADER_ENGINE_SAMPLING_H_
#define DF11_LOADER_ENGINE_SAMPLING_H_

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/types/span.h"

namespace df11 {

struct SamplingParams {
  float temperature = 0.0f;  // 0: greedy
  int top_k = 0;             // 0: no limit
  float top_p = 1.0f;        // 1: no limit
  uint64_t seed = 0;
};

// The most alternatives a request may ask logprobs for.
inline constexpr int kMaxLogprobs = 20;

// What to do with one row of logits.
struct SampleRequest {
  bool sample = false;  // false: the row's logits are only handed back
  SamplingParams params;
  uint64_t stream = 0;    // the request's random stream
  int64_t position = 0;   // the index of the token to be drawn
  int32_t logprobs = -1;  // -1: none; 0: the drawn token's; n: and the top n
};

struct TokenLogprob {
  int32_t token = 0;
  float logprob = 0;
  bool operator==(const TokenLogprob& o) const {
    return token == o.token && logprob == o.logprob;
  }
};

struct SampledToken {
  int32_t token = -1;             // -1 when the request did not sample
  float logprob = 0;              // of `token`, when logprobs >= 0
  std::vector<TokenLogprob> top;  // the `logprobs` most likely, best first
};

// InvalidArgument for a negative or non-finite temperature, a negative
// top_k, or top_p outside (0, 1].
absl::Status ValidateSampling(const SamplingParams& params);
// The above, plus logprobs outside [-1, kMaxLogprobs].
absl::Status ValidateSampleRequest(const SampleRequest& request);

// The reference sampler over one row of logits (the whole vocabulary).
// REQUIRES: ValidateSampleRequest(request).ok(), logits not empty.
SampledToken SampleRow(const SampleRequest& request,
                       absl::Span<const float> logits);

}  // namespace df11

#endif  // DF11_LOADER_ENGINE_SAMPLING_H_
