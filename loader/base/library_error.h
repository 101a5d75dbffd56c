// The one message shape of every toolkit's error converter (MPI_STATUS in
// loader/dist, CUDA_STATUS, CUBLAS_STATUS and NCCL_STATUS in loader/gpu):
//
//   <call> failed: <name> (<description>) at <file>:<line>
//   cudaMalloc(&p, bytes) failed: cudaErrorMemoryAllocation (out of memory)
//   at kernels/device_encoded_tensor.cc:25
//
// `name` is the library's symbolic error name, `description` its error
// string. The converters choose `code`; this only builds the status.
#ifndef DF11_LOADER_BASE_LIBRARY_ERROR_H_
#define DF11_LOADER_BASE_LIBRARY_ERROR_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace df11 {

// REQUIRES: code != absl::StatusCode::kOk.
absl::Status LibraryError(absl::StatusCode code, absl::string_view call,
                          absl::string_view name, absl::string_view description,
                          const char* file, int line);

}  // namespace df11

#endif  // DF11_LOADER_BASE_LIBRARY_ERROR_H_
