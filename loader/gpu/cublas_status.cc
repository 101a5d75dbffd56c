#include "loader/gpu/cublas_status.h"

#include "loader/base/library_error.h"

namespace df11 {
namespace {

absl::StatusCode CodeFor(cublasStatus_t status) {
  switch (status) {
    case CUBLAS_STATUS_ALLOC_FAILED:
      return absl::StatusCode::kResourceExhausted;
    case CUBLAS_STATUS_INVALID_VALUE:
      return absl::StatusCode::kInvalidArgument;
    default:
      return absl::StatusCode::kInternal;
  }
}

}  // namespace

absl::Status CublasStatus(cublasStatus_t status, absl::string_view call,
                          const char* file, int line) {
  if (status == CUBLAS_STATUS_SUCCESS) return absl::OkStatus();
  return LibraryError(CodeFor(status), call, cublasGetStatusName(status),
                      cublasGetStatusString(status), file, line);
}

}  // namespace df11
