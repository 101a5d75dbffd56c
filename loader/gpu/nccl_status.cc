#include "loader/gpu/nccl_status.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "loader/base/library_error.h"

namespace df11 {
namespace {

std::string NameOf(ncclResult_t result) {
  switch (result) {
    case ncclSuccess:
      return "ncclSuccess";
    case ncclUnhandledCudaError:
      return "ncclUnhandledCudaError";
    case ncclSystemError:
      return "ncclSystemError";
    case ncclInternalError:
      return "ncclInternalError";
    case ncclInvalidArgument:
      return "ncclInvalidArgument";
    case ncclInvalidUsage:
      return "ncclInvalidUsage";
    case ncclRemoteError:
      return "ncclRemoteError";
    case ncclInProgress:
      return "ncclInProgress";
    default:
      return absl::StrCat("ncclResult_t ", static_cast<int>(result));
  }
}

}  // namespace

absl::Status NcclStatus(ncclResult_t result, absl::string_view call,
                        const char* file, int line) {
  if (result == ncclSuccess) return absl::OkStatus();
  const absl::StatusCode code = result == ncclInvalidArgument
                                    ? absl::StatusCode::kInvalidArgument
                                    : absl::StatusCode::kInternal;
  return LibraryError(code, call, NameOf(result), ncclGetErrorString(result),
                      file, line);
}

}  // namespace df11
