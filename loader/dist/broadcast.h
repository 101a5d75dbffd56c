// The step-plan broadcast: rank 0's bytes reach every rank.
//
//   std::string plan;
//   if (world.is_root()) plan = scheduler.NextStep().SerializeAsString();
//   RETURN_IF_ERROR(BroadcastBytes(world, &plan));
//   // every rank now holds rank 0's plan
//
// BroadcastBytes is a collective over MPI_COMM_WORLD: every rank calls it,
// in the same order relative to its other collectives. Rank 0's *bytes is
// left as it is; on every other rank *bytes is replaced by rank 0's (the
// length travels first, so any size works, including empty).
//
// A rank waiting for rank 0 polls MPI_Test back to back for about 20 µs,
// then with sleeps growing from 50 µs to 1 ms (mpi_poll.h): a daemon rank
// idle between requests uses a few percent of a core, and one that is
// busy in a step loop sees the next plan within microseconds.
//
// `timeout` bounds the whole call (default: none). If it passes first,
// BroadcastBytes returns DeadlineExceeded naming the timeout; a collective
// is left pending, MPI state is unusable and the caller must end the job
// with MpiSession::Abort, making no further MPI call. Rank 0 may return OK
// before the others have received (small messages go eagerly).
//
// At world.size == 1 it does nothing (MPI need not be initialized).
//
// Errors: DeadlineExceeded as above; Internal when an MPI call fails.
//
// REQUIRES: world describes MPI_COMM_WORLD (MpiSession::world()); MPI is
// initialized when world.size > 1; bytes != nullptr. Not thread-safe.
#ifndef DF11_LOADER_DIST_BROADCAST_H_
#define DF11_LOADER_DIST_BROADCAST_H_

#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "loader/dist/world_config.h"

namespace df11 {

absl::Status BroadcastBytes(const WorldConfig& world, std::string* bytes,
                            absl::Duration timeout = absl::InfiniteDuration());

}  // namespace df11

#endif  // DF11_LOADER_DIST_BROADCAST_H_
