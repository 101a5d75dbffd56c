// The engine at TP=1 against Hugging Face transformers (fixtures made by
// make_golden.py), from the original BF16 checkpoint and from its DF11
// compression; and DF11 == BF16 bit for bit.
#include <algorithm>
#include <cstring>
#include <string>
#include <tuple>
#include <vector>

#include "gtest/gtest.h"
#include "loader/engine/generate.h"
#include "loader/engine/rope.h"
#include "tests/engine/golden_fixture.h"

namespace df11 {
namespace {

using Param = std::tuple<const char*, WeightKind>;

class GoldenTest : public testing::TestWithParam<Param> {
 protected:
  void SetUp() override {
    absl::StatusOr<GoldenModel> golden = LoadGolden(std::get<0>(GetParam()));
    ASSERT_TRUE(golden.ok()) << golden.status();
    golden_ = *std::move(golden);
    auto engine = MakeEngine(golden_, std::get<1>(GetParam()), {0, 1},
                             golden_.prompts.size());
    ASSERT_TRUE(engine.ok()) << engine.status();
    engine_ = *std::move(engine);
  }

  void ExpectClose(const std::vector<float>& ours, size_t prompt) {
    const LogitsDiff d = CompareLogits(ours, golden_.logits[prompt]);
    EXPECT_LE(d.max_abs, kMaxAbsTolerance) << "prompt " << prompt;
    EXPECT_LE(d.rel_l2, kRelL2Tolerance) << "prompt " << prompt;
    std::printf("%s/%s prompt %zu (%zu tokens): max abs %.6g, rel L2 %.6g\n",
                std::get<0>(GetParam()),
                WeightKindName(std::get<1>(GetParam())), prompt,
                golden_.prompts[prompt].size(), d.max_abs, d.rel_l2);
  }

  GoldenModel golden_;
  std::unique_ptr<LlamaEngine> engine_;
};

TEST_P(GoldenTest, LogitsOfEveryPositionMatchHf) {
  for (size_t p = 0; p < golden_.prompts.size(); ++p) {
    absl::StatusOr<SequenceId> seq = NewSequence(*engine_);
    ASSERT_TRUE(seq.ok()) << seq.status();
    auto logits = engine_->Forward({{*seq, golden_.prompts[p], true}});
    ASSERT_TRUE(logits.ok()) << logits.status();
    ExpectClose((*logits)[0], p);
    engine_->RemoveSequence(*seq);
  }
}

TEST_P(GoldenTest, BatchOfDifferentLengthsMatchesHf) {
  std::vector<StepInput> batch;
  for (size_t p = 0; p < golden_.prompts.size(); ++p) {
    absl::StatusOr<SequenceId> seq = NewSequence(*engine_);
    ASSERT_TRUE(seq.ok()) << seq.status();
    batch.push_back({*seq, golden_.prompts[p], true});
  }
  auto logits = engine_->Forward(batch);
  ASSERT_TRUE(logits.ok()) << logits.status();
  ASSERT_EQ(logits->size(), golden_.prompts.size());
  for (size_t p = 0; p < golden_.prompts.size(); ++p) {
    ExpectClose((*logits)[p], p);
  }
}

TEST_P(GoldenTest, GreedyMatchesHfOneAtATime) {
  for (size_t p = 0; p < golden_.prompts.size(); ++p) {
    GenerateOptions options;
    options.max_new_tokens = golden_.greedy[p].size();
    auto out = Generate(*engine_, {golden_.prompts[p]}, options);
    ASSERT_TRUE(out.ok()) << out.status();
    EXPECT_EQ((*out)[0].tokens, golden_.greedy[p]) << "prompt " << p;
  }
}

TEST_P(GoldenTest, GreedyMatchesHfBatched) {
  GenerateOptions options;
  options.max_new_tokens = golden_.greedy[0].size();
  auto out = Generate(*engine_, golden_.prompts, options);
  ASSERT_TRUE(out.ok()) << out.status();
  for (size_t p = 0; p < golden_.prompts.size(); ++p) {
    EXPECT_EQ((*out)[p].tokens, golden_.greedy[p]) << "prompt " << p;
  }
}

// HF's greedy path, cut at the first of several EOS ids: generation stops
// right after producing any of them, and keeps it.
TEST_P(GoldenTest, GreedyStopsOnAnyEosId) {
  const std::vector<int32_t>& path = golden_.greedy[0];
  ASSERT_GE(path.size(), 6u);
  const int32_t eos = path[4];
  // The first occurrence of `eos` on the path is where generation must stop.
  const size_t stop = std::find(path.begin(), path.end(), eos) - path.begin();
  GenerateOptions options;
  options.max_new_tokens = path.size();
  // A decoy id that does not occur up to the stop, then the one that does:
  // any listed id stops generation.
  int32_t decoy = static_cast<int32_t>(golden_.config.vocab_size) - 1;
  while (std::find(path.begin(), path.begin() + stop + 1, decoy) !=
         path.begin() + stop + 1) {
    --decoy;
  }
  options.eos_ids = {decoy, eos};
  auto out = Generate(*engine_, {golden_.prompts[0]}, options);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_TRUE((*out)[0].stopped_on_eos);
  EXPECT_EQ((*out)[0].tokens,
            std::vector<int32_t>(path.begin(), path.begin() + stop + 1));
}

INSTANTIATE_TEST_SUITE_P(Models, GoldenTest,
                         testing::Combine(testing::ValuesIn(kGoldenModels),
                                          testing::Values(WeightKind::kHfBf16,
                                                          WeightKind::kDf11)),
                         [](const testing::TestParamInfo<Param>& info) {
                           return std::string(std::get<0>(info.param)) + "_" +
                                  WeightKindName(std::get<1>(info.param));
                         });

class Df11BitwiseTest : public testing::TestWithParam<const char*> {};

// The product's promise: on the same backend and TP size, the DF11 model
// and the original BF16 model give identical logits and tokens.
TEST_P(Df11BitwiseTest, Df11EqualsBf16) {
  absl::StatusOr<GoldenModel> golden = LoadGolden(GetParam());
  ASSERT_TRUE(golden.ok()) << golden.status();
  const absl::Status same = CheckDf11EqualsBf16(*golden, {0, 1}, /*seed=*/5);
  EXPECT_TRUE(same.ok()) << same;
}

INSTANTIATE_TEST_SUITE_P(Models, Df11BitwiseTest,
                         testing::ValuesIn(kGoldenModels));

class RopeTest : public testing::TestWithParam<const char*> {};

// Our FP32 inverse frequencies against transformers' float32 tensor.
TEST_P(RopeTest, InvFreqMatchesHf) {
  absl::StatusOr<GoldenModel> golden = LoadGolden(GetParam());
  ASSERT_TRUE(golden.ok()) << golden.status();
  const std::vector<float> ours = RopeInvFreq(golden->config);
  ASSERT_EQ(ours.size(), golden->rope_inv_freq.size());
  for (size_t j = 0; j < ours.size(); ++j) {
    const float hf = static_cast<float>(golden->rope_inv_freq[j]);
    EXPECT_NEAR(ours[j], hf, 2 * std::abs(hf) * 1.2e-7) << "j = " << j;
  }
}

INSTANTIATE_TEST_SUITE_P(Models, RopeTest, testing::ValuesIn(kGoldenModels));

}  // namespace
}  // namespace df11
