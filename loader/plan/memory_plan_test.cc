#include "loader/plan/memory_plan.h"

#include <cstdio>
#include <memory>
#include <utility>

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

LlamaConfig Preset(const char* name) {
  absl::StatusOr<LlamaConfig> c = SyntheticLlamaConfig(name);
  EXPECT_TRUE(c.ok()) << c.status();
  return *c;
}

// The tiny preset (hidden 64, 2 layers, 4 heads and 2 KV heads of 16, FFN
// 192, vocab 256) at TP=1 on 2 GB, every number worked out by hand.
TEST(MemoryPlanTest, HandComputedTiny) {
  PlanOptions o;
  o.gpu_memory_gb = 2;
  o.max_batch_tokens = 8;
  o.max_batch_sequences = 4;
  o.max_logit_rows = 4;
  o.kv_block_tokens = 16;
  o.max_context = 128;
  o.df11_bits_per_weight = 11;
  absl::StatusOr<MemoryPlan> plan = PlanMemory(Preset("tiny"), 1, o);
  ASSERT_TRUE(plan.ok()) << plan.status();
  const MemoryPlan& p = *plan;
  EXPECT_EQ(p.gpu_bytes, 2000000000u);
  // Matrices: embedding 256x64; per layer q|k|v (64+32+32)x64, o 64x64,
  // gate|up 384x64, down 64x192; LM head 256x64. Norms: 2x64 per layer + 64.
  EXPECT_EQ(p.matrix_elements,
            16384u + 2 * (8192 + 4096 + 24576 + 12288) + 16384u);
  EXPECT_EQ(p.matrix_elements, 131072u);
  EXPECT_EQ(p.norm_elements, 320u);
  EXPECT_EQ(p.kv_bytes_per_token, 2u * 2 * 32 * 2);

  // DF11: 131072 x 11 / 8 + 320 x 2; BF16: (131072 + 320) x 2.
  EXPECT_EQ(p.df11.weights, 180224u + 640);
  EXPECT_EQ(p.bf16.weights, 262784u);
  EXPECT_EQ(p.offload.weights, 0u);
  EXPECT_EQ(p.offload.host_weights, 262784u);
  // Largest group: a layer. Matrix slots only (norms stay in place):
  // 16384 + 8192 + 49152 + 24576. Offload also copies the two norms, each
  // slot 256-aligned: 256 + 16384 + 8192 + 256 + 49152 + 24576.
  EXPECT_EQ(p.df11.decode_buffers, 2u * 98304);
  EXPECT_EQ(p.bf16.decode_buffers, 0u);
  EXPECT_EQ(p.offload.decode_buffers, 2u * 98816);
  // x, h, proj 3x8x64x2; q|k|v 8x128x2; attention 8x64x2; gate|up
  // 8x384x2; act 8x192x2; logits 4x256x4; gathered 1x4x256x4.
  EXPECT_EQ(p.df11.activations,
            3072u + 2048 + 1024 + 6144 + 3072 + 4096 + 4096);
  const WorkspacePlan& w = p.df11.workspace;
  EXPECT_EQ(w.cublaslt, 32u << 20);
  EXPECT_EQ(w.attention, 136u << 20);
  // 4 x (3x8 rows + 2x5 indptr + 4 last-page lengths) + 8 x (4 + 64 + 168).
  EXPECT_EQ(w.step_metadata, 152u + 1888);
  EXPECT_EQ(w.rope_table, 128u * 8 * 2 * 4);
  EXPECT_EQ(w.sampling, 4u * 256 * 8);
  EXPECT_EQ(w.nccl, 0u);
  EXPECT_EQ(w.total(), 176179192u);
  EXPECT_EQ(p.df11.margin, (512u << 20) + 40000000u);

  // KV: blocks of 16 x 256 + 4 (block-table entry) = 4100 bytes.
  EXPECT_EQ(p.df11.left_for_kv, 2000000000 - 753451128);
  EXPECT_EQ(p.df11.kv_capacity_tokens, 304036 * 16);
  EXPECT_EQ(p.df11.kv_cache, 304036u * 4100);
  EXPECT_EQ(p.bf16.left_for_kv, 2000000000 - 753336440);
  EXPECT_EQ(p.bf16.kv_capacity_tokens, 304064 * 16);
  EXPECT_EQ(p.offload.kv_capacity_tokens, 304080 * 16);
  EXPECT_TRUE(p.df11.fits && p.bf16.fits && p.offload.fits);
}

