// BroadcastBytes on 2 and 3 ranks: payloads of 0, 1 and 3 MB bytes, 1000
// times each, reach every rank intact; the time per broadcast is printed
// (rank 0); and a rank waiting idle for 2 s uses little CPU.
#include "loader/dist/broadcast.h"

#include <mpi.h>
#include <sys/resource.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "tests/mpi_gtest/mpi_test_base.h"

namespace df11 {
namespace {

constexpr int kRepeats = 1000;

std::string RandomBytes(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string out(n, '\0');
  for (size_t i = 0; i < n; i += 8) {
    const uint64_t r = rng();
    std::memcpy(out.data() + i, &r, std::min<size_t>(8, n - i));
  }
  return out;
}

// The payload of round `round`: the random base with the round number
// written over its first bytes, so consecutive rounds differ.
void StampRound(int round, std::string* payload) {
  const uint32_t r = static_cast<uint32_t>(round);
  std::memcpy(payload->data(), &r, std::min<size_t>(4, payload->size()));
}

double CpuSeconds() {
  rusage usage;
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_utime.tv_sec + usage.ru_utime.tv_usec * 1e-6 +
         usage.ru_stime.tv_sec + usage.ru_stime.tv_usec * 1e-6;
}

class BroadcastBytesTest : public MpiTestWithParam<size_t> {};

TEST_P(BroadcastBytesTest, EveryRankGetsRankZerosBytes) {
  const WorldConfig world = World();
  const size_t size = GetParam();
  std::string expected = RandomBytes(size, /*seed=*/size + 1);
  for (int round = 0; round < kRepeats; ++round) {
    StampRound(round, &expected);
    // Other ranks start from stale bytes of another length.
    std::string bytes = world.is_root() ? expected : std::string(7, 's');
    const absl::Status s = BroadcastBytes(world, &bytes, absl::Seconds(30));
    ASSERT_TRUE(s.ok()) << s;
    ASSERT_EQ(bytes.size(), expected.size()) << "round " << round;
    ASSERT_TRUE(bytes == expected) << "round " << round;
  }

  // Timing: the same buffer again and again, until every rank has the last.
  std::string bytes = expected;
  ASSERT_EQ(MPI_Barrier(MPI_COMM_WORLD), MPI_SUCCESS);
  const absl::Time start = absl::Now();
  for (int round = 0; round < kRepeats; ++round) {
    ASSERT_TRUE(BroadcastBytes(world, &bytes).ok());
  }
  ASSERT_EQ(MPI_Barrier(MPI_COMM_WORLD), MPI_SUCCESS);
  const double us = absl::ToDoubleMicroseconds(absl::Now() - start) / kRepeats;
  ASSERT_TRUE(bytes == expected);
  if (world.is_root()) {
    std::printf(
        "BroadcastBytes at -np %d: %zu bytes: %.1f us per broadcast "
        "(%d in a loop)\n",
        world.size, size, us, kRepeats);
    RecordProperty(absl::StrCat("us_per_broadcast_np", world.size),
                   absl::StrCat(us));
  }
}

INSTANTIATE_TEST_SUITE_P(Sizes, BroadcastBytesTest,
                         testing::Values(size_t{0}, size_t{1}, size_t{3} << 20),
                         [](const testing::TestParamInfo<size_t>& info) {
                           return absl::StrCat(info.param, "_bytes");
                         });

using BroadcastIdleTest = MpiTest;

// A rank waiting 2 s for rank 0 sleeps between polls: < 30% of one core.
TEST_F(BroadcastIdleTest, WaitingRankUsesLittleCpu) {
  const WorldConfig world = World();
  constexpr absl::Duration kIdle = absl::Seconds(2);
  ASSERT_EQ(MPI_Barrier(MPI_COMM_WORLD), MPI_SUCCESS);
  std::string bytes;
  if (world.is_root()) {
    absl::SleepFor(kIdle);
    bytes = "wake up";
    ASSERT_TRUE(BroadcastBytes(world, &bytes).ok());
    return;
  }
  const double cpu_start = CpuSeconds();
  const absl::Time start = absl::Now();
  const absl::Status s = BroadcastBytes(world, &bytes);
  const double wall = absl::ToDoubleSeconds(absl::Now() - start);
  const double cpu = CpuSeconds() - cpu_start;
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(bytes, "wake up");
  EXPECT_GT(wall, 1.5);
  EXPECT_LT(cpu / wall, 0.30) << cpu << " s of CPU in " << wall << " s";
  std::printf(
      "rank %d waited %.2f s in BroadcastBytes using %.1f%% of a core\n",
      world.rank, wall, 100 * cpu / wall);
}

}  // namespace
}  // namespace df11
