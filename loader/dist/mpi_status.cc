#include "loader/backend/cpu/mpi_status.h"

#include <mpi.h>

#include "absl/strings/str_cat.h"

namespace df11 {

absl::Status MpiStatus(int code, absl::string_view call, const char* file,
                       int line) {
  if (code == MPI_SUCCESS) return absl::OkStatus();
  char text[MPI_MAX_ERROR_STRING] = {};
  int length = 0;
  if (MPI_Error_string(code, text, &length) != MPI_SUCCESS) length = 0;
  return absl::InternalError(
      absl::StrCat(call, " failed: ", absl::string_view(text, length), " (",
                   file, ":", line, ")"));
}

}  // namespace df11
