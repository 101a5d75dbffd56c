// One scenario of deadline_test.sh: rank ABSENT never takes part, and the
// other ranks call AgreeOk (MODE agree) or BroadcastBytes (MODE broadcast,
// ABSENT must be 0, the root) with a 2 s timeout. Each of them writes
// OUT_DIR/rank-R.txt ("<code> <seconds> <message>"), waits for the others'
// files, then ends the job with MpiSession::Abort(7), as the contract of
// AgreeOk and BroadcastBytes asks after DeadlineExceeded.
//
//   mpirun -np 3 deadline_test_main agree 1 /tmp/out
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "loader/dist/agreement.h"
#include "loader/dist/broadcast.h"
#include "loader/dist/mpi_session.h"

namespace df11 {
namespace {

constexpr absl::Duration kTimeout = absl::Seconds(2);
constexpr int kAbortCode = 7;

std::string RankFile(const std::string& dir, int rank) {
  return absl::StrCat(dir, "/rank-", rank, ".txt");
}

int Main(int argc, char** argv) {
  absl::StatusOr<std::unique_ptr<MpiSession>> session =
      MpiSession::Start(&argc, &argv);
  if (!session.ok()) {
    std::fprintf(stderr, "%s\n", session.status().ToString().c_str());
    return 1;
  }
  int absent = -1;
  if (argc != 4 || !absl::SimpleAtoi(argv[2], &absent)) {
    std::fprintf(stderr, "usage: %s agree|broadcast ABSENT_RANK OUT_DIR\n",
                 argv[0]);
    return 2;
  }
  const std::string mode = argv[1];
  const std::string dir = argv[3];
  const WorldConfig world = (*session)->world();

  if (world.rank == absent) {
    // Never arrives; the others' Abort ends this process.
    absl::SleepFor(absl::Seconds(60));
    return 1;
  }
  const absl::Time start = absl::Now();
  absl::Status status;
  if (mode == "agree") {
    status = AgreeOk(world, absl::OkStatus(), kTimeout);
  } else {
    std::string bytes;
    status = BroadcastBytes(world, &bytes, kTimeout);
  }
  const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
  {
    const std::string tmp = RankFile(dir, world.rank) + ".tmp";
    std::ofstream(tmp) << absl::StatusCodeToString(status.code()) << " "
                       << seconds << " " << status.message() << "\n";
    std::filesystem::rename(tmp, RankFile(dir, world.rank));
  }
  // Abort only once every caller has written its result.
  const absl::Time give_up = absl::Now() + absl::Seconds(20);
  for (int r = 0; r < world.size; ++r) {
    while (r != absent && !std::filesystem::exists(RankFile(dir, r)) &&
           absl::Now() < give_up) {
      absl::SleepFor(absl::Milliseconds(10));
    }
  }
  (*session)->Abort(kAbortCode);
  return 1;
}

}  // namespace
}  // namespace df11

int main(int argc, char** argv) { return df11::Main(argc, argv); }
