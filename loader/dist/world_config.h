// Where this process sits in the job: a small value type that is passed
// around, never a global. One rank per GPU; the tensor-parallel group is the
// whole job (rank r holds shard r of every split tensor).
//
//   WorldConfig single;                          // rank 0 of 1, device 0
//   WorldConfig w{.rank = 3, .size = 8, .local_rank = 3, .device = 3};
//
// `local_rank` is the rank among the processes of this node (Open MPI's
// OMPI_COMM_WORLD_LOCAL_RANK); `device` is the GPU ordinal this rank uses,
// by default its local rank. A CPU backend ignores `device`.
#ifndef DF11_LOADER_DIST_WORLD_CONFIG_H_
#define DF11_LOADER_DIST_WORLD_CONFIG_H_

namespace df11 {

struct WorldConfig {
  int rank = 0;
  int size = 1;  // ranks in the job = tensor-parallel degree
  int local_rank = 0;
  int device = 0;

  bool is_root() const { return rank == 0; }
};

}  // namespace df11

#endif  // DF11_LOADER_DIST_WORLD_CONFIG_H_
