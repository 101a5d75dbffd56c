// main() for gtest binaries that run on several MPI ranks (mpi_gtest.sh).
// Every rank runs every test; only rank 0 prints and writes the XML report.
// MpiTest's TearDown marks a test failed on rank 0 when it failed on any
// rank, and the exit code is the worst over the ranks.
#include <mpi.h>

#include <cstdio>
#include <cstdlib>

#include "gtest/gtest.h"
#include "loader/dist/mpi_session.h"
#include "tests/mpi_gtest/mpi_test_base.h"

namespace df11 {
namespace {

WorldConfig g_world;

}  // namespace

WorldConfig MpiTest::World() { return g_world; }

void MpiTest::TearDown() {
  int failed = HasFailure() ? 1 : 0;
  int any = 0;
  MPI_Allreduce(&failed, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  if (any && !failed) ADD_FAILURE() << "this test failed on another rank";
}

}  // namespace df11

int main(int argc, char** argv) {
  absl::StatusOr<std::unique_ptr<df11::MpiSession>> session =
      df11::MpiSession::Start(&argc, &argv);
  if (!session.ok()) {
    std::fprintf(stderr, "%s\n", session.status().ToString().c_str());
    return 1;
  }
  if (!(*session)->active()) {
    std::fprintf(stderr,
                 "run this test under mpirun (tests/mpi_gtest/mpi_gtest.sh)\n");
    return 1;
  }
  df11::g_world = (*session)->world();
  testing::InitGoogleTest(&argc, argv);
  if (!df11::g_world.is_root()) {
    // InitGoogleTest has already made the XML writer from --gtest_output:
    // the flag alone no longer stops it, and two ranks writing one report
    // leave Bazel an unreadable file.
    testing::TestEventListeners& listeners =
        testing::UnitTest::GetInstance()->listeners();
    delete listeners.Release(listeners.default_result_printer());
    delete listeners.Release(listeners.default_xml_generator());
    // Bazel's premature-exit marker is rank 0's to create and remove.
    unsetenv("TEST_PREMATURE_EXIT_FILE");
  }
  int rc = RUN_ALL_TESTS();
  MPI_Allreduce(MPI_IN_PLACE, &rc, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  return rc;
}
