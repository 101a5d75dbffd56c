// The engine at TP=2 (run under mpirun -np 2 by the mpi_gtest rule,
// tests/mpi_gtest) against Hugging Face transformers and against itself at
// TP=1, from the BF16 checkpoint and from its DF11 compression for 2 ranks.
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "loader/backend/cpu/cpu_backend.h"
#include "loader/engine/generate.h"
#include "loader/engine/weight_source.h"
#include "loader/format/df11_compress.h"
#include "loader/format/df11_model.h"
#include "loader/format/llama_config.h"
#include "loader/format/synthetic_checkpoint.h"
#include "tests/engine/golden_fixture.h"
#include "tests/mpi_gtest/mpi_test_base.h"

namespace df11 {
namespace {

using Param = std::tuple<const char*, WeightKind>;

class TpGoldenTest : public MpiTestWithParam<Param> {
 protected:
  void SetUp() override {
    ASSERT_EQ(World().size, 2);
    absl::StatusOr<GoldenModel> golden = LoadGolden(std::get<0>(GetParam()));
    ASSERT_TRUE(golden.ok()) << golden.status();
    golden_ = *std::move(golden);
    auto engine = MakeEngine(golden_, std::get<1>(GetParam()), World(),
                             golden_.prompts.size());
    ASSERT_TRUE(engine.ok()) << engine.status();
    engine_ = *std::move(engine);
  }

  std::vector<StepInput> AllPrompts(LlamaEngine& engine) {
    std::vector<StepInput> batch;
    for (const auto& prompt : golden_.prompts) {
      absl::StatusOr<SequenceId> seq = NewSequence(engine);
      EXPECT_TRUE(seq.ok()) << seq.status();
      batch.push_back({seq.value_or(0), prompt, true});
    }
    return batch;
  }

