// Base fixture for tests that run on every rank of an MPI job
// (mpi_gtest_main.cc, run by the mpi_gtest rule of mpi_gtest.bzl): a failure
// on any rank fails the test on rank 0, whose report Bazel reads.
//
//   class AgreeTest : public MpiTest {};
//   TEST_F(AgreeTest, Works) { const WorldConfig world = World(); ... }
//
// World() is this rank's MpiSession::world() (rank, size, local rank,
// device). TearDown is collective: every rank runs every test.
#ifndef DF11_TESTS_MPI_GTEST_MPI_TEST_BASE_H_
#define DF11_TESTS_MPI_GTEST_MPI_TEST_BASE_H_

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

#endif  // DF11_TESTS_MPI_GTEST_MPI_TEST_BASE_H_
