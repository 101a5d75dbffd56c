// MPI for one process: started when the process was launched by mpirun,
// absent otherwise, so single-rank runs and tests need no MPI at all.
//
//   int main(int argc, char** argv) {
//     auto session = MpiSession::Start(&argc, &argv);
//     if (!session.ok()) ...
//     WorldConfig world = (*session)->world();  // {0, 1} without MPI
//   }  // MPI_Finalize here
//
// Launched by mpirun means Open MPI's OMPI_COMM_WORLD_SIZE (or PMI_SIZE /
// PMIX_RANK of other launchers) is in the environment. Sets
// MPI_ERRORS_RETURN on MPI_COMM_WORLD so failures come back as codes
// (mpi_status.h). argc/argv may be null. One per process; not thread-safe.
#ifndef DF11_LOADER_BACKEND_CPU_MPI_SESSION_H_
#define DF11_LOADER_BACKEND_CPU_MPI_SESSION_H_

#include <memory>

#include "absl/status/statusor.h"
#include "loader/dist/world_config.h"

namespace df11 {

class MpiSession {
 public:
  static absl::StatusOr<std::unique_ptr<MpiSession>> Start(int* argc,
                                                           char*** argv);
  ~MpiSession();
  MpiSession(const MpiSession&) = delete;
  MpiSession& operator=(const MpiSession&) = delete;

  // Ends every rank of the job with `code`: for main() when one rank fails
  // and the others would wait forever in a collective. Returns only when MPI
  // is not active.
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

#endif  // DF11_LOADER_BACKEND_CPU_MPI_SESSION_H_
