// Where this process sits in a tensor-parallel group: a small value type that
// is passed around, never a global.
//
//   ParallelConfig single;               // rank 0 of 1
//   ParallelConfig p{.rank = 1, .size = 2};
#ifndef DF11_LOADER_ENGINE_PARALLEL_CONFIG_H_
#define DF11_LOADER_ENGINE_PARALLEL_CONFIG_H_

namespace df11 {

struct ParallelConfig {
  int rank = 0;
  int size = 1;  // tensor-parallel degree

  bool is_root() const { return rank == 0; }
};

}  // namespace df11

#endif  // DF11_LOADER_ENGINE_PARALLEL_CONFIG_H_
