#include "loader/dist/agreement.h"

#include <mpi.h>

#include <cstdint>
#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "loader/base/status_macros.h"
#include "loader/dist/mpi_poll.h"
#include "loader/dist/mpi_status.h"

namespace df11 {
namespace {

absl::Status TimedOut(absl::Duration timeout) {
  return absl::DeadlineExceededError(absl::StrCat(
      "AgreeOk: not every rank arrived within ", absl::FormatDuration(timeout),
      "; MPI state is now unusable: abort the job (MpiSession::Abort)"));
}

}  // namespace

absl::Status AgreeOk(const WorldConfig& world, const absl::Status& local,
                     absl::Duration timeout) {
  if (world.size <= 1) return local;
  const absl::Time deadline = absl::Now() + timeout;

  // The lowest failing rank, or `size` when every rank is OK.
  const int mine = local.ok() ? world.size : world.rank;
  int first = world.size;
  MPI_Request request;
  RETURN_IF_ERROR(MPI_STATUS(MPI_Iallreduce(&mine, &first, 1, MPI_INT, MPI_MIN,
                                            MPI_COMM_WORLD, &request)));
  ASSIGN_OR_RETURN(bool done, WaitForRequest(&request, deadline, Poll::kIdle));
  if (!done) return TimedOut(timeout);
  if (first == world.size) return absl::OkStatus();

  // The failing rank sends its code (4 bytes) and message. Every rank has
  // arrived, so the transfer is under way: poll busily.
  std::string bytes;
  if (world.rank == first) {
    const int32_t code = static_cast<int32_t>(local.code());
    bytes.resize(sizeof(code));
    std::memcpy(bytes.data(), &code, sizeof(code));
    bytes.append(local.message().data(), local.message().size());
  }
  ASSIGN_OR_RETURN(
      done, BroadcastFrom(first, world.rank, &bytes, deadline, Poll::kBusy));
  if (!done) return TimedOut(timeout);
  int32_t code = 0;
  if (bytes.size() < sizeof(code)) {
    return absl::InternalError(
        absl::StrCat("AgreeOk: short message from rank ", first));
  }
  std::memcpy(&code, bytes.data(), sizeof(code));
  return absl::Status(
      static_cast<absl::StatusCode>(code),
      absl::StrCat("rank ", first, ": ",
                   absl::string_view(bytes).substr(sizeof(code))));
}

}  // namespace df11
