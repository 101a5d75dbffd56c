#include "loader/dist/broadcast.h"

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "loader/base/status_macros.h"
#include "loader/dist/mpi_poll.h"

namespace df11 {

absl::Status BroadcastBytes(const WorldConfig& world, std::string* bytes,
                            absl::Duration timeout) {
  if (world.size <= 1) return absl::OkStatus();
  // Other ranks may wait long for rank 0's next plan: idle polling until
  // its length arrives.
  ASSIGN_OR_RETURN(bool done,
                   BroadcastFrom(/*root=*/0, world.rank, bytes,
                                 absl::Now() + timeout, Poll::kIdle));
  if (done) return absl::OkStatus();
  return absl::DeadlineExceededError(absl::StrCat(
      "BroadcastBytes: not every rank took part within ",
      absl::FormatDuration(timeout),
      "; MPI state is now unusable: abort the job (MpiSession::Abort)"));
}

}  // namespace df11
