#include "loader/gpu/cuda_status.h"

#include "loader/base/library_error.h"

namespace df11 {
namespace {

absl::StatusCode CodeFor(cudaError_t error) {
  switch (error) {
    case cudaErrorMemoryAllocation:
      return absl::StatusCode::kResourceExhausted;
    case cudaErrorInvalidValue:
    case cudaErrorInvalidPitchValue:
    case cudaErrorInvalidSymbol:
    case cudaErrorInvalidMemcpyDirection:
    case cudaErrorInvalidConfiguration:
    case cudaErrorInvalidDevice:
      return absl::StatusCode::kInvalidArgument;
    default:
      return absl::StatusCode::kInternal;
  }
}

}  // namespace

absl::Status CudaStatus(cudaError_t error, absl::string_view call,
                        const char* file, int line) {
  if (error == cudaSuccess) return absl::OkStatus();
  return LibraryError(CodeFor(error), call, cudaGetErrorName(error),
                      cudaGetErrorString(error), file, line);
}

}  // namespace df11
