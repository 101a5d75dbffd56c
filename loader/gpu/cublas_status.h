// cuBLAS and cuBLASLt errors (both cublasStatus_t) as absl::Status: the one
// place they are converted (one converter header per toolkit, all of one
// shape; see docs/errors.md).
//
//   RETURN_IF_ERROR(CUBLAS_STATUS(cublasCreate(&handle)));
//   RETURN_IF_ERROR(CUBLAS_STATUS(cublasLtMatmul(lt, desc, ...)));
//
// CUBLAS_STATUS(call) evaluates `call` once and then to an absl::Status: OK
// for CUBLAS_STATUS_SUCCESS, else a status whose message names the call
// text, the status's name and string (cublasGetStatusName /
// cublasGetStatusString) and file:line:
//
//   cublasCreate(&g->handle_) failed: CUBLAS_STATUS_ALLOC_FAILED (the
//   resource allocation failed) at kernels/decode_bench.cc:209
//
// Codes: CUBLAS_STATUS_ALLOC_FAILED -> ResourceExhausted;
// CUBLAS_STATUS_INVALID_VALUE -> InvalidArgument; everything else ->
// Internal. Needs no GPU and no driver. Thread-safe.
#ifndef DF11_LOADER_GPU_CUBLAS_STATUS_H_
#define DF11_LOADER_GPU_CUBLAS_STATUS_H_

#include <cublas_api.h>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace df11 {

// What CUBLAS_STATUS expands to.
absl::Status CublasStatus(cublasStatus_t status, absl::string_view call,
                          const char* file, int line);

}  // namespace df11

#define CUBLAS_STATUS(call) \
  ::df11::CublasStatus((call), #call, __FILE__, __LINE__)

#endif  // DF11_LOADER_GPU_CUBLAS_STATUS_H_
