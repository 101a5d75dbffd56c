// CUDA runtime errors as absl::Status: the one place they are converted (one
// converter header per toolkit, all of one shape; see docs/errors.md).
//
//   RETURN_IF_ERROR(CUDA_STATUS(cudaMalloc(&p, bytes)));
//   MyKernel<<<blocks, threads, 0, stream>>>(...);
//   return CUDA_STATUS(cudaGetLastError());
//
// CUDA_STATUS(call) evaluates `call` once and then to an absl::Status: OK
// for cudaSuccess, else a status whose message names the call text, the
// error's name and string (cudaGetErrorName / cudaGetErrorString) and
// file:line:
//
//   cudaMalloc(&device, bytes > 0 ? bytes : 1) failed:
//   cudaErrorMemoryAllocation (out of memory) at
//   kernels/device_encoded_tensor.cc:25
//
// Codes: cudaErrorMemoryAllocation -> ResourceExhausted; cudaErrorInvalidValue,
// InvalidPitchValue, InvalidSymbol, InvalidMemcpyDirection,
// InvalidConfiguration and InvalidDevice -> InvalidArgument; everything else
// -> Internal. Needs no GPU and no driver. Thread-safe.
#ifndef DF11_LOADER_GPU_CUDA_STATUS_H_
#define DF11_LOADER_GPU_CUDA_STATUS_H_

#include <cuda_runtime.h>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace df11 {

// What CUDA_STATUS expands to.
absl::Status CudaStatus(cudaError_t error, absl::string_view call,
                        const char* file, int line);

}  // namespace df11

#define CUDA_STATUS(call) ::df11::CudaStatus((call), #call, __FILE__, __LINE__)

#endif  // DF11_LOADER_GPU_CUDA_STATUS_H_