  GoldenModel golden_;
  std::unique_ptr<LlamaEngine> engine_;
};

TEST_P(TpGoldenTest, LogitsMatchHf) {
  auto logits = engine_->Forward(AllPrompts(*engine_));
  ASSERT_TRUE(logits.ok()) << logits.status();
  for (size_t p = 0; p < golden_.prompts.size(); ++p) {
    const LogitsDiff d = CompareLogits((*logits)[p], golden_.logits[p]);
    EXPECT_LE(d.max_abs, kMaxAbsTolerance) << "prompt " << p;
    EXPECT_LE(d.rel_l2, kRelL2Tolerance) << "prompt " << p;
    if (World().is_root()) {
      std::printf("tp2 %s/%s prompt %zu: max abs %.3g, rel L2 %.3g\n",
                  std::get<0>(GetParam()),
                  WeightKindName(std::get<1>(GetParam())), p, d.max_abs,
                  d.rel_l2);
    }
  }
}

TEST_P(TpGoldenTest, LogitsMatchTp1) {
  auto single = MakeEngine(golden_, std::get<1>(GetParam()), {0, 1},
                           golden_.prompts.size());
  ASSERT_TRUE(single.ok()) << single.status();
  auto tp2 = engine_->Forward(AllPrompts(*engine_));
  auto tp1 = (*single)->Forward(AllPrompts(**single));
  ASSERT_TRUE(tp2.ok()) << tp2.status();
  ASSERT_TRUE(tp1.ok()) << tp1.status();
  for (size_t p = 0; p < golden_.prompts.size(); ++p) {
    const LogitsDiff d = CompareLogits((*tp2)[p], (*tp1)[p]);
    EXPECT_LE(d.max_abs, kMaxAbsTolerance) << "prompt " << p;
    EXPECT_LE(d.rel_l2, kRelL2Tolerance) << "prompt " << p;
    if (World().is_root()) {
      std::printf("tp2 vs tp1 %s/%s prompt %zu: max abs %.3g, rel L2 %.3g\n",
                  std::get<0>(GetParam()),
                  WeightKindName(std::get<1>(GetParam())), p, d.max_abs,
                  d.rel_l2);
    }
  }
}

TEST_P(TpGoldenTest, GreedyMatchesHf) {
  GenerateOptions options;
  options.max_new_tokens = golden_.greedy[0].size();
  auto out = Generate(*engine_, golden_.prompts, options);
  ASSERT_TRUE(out.ok()) << out.status();
  for (size_t p = 0; p < golden_.prompts.size(); ++p) {
    EXPECT_EQ((*out)[p].tokens, golden_.greedy[p]) << "prompt " << p;
  }
}

INSTANTIATE_TEST_SUITE_P(Models, TpGoldenTest,
                         testing::Combine(testing::ValuesIn(kGoldenModels),
                                          testing::Values(WeightKind::kHfBf16,
                                                          WeightKind::kDf11)),
                         [](const testing::TestParamInfo<Param>& info) {
                           return std::string(std::get<0>(info.param)) + "_" +
                                  WeightKindName(std::get<1>(info.param));
                         });

class TpBitwiseTest : public MpiTestWithParam<const char*> {};

// DF11 and BF16 give identical bits at TP=2 too.
TEST_P(TpBitwiseTest, Df11EqualsBf16) {
  absl::StatusOr<GoldenModel> golden = LoadGolden(GetParam());
  ASSERT_TRUE(golden.ok()) << golden.status();
  const absl::Status same = CheckDf11EqualsBf16(*golden, World(), /*seed=*/11);
  EXPECT_TRUE(same.ok()) << same;
}

INSTANTIATE_TEST_SUITE_P(Models, TpBitwiseTest,
                         testing::ValuesIn(kGoldenModels));

class TpKvReplicatedTest : public MpiTest {};

// One key/value head on two ranks: both ranks hold it whole (k and v are
// replicated, docs/format.md) and the result matches one rank.
TEST_F(TpKvReplicatedTest, OneKeyValueHeadOnTwoRanksMatchesOneRank) {
  // Each rank writes its own identical copy: no rank waits on another's file.
  const std::string dir =
      absl::StrCat(std::getenv("TEST_TMPDIR"), "/kv1_rank", World().rank);
  std::filesystem::remove_all(dir);
  std::filesystem::remove_all(dir + "_df11");
  SyntheticSpec spec;
  spec.num_kv_heads = 1;
  ASSERT_TRUE(WriteSyntheticCheckpoint(dir, spec, 1).ok());
  CompressOptions compress;
  compress.tp = 2;
  ASSERT_TRUE(CompressCheckpoint(dir, dir + "_df11", compress).ok());
  auto model = Df11Model::Open(dir + "_df11");
  ASSERT_TRUE(model.ok()) << model.status();
  for (const ManifestTensor& t : (*model)->manifest().tensors) {
    if (t.name.find("k_proj") != std::string::npos ||
        t.name.find("v_proj") != std::string::npos) {
      EXPECT_EQ(t.split, SplitKind::kReplicated) << t.name;
    }
  }
  auto config = ReadLlamaConfig(dir + "/config.json");
  ASSERT_TRUE(config.ok()) << config.status();
  EngineOptions options;
  options.kv_capacity_tokens = 2 * config->max_position_embeddings;
  auto tp2_weights = OpenDf11WeightSource(dir + "_df11", World().rank);
  auto tp1_weights = OpenHfWeightSource(dir, *config, 1, 0);
  ASSERT_TRUE(tp2_weights.ok() && tp1_weights.ok());
  auto tp2 =
      LlamaEngine::Create(*config, **tp2_weights,
                          std::make_unique<CpuBackend>(World(), 1), options);
  auto tp1 = LlamaEngine::Create(
      *config, **tp1_weights,
      std::make_unique<CpuBackend>(WorldConfig{0, 1}, 1), options);
  ASSERT_TRUE(tp2.ok()) << tp2.status();
  ASSERT_TRUE(tp1.ok()) << tp1.status();
  const std::vector<std::vector<int32_t>> prompts = {{1, 5, 9, 77, 200},
                                                     {3, 250}};
  GenerateOptions generate;
  generate.max_new_tokens = 8;
  generate.prompt_logits = true;
  auto a = Generate(**tp2, prompts, generate);
  auto b = Generate(**tp1, prompts, generate);
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_TRUE(b.ok()) << b.status();
  for (size_t p = 0; p < prompts.size(); ++p) {
    const LogitsDiff d =
        CompareLogits((*a)[p].prompt_logits, (*b)[p].prompt_logits);
    EXPECT_LE(d.max_abs, kMaxAbsTolerance) << "prompt " << p;
    EXPECT_LE(d.rel_l2, kRelL2Tolerance) << "prompt " << p;
    EXPECT_EQ((*a)[p].tokens, (*b)[p].tokens) << "prompt " << p;
  }
}

class TpMismatchTest : public MpiTest {};

// A model directory split for 1 rank, opened by 2 running ranks.
TEST_F(TpMismatchTest, ShardsForOtherTpSizeAreRejected) {
  absl::StatusOr<GoldenModel> golden = LoadGolden("mha");
  ASSERT_TRUE(golden.ok()) << golden.status();
  absl::StatusOr<std::string> dir =
      CompressedDir(*golden, 1, absl::StrCat("_rank", World().rank));

  ASSERT_TRUE(dir.ok()) << dir.status();
  auto source = OpenDf11WeightSource(*dir, 0);
  ASSERT_TRUE(source.ok()) << source.status();
  auto engine = LlamaEngine::Create(golden->config, **source,
                                    std::make_unique<CpuBackend>(World(), 1),
                                    EngineOptions{});
  ASSERT_FALSE(engine.ok());
  EXPECT_EQ(engine.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(engine.status().message().find(
                "split for tensor parallel size 1 but 2 rank(s)"),
            std::string::npos)
      << engine.status();
}

}  // namespace
}  // namespace df11
