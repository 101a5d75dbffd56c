#include "loader/shard/llama_split.h"

#include <algorithm>
#include <numeric>
#include <string>
#include <tuple>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace df11 {
namespace {

using ::testing::HasSubstr;

TEST(SplitKindTest, NamesRoundTrip) {
  for (SplitKind kind : {SplitKind::kReplicated, SplitKind::kRows,
                         SplitKind::kColumns, SplitKind::kRowsPadded}) {
    absl::StatusOr<SplitKind> parsed = ParseSplitKind(SplitKindName(kind));
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    EXPECT_EQ(*parsed, kind);
  }
  EXPECT_EQ(SplitKindName(SplitKind::kRowsPadded), "rows_padded");
  EXPECT_EQ(ParseSplitKind("rows-padded").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(MakeSplitPlanTest, IndivisibleShapeIsRejected) {
  for (SplitKind kind : {SplitKind::kRows, SplitKind::kColumns}) {
    auto plan = MakeSplitPlan(kind, 2, {100, 100}, 8);
    EXPECT_EQ(plan.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(plan.status().message()),
                HasSubstr("does not divide into 8"));
  }
}

TEST(MakeSplitPlanTest, SplitOfA1DTensorIsRejected) {
  for (SplitKind kind :
       {SplitKind::kRows, SplitKind::kColumns, SplitKind::kRowsPadded}) {
    auto plan = MakeSplitPlan(kind, 2, {64}, 2);
    EXPECT_EQ(plan.status().code(), absl::StatusCode::kInvalidArgument);
  }
}

// Padded rows for vocabulary sizes and TP sizes that do not divide, and ones
// with ranks holding only padding (fewer rows than ranks, or a last part
// that starts past the end).
struct PaddingCase {
  uint64_t rows;
  int tp;
  uint64_t shard_rows;
  std::vector<uint64_t> real_rows;  // per rank
};

class PaddedRowsTest : public ::testing::TestWithParam<PaddingCase> {};

TEST_P(PaddedRowsTest, ShardsAreCeilRowsEndingInZeros) {
  const PaddingCase& c = GetParam();
  const uint64_t cols = 3;
  auto plan = MakeSplitPlan(SplitKind::kRowsPadded, 2, {c.rows, cols}, c.tp);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->shard_shape, (std::vector<uint64_t>{c.shard_rows, cols}));
  EXPECT_TRUE(plan->contiguous());

  std::vector<uint8_t> tensor(c.rows * cols * 2);
  std::iota(tensor.begin(), tensor.end(), 1);
  std::vector<uint8_t> rebuilt(tensor.size(), 0);
  uint64_t total_real = 0;
  for (int rank = 0; rank < c.tp; ++rank) {
    SCOPED_TRACE(testing::Message() << "rank " << rank);
    const uint64_t real = c.real_rows[rank];
    EXPECT_EQ(plan->source_bytes(rank), real * cols * 2);
    total_real += real;
    std::vector<uint8_t> shard(plan->shard_bytes(), 0xee);
    ExtractShard(*plan, tensor, rank, absl::MakeSpan(shard));
    // Rows [rank * S, rank * S + real) of the tensor, then zeros.
    const uint64_t first = rank * c.shard_rows * cols * 2;
    for (uint64_t b = 0; b < shard.size(); ++b) {
      const uint8_t want = b < real * cols * 2 ? tensor[first + b] : 0;
      ASSERT_EQ(shard[b], want) << "byte " << b;
    }
    EXPECT_TRUE(ShardPaddingIsZero(*plan, rank, shard));
    if (real < c.shard_rows) {
      shard.back() = 1;
      EXPECT_FALSE(ShardPaddingIsZero(*plan, rank, shard));
      shard.back() = 0;
    }
    // Gathered in pieces of 2 rows, the same bytes.
    std::vector<uint8_t> pieces(shard.size(), 0xee);
    const uint64_t row = cols * 2;
    for (uint64_t r = 0; r < c.shard_rows; r += 2) {
      const uint64_t n = std::min<uint64_t>(2, c.shard_rows - r);
      ExtractShardRows(*plan, tensor, rank, r,
                       absl::MakeSpan(pieces).subspan(r * row, n * row));
    }
    EXPECT_EQ(pieces, shard);
    InsertShard(*plan, shard, rank, absl::MakeSpan(rebuilt));
  }
  EXPECT_EQ(total_real, c.rows);
  EXPECT_EQ(rebuilt, tensor);
}

INSTANTIATE_TEST_SUITE_P(
    Sizes, PaddedRowsTest,
    ::testing::Values(PaddingCase{389, 1, 389, {389}},
                      PaddingCase{389, 2, 195, {195, 194}},
                      PaddingCase{389, 3, 130, {130, 130, 129}},
                      PaddingCase{389, 4, 98, {98, 98, 98, 95}},
                      PaddingCase{389, 8, 49, {49, 49, 49, 49, 49, 49, 49, 46}},
                      PaddingCase{256, 4, 64, {64, 64, 64, 64}},  // divides
                      PaddingCase{3, 4, 1, {1, 1, 1, 0}},         // V < tp
                      PaddingCase{1, 8, 1, {1, 0, 0, 0, 0, 0, 0, 0}},
                      PaddingCase{5, 4, 2, {2, 2, 1, 0}},  // last: only pad
                      PaddingCase{10, 8, 2, {2, 2, 2, 2, 2, 0, 0, 0}},
                      PaddingCase{0, 2, 0, {0, 0}}));

TEST(PaddedRowsTest, KindsWithoutPaddingHaveNone) {
  for (SplitKind kind :
       {SplitKind::kRows, SplitKind::kColumns, SplitKind::kReplicated}) {
    auto plan = MakeSplitPlan(kind, 2, {4, 4}, 2);
    ASSERT_TRUE(plan.ok());
    for (int rank = 0; rank < 2; ++rank) {
      EXPECT_EQ(plan->source_bytes(rank), plan->shard_bytes());
      EXPECT_TRUE(ShardPaddingIsZero(
          *plan, rank, std::vector<uint8_t>(plan->shard_bytes(), 7)));
    }
  }
}

class ShardRoundTripTest
    : public ::testing::TestWithParam<std::tuple<SplitKind, int>> {};

TEST_P(ShardRoundTripTest, ExtractThenInsertRebuildsTheTensor) {
  const auto [kind, tp] = GetParam();
  const std::vector<uint64_t> shape = {12, 20};
  auto plan = MakeSplitPlan(kind, 2, shape, tp);
  ASSERT_TRUE(plan.ok()) << plan.status();
  std::vector<uint8_t> tensor(12 * 20 * 2);
  std::iota(tensor.begin(), tensor.end(), 1);
  std::vector<uint8_t> rebuilt(tensor.size(), 0);
  for (int rank = 0; rank < tp; ++rank) {
    std::vector<uint8_t> shard(plan->shard_bytes(), 0);
    ExtractShard(*plan, tensor, rank, absl::MakeSpan(shard));
    // Element (i, j) of the shard is element (i, j + rank*w) for columns,
    // (i + rank*h, j) for rows.
    const uint64_t h = plan->shard_shape[0], w = plan->shard_shape[1];
    for (uint64_t i = 0; i < h; ++i) {
      for (uint64_t j = 0; j < w; ++j) {
        uint64_t ti = i, tj = j;
        if (kind == SplitKind::kRows || kind == SplitKind::kRowsPadded) {
          ti += rank * h;
        }
        if (kind == SplitKind::kColumns) tj += rank * w;
        ASSERT_EQ(shard[(i * w + j) * 2], tensor[(ti * 20 + tj) * 2]);
        ASSERT_EQ(shard[(i * w + j) * 2 + 1], tensor[(ti * 20 + tj) * 2 + 1]);
      }
    }
    // Gathered in pieces of 5 rows (the last one shorter), the same bytes.
    const uint64_t row = plan->shard_shape[1] * 2;
    std::vector<uint8_t> pieces(shard.size(), 0);
    for (uint64_t r = 0; r < h; r += 5) {
      const uint64_t rows = std::min<uint64_t>(5, h - r);
      ExtractShardRows(*plan, tensor, rank, r,
                       absl::MakeSpan(pieces).subspan(r * row, rows * row));
    }
    EXPECT_EQ(pieces, shard);
    InsertShard(*plan, shard, rank, absl::MakeSpan(rebuilt));
    // A shard said to be contiguous is the tensor's bytes at its offset.
    if (plan->contiguous()) {
      EXPECT_TRUE(std::equal(shard.begin(), shard.end(),
                             tensor.begin() + plan->source_offset(rank)));
    }
  }
  EXPECT_EQ(rebuilt, tensor);
  EXPECT_EQ(plan->contiguous(), kind != SplitKind::kColumns || tp == 1);
}

INSTANTIATE_TEST_SUITE_P(
    KindsAndSizes, ShardRoundTripTest,
    ::testing::Combine(::testing::Values(SplitKind::kRows, SplitKind::kColumns,
                                         SplitKind::kReplicated,
                                         SplitKind::kRowsPadded),
                       ::testing::Values(1, 2, 4)));

}  // namespace
}  // namespace df11
