#include "loader/dist/mpi_status.h"

#include <mpi.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "loader/base/library_error.h"

namespace df11 {
namespace {

struct ClassInfo {
  int error_class;
  const char* name;
  absl::StatusCode code;
};

constexpr ClassInfo kClasses[] = {
    {MPI_ERR_BUFFER, "MPI_ERR_BUFFER", absl::StatusCode::kInvalidArgument},
    {MPI_ERR_COUNT, "MPI_ERR_COUNT", absl::StatusCode::kInvalidArgument},
    {MPI_ERR_TYPE, "MPI_ERR_TYPE", absl::StatusCode::kInvalidArgument},
    {MPI_ERR_TAG, "MPI_ERR_TAG", absl::StatusCode::kInvalidArgument},
    {MPI_ERR_COMM, "MPI_ERR_COMM", absl::StatusCode::kInvalidArgument},
    {MPI_ERR_RANK, "MPI_ERR_RANK", absl::StatusCode::kInvalidArgument},
    {MPI_ERR_ROOT, "MPI_ERR_ROOT", absl::StatusCode::kInvalidArgument},
    {MPI_ERR_OP, "MPI_ERR_OP", absl::StatusCode::kInvalidArgument},
    {MPI_ERR_ARG, "MPI_ERR_ARG", absl::StatusCode::kInvalidArgument},
    {MPI_ERR_NO_MEM, "MPI_ERR_NO_MEM", absl::StatusCode::kResourceExhausted},
    {MPI_ERR_REQUEST, "MPI_ERR_REQUEST", absl::StatusCode::kInternal},
    {MPI_ERR_GROUP, "MPI_ERR_GROUP", absl::StatusCode::kInternal},
    {MPI_ERR_TRUNCATE, "MPI_ERR_TRUNCATE", absl::StatusCode::kInternal},
    {MPI_ERR_IN_STATUS, "MPI_ERR_IN_STATUS", absl::StatusCode::kInternal},
    {MPI_ERR_PENDING, "MPI_ERR_PENDING", absl::StatusCode::kInternal},
    {MPI_ERR_INTERN, "MPI_ERR_INTERN", absl::StatusCode::kInternal},
    {MPI_ERR_OTHER, "MPI_ERR_OTHER", absl::StatusCode::kInternal},
    {MPI_ERR_UNKNOWN, "MPI_ERR_UNKNOWN", absl::StatusCode::kInternal},
};

}  // namespace

absl::Status MpiStatus(int code, absl::string_view call, const char* file,
                       int line) {
  if (code == MPI_SUCCESS) return absl::OkStatus();
  int error_class = MPI_ERR_UNKNOWN;
  if (MPI_Error_class(code, &error_class) != MPI_SUCCESS) {
    error_class = MPI_ERR_UNKNOWN;
  }
  std::string name = absl::StrCat("MPI error class ", error_class);
  absl::StatusCode status_code = absl::StatusCode::kInternal;
  for (const ClassInfo& c : kClasses) {
    if (c.error_class == error_class) {
      name = c.name;
      status_code = c.code;
    }
  }
  char text[MPI_MAX_ERROR_STRING] = {};
  int length = 0;
  if (MPI_Error_string(code, text, &length) != MPI_SUCCESS) length = 0;
  return LibraryError(status_code, call, name,
                      length > 0 ? absl::string_view(text, length)
                                 : absl::string_view("no error string"),
                      file, line);
}

}  // namespace df11
