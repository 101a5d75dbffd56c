// The synthetic weight source: presets, split rules, shards that are slices
// of one model, DF11 payloads that decode to the raw values, shared layers,
// and an engine that runs on it at TP=1 and TP=2 (2 MPI ranks, mpi_gtest)
// with DF11 and BF16 logits bitwise equal, and TP=2 logits equal to TP=1's
// up to FP32 rounding.
#include "loader/engine/synthetic_source.h"

#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "loader/backend/backend_factory.h"
#include "loader/engine/llama_engine.h"
#include "loader/engine/llama_weights.h"
#include "loader/format/synthetic_checkpoint.h"
#include "loader/shard/llama_split.h"
#include "tests/mpi_gtest/mpi_test_base.h"

namespace df11 {
namespace {

// A CPU backend, made as every caller makes one (backend_factory.h).
std::unique_ptr<Backend> CpuBackendFor(const WorldConfig& world) {
  absl::StatusOr<std::unique_ptr<Backend>> b =
      MakeBackendFactory(BackendKind::kCpu, {})(world);
  EXPECT_TRUE(b.ok()) << b.status();
  return b.ok() ? *std::move(b) : nullptr;
}

// Every test runs on each of the 2 ranks; the TP=1 ones independently.
class SyntheticPresetTest : public MpiTest {};
class SyntheticSourceTest : public MpiTest {};

LlamaConfig Config(const char* preset, int64_t layers = -1) {
  absl::StatusOr<LlamaConfig> c = SyntheticLlamaConfig(preset, layers);
  EXPECT_TRUE(c.ok()) << c.status();
  return *c;
}

std::unique_ptr<SyntheticWeightSource> Open(const LlamaConfig& config,
                                            WorldConfig world,
                                            SyntheticOptions options = {}) {
  auto s = OpenSyntheticWeightSource(config, world, options);
  EXPECT_TRUE(s.ok()) << s.status();
  return s.ok() ? *std::move(s) : nullptr;
}

std::vector<uint16_t> Decode(const WeightSource& source,
                             const std::string& name) {
  absl::StatusOr<StoredTensor> t = source.Payload(name);
  EXPECT_TRUE(t.ok()) << t.status();
  std::vector<uint16_t> out(t->info.shard_elements());
  const absl::Status s = DecodeStored(*t, absl::MakeSpan(out), 1);
  EXPECT_TRUE(s.ok()) << s;
  return out;
}

TEST_F(SyntheticPresetTest, TinySmallAnd8bHaveSynthsShapes) {
  for (const char* name : {"tiny", "small", "8b"}) {
    SCOPED_TRACE(name);
    const LlamaConfig c = Config(name);
    const SyntheticSpec s = *SyntheticPreset(name);
    EXPECT_EQ(c.hidden_size, s.hidden_size);
    EXPECT_EQ(c.intermediate_size, s.intermediate_size);
    EXPECT_EQ(c.num_hidden_layers, s.num_layers);
    EXPECT_EQ(c.num_attention_heads, s.num_heads);
    EXPECT_EQ(c.num_key_value_heads, s.num_kv_heads);
    EXPECT_EQ(c.head_dim, s.hidden_size / s.num_heads);
    EXPECT_EQ(c.vocab_size, s.vocab_size);
  }
}

TEST_F(SyntheticPresetTest, Llama405bAndLayerOverride) {
  const LlamaConfig c = Config("405b");
  EXPECT_EQ(c.num_hidden_layers, 126);
  EXPECT_EQ(c.hidden_size, 16384);
  EXPECT_EQ(c.num_attention_heads, 128);
  EXPECT_EQ(c.num_key_value_heads, 8);
  EXPECT_EQ(c.head_dim, 128);
  EXPECT_EQ(c.intermediate_size, 53248);
  EXPECT_EQ(c.vocab_size, 128256);
  EXPECT_EQ(c.rope_scaling.type, "llama3");
  EXPECT_EQ(c.rope_scaling.original_max_position_embeddings, 8192);
  EXPECT_EQ(Config("70b", 3).num_hidden_layers, 3);
  EXPECT_EQ(Config("70b").hidden_size, 8192);
  EXPECT_EQ(SyntheticLlamaConfig("7b").status().code(),
            absl::StatusCode::kInvalidArgument);
}

// Every rank's shards pass the engine's checks, and put back together they
// are the TP=1 tensors, bit for bit.
TEST_F(SyntheticSourceTest, Tp2ShardsAreSlicesOfTheTp1Model) {
  const LlamaConfig config = Config("tiny");
  const auto whole = Open(config, {});
  ASSERT_NE(whole, nullptr);
  ASSERT_TRUE(CheckLlamaWeights(config, *whole, {}).ok());
  std::vector<std::unique_ptr<SyntheticWeightSource>> ranks;
  for (int r = 0; r < 2; ++r) {
    const WorldConfig world{.rank = r, .size = 2};
    ranks.push_back(Open(config, world));
    ASSERT_NE(ranks.back(), nullptr);
    const absl::StatusOr<LlamaShardDims> dims =
        CheckLlamaWeights(config, *ranks.back(), world);
    ASSERT_TRUE(dims.ok()) << dims.status();
    EXPECT_EQ(dims->q_heads, 2);
    EXPECT_EQ(dims->kv_heads, 1);
  }
  const std::vector<std::string> names = whole->TensorNames();
  EXPECT_EQ(names.size(), 9u * 2 + 3);
  EXPECT_EQ(ranks[0]->TensorNames(), names);
  for (const std::string& name : names) {
    SCOPED_TRACE(name);
    const WeightInfo info = *ranks[0]->Find(name);
    const absl::StatusOr<SplitPlan> plan =
        MakeSplitPlan(info.split, 2, info.shape, 2);
    ASSERT_TRUE(plan.ok()) << plan.status();
    std::vector<uint16_t> joined(NumElements(info.shape));
    const absl::Span<uint8_t> bytes(reinterpret_cast<uint8_t*>(joined.data()),
                                    joined.size() * 2);
    for (int r = 0; r < 2; ++r) {
      const std::vector<uint16_t> shard = Decode(*ranks[r], name);
      InsertShard(
          *plan,
          {reinterpret_cast<const uint8_t*>(shard.data()), shard.size() * 2}, r,
          bytes);
    }
    EXPECT_TRUE(Decode(*whole, name) == joined);
  }
}

// Matrices are DF11 payloads that decode to exactly the raw source's values;
// norms are raw. The values are trained-like: DF11 takes ~10.7 bits.
TEST_F(SyntheticSourceTest, Df11DecodesToTheRawValues) {
  const LlamaConfig config = Config("small", 2);
  SyntheticOptions raw_options;
  raw_options.df11 = false;
  const auto df11 = Open(config, {});
  const auto raw = Open(config, {}, raw_options);
  ASSERT_NE(df11, nullptr);
  ASSERT_NE(raw, nullptr);
  uint64_t elements = 0, bytes = 0;
  for (const std::string& name : df11->TensorNames()) {
    SCOPED_TRACE(name);
    const StoredTensor d = *df11->Payload(name);
    const StoredTensor r = *raw->Payload(name);
    EXPECT_EQ(d.df11, d.info.shape.size() == 2);
    EXPECT_FALSE(r.df11);
    EXPECT_TRUE(Decode(*df11, name) == Decode(*raw, name));
    if (d.df11) {
      elements += d.info.shard_elements();
      bytes += d.stored_bytes();
    }
  }
  const double bits = 8.0 * bytes / elements;
  EXPECT_GT(bits, 10.4);
  EXPECT_LT(bits, 11.0);

  // Scales as `df11 synth`: gate std 0.015, norms 1 +- 0.05.
  const struct {
    std::string name;
    double mean, stddev;
  } scales[] = {{LayerTensorName(1, "mlp.gate_proj.weight"), 0.0, 0.015},
                {LayerTensorName(0, "input_layernorm.weight"), 1.0, 0.05}};
  for (const auto& [name, mean, stddev] : scales) {
    SCOPED_TRACE(name);
    const std::vector<uint16_t> v = Decode(*raw, name);
    double sum = 0, sum2 = 0;
    for (uint16_t x : v) {
      uint32_t wide = uint32_t{x} << 16;
      float f;
      std::memcpy(&f, &wide, 4);
      sum += f;
      sum2 += double{f} * f;
    }
    const double m = sum / v.size();
    EXPECT_NEAR(m, mean, 4 * stddev / std::sqrt(v.size()) + 1e-3);
    EXPECT_NEAR(std::sqrt(sum2 / v.size() - m * m), stddev, 0.05 * stddev);
  }
}

// One layer's payload serves every layer: host memory does not grow with
// the depth, yet each layer is its own tensor.
TEST_F(SyntheticSourceTest, LayersShareOneLayersValues) {
  const auto deep = Open(Config("small", 16), {});
  const auto shallow = Open(Config("small", 1), {});
  ASSERT_NE(deep, nullptr);
  ASSERT_NE(shallow, nullptr);
  EXPECT_EQ(deep->held_bytes(), shallow->held_bytes());
  EXPECT_GT(deep->served_bytes(), 10 * deep->held_bytes() / 2);
  const std::string q0 = LayerTensorName(0, "self_attn.q_proj.weight");
  const std::string q9 = LayerTensorName(9, "self_attn.q_proj.weight");
  const StoredTensor a = *deep->Payload(q0);
  const StoredTensor b = *deep->Payload(q9);
  EXPECT_EQ(b.name, q9);
  EXPECT_EQ(a.encoded.exponent_stream.data(), b.encoded.exponent_stream.data());

  SyntheticOptions distinct;
  distinct.distinct_layers = 0;
  const auto all = Open(Config("small", 3), {}, distinct);
  ASSERT_NE(all, nullptr);
  EXPECT_EQ(all->held_bytes(), all->served_bytes());
  EXPECT_FALSE(Decode(*all, q0) ==
               Decode(*all, LayerTensorName(2, "self_attn.q_proj.weight")));
}

TEST_F(SyntheticSourceTest, RejectsWhatTheSplitRulesReject) {
  const LlamaConfig tiny = Config("tiny");
  EXPECT_EQ(OpenSyntheticWeightSource(tiny, {.rank = 0, .size = 3}, {})
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);  // 4 heads
  EXPECT_EQ(OpenSyntheticWeightSource(tiny, {.rank = 2, .size = 2}, {})
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  const auto source = Open(tiny, {});
  ASSERT_NE(source, nullptr);
  EXPECT_EQ(source->Find("model.layers.2.mlp.up_proj.weight").status().code(),
            absl::StatusCode::kNotFound);
}

struct StepOutput {
  std::vector<float> logits;  // [5, vocab]
  int32_t token = -1;
};

// Loads the tiny preset's synthetic weights for `world` into an engine on
// the CPU backend and runs one step of a 5-token prompt, all logits back and
// a sampled token.
absl::StatusOr<StepOutput> RunOneStep(const WorldConfig& world, bool df11) {
  const LlamaConfig config = Config("tiny");
  SyntheticOptions options;
  options.df11 = df11;
  auto source = OpenSyntheticWeightSource(config, world, options);
  if (!source.ok()) return source.status();
  EngineOptions eo;
  eo.max_context = 64;
  auto engine = LlamaEngine::Create(config, **source, CpuBackendFor(world), eo);
  if (!engine.ok()) return engine.status();
  absl::Status added = (*engine)->AddSequence(1, 16);
  if (!added.ok()) return added;
  StepPlan plan;
  SequenceStep item;
  item.id = 1;
  item.tokens = {1, 17, 200, 3, 99};
  item.logits = LogitsWanted::kAll;
  item.sample.sample = true;
  item.sample.params = {.temperature = 0.9f, .top_k = 50, .seed = 7};
  plan.items.push_back(item);
  absl::StatusOr<std::vector<SequenceResult>> out = (*engine)->Step(plan);
  if (!out.ok()) return out.status();
  return StepOutput{(*out)[0].logits, (*out)[0].sampled.token};
}

bool BitwiseEqual(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() &&
         std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// The engine loads the source and steps on it; DF11 and raw BF16 give
// bitwise-identical logits and the same sampled token, at TP=1 and at TP=2;
// TP=2 (the same model, split) agrees with TP=1 up to FP32 rounding.
TEST_F(SyntheticSourceTest, EngineStepsAtTp1AndTp2AndDf11EqualsBf16) {
  const WorldConfig world = World();
  ASSERT_EQ(world.size, 2);
  std::vector<StepOutput> tp1, tp2;
  for (bool df11 : {true, false}) {
    SCOPED_TRACE(df11 ? "df11" : "bf16");
    absl::StatusOr<StepOutput> one = RunOneStep(WorldConfig{}, df11);
    ASSERT_TRUE(one.ok()) << one.status();
    absl::StatusOr<StepOutput> two = RunOneStep(world, df11);
    ASSERT_TRUE(two.ok()) << two.status();
    ASSERT_EQ(one->logits.size(), 5u * 256);
    for (float x : one->logits) ASSERT_TRUE(std::isfinite(x));
    EXPECT_GE(one->token, 0);
    EXPECT_GE(two->token, 0);
    tp1.push_back(*std::move(one));
    tp2.push_back(*std::move(two));
  }
  EXPECT_TRUE(BitwiseEqual(tp1[0].logits, tp1[1].logits));
  EXPECT_EQ(tp1[0].token, tp1[1].token);
  EXPECT_TRUE(BitwiseEqual(tp2[0].logits, tp2[1].logits));
  EXPECT_EQ(tp2[0].token, tp2[1].token);
  double max_abs = 0, max_logit = 0;
  for (size_t i = 0; i < tp1[0].logits.size(); ++i) {
    max_abs = std::max<double>(max_abs,
                               std::fabs(tp1[0].logits[i] - tp2[0].logits[i]));
    max_logit = std::max<double>(max_logit, std::fabs(tp1[0].logits[i]));
  }
  EXPECT_GT(max_logit, 0.1);
  EXPECT_LT(max_abs, 1e-5 * std::max(1.0, max_logit)) << max_logit;
}

}  // namespace
}  // namespace df11
