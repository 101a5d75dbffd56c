// MpiSession under mpirun: the world matches MPI_COMM_WORLD, and on one node
// the local rank is the rank and the device the local rank.
#include "loader/dist/mpi_session.h"

#include <mpi.h>

#include <cstdlib>

#include "gtest/gtest.h"
#include "tests/mpi_gtest/mpi_test_base.h"

namespace df11 {
namespace {

using MpiSessionTest = MpiTest;

TEST_F(MpiSessionTest, WorldMatchesCommWorld) {
  const WorldConfig world = World();
  int rank = -1, size = -1;
  ASSERT_EQ(MPI_Comm_rank(MPI_COMM_WORLD, &rank), MPI_SUCCESS);
  ASSERT_EQ(MPI_Comm_size(MPI_COMM_WORLD, &size), MPI_SUCCESS);
  EXPECT_EQ(world.rank, rank);
  EXPECT_EQ(world.size, size);
  EXPECT_EQ(world.is_root(), rank == 0);
}

TEST_F(MpiSessionTest, OneNodeLocalRankAndDevice) {
  const WorldConfig world = World();
  // launch/mpirun.sh starts every rank on this machine.
  EXPECT_EQ(world.local_rank, world.rank);
  if (std::getenv("DF11_DEVICE") == nullptr) {
    EXPECT_EQ(world.device, world.local_rank);
  }
}

}  // namespace
}  // namespace df11