// KV heads are replicated when there are fewer than ranks; logit rows are
// capped by max_batch_tokens as the engine does.
TEST(MemoryPlanTest, ReplicatedKvHeadsAndCappedLogitRows) {
  PlanOptions o;
  o.max_batch_tokens = 2;
  absl::StatusOr<MemoryPlan> p = PlanMemory(Preset("tiny"), 4, o);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->q_heads, 1);
  EXPECT_EQ(p->kv_heads, 2);
  EXPECT_EQ(p->ffn, 48);
  EXPECT_EQ(p->vocab_shard, 64);
  EXPECT_EQ(p->options.max_logit_rows, 2);
  EXPECT_EQ(p->options.max_context, 2048);
  EXPECT_EQ(p->df11.workspace.nccl, kNcclBytes);
}

TEST(MemoryPlanTest, RejectsBadInput) {
  const LlamaConfig tiny = Preset("tiny");
  EXPECT_EQ(PlanMemory(tiny, 3, {}).status().code(),
            absl::StatusCode::kInvalidArgument);  // 4 heads
  EXPECT_EQ(PlanMemory(tiny, 0, {}).status().code(),
            absl::StatusCode::kInvalidArgument);
  PlanOptions o;
  o.gpu_memory_gb = 0;
  EXPECT_EQ(PlanMemory(tiny, 1, o).status().code(),
            absl::StatusCode::kInvalidArgument);
  o = {};
  o.kv_block_tokens = 0;
  EXPECT_EQ(PlanMemory(tiny, 1, o).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseResidency("fp8").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(*ParseResidency("offload"), Residency::kOffload);
}

// Llama 3.1 8B at TP=1 on one 80 GB GPU: both fit; DF11 leaves more KV.
TEST(MemoryPlanTest, Llama8bTp1On80GB) {
  absl::StatusOr<MemoryPlan> p = PlanMemory(Preset("8b"), 1, {});
  ASSERT_TRUE(p.ok()) << p.status();
  std::printf("%s", FormatMemoryPlan(Preset("8b"), *p).c_str());
  // Per layer 218,103,808 matrix elements (docs/perf.md's 8B layer), plus
  // the embedding and the LM head, 128256 x 4096 each.
  EXPECT_EQ(p->matrix_elements, 32ull * 218103808 + 2ull * 128256 * 4096);
  EXPECT_EQ(p->norm_elements, 32ull * 2 * 4096 + 4096);
  EXPECT_EQ(p->bf16.weights, 16060522496ull);
  EXPECT_EQ(p->kv_bytes_per_token, 131072u);  // 2 x 32 x 8 x 128 x 2
  // The LM head is the largest group: 525 MB decoded, twice.
  EXPECT_EQ(p->df11.decode_buffers, 2ull * 128256 * 4096 * 2);
  EXPECT_TRUE(p->df11.fits);
  EXPECT_TRUE(p->bf16.fits);
  EXPECT_GT(p->df11.kv_capacity_tokens, p->bf16.kv_capacity_tokens);
  // Recorded (docs/perf.md). DF11: 8,029,995,008 x 10.9 / 8 (rounded up)
  // + 266,240 x 2.
  EXPECT_EQ(p->df11.weights, 10941400679ull);
  EXPECT_EQ(p->df11.kv_capacity_tokens, 491168);
  EXPECT_EQ(p->bf16.kv_capacity_tokens, 468144);
}

// Llama 3.1 405B at TP=8 on 8 x 80 GB: BF16 does not fit, DF11 does, with
// KV cache to spare (DESIGN.md: ~69 GB of DF11 per rank, 64.5 KB of KV per
// token).
TEST(MemoryPlanTest, Llama405bTp8On80GB) {
  absl::StatusOr<MemoryPlan> p = PlanMemory(Preset("405b"), 8, {});
  ASSERT_TRUE(p.ok()) << p.status();
  std::printf("%s", FormatMemoryPlan(Preset("405b"), *p).c_str());
  EXPECT_EQ(p->q_heads, 16);
  EXPECT_EQ(p->kv_heads, 1);
  // docs/perf.md's 405B TP=8 layer shard: 398,458,880 elements.
  EXPECT_EQ(p->matrix_elements, 126ull * 398458880 + 2ull * 16032 * 16384);
  EXPECT_EQ(p->kv_bytes_per_token, 64512u);
  EXPECT_EQ(p->bf16.weights, 101470601216ull);
  EXPECT_FALSE(p->bf16.fits);
  EXPECT_LT(p->bf16.left_for_kv, 0);
  EXPECT_EQ(p->bf16.kv_capacity_tokens, 0);
  EXPECT_TRUE(p->df11.fits);
  EXPECT_GT(p->df11.kv_capacity_tokens, 0);
  EXPECT_NEAR(p->df11.weights / 1e9, 69.1, 0.1);
  // Recorded (docs/perf.md). DF11: 50,731,155,456 x 10.9 / 8 (rounded up)
  // + 4,145,152 x 2.
  EXPECT_EQ(p->df11.weights, 69129489613ull);
  EXPECT_EQ(p->df11.kv_capacity_tokens, 95808);
}

// The plan's exact parts match what the engine allocates, on the CPU
// backend (FP32 activations and KV), for DF11 and raw BF16 weights.
TEST(MemoryPlanTest, MatchesTheEngine) {
  const LlamaConfig config = Preset("tiny");
  PlanOptions o;
  o.max_batch_tokens = 24;
  o.max_batch_sequences = 3;
  o.max_logit_rows = 5;
  o.max_context = 64;
  o.activation_bytes = 4;
  o.kv_bytes = 4;
  absl::StatusOr<MemoryPlan> plan = PlanMemory(config, 1, o);
  ASSERT_TRUE(plan.ok()) << plan.status();
  for (bool df11 : {true, false}) {
    SCOPED_TRACE(df11 ? "df11" : "bf16");
    SyntheticOptions so;
    so.df11 = df11;
    auto source = OpenSyntheticWeightSource(config, {}, so);
    ASSERT_TRUE(source.ok()) << source.status();
    EngineOptions eo;
    eo.max_batch_tokens = o.max_batch_tokens;
    eo.max_batch_sequences = o.max_batch_sequences;
    eo.max_logit_rows = o.max_logit_rows;
    eo.max_context = o.max_context;
    eo.kv_capacity_tokens = 100;  // 7 blocks of 16
    auto engine =
        LlamaEngine::Create(config, **source, CpuBackendFor(WorldConfig{}), eo);
    ASSERT_TRUE(engine.ok()) << engine.status();
    const EngineMemory m = (*engine)->memory();
    const ResidencyPlan& r =
        plan->For(df11 ? Residency::kDf11 : Residency::kBf16);
    EXPECT_EQ(m.weights_original, plan->bf16.weights);
    EXPECT_EQ(m.decode_buffers, r.decode_buffers);
    EXPECT_EQ(m.activations, r.activations);
    EXPECT_EQ(m.kv_cache, 7 * 16 * plan->kv_bytes_per_token);
    if (df11) {
      EXPECT_LT(m.weights_stored, m.weights_original);
    } else {
      EXPECT_EQ(m.weights_stored, r.weights);
    }
  }
}

TEST(MemoryPlanTest, JsonHasEveryResidency) {
  absl::StatusOr<MemoryPlan> p = PlanMemory(Preset("70b"), 4, {});
  ASSERT_TRUE(p.ok()) << p.status();
  const nlohmann::json j = MemoryPlanJson(*p);
  for (const char* r : {"df11", "bf16", "offload"}) {
    ASSERT_TRUE(j["residency"].contains(r)) << r;
    EXPECT_EQ(j["residency"][r]["kv_capacity_tokens"].get<int64_t>(),
              p->For(*ParseResidency(r)).kv_capacity_tokens);
  }
  EXPECT_EQ(j["tp"], 4);
  EXPECT_EQ(j["kv_bytes_per_token"].get<uint64_t>(), p->kv_bytes_per_token);
}

}  // namespace
}  // namespace df11
