// The backend conformance suite: every op of backend.h against a plain
// reference in double precision, on random data and awkward sizes (1, 3, 7,
// 19, 733), with per-element tolerances scaled by the backend's activation
// dtype; plus the step contract (bad batches, errors, sampling keyed by
// request) and the weight store. Each backend instantiates it once:
//
//   INSTANTIATE_TEST_SUITE_P(
//       Cpu, BackendConformanceTest,
//       testing::Values(ConformanceBackend{
//           "cpu", MakeBackendFactory(BackendKind::kCpu, {.threads = 2})}));
//
// Tolerance for a value computed from inputs x_k (already in the backend's
// dtypes): |ours - ref| <= 2 (u * |ref| + (K + 2) * 2^-24 * sum_k |terms|),
// where u is the unit roundoff of the output dtype (2^-24 FP32, 2^-8 BF16)
// and K the length of the reduction: the output's rounding plus an FP32
// accumulation in any order. A wrong index, a missing term or an extra
// rounding of an intermediate to BF16 on an FP32 backend fails it.
#ifndef DF11_LOADER_BACKEND_BACKEND_CONFORMANCE_TEST_H_
#define DF11_LOADER_BACKEND_BACKEND_CONFORMANCE_TEST_H_

#include <ostream>
#include <string>

#include "gtest/gtest.h"
#include "loader/engine/open_model.h"

namespace df11 {

struct ConformanceBackend {
  std::string name;
  BackendFactory factory;
  // Whether sampled (temperature > 0) draws must equal the reference
  // sampler's exactly; greedy draws always must.
  bool exact_sampling = true;
};

inline void PrintTo(const ConformanceBackend& backend, std::ostream* os) {
  *os << backend.name;
}

class BackendConformanceTest
    : public testing::TestWithParam<ConformanceBackend> {};

}  // namespace df11

#endif  // DF11_LOADER_BACKEND_BACKEND_CONFORMANCE_TEST_H_
