// AgreeOk on 2 and 3 ranks: for every set of failing ranks, every rank
// returns the same status, that of the lowest failing rank.
#include "loader/dist/agreement.h"

#include <cstdio>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "tests/mpi_gtest/mpi_test_base.h"

namespace df11 {
namespace {

constexpr absl::Duration kTimeout = absl::Seconds(30);

// Rank r's error when it fails: a code of its own and a message naming it.
absl::Status RankError(int rank) {
  static constexpr absl::StatusCode kCodes[] = {
      absl::StatusCode::kDataLoss, absl::StatusCode::kInvalidArgument,
      absl::StatusCode::kNotFound, absl::StatusCode::kResourceExhausted};
  return absl::Status(kCodes[rank % 4],
                      absl::StrCat("shard ", rank, " is bad"));
}

using AgreeOkTest = MpiTest;

// Every subset of failing ranks: bit r of `failing` makes rank r fail.
TEST_F(AgreeOkTest, EveryCombinationOfFailingRanks) {
  const WorldConfig world = World();
  for (int failing = 0; failing < (1 << world.size); ++failing) {
    SCOPED_TRACE(absl::StrCat("failing ranks mask ", failing));
    const bool fails = (failing >> world.rank) & 1;
    const absl::Status local = fails ? RankError(world.rank) : absl::OkStatus();
    const absl::Status agreed = AgreeOk(world, local, kTimeout);
    if (failing == 0) {
      EXPECT_TRUE(agreed.ok()) << agreed;
      continue;
    }
    int lowest = 0;
    while (!((failing >> lowest) & 1)) ++lowest;
    const absl::Status want = RankError(lowest);
    EXPECT_EQ(agreed.code(), want.code()) << agreed;
    EXPECT_EQ(agreed.message(),
              absl::StrCat("rank ", lowest, ": ", want.message()));
  }
}

// Messages of any length travel whole, NUL bytes included.
TEST_F(AgreeOkTest, LongAndBinaryMessages) {
  const WorldConfig world = World();
  const int last = world.size - 1;
  for (size_t length : {size_t{0}, size_t{1}, size_t{100000}}) {
    std::string message(length, 'm');
    if (length > 0) message[length / 2] = '\0';
    const absl::Status local =
        world.rank == last ? absl::InternalError(message) : absl::OkStatus();
    const absl::Status agreed = AgreeOk(world, local, kTimeout);
    EXPECT_EQ(agreed.code(), absl::StatusCode::kInternal);
    EXPECT_EQ(agreed.message(), absl::StrCat("rank ", last, ": ", message));
  }
}

// Back-to-back calls stay in step; all-OK agreement is cheap.
TEST_F(AgreeOkTest, ManyRoundsInARow) {
  const WorldConfig world = World();
  constexpr int kRounds = 1000;
  const absl::Time start = absl::Now();
  for (int i = 0; i < kRounds; ++i) {
    const int failing_rank = i % (world.size + 1);  // == size: none fails
    const absl::Status local = world.rank == failing_rank
                                   ? absl::AbortedError(absl::StrCat(i))
                                   : absl::OkStatus();
    const absl::Status agreed = AgreeOk(world, local, kTimeout);
    if (failing_rank == world.size) {
      ASSERT_TRUE(agreed.ok()) << agreed;
    } else {
      ASSERT_EQ(agreed.message(), absl::StrCat("rank ", failing_rank, ": ", i));
    }
  }
  if (world.is_root()) {
    std::printf("AgreeOk at -np %d: %.1f us per call (%d calls)\n", world.size,
                absl::ToDoubleMicroseconds(absl::Now() - start) / kRounds,
                kRounds);
  }
}

}  // namespace
}  // namespace df11
