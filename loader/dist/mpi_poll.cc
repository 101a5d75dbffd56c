#include "loader/dist/mpi_poll.h"

#include <sched.h>

#include <algorithm>
#include <cstdint>

#include "absl/time/clock.h"
#include "loader/base/status_macros.h"
#include "loader/dist/mpi_status.h"

namespace df11 {
namespace {

constexpr absl::Duration kIdleSpin = absl::Microseconds(20);
constexpr absl::Duration kBusySpin = absl::Milliseconds(50);
constexpr absl::Duration kFirstSleep = absl::Microseconds(50);
constexpr absl::Duration kMaxSleep = absl::Milliseconds(1);
constexpr uint64_t kChunkBytes = uint64_t{1} << 30;

}  // namespace

absl::StatusOr<bool> WaitForRequest(MPI_Request* request, absl::Time deadline,
                                    Poll poll) {
  const absl::Time start = absl::Now();
  const absl::Duration spin = poll == Poll::kBusy ? kBusySpin : kIdleSpin;
  absl::Duration sleep = kFirstSleep;
  while (true) {
    int done = 0;
    RETURN_IF_ERROR(MPI_STATUS(MPI_Test(request, &done, MPI_STATUS_IGNORE)));
    if (done) return true;
    const absl::Time now = absl::Now();
    if (now >= deadline) return false;
    if (now - start < spin) {
      // Ranks may share cores (more ranks than cores in tests): let the
      // peer that must make progress run.
      if (poll == Poll::kBusy) sched_yield();
      continue;
    }
    absl::SleepFor(std::min(sleep, deadline - now));
    sleep = std::min(2 * sleep, kMaxSleep);
  }
}

absl::StatusOr<bool> BroadcastFrom(int root, int rank, std::string* bytes,
                                   absl::Time deadline, Poll length_poll) {
  uint64_t length = rank == root ? bytes->size() : 0;
  MPI_Request request;
  RETURN_IF_ERROR(MPI_STATUS(
      MPI_Ibcast(&length, 1, MPI_UINT64_T, root, MPI_COMM_WORLD, &request)));
  ASSIGN_OR_RETURN(bool done, WaitForRequest(&request, deadline, length_poll));
  if (!done) return false;
  if (rank != root) bytes->resize(length);
  for (uint64_t offset = 0; offset < length; offset += kChunkBytes) {
    const int count = static_cast<int>(std::min(kChunkBytes, length - offset));
    RETURN_IF_ERROR(
        MPI_STATUS(MPI_Ibcast(bytes->data() + offset, count, MPI_BYTE, root,
                              MPI_COMM_WORLD, &request)));
    ASSIGN_OR_RETURN(done, WaitForRequest(&request, deadline, Poll::kBusy));
    if (!done) return false;
  }
  return true;
}

}  // namespace df11
