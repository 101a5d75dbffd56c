#include "loader/plan/profiling_backend.h"

#include <cstring>
#include <memory>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "loader/backend/backend_factory.h"
#include "loader/engine/llama_engine.h"
#include "loader/engine/synthetic_source.h"

namespace df11 {
namespace {

// A CPU backend, made as every caller makes one (backend_factory.h).
std::unique_ptr<Backend> CpuBackendFor(const WorldConfig& world) {
  absl::StatusOr<std::unique_ptr<Backend>> b =
      MakeBackendFactory(BackendKind::kCpu, {})(world);
  EXPECT_TRUE(b.ok()) << b.status();
  return b.ok() ? *std::move(b) : nullptr;
}

StepPlan Prompt(SequenceId id) {
  StepPlan plan;
  SequenceStep item;
  item.id = id;
  item.tokens = {3, 1, 4, 1, 5, 9, 2, 6};
  item.logits = LogitsWanted::kLast;
  plan.items.push_back(item);
  return plan;
}

// Profiling times every category of a step without changing its results.
TEST(ProfilingBackendTest, SplitsAStepAndChangesNothing) {
  const LlamaConfig config = *SyntheticLlamaConfig("small", 2);
  auto source = OpenSyntheticWeightSource(config, {}, {});
  ASSERT_TRUE(source.ok()) << source.status();
  auto wrapped =
      std::make_unique<ProfilingBackend>(CpuBackendFor(WorldConfig{}));
  ProfilingBackend* profiler = wrapped.get();
  EngineOptions options;
  options.max_context = 32;
  auto engine =
      LlamaEngine::Create(config, **source, std::move(wrapped), options);
  ASSERT_TRUE(engine.ok()) << engine.status();

  std::vector<std::vector<float>> logits;
  for (bool profiling : {false, true}) {
    const SequenceId id = profiling ? 2 : 1;
    ASSERT_TRUE((*engine)->AddSequence(id, 8).ok());
    profiler->set_profiling(profiling);
    auto out = (*engine)->Step(Prompt(id));
    ASSERT_TRUE(out.ok()) << out.status();
    logits.push_back((*out)[0].logits);
    const StepProfile p = profiler->TakeProfile();
    if (!profiling) {
      EXPECT_EQ(p.steps, 0);
      EXPECT_EQ(p.total_ms(), 0);
      continue;
    }
    EXPECT_EQ(p.steps, 1);
    EXPECT_GT(p.decode_ms, 0);  // the CPU decodes DF11 in Prefetch
    EXPECT_GT(p.gemm_ms, 0);
    EXPECT_GT(p.attention_ms, 0);
    EXPECT_GT(p.other_ms, 0);
    EXPECT_EQ(p.communication_ms, 0);  // TP=1: no collectives
    const StepProfile per = p.PerStep();
    EXPECT_DOUBLE_EQ(per.total_ms(), p.total_ms());
  }
  ASSERT_EQ(logits[0].size(), logits[1].size());
  EXPECT_EQ(std::memcmp(logits[0].data(), logits[1].data(),
                        logits[0].size() * sizeof(float)),
            0);
  EXPECT_GT(profiler->memory().kv_cache, 0u);
}

}  // namespace
}  // namespace df11
