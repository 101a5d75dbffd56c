#include "loader/engine/sampling.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "absl/strings/str_cat.h"
#include "loader/engine/philox.h"

namespace df11 {
namespace {

// Ids sorted by logit, largest first, ties by lower id; the first `keep`.
std::vector<int32_t> TopIds(absl::Span<const float> logits, size_t keep) {
  std::vector<int32_t> ids(logits.size());
  std::iota(ids.begin(), ids.end(), 0);
  keep = std::min(keep, ids.size());
  const auto before = [&](int32_t a, int32_t b) {
    return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
  };
  std::partial_sort(ids.begin(), ids.begin() + keep, ids.end(), before);
  ids.resize(keep);
  return ids;
}

int32_t Argmax(absl::Span<const float> logits) {
  size_t best = 0;
  for (size_t i = 1; i < logits.size(); ++i) {
    if (logits[i] > logits[best]) best = i;
  }
  return static_cast<int32_t>(best);
}

int32_t Draw(const SampleRequest& r, absl::Span<const float> logits) {
  const SamplingParams& p = r.params;
  const size_t k = p.top_k > 0 ? static_cast<size_t>(p.top_k) : logits.size();
  const std::vector<int32_t> ids = TopIds(logits, k);
  std::vector<double> probs(ids.size());
  const double top = logits[ids[0]];
  double total = 0;
  for (size_t i = 0; i < ids.size(); ++i) {
    probs[i] = std::exp((logits[ids[i]] - top) / p.temperature);
    total += probs[i];
  }
  size_t keep = ids.size();
  if (p.top_p < 1.0f) {
    double mass = 0;
    for (size_t i = 0; i < ids.size(); ++i) {
      mass += probs[i] / total;
      if (mass >= p.top_p) {
        keep = i + 1;
        break;
      }
    }
  }
  double kept = 0;
  for (size_t i = 0; i < keep; ++i) kept += probs[i];
  const double u = PhiloxUniform(p.seed, r.stream, r.position) * kept;
  double acc = 0;
  for (size_t i = 0; i < keep; ++i) {
    acc += probs[i];
    if (u < acc) return ids[i];
  }
  return ids[keep - 1];
}

}  // namespace

absl::Status ValidateSampling(const SamplingParams& params) {
  if (!std::isfinite(params.temperature) || params.temperature < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "temperature ", params.temperature, " must be finite and >= 0"));
  }
  if (params.top_k < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("top_k ", params.top_k, " must be >= 0"));
  }
  if (!(params.top_p > 0 && params.top_p <= 1)) {
    return absl::InvalidArgumentError(
        absl::StrCat("top_p ", params.top_p, " must be in (0, 1]"));
  }
  return absl::OkStatus();
}

absl::Status ValidateSampleRequest(const SampleRequest& request) {
  if (request.logprobs < -1 || request.logprobs > kMaxLogprobs) {
    return absl::InvalidArgumentError(
        absl::StrCat("logprobs ", request.logprobs, " must be in [0, ",
                     kMaxLogprobs, "] (or -1 for none)"));
  }
  return ValidateSampling(request.params);
}

SampledToken SampleRow(const SampleRequest& request,
                       absl::Span<const float> logits) {
  SampledToken out;
  if (!request.sample) return out;
  out.token = request.params.temperature == 0.0f ? Argmax(logits)
                                                 : Draw(request, logits);
  if (request.logprobs < 0) return out;
  double max = logits[Argmax(logits)];
  double sum = 0;
  for (float x : logits) sum += std::exp(x - max);
  const double log_total = max + std::log(sum);
  out.logprob = static_cast<float>(logits[out.token] - log_total);
  for (int32_t id : TopIds(logits, request.logprobs)) {
    out.top.push_back({id, static_cast<float>(logits[id] - log_total)});
  }
  return out;
}

}  // namespace df11
