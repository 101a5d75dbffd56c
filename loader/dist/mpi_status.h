// MPI error codes as absl::Status: the one place they are converted.
//
//   RETURN_IF_ERROR(MPI_STATUS(MPI_Allreduce(...)));
//
// MPI_STATUS(call) evaluates to OK when `call` returns MPI_SUCCESS, else to
// an Internal status naming the call, MPI's error string and file:line.
// Communicators must use MPI_ERRORS_RETURN (MpiSession sets it on
// MPI_COMM_WORLD) or MPI aborts before a code comes back.
#ifndef DF11_LOADER_BACKEND_CPU_MPI_STATUS_H_
#define DF11_LOADER_BACKEND_CPU_MPI_STATUS_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace df11 {

absl::Status MpiStatus(int code, absl::string_view call, const char* file,
                       int line);

}  // namespace df11

#define MPI_STATUS(call) ::df11::MpiStatus((call), #call, __FILE__, __LINE__)

#endif  // DF11_LOADER_BACKEND_CPU_MPI_STATUS_H_
