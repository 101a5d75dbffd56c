#include "loader/shard/llama_split.h"

#include <algorithm>
#include <numeric>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace df11 {
namespace {

using ::testing::HasSubstr;

AttentionHeads Config(int heads, int kv_heads) { return {heads, kv_heads}; }

struct RuleCase {
  std::string name;
  std::vector<uint64_t> shape;
  int kv_heads;
  int tp;
  SplitKind kind;
  std::vector<uint64_t> shard_shape;
};

class LlamaSplitRuleTest : public ::testing::TestWithParam<RuleCase> {};

TEST_P(LlamaSplitRuleTest, KindAndShardShape) {
  const RuleCase& c = GetParam();
  auto plan = PlanLlamaSplit(c.name, 2, c.shape, Config(8, c.kv_heads), c.tp);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->kind, c.kind);
  EXPECT_EQ(plan->shard_shape, c.shard_shape);
}

INSTANTIATE_TEST_SUITE_P(
    Rules, LlamaSplitRuleTest,
    ::testing::Values(
        RuleCase{"model.layers.0.self_attn.q_proj.weight",
                 {64, 64},
                 4,
                 2,
                 SplitKind::kRows,
                 {32, 64}},
        RuleCase{"model.layers.0.self_attn.k_proj.weight",
                 {32, 64},
                 4,
                 4,
                 SplitKind::kRows,
                 {8, 64}},
        RuleCase{"model.layers.0.self_attn.v_proj.weight",
                 {32, 64},
                 4,
                 2,
                 SplitKind::kRows,
                 {16, 64}},
        RuleCase{"model.layers.0.self_attn.k_proj.weight",
                 {16, 64},
                 2,
                 4,
                 SplitKind::kReplicated,
                 {16, 64}},
        RuleCase{"model.layers.0.self_attn.o_proj.weight",
                 {64, 64},
                 4,
                 4,
                 SplitKind::kColumns,
                 {64, 16}},
        RuleCase{"model.layers.1.mlp.gate_proj.weight",
                 {128, 64},
                 4,
                 2,
                 SplitKind::kRows,
                 {64, 64}},
        RuleCase{"model.layers.1.mlp.up_proj.weight",
                 {128, 64},
                 4,
                 2,
                 SplitKind::kRows,
                 {64, 64}},
        RuleCase{"model.layers.1.mlp.down_proj.weight",
                 {64, 128},
                 4,
                 2,
                 SplitKind::kColumns,
                 {64, 64}},
        RuleCase{"model.embed_tokens.weight",
                 {256, 64},
                 4,
                 4,
                 SplitKind::kRows,
                 {64, 64}},
        RuleCase{
            "lm_head.weight", {256, 64}, 4, 2, SplitKind::kRows, {128, 64}},
        RuleCase{"model.norm.weight", {64}, 4, 4, SplitKind::kReplicated, {64}},
        RuleCase{"model.layers.0.input_layernorm.weight",
                 {64},
                 4,
                 2,
                 SplitKind::kReplicated,
                 {64}},
        RuleCase{"model.layers.0.self_attn.q_proj.weight",
                 {64, 64},
                 4,
                 1,
                 SplitKind::kRows,
                 {64, 64}}));

TEST(LlamaSplitTest, IndivisibleShapeNamesTheTensor) {
  auto plan = PlanLlamaSplit("model.layers.0.mlp.up_proj.weight", 2, {100, 64},
                             Config(8, 8), 8);
  EXPECT_EQ(plan.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(plan.status().message()),
              HasSubstr("model.layers.0.mlp.up_proj.weight"));
  EXPECT_THAT(std::string(plan.status().message()),
              HasSubstr("does not divide"));
}

TEST(LlamaSplitTest, IndivisibleHeadsAreRejected) {
  auto plan = PlanLlamaSplit("model.layers.0.self_attn.q_proj.weight", 2,
                             {60, 64}, Config(6, 6), 4);
  EXPECT_EQ(plan.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(plan.status().message()),
              HasSubstr("6 attention heads do not divide into 4"));
}

TEST(LlamaSplitTest, SplitOfA1DTensorIsRejected) {
  auto plan = MakeSplitPlan(SplitKind::kRows, 2, {64}, 2);
  EXPECT_EQ(plan.status().code(), absl::StatusCode::kInvalidArgument);
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
        if (kind == SplitKind::kRows) ti += rank * h;
        if (kind == SplitKind::kColumns) tj += rank * w;
        ASSERT_EQ(shard[(i * w + j) * 2], tensor[(ti * 20 + tj) * 2]);
        ASSERT_EQ(shard[(i * w + j) * 2 + 1], tensor[(ti * 20 + tj) * 2 + 1]);
      }
    }
    if (kind == SplitKind::kColumns) {
      // Gathered in pieces of 5 rows (the last one shorter), the same bytes.
      const uint64_t row = plan->shard_shape[1] * 2;
      std::vector<uint8_t> pieces(shard.size(), 0);
      for (uint64_t r = 0; r < 12; r += 5) {
        const uint64_t rows = std::min<uint64_t>(5, 12 - r);
        ExtractColumnsShardRows(
            *plan, tensor, rank, r,
            absl::MakeSpan(pieces).subspan(r * row, rows * row));
      }
      EXPECT_EQ(pieces, shard);
    }
    InsertShard(*plan, shard, rank, absl::MakeSpan(rebuilt));
    // A shard said to be contiguous is the tensor's bytes at its offset.
    if (plan->contiguous()) {
      const uint64_t offset =
          kind == SplitKind::kReplicated ? 0 : rank * plan->shard_bytes();
      EXPECT_TRUE(
          std::equal(shard.begin(), shard.end(), tensor.begin() + offset));
    }
  }
  EXPECT_EQ(rebuilt, tensor);
  EXPECT_EQ(plan->contiguous(), kind != SplitKind::kColumns || tp == 1);
}

INSTANTIATE_TEST_SUITE_P(
    KindsAndSizes, ShardRoundTripTest,
    ::testing::Combine(::testing::Values(SplitKind::kRows, SplitKind::kColumns,
                                         SplitKind::kReplicated),
                       ::testing::Values(1, 2, 4)));

}  // namespace
}  // namespace df11
