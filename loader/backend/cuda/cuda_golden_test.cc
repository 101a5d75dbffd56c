// The CUDA backend end to end on the Hugging Face fixtures of tests/engine
// (tiny random-init Llamas, logits from transformers in FP32 from the BF16
// weights): logits within the BF16-activation tolerance of
// docs/cuda_backend.md, greedy tokens equal HF's wherever HF's top-1/top-2
// margin is clear of that tolerance, DF11 == BF16 bit for bit, graphs ==
// eager bit for bit, and a memory cap that holds.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "loader/backend/backend_factory.h"
#include "loader/engine/generate.h"
#include "loader/engine/weight_source.h"
#include "loader/gpu/gpu_test_util.h"
#include "nlohmann/json.hpp"
#include "tests/engine/golden_fixture.h"

namespace df11 {
namespace {

// BF16 activations against HF's FP32 logits (docs/cuda_backend.md): HF's
// own BF16 forward pass is up to 0.096 max abs / 0.0146 rel L2 from its FP32
// one on these fixtures (hf_bf16_error.py); ours measured 0.061 / 0.0105.
// No worse than HF's own BF16 run, with a little room.
constexpr double kBf16MaxAbs = 0.1;
constexpr double kBf16RelL2 = 0.02;
// A greedy step whose HF top-1/top-2 margin is below this may go either way
// with BF16 activations (twice the largest logit error allowed).
constexpr double kMarginFloor = 2 * kBf16MaxAbs;

absl::StatusOr<std::unique_ptr<LlamaEngine>> MakeCudaEngine(
    const GoldenModel& golden, WeightKind kind, BackendOptions options,
    int64_t sequences = 4) {
  std::unique_ptr<WeightSource> source;
  const WorldConfig world;
  if (kind == WeightKind::kDf11) {
    auto dir = CompressedDir(golden, 1, "_cuda");
    if (!dir.ok()) return dir.status();
    auto s = OpenDf11WeightSource(*dir, 0);
    if (!s.ok()) return s.status();
    source = *std::move(s);
  } else {
    auto s = OpenHfWeightSource(golden.dir, golden.config, 1, 0);
    if (!s.ok()) return s.status();
    source = *std::move(s);
  }
  options.print_memory_plan = false;
  auto backend = MakeBackendFactory(BackendKind::kCuda, options)(world);
  if (!backend.ok()) return backend.status();
  EngineOptions e;
  e.kv_capacity_tokens = sequences * golden.config.max_position_embeddings;
  return LlamaEngine::Create(golden.config, *source, *std::move(backend), e);
}

// HF's top-1/top-2 margin at each greedy step, per prompt (golden.json).
std::vector<std::vector<double>> LoadMargins(const GoldenModel& golden) {
  std::ifstream in(golden.dir + "/golden.json");
  std::stringstream text;
  text << in.rdbuf();
  return nlohmann::json::parse(text.str())
      .at("greedy_top2_margin")
      .get<std::vector<std::vector<double>>>();
}

int Argmax(const float* row, int64_t n) {
  int best = 0;
  for (int64_t i = 1; i < n; ++i) {
    if (row[i] > row[best]) best = static_cast<int>(i);
  }
  return best;
}

using Param = std::tuple<const char*, WeightKind>;

class CudaGoldenTest : public testing::TestWithParam<Param> {
 protected:
  void SetUp() override {
    SKIP_WITHOUT_GPU();
    auto golden = LoadGolden(std::get<0>(GetParam()));
    ASSERT_TRUE(golden.ok()) << golden.status();
    golden_ = *std::move(golden);
    margins_ = LoadMargins(golden_);
    auto engine = MakeCudaEngine(golden_, std::get<1>(GetParam()), {});
    ASSERT_TRUE(engine.ok()) << engine.status();
    engine_ = *std::move(engine);
  }
  const char* name() const { return std::get<0>(GetParam()); }
  GoldenModel golden_;
  std::vector<std::vector<double>> margins_;
  std::unique_ptr<LlamaEngine> engine_;
};

TEST_P(CudaGoldenTest, LogitsOfEveryPositionWithinBf16Tolerance) {
  for (size_t p = 0; p < golden_.prompts.size(); ++p) {
    auto seq = NewSequence(*engine_);
    ASSERT_TRUE(seq.ok()) << seq.status();
    auto logits = engine_->Forward({{*seq, golden_.prompts[p], true}});
    ASSERT_TRUE(logits.ok()) << logits.status();
    const LogitsDiff d = CompareLogits((*logits)[0], golden_.logits[p]);
    std::printf(
        "BF16-ACT %s/%s prompt %zu (%zu tokens): max abs %.6g, rel L2 "
        "%.6g\n",
        name(), WeightKindName(std::get<1>(GetParam())), p,
        golden_.prompts[p].size(), d.max_abs, d.rel_l2);
    EXPECT_LE(d.max_abs, kBf16MaxAbs) << "prompt " << p;
    EXPECT_LE(d.rel_l2, kBf16RelL2) << "prompt " << p;
    engine_->RemoveSequence(*seq);
  }
}

// Greedy along HF's path (teacher forcing): at every step whose HF margin
// is clear of kMarginFloor our argmax is HF's token. Then free-running
// greedy: equal to HF's 20 tokens, or split only at a step whose margin is
// below the floor (printed).
TEST_P(CudaGoldenTest, GreedyMatchesHfWhereTheMarginIsClear) {
  const int64_t vocab = golden_.config.vocab_size;
  for (size_t p = 0; p < golden_.prompts.size(); ++p) {
    std::vector<int32_t> forced = golden_.prompts[p];
    forced.insert(forced.end(), golden_.greedy[p].begin(),
                  golden_.greedy[p].end() - 1);
    auto seq = NewSequence(*engine_);
    ASSERT_TRUE(seq.ok());
    auto logits = engine_->Forward({{*seq, forced, true}});
    ASSERT_TRUE(logits.ok()) << logits.status();
    engine_->RemoveSequence(*seq);
    const size_t first = golden_.prompts[p].size() - 1;
    int clear = 0;
    for (size_t s = 0; s < golden_.greedy[p].size(); ++s) {
      const int ours = Argmax((*logits)[0].data() + (first + s) * vocab, vocab);
      const double margin = margins_[p][s];
      if (margin < kMarginFloor) continue;
      ++clear;
      EXPECT_EQ(ours, golden_.greedy[p][s])
          << name() << " prompt " << p << " step " << s << " (HF margin "
          << margin << ")";
    }
    std::printf(
        "GREEDY-FORCED %s prompt %zu: %d of %zu steps clear of the "
        "margin floor %.3g, all equal HF\n",
        name(), p, clear, golden_.greedy[p].size(), kMarginFloor);
  }
  GenerateOptions options;
  options.max_new_tokens = 20;
  auto out = Generate(*engine_, golden_.prompts, options);
  ASSERT_TRUE(out.ok()) << out.status();
  for (size_t p = 0; p < golden_.prompts.size(); ++p) {
    const std::vector<int32_t>& ours = (*out)[p].tokens;
    size_t same = 0;
    while (same < ours.size() && same < golden_.greedy[p].size() &&
           ours[same] == golden_.greedy[p][same]) {
      ++same;
    }
    if (same < golden_.greedy[p].size()) {
      const double margin = margins_[p][same];
      std::printf("GREEDY-SPLIT %s prompt %zu at step %zu: HF margin %.6g\n",
                  name(), p, same, margin);
      EXPECT_LT(margin, kMarginFloor)
          << name() << " prompt " << p << ": greedy split at step " << same
          << " where HF's margin is clear";
    } else {
      std::printf("GREEDY %s prompt %zu: all %zu steps equal HF\n", name(), p,
                  same);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Models, CudaGoldenTest,
                         testing::Combine(testing::ValuesIn(kGoldenModels),
                                          testing::Values(WeightKind::kHfBf16,
                                                          WeightKind::kDf11)));

// The same tokens and logits, bit for bit, from DF11 and from BF16, and
// with and without CUDA graphs, sampling with temperature.
class CudaBitwiseTest : public testing::TestWithParam<const char*> {};

TEST_P(CudaBitwiseTest, Df11EqualsBf16AndGraphsEqualEager) {
  SKIP_WITHOUT_GPU();
  auto golden = LoadGolden(GetParam());
  ASSERT_TRUE(golden.ok());
  GenerateOptions options;
  options.max_new_tokens = 20;
  options.sampling = {
      .temperature = 0.9f, .top_k = 50, .top_p = 0.95f, .seed = 11};
  options.prompt_logits = true;
  std::vector<std::vector<Generation>> runs;
  struct Run {
    WeightKind kind;
    WeightResidency residency;
    bool graphs;
  };
  for (const Run r :
       {Run{WeightKind::kDf11, WeightResidency::kDf11, true},
        Run{WeightKind::kHfBf16, WeightResidency::kDf11, true},
        Run{WeightKind::kDf11, WeightResidency::kDf11, false},
        Run{WeightKind::kDf11, WeightResidency::kBf16Resident, true},
        Run{WeightKind::kDf11, WeightResidency::kOffloadPinned, true}}) {
    BackendOptions b;
    b.weight_residency = r.residency;
    b.cuda_graphs = r.graphs;
    auto engine = MakeCudaEngine(*golden, r.kind, b);
    ASSERT_TRUE(engine.ok()) << engine.status();
    auto out = Generate(**engine, golden->prompts, options);
    ASSERT_TRUE(out.ok()) << out.status();
    runs.push_back(*std::move(out));
  }
  for (size_t r = 1; r < runs.size(); ++r) {
    for (size_t p = 0; p < golden->prompts.size(); ++p) {
      SCOPED_TRACE(testing::Message() << "run " << r << " prompt " << p);
      EXPECT_EQ(runs[r][p].tokens, runs[0][p].tokens);
      const auto& a = runs[r][p].prompt_logits;
      const auto& b = runs[0][p].prompt_logits;
      ASSERT_EQ(a.size(), b.size());
      EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size() * 4), 0);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Models, CudaBitwiseTest,
                         testing::ValuesIn(kGoldenModels));

TEST(CudaEngineTest, MemoryCapTooSmallIsResourceExhausted) {
  SKIP_WITHOUT_GPU();
  auto golden = LoadGolden("mha");
  ASSERT_TRUE(golden.ok());
  BackendOptions b;
  b.gpu_memory_gb = 0.03;  // the 32 MiB GEMM workspace alone is more
  auto engine = MakeCudaEngine(*golden, WeightKind::kDf11, b);
  EXPECT_EQ(engine.status().code(), absl::StatusCode::kResourceExhausted)
      << engine.status();
}

}  // namespace
}  // namespace df11
