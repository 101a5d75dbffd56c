// NCCL errors as absl::Status: the one place they are converted (one
// converter header per toolkit, all of one shape; see docs/errors.md).
//
//   RETURN_IF_ERROR(NCCL_STATUS(ncclCommInitRank(&comm, size, id, rank)));
//   RETURN_IF_ERROR(NCCL_STATUS(ncclAllReduce(x, x, n, ncclBfloat16, ncclSum,
//                                             comm, stream)));
//
// NCCL_STATUS(call) evaluates `call` once and then to an absl::Status: OK
// for ncclSuccess, else a status whose message names the call text, the
// result's enumerator name (NCCL has no name function; unknown values read
// "ncclResult_t N"), ncclGetErrorString's text and file:line:
//
//   ncclCommInitRank(&comm, size, id, rank) failed: ncclSystemError
//   (unhandled system error (run with NCCL_DEBUG=INFO for details)) at ...
//
// Codes: ncclInvalidArgument -> InvalidArgument; everything else ->
// Internal (NCCL has no out-of-memory result: ncclSystemError covers many
// causes). ncclInProgress, the normal answer of a non-blocking
// communicator, is reported as Internal too: code that uses non-blocking
// communicators polls ncclCommGetAsyncError itself. Needs no GPU. Thread-
// safe.
#ifndef DF11_LOADER_GPU_NCCL_STATUS_H_
#define DF11_LOADER_GPU_NCCL_STATUS_H_

#include <nccl.h>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace df11 {

// What NCCL_STATUS expands to.
absl::Status NcclStatus(ncclResult_t result, absl::string_view call,
                        const char* file, int line);

}  // namespace df11

#define NCCL_STATUS(call) ::df11::NcclStatus((call), #call, __FILE__, __LINE__)

#endif  // DF11_LOADER_GPU_NCCL_STATUS_H_
