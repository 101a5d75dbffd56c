// MPI error codes as absl::Status: the one place they are converted (one
// converter header per toolkit, all of one shape; see docs/errors.md).
//
//   RETURN_IF_ERROR(MPI_STATUS(MPI_Allreduce(...)));
//
// MPI_STATUS(call) evaluates `call` once and then to an absl::Status: OK when
// it returned MPI_SUCCESS, else a status whose message names the call text,
// the MPI error class (e.g. MPI_ERR_COUNT), MPI's error string and
// file:line:
//
//   MPI_Allreduce(...) failed: MPI_ERR_COUNT (MPI_ERR_COUNT: invalid count
//   argument) at loader/backend/cpu/cpu_backend.cc:191
//
// Codes: MPI_ERR_NO_MEM -> ResourceExhausted; the argument classes
// (MPI_ERR_ARG, _COUNT, _TYPE, _TAG, _RANK, _ROOT, _OP, _BUFFER, _COMM) ->
// InvalidArgument; everything else -> Internal.
//
// REQUIRES: MPI is initialized (the error string table is made by MPI_Init).
// Communicators must use MPI_ERRORS_RETURN (MpiSession sets it on
// MPI_COMM_WORLD) or MPI aborts before a code comes back.
#ifndef DF11_LOADER_DIST_MPI_STATUS_H_
#define DF11_LOADER_DIST_MPI_STATUS_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace df11 {

// What MPI_STATUS expands to; call it directly only to convert a code that
// did not come straight from a call (e.g. an MPI_Status's MPI_ERROR).
absl::Status MpiStatus(int code, absl::string_view call, const char* file,
                       int line);

}  // namespace df11

#define MPI_STATUS(call) ::df11::MpiStatus((call), #call, __FILE__, __LINE__)

#endif  // DF11_LOADER_DIST_MPI_STATUS_H_
