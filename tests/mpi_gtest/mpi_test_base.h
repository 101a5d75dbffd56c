// Base fixture for tests that run on every rank of an MPI job
// (mpi_gtest_main.cc): a failure on any rank fails the test on rank 0,
// whose report Bazel reads. World() is this rank in MPI_COMM_WORLD.
#ifndef DF11_TESTS_ENGINE_MPI_TEST_BASE_H_
#define DF11_TESTS_ENGINE_MPI_TEST_BASE_H_

#include "gtest/gtest.h"
#include "loader/dist/world_config.h"

namespace df11 {

class MpiTest : public testing::Test {
 protected:
  static WorldConfig World();
  void TearDown() override;
};

template <typename T>
class MpiTestWithParam : public MpiTest,
                         public testing::WithParamInterface<T> {};

}  // namespace df11

#endif  // DF11_TESTS_ENGINE_MPI_TEST_BASE_H_
