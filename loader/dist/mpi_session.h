// MPI for one process: started when the process was launched by mpirun,
// absent otherwise, so single-rank runs and tests need no MPI at all.
//
//   int main(int argc, char** argv) {
//     auto session = MpiSession::Start(&argc, &argv);
//     if (!session.ok()) ...
//     const WorldConfig world = (*session)->world();  // rank 0 of 1 without
//                                                     // MPI
//     ...
//     if (failed) (*session)->Abort(1);  // the other ranks may be waiting
//   }  // MPI_Finalize here
//
// Launched by mpirun means Open MPI's OMPI_COMM_WORLD_SIZE (or PMI_SIZE /
// PMIX_RANK of other launchers) is in the environment. Start then calls
// MPI_Init (a collective: every rank of the job must call Start) and sets
// MPI_ERRORS_RETURN on MPI_COMM_WORLD so failures come back as codes
// (mpi_status.h).
//
// world() is filled as follows:
//   rank, size   MPI_COMM_WORLD's (0 and 1 without MPI)
//   local_rank   the rank among this node's processes: Open MPI's
//                OMPI_COMM_WORLD_LOCAL_RANK when set, else this rank in
//                MPI_Comm_split_type(MPI_COMM_TYPE_SHARED) (0 without MPI)
//   device       the GPU ordinal: local_rank, unless DF11_DEVICE is set.
//                DF11_DEVICE is a comma-separated list of ordinals, one per
//                local rank ("4,5,6,7": local rank 0 uses GPU 4, ...); it
//                applies with or without mpirun.
//
// Errors: InvalidArgument for a malformed DF11_DEVICE, or one with fewer
// entries than local_rank + 1; Internal (from MPI_STATUS) when MPI fails.
//
// argc/argv may be null. One per process when launched by mpirun (MPI can be
// initialized only once); without mpirun Start touches no MPI state and may
// be called again. Not thread-safe.
#ifndef DF11_LOADER_DIST_MPI_SESSION_H_
#define DF11_LOADER_DIST_MPI_SESSION_H_

#include <memory>

#include "absl/status/statusor.h"
#include "loader/dist/world_config.h"

namespace df11 {

class MpiSession {
 public:
  static absl::StatusOr<std::unique_ptr<MpiSession>> Start(int* argc,
                                                           char*** argv);
  ~MpiSession();  // MPI_Finalize when active
  MpiSession(const MpiSession&) = delete;
  MpiSession& operator=(const MpiSession&) = delete;

  // Ends every rank of the job with `code` (MPI_Abort): for main() when one
  // rank fails and the others would wait forever in a collective, and after
  // AgreeOk or BroadcastBytes returned DeadlineExceeded. Returns only when
  // MPI is not active.
  void Abort(int code);

  // True when MPI was initialized (launched by mpirun).
  bool active() const { return active_; }
  const WorldConfig& world() const { return world_; }

 private:
  MpiSession() = default;
  bool active_ = false;
  WorldConfig world_;
};

}  // namespace df11

#endif  // DF11_LOADER_DIST_MPI_SESSION_H_
