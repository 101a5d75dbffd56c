// Waiting for non-blocking MPI without spinning a core: the shared engine of
// AgreeOk (agreement.h) and BroadcastBytes (broadcast.h). Internal to
// loader/dist.
//
// MPI moves data only while some call into it runs on both sides, so a wait
// polls MPI_Test in one of two ways:
//   kIdle  for waits that may last (a rank waiting for the next step plan
//          or for a slow peer): back to back for the first 20 µs (a plan
//          already on its way arrives within microseconds), then with
//          sleeps growing from 50 µs to 1 ms. A rank waiting idle for
//          seconds uses a few percent of a core and wakes at most about
//          1 ms late.
//   kBusy  for transfers known to be under way (every rank has arrived):
//          back to back, yielding the core between polls, so a multi-MB
//          payload moves at memory speed instead of one segment per sleep;
//          after 50 ms it falls back to kIdle's sleeps.
//
// REQUIRES: MPI is initialized; requests are on MPI_COMM_WORLD. Not
// thread-safe (MPI is initialized with MPI_THREAD_SINGLE).
#ifndef DF11_LOADER_DIST_MPI_POLL_H_
#define DF11_LOADER_DIST_MPI_POLL_H_

#include <mpi.h>

#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace df11 {

enum class Poll { kIdle, kBusy };

// Completes `request`. Returns true when it completed, false when `deadline`
// passed first: the request then stays pending and MPI state is unusable,
// so the caller reports DeadlineExceeded and the job must be aborted.
// Errors: Internal (MPI_STATUS) when MPI_Test fails.
absl::StatusOr<bool> WaitForRequest(MPI_Request* request, absl::Time deadline,
                                    Poll poll);

// Collective over MPI_COMM_WORLD: `root`'s *bytes replaces every other
// rank's *bytes. The length goes first, waited for with `length_poll`; the
// data follows in chunks of at most 1 GiB, waited for with kBusy. Returns
// false when `deadline` passed first, as WaitForRequest.
absl::StatusOr<bool> BroadcastFrom(int root, int rank, std::string* bytes,
                                   absl::Time deadline, Poll length_poll);

}  // namespace df11

#endif  // DF11_LOADER_DIST_MPI_POLL_H_
