#include "loader/dist/mpi_session.h"

#include <mpi.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "loader/base/status_macros.h"
#include "loader/dist/mpi_status.h"

namespace df11 {
namespace {

bool LaunchedByMpirun() {
  for (const char* var : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK"}) {
    if (std::getenv(var) != nullptr) return true;
  }
  return false;
}

absl::StatusOr<int> LocalRank() {
  if (const char* env = std::getenv("OMPI_COMM_WORLD_LOCAL_RANK")) {
    int local_rank = 0;
    if (absl::SimpleAtoi(env, &local_rank) && local_rank >= 0) {
      return local_rank;
    }
  }
  // Other launchers: the ranks that share this node's memory.
  MPI_Comm node = MPI_COMM_NULL;
  RETURN_IF_ERROR(MPI_STATUS(MPI_Comm_split_type(
      MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node)));
  int local_rank = 0;
  const absl::Status status = MPI_STATUS(MPI_Comm_rank(node, &local_rank));
  MPI_Comm_free(&node);
  RETURN_IF_ERROR(status);
  return local_rank;
}

absl::StatusOr<int> Device(int local_rank) {
  const char* env = std::getenv("DF11_DEVICE");
  if (env == nullptr) return local_rank;
  const std::vector<std::string> entries = absl::StrSplit(env, ',');
  if (static_cast<int>(entries.size()) <= local_rank) {
    return absl::InvalidArgumentError(
        absl::StrCat("DF11_DEVICE=\"", env, "\" has ", entries.size(),
                     " entries; local rank ", local_rank, " needs one"));
  }
  int device = -1;
  if (!absl::SimpleAtoi(entries[local_rank], &device) || device < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("DF11_DEVICE=\"", env, "\": entry ", local_rank, " (\"",
                     entries[local_rank], "\") is not a GPU ordinal"));
  }
  return device;
}

}  // namespace

absl::StatusOr<std::unique_ptr<MpiSession>> MpiSession::Start(int* argc,
                                                              char*** argv) {
  std::unique_ptr<MpiSession> session(new MpiSession());
  WorldConfig& world = session->world_;
  if (LaunchedByMpirun()) {
    RETURN_IF_ERROR(MPI_STATUS(MPI_Init(argc, argv)));
    session->active_ = true;
    RETURN_IF_ERROR(
        MPI_STATUS(MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN)));
    RETURN_IF_ERROR(MPI_STATUS(MPI_Comm_rank(MPI_COMM_WORLD, &world.rank)));
    RETURN_IF_ERROR(MPI_STATUS(MPI_Comm_size(MPI_COMM_WORLD, &world.size)));
    ASSIGN_OR_RETURN(world.local_rank, LocalRank());
  }
  ASSIGN_OR_RETURN(world.device, Device(world.local_rank));
  return session;
}

void MpiSession::Abort(int code) {
  if (active_) MPI_Abort(MPI_COMM_WORLD, code);
}

MpiSession::~MpiSession() {
  if (active_) MPI_Finalize();
}

}  // namespace df11
