// NCCL_STATUS: OK passes through; each result maps to its absl code, and
// the message names the call, the result and file:line. Needs no GPU.
#include "loader/gpu/nccl_status.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace df11 {
namespace {

using testing::HasSubstr;

ncclResult_t Returns(ncclResult_t result) { return result; }

struct Case {
  ncclResult_t result;
  absl::StatusCode want;
  const char* name;
};

class NcclStatusTest : public testing::TestWithParam<Case> {};

TEST_P(NcclStatusTest, MapsTheResult) {
  const Case& c = GetParam();
  const int line = __LINE__ + 1;
  const absl::Status s = NCCL_STATUS(Returns(c.result));
  EXPECT_EQ(s.code(), c.want) << s;
  if (c.result == ncclSuccess) return;
  const std::string message(s.message());
  EXPECT_THAT(message,
              HasSubstr(absl::StrCat("Returns(c.result) failed: ", c.name, " (",
                                     ncclGetErrorString(c.result), ")")));
  EXPECT_THAT(message, HasSubstr(absl::StrCat(" at ", __FILE__, ":", line)));
}

INSTANTIATE_TEST_SUITE_P(
    Results, NcclStatusTest,
    testing::Values(
        Case{ncclSuccess, absl::StatusCode::kOk, ""},
        Case{ncclInvalidArgument, absl::StatusCode::kInvalidArgument,
             "ncclInvalidArgument"},
        Case{ncclUnhandledCudaError, absl::StatusCode::kInternal,
             "ncclUnhandledCudaError"},
        Case{ncclSystemError, absl::StatusCode::kInternal, "ncclSystemError"},
        Case{ncclInternalError, absl::StatusCode::kInternal,
             "ncclInternalError"},
        Case{ncclInvalidUsage, absl::StatusCode::kInternal, "ncclInvalidUsage"},
        Case{ncclRemoteError, absl::StatusCode::kInternal, "ncclRemoteError"},
        Case{ncclInProgress, absl::StatusCode::kInternal, "ncclInProgress"},
        Case{static_cast<ncclResult_t>(99), absl::StatusCode::kInternal,
             "ncclResult_t 99"}));

}  // namespace
}  // namespace df11
