// MPI_STATUS (run under mpirun: MPI's error strings exist only after
// MPI_Init): OK passes through; each error class maps to its absl code, and
// the message names the call, the class and file:line.
#include "loader/dist/mpi_status.h"

#include <mpi.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/mpi_gtest/mpi_test_base.h"

namespace df11 {
namespace {

using testing::HasSubstr;

int ReturnCode(int code) { return code; }

struct Case {
  int code;
  absl::StatusCode want;
  const char* name;
};

class MpiStatusTest : public MpiTestWithParam<Case> {};

TEST_P(MpiStatusTest, MapsTheCode) {
  const Case& c = GetParam();
  const int line = __LINE__ + 1;
  const absl::Status s = MPI_STATUS(ReturnCode(c.code));
  EXPECT_EQ(s.code(), c.want) << s;
  if (c.code == MPI_SUCCESS) return;
  const std::string message(s.message());
  EXPECT_THAT(message, HasSubstr("ReturnCode(c.code) failed: "));
  EXPECT_THAT(message, HasSubstr(c.name));
  EXPECT_THAT(message, HasSubstr(absl::StrCat(__FILE__, ":", line)));
}

INSTANTIATE_TEST_SUITE_P(
    Classes, MpiStatusTest,
    testing::Values(
        Case{MPI_SUCCESS, absl::StatusCode::kOk, ""},
        Case{MPI_ERR_COUNT, absl::StatusCode::kInvalidArgument,
             "MPI_ERR_COUNT"},
        Case{MPI_ERR_RANK, absl::StatusCode::kInvalidArgument, "MPI_ERR_RANK"},
        Case{MPI_ERR_ARG, absl::StatusCode::kInvalidArgument, "MPI_ERR_ARG"},
        Case{MPI_ERR_NO_MEM, absl::StatusCode::kResourceExhausted,
             "MPI_ERR_NO_MEM"},
        Case{MPI_ERR_TRUNCATE, absl::StatusCode::kInternal, "MPI_ERR_TRUNCATE"},
        Case{MPI_ERR_INTERN, absl::StatusCode::kInternal, "MPI_ERR_INTERN"},
        Case{MPI_ERR_OTHER, absl::StatusCode::kInternal, "MPI_ERR_OTHER"}));

// A real failing call comes back as a code (MPI_ERRORS_RETURN), not an abort.
using MpiCallTest = MpiTest;

TEST_F(MpiCallTest, BadCount) {
  int value = 0;
  const absl::Status s =
      MPI_STATUS(MPI_Bcast(&value, -1, MPI_INT, 0, MPI_COMM_WORLD));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("MPI_Bcast(&value, -1, MPI_INT, 0, MPI_COMM_WORLD) "
                        "failed: MPI_ERR_COUNT"));
}

}  // namespace
}  // namespace df11
