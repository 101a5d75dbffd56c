#include "loader/backend/cpu/mpi_session.h"

#include <mpi.h>

#include <cstdlib>

#include "loader/backend/cpu/mpi_status.h"
#include "loader/base/status_macros.h"

namespace df11 {
namespace {

bool LaunchedByMpirun() {
  for (const char* var : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK"}) {
    if (std::getenv(var) != nullptr) return true;
  }
  return false;
}

}  // namespace

absl::StatusOr<std::unique_ptr<MpiSession>> MpiSession::Start(int* argc,
                                                              char*** argv) {
  std::unique_ptr<MpiSession> session(new MpiSession());
  if (!LaunchedByMpirun()) return session;
  RETURN_IF_ERROR(MPI_STATUS(MPI_Init(argc, argv)));
  session->active_ = true;
  RETURN_IF_ERROR(
      MPI_STATUS(MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN)));
  RETURN_IF_ERROR(
      MPI_STATUS(MPI_Comm_rank(MPI_COMM_WORLD, &session->world_.rank)));
  RETURN_IF_ERROR(
      MPI_STATUS(MPI_Comm_size(MPI_COMM_WORLD, &session->world_.size)));
  return session;
}

void MpiSession::Abort(int code) {
  if (active_) MPI_Abort(MPI_COMM_WORLD, code);
}

MpiSession::~MpiSession() {
  if (active_) MPI_Finalize();
}

}  // namespace df11
