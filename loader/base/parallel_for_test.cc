#include "loader/base/parallel_for.h"

#include <atomic>
#include <vector>

#include "gtest/gtest.h"

namespace df11 {
namespace {

class ParallelForTest
    : public ::testing::TestWithParam<std::tuple<size_t, int>> {};

TEST_P(ParallelForTest, VisitsEveryIndexExactlyOnce) {
  const auto [n, threads] = GetParam();
  std::vector<std::atomic<int>> hits(n);
  ParallelFor(n, threads, [&](size_t begin, size_t end) {
    ASSERT_LE(begin, end);
    ASSERT_LE(end, n);
    for (size_t i = begin; i < end; ++i) hits[i].fetch_add(1);
  });
  for (size_t i = 0; i < n; ++i) EXPECT_EQ(hits[i].load(), 1) << "index " << i;
}

INSTANTIATE_TEST_SUITE_P(Sizes, ParallelForTest,
                         ::testing::Combine(::testing::Values(0, 1, 2, 7, 733,
                                                              100000),
                                            ::testing::Values(1, 2, 3, 16)));

}  // namespace
}  // namespace df11
