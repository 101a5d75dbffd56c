// CUBLAS_STATUS (cuBLAS and cuBLASLt): OK passes through; each status maps
// to its absl code, and the message names the call, the status and
// file:line. Needs no GPU.
#include "loader/gpu/cublas_status.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace df11 {
namespace {

using testing::HasSubstr;

cublasStatus_t Returns(cublasStatus_t status) { return status; }

struct Case {
  cublasStatus_t status;
  absl::StatusCode want;
  const char* name;
};

class CublasStatusTest : public testing::TestWithParam<Case> {};

TEST_P(CublasStatusTest, MapsTheStatus) {
  const Case& c = GetParam();
  const int line = __LINE__ + 1;
  const absl::Status s = CUBLAS_STATUS(Returns(c.status));
  EXPECT_EQ(s.code(), c.want) << s;
  if (c.status == CUBLAS_STATUS_SUCCESS) return;
  const std::string message(s.message());
  EXPECT_THAT(message,
              HasSubstr(absl::StrCat("Returns(c.status) failed: ", c.name, " (",
                                     cublasGetStatusString(c.status), ")")));
  EXPECT_THAT(message, HasSubstr(absl::StrCat(" at ", __FILE__, ":", line)));
}

INSTANTIATE_TEST_SUITE_P(
    Statuses, CublasStatusTest,
    testing::Values(
        Case{CUBLAS_STATUS_SUCCESS, absl::StatusCode::kOk, ""},
        Case{CUBLAS_STATUS_ALLOC_FAILED, absl::StatusCode::kResourceExhausted,
             "CUBLAS_STATUS_ALLOC_FAILED"},
        Case{CUBLAS_STATUS_INVALID_VALUE, absl::StatusCode::kInvalidArgument,
             "CUBLAS_STATUS_INVALID_VALUE"},
        Case{CUBLAS_STATUS_NOT_INITIALIZED, absl::StatusCode::kInternal,
             "CUBLAS_STATUS_NOT_INITIALIZED"},
        Case{CUBLAS_STATUS_NOT_SUPPORTED, absl::StatusCode::kInternal,
             "CUBLAS_STATUS_NOT_SUPPORTED"},
        Case{CUBLAS_STATUS_EXECUTION_FAILED, absl::StatusCode::kInternal,
             "CUBLAS_STATUS_EXECUTION_FAILED"}));

}  // namespace
}  // namespace df11
