// Cross-rank error agreement: any rank's error becomes every rank's error,
// so a failure on one rank ends every rank cleanly instead of leaving the
// others waiting in a collective.
//
//   absl::Status s = LoadMyShard(...);          // may fail on one rank only
//   s = AgreeOk(world, s, absl::Seconds(60));   // now the same on all ranks
//   if (absl::IsDeadlineExceeded(s)) session->Abort(1);  // MPI is unusable
//   if (!s.ok()) return s;
//
// AgreeOk is a collective over MPI_COMM_WORLD: every rank calls it, in the
// same order relative to its other collectives. It returns OK on every rank
// iff every rank's `local` is OK. Otherwise every rank returns the same
// status: the code and message of the lowest-numbered failing rank R, the
// message prefixed "rank R: ". Other failing ranks' statuses are dropped
// (log `local` first if it matters), and payloads do not travel.
//
// `timeout` bounds the whole call. If not every rank arrives in time (one
// hung, crashed, or took another path), AgreeOk returns DeadlineExceeded,
// naming the timeout, on the ranks that did arrive. A collective is then
// left pending and MPI state is unusable: the caller must end the job with
// MpiSession::Abort; no further MPI call (MPI_Finalize included) may be
// made.
//
// While waiting the rank polls with short sleeps (mpi_poll.h): a rank
// waiting for a slow peer uses a few percent of a core.
//
// At world.size == 1 it returns `local` without touching MPI (which need not
// be initialized).
//
// Errors: `local`'s (agreed) status; DeadlineExceeded as above; Internal
// when an MPI call fails.
//
// REQUIRES: world describes MPI_COMM_WORLD (MpiSession::world()); MPI is
// initialized when world.size > 1. Not thread-safe.
#ifndef DF11_LOADER_DIST_AGREEMENT_H_
#define DF11_LOADER_DIST_AGREEMENT_H_

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "loader/dist/world_config.h"

namespace df11 {

absl::Status AgreeOk(const WorldConfig& world, const absl::Status& local,
                     absl::Duration timeout);

}  // namespace df11

#endif  // DF11_LOADER_DIST_AGREEMENT_H_
