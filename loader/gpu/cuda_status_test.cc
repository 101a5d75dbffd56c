// CUDA_STATUS: OK passes through; each error maps to its absl code, and the
// message names the call, the error and file:line. Needs no GPU, except the
// one real allocation, skipped without one.
#include "loader/gpu/cuda_status.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "loader/gpu/gpu_test_util.h"

namespace df11 {
namespace {

using testing::HasSubstr;

cudaError_t Returns(cudaError_t error) { return error; }

struct Case {
  cudaError_t error;
  absl::StatusCode want;
  const char* name;
};

class CudaStatusTest : public testing::TestWithParam<Case> {};

TEST_P(CudaStatusTest, MapsTheError) {
  const Case& c = GetParam();
  const int line = __LINE__ + 1;
  const absl::Status s = CUDA_STATUS(Returns(c.error));
  EXPECT_EQ(s.code(), c.want) << s;
  if (c.error == cudaSuccess) return;
  const std::string message(s.message());
  EXPECT_THAT(message,
              HasSubstr(absl::StrCat("Returns(c.error) failed: ", c.name, " (",
                                     cudaGetErrorString(c.error), ")")));
  EXPECT_THAT(message, HasSubstr(absl::StrCat(" at ", __FILE__, ":", line)));
}

INSTANTIATE_TEST_SUITE_P(
    Errors, CudaStatusTest,
    testing::Values(
        Case{cudaSuccess, absl::StatusCode::kOk, ""},
        Case{cudaErrorMemoryAllocation, absl::StatusCode::kResourceExhausted,
             "cudaErrorMemoryAllocation"},
        Case{cudaErrorInvalidValue, absl::StatusCode::kInvalidArgument,
             "cudaErrorInvalidValue"},
        Case{cudaErrorInvalidDevice, absl::StatusCode::kInvalidArgument,
             "cudaErrorInvalidDevice"},
        Case{cudaErrorInvalidConfiguration, absl::StatusCode::kInvalidArgument,
             "cudaErrorInvalidConfiguration"},
        Case{cudaErrorNoDevice, absl::StatusCode::kInternal,
             "cudaErrorNoDevice"},
        Case{cudaErrorIllegalAddress, absl::StatusCode::kInternal,
             "cudaErrorIllegalAddress"},
        Case{cudaErrorLaunchFailure, absl::StatusCode::kInternal,
             "cudaErrorLaunchFailure"}));

// The real runtime's out-of-memory answer is ResourceExhausted.
TEST(CudaStatusGpuTest, RealOutOfMemory) {
  SKIP_WITHOUT_GPU();
  void* p = nullptr;
  const absl::Status s = CUDA_STATUS(cudaMalloc(&p, size_t{1} << 50));
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted) << s;
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("cudaMalloc(&p, size_t{1} << 50) failed: "
                        "cudaErrorMemoryAllocation"));
}

}  // namespace
}  // namespace df11
