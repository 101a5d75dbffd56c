// Turns CUDA runtime errors into absl::Status with the call site.
//
//   RETURN_IF_CUDA_ERROR(cudaMemcpyAsync(dst, src, n, kind, stream));
//   return CudaStatus(cudaGetLastError(), "DecodeDf11 launch");
#ifndef DF11_KERNELS_CUDA_STATUS_H_
#define DF11_KERNELS_CUDA_STATUS_H_

#include <cuda_runtime.h>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace df11 {

inline absl::Status CudaStatus(cudaError_t error, const char* what,
                               const char* file = __builtin_FILE(),
                               int line = __builtin_LINE()) {
  if (error == cudaSuccess) return absl::OkStatus();
  return absl::InternalError(absl::StrCat(what, ": ", cudaGetErrorName(error),
                                          " (", cudaGetErrorString(error),
                                          ") at ", file, ":", line));
}

}  // namespace df11

#define RETURN_IF_CUDA_ERROR(expr)                                        \
  do {                                                                    \
    ::absl::Status df11_cuda_status_ = ::df11::CudaStatus((expr), #expr); \
    if (!df11_cuda_status_.ok()) return df11_cuda_status_;                \
  } while (false)

#endif  // DF11_KERNELS_CUDA_STATUS_H_
