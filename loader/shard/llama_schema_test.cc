#include "loader/shard/llama_schema.h"

#include <set>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace df11 {
namespace {

using ::testing::HasSubstr;

// hidden 64, ffn 128, 3 layers, 8 heads of 8, `kv` kv heads, vocab 389.
LlamaShape Shape(int64_t kv = 2, bool tied = false, int64_t vocab = 389) {
  LlamaShape s;
  s.hidden = 64;
  s.intermediate = 128;
  s.layers = 3;
  s.heads = 8;
  s.kv_heads = kv;
  s.head_dim = 8;
  s.vocab = vocab;
  s.tied = tied;
  return s;
}

TEST(LlamaSchemaTest, EveryTensorNameRoundTrips) {
  for (bool tied : {false, true}) {
    const std::vector<LlamaTensorId> ids = LlamaTensors(Shape(2, tied));
    EXPECT_EQ(ids.size(), 2 + 9 * 3 + (tied ? 0 : 1));
    std::set<std::string> names;
    for (const LlamaTensorId& id : ids) {
      const std::string name = LlamaTensorName(id);
      EXPECT_TRUE(names.insert(name).second) << name;
      absl::StatusOr<LlamaTensorId> parsed = ParseLlamaTensorName(name);
      ASSERT_TRUE(parsed.ok()) << parsed.status();
      EXPECT_TRUE(*parsed == id) << name;
      EXPECT_EQ(IsLlamaLayerKind(id.kind), id.layer >= 0) << name;
    }
  }
  // A large layer number too.
  const LlamaTensorId far{LlamaTensorKind::kDown, 125};
  EXPECT_EQ(LlamaTensorName(far), "model.layers.125.mlp.down_proj.weight");
  EXPECT_TRUE(*ParseLlamaTensorName(LlamaTensorName(far)) == far);
}

TEST(LlamaSchemaTest, TensorsComeInForwardOrder) {
  std::vector<std::string> names;
  for (const LlamaTensorId& id : LlamaTensors(Shape())) {
    names.push_back(LlamaTensorName(id));
  }
  const std::vector<std::string> first = {
      "model.embed_tokens.weight",
      "model.layers.0.input_layernorm.weight",
      "model.layers.0.self_attn.q_proj.weight",
      "model.layers.0.self_attn.k_proj.weight",
      "model.layers.0.self_attn.v_proj.weight",
      "model.layers.0.self_attn.o_proj.weight",
      "model.layers.0.post_attention_layernorm.weight",
      "model.layers.0.mlp.gate_proj.weight",
      "model.layers.0.mlp.up_proj.weight",
      "model.layers.0.mlp.down_proj.weight",
      "model.layers.1.input_layernorm.weight"};
  ASSERT_GT(names.size(), first.size());
  EXPECT_EQ(
      std::vector<std::string>(names.begin(), names.begin() + first.size()),
      first);
  EXPECT_EQ(names[names.size() - 2], "model.norm.weight");
  EXPECT_EQ(names.back(), "lm_head.weight");
}

class UnknownNameTest : public ::testing::TestWithParam<const char*> {};

TEST_P(UnknownNameTest, IsRejectedNamingTheTensor) {
  const std::string name = GetParam();
  absl::StatusOr<LlamaTensorId> id = ParseLlamaTensorName(name);
  ASSERT_FALSE(id.ok()) << name;
  EXPECT_EQ(id.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(id.status().message(),
            name +
                " is not a Llama tensor df11 knows; ignoring it would give "
                "wrong outputs");
  // Nor is it let through as a non-weight, at compress or at load.
  EXPECT_FALSE(IsLlamaNonWeightTensor(name));
  EXPECT_EQ(ClassifyLlamaTensor(Shape(), name).status().message(),
            id.status().message());
  EXPECT_EQ(PlanLlamaSplit(Shape(), name, 2, {64}, 2).status().message(),
            id.status().message());
}

INSTANTIATE_TEST_SUITE_P(
    Names, UnknownNameTest,
    ::testing::Values(
        // Qwen-style biases, and biases in general.
        "model.layers.0.self_attn.q_proj.bias",
        "model.layers.0.self_attn.k_proj.bias",
        "model.layers.1.self_attn.v_proj.bias",
        "model.layers.0.self_attn.o_proj.bias",
        "model.layers.0.mlp.gate_proj.bias", "lm_head.bias", "model.norm.bias",
        "model.embed_tokens.bias",
        // Other architectures' names.
        "transformer.h.0.attn.c_attn.weight",
        "model.layers.0.self_attn.qkv_proj.weight",
        "model.layers.0.mlp.gate_up_proj.weight",
        "model.layers.0.self_attn.q_norm.weight", "model.rotary_emb.inv_freq",
        // Malformed layer numbers and suffixes.
        "model.layers.01.mlp.up_proj.weight",
        "model.layers.-1.mlp.up_proj.weight",
        "model.layers.+1.mlp.up_proj.weight",
        "model.layers..mlp.up_proj.weight", "model.layers.mlp.up_proj.weight",
        "model.layers.99999999999999999999.mlp.up_proj.weight",
        "model.layers.0.mlp.up_proj.weight.extra", "model.layers.0.mlp.up_proj",
        "model.layers.0", "model.layers.", "model.embed_tokens.weight ",
        "Model.norm.weight", ""));

TEST(LlamaSchemaTest, RotaryInvFreqIsAKnownNonWeight) {
  for (const char* name : {"model.layers.0.self_attn.rotary_emb.inv_freq",
                           "model.layers.31.self_attn.rotary_emb.inv_freq"}) {
    EXPECT_TRUE(IsLlamaNonWeightTensor(name)) << name;
    absl::StatusOr<std::optional<LlamaTensorId>> id =
        ClassifyLlamaTensor(Shape(), name);
    ASSERT_TRUE(id.ok()) << id.status();
    EXPECT_FALSE(id->has_value());
    // Kept, whole, on every rank.
    absl::StatusOr<SplitPlan> plan = PlanLlamaSplit(Shape(), name, 4, {4}, 2);
    ASSERT_TRUE(plan.ok()) << plan.status();
    EXPECT_EQ(plan->kind, SplitKind::kReplicated);
    EXPECT_EQ(plan->shard_shape, (std::vector<uint64_t>{4}));
  }
}

TEST(LlamaSchemaTest, ClassifyRejectsWhatTheConfigDoesNotImply) {
  auto past = ClassifyLlamaTensor(Shape(), "model.layers.3.mlp.up_proj.weight");
  EXPECT_EQ(past.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(past.status().message(),
            "config.json says num_hidden_layers 3 but the model has "
            "model.layers.3.mlp.up_proj.weight");
  auto head = ClassifyLlamaTensor(Shape(2, /*tied=*/true), "lm_head.weight");
  EXPECT_EQ(head.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(head.status().message()),
              HasSubstr("tie_word_embeddings) but the model has "
                        "lm_head.weight"));
  auto ok = ClassifyLlamaTensor(Shape(), "model.layers.2.mlp.up_proj.weight");
  ASSERT_TRUE(ok.ok());
  EXPECT_TRUE(**ok == (LlamaTensorId{LlamaTensorKind::kUp, 2}));
}

TEST(LlamaSchemaTest, ShapesFollowTheConfig) {
  LlamaShape s = Shape(2);
  s.head_dim = 16;  // larger than hidden / heads, as Llama 3.2 1B's
  using K = LlamaTensorKind;
  const std::vector<std::pair<LlamaTensorId, std::vector<uint64_t>>> want = {
      {{K::kEmbed}, {389, 64}},  {{K::kLmHead}, {389, 64}},
      {{K::kFinalNorm}, {64}},   {{K::kInputNorm, 0}, {64}},
      {{K::kPostNorm, 2}, {64}}, {{K::kQ, 0}, {128, 64}},
      {{K::kK, 0}, {32, 64}},    {{K::kV, 1}, {32, 64}},
      {{K::kO, 0}, {64, 128}},   {{K::kGate, 0}, {128, 64}},
      {{K::kUp, 0}, {128, 64}},  {{K::kDown, 0}, {64, 128}}};
  for (const auto& [id, shape] : want) {
    EXPECT_EQ(LlamaTensorShape(s, id), shape) << LlamaTensorName(id);
  }
}

// The kv rule at TP 1, 2, 4, 8 with 8 and with 2 kv heads.
struct KvCase {
  int64_t kv_heads;
  int tp;
  SplitKind kind;
  uint64_t shard_rows;  // of k_proj [kv_heads * 8, 64]
};

class KvRuleTest : public ::testing::TestWithParam<KvCase> {};

TEST_P(KvRuleTest, KvSplitWhenEnoughHeadsElseReplicated) {
  const KvCase& c = GetParam();
  const LlamaShape s = Shape(c.kv_heads);
  for (LlamaTensorKind kind : {LlamaTensorKind::kK, LlamaTensorKind::kV}) {
    absl::StatusOr<SplitKind> got = LlamaSplitKind(s, kind, c.tp);
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ(*got, c.kind);
  }
  absl::StatusOr<SplitPlan> plan =
      PlanLlamaSplit(s, "model.layers.1.self_attn.v_proj.weight", 2,
                     {static_cast<uint64_t>(c.kv_heads) * 8, 64}, c.tp);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->kind, c.kind);
  EXPECT_EQ(plan->shard_shape, (std::vector<uint64_t>{c.shard_rows, 64}));
}

INSTANTIATE_TEST_SUITE_P(
    Table, KvRuleTest,
    ::testing::Values(
        KvCase{8, 1, SplitKind::kRows, 64}, KvCase{8, 2, SplitKind::kRows, 32},
        KvCase{8, 4, SplitKind::kRows, 16}, KvCase{8, 8, SplitKind::kRows, 8},
        KvCase{2, 1, SplitKind::kRows, 16}, KvCase{2, 2, SplitKind::kRows, 8},
        KvCase{2, 4, SplitKind::kReplicated, 16},
        KvCase{2, 8, SplitKind::kReplicated, 16}));

// Everything but the vocabulary must divide, with the errors it always had.
struct IndivisibleCase {
  LlamaShape shape;
  const char* name;
  std::vector<uint64_t> tensor_shape;
  int tp;
  const char* message;
};

class IndivisibleTest : public ::testing::TestWithParam<IndivisibleCase> {};

TEST_P(IndivisibleTest, IsInvalidArgumentNamingTheTensor) {
  const IndivisibleCase& c = GetParam();
  absl::StatusOr<SplitPlan> plan =
      PlanLlamaSplit(c.shape, c.name, 2, c.tensor_shape, c.tp);
  EXPECT_EQ(plan.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(plan.status().message(), c.message);
}

LlamaShape SixHeads() {
  LlamaShape s = Shape(6);
  s.heads = 6;
  s.hidden = 48;
  s.intermediate = 100;
  return s;
}

INSTANTIATE_TEST_SUITE_P(
    Table, IndivisibleTest,
    ::testing::Values(
        IndivisibleCase{SixHeads(),
                        "model.layers.0.self_attn.q_proj.weight",
                        {48, 48},
                        4,
                        "model.layers.0.self_attn.q_proj.weight: 6 attention "
                        "heads do not divide into 4 tensor-parallel shards"},
        IndivisibleCase{SixHeads(),
                        "model.layers.0.self_attn.o_proj.weight",
                        {48, 48},
                        4,
                        "model.layers.0.self_attn.o_proj.weight: 6 attention "
                        "heads do not divide into 4 tensor-parallel shards"},
        IndivisibleCase{SixHeads(),
                        "model.layers.0.self_attn.k_proj.weight",
                        {48, 48},
                        4,
                        "model.layers.0.self_attn.k_proj.weight: 6 key/value "
                        "heads do not divide into 4 tensor-parallel shards"},
        IndivisibleCase{SixHeads(),
                        "model.layers.0.mlp.up_proj.weight",
                        {100, 48},
                        8,
                        "model.layers.0.mlp.up_proj.weight: intermediate size "
                        "100 does not divide into 8 tensor-parallel shards"},
        IndivisibleCase{SixHeads(),
                        "model.layers.0.mlp.down_proj.weight",
                        {48, 100},
                        3,
                        "model.layers.0.mlp.down_proj.weight: intermediate "
                        "size 100 does not divide into 3 tensor-parallel "
                        "shards"},
        IndivisibleCase{Shape(),
                        "model.layers.0.mlp.up_proj.weight",
                        {100, 64},
                        2,
                        "model.layers.0.mlp.up_proj.weight has shape [100, 64] "
                        "but config.json implies [128, 64]"},
        IndivisibleCase{Shape(),
                        "model.norm.weight",
                        {64, 1},
                        2,
                        "model.norm.weight has shape [64, 1] but config.json "
                        "implies [64]"}),
    [](const auto& info) { return std::to_string(info.index); });

// Vocabulary 389 at every TP size: padded rows, never an error.
struct VocabCase {
  int tp;
  SplitKind kind;
  uint64_t shard_rows;
};

class VocabPaddingTest : public ::testing::TestWithParam<VocabCase> {};

TEST_P(VocabPaddingTest, EmbeddingAndLmHeadPadToEqualParts) {
  const VocabCase& c = GetParam();
  for (const char* name : {"model.embed_tokens.weight", "lm_head.weight"}) {
    absl::StatusOr<SplitPlan> plan =
        PlanLlamaSplit(Shape(), name, 2, {389, 64}, c.tp);
    ASSERT_TRUE(plan.ok()) << plan.status();
    EXPECT_EQ(plan->kind, c.kind) << name;
    EXPECT_EQ(plan->shard_shape, (std::vector<uint64_t>{c.shard_rows, 64}));
    EXPECT_GE(c.shard_rows * c.tp, 389u);
    EXPECT_LT((c.shard_rows - 1) * c.tp, 389u);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Table, VocabPaddingTest,
    ::testing::Values(VocabCase{1, SplitKind::kRows, 389},
                      VocabCase{2, SplitKind::kRowsPadded, 195},
                      VocabCase{3, SplitKind::kRowsPadded, 130},
                      VocabCase{4, SplitKind::kRowsPadded, 98},
                      VocabCase{8, SplitKind::kRowsPadded, 49},
                      VocabCase{389, SplitKind::kRows, 1}));

TEST(VocabPaddingTest, DivisibleVocabularyKeepsPlainRows) {
  // So existing DF11 directories stay byte-identical.
  for (int tp : {1, 2, 4, 8}) {
    EXPECT_EQ(
        *LlamaSplitKind(Shape(2, false, 128256), LlamaTensorKind::kEmbed, tp),
        SplitKind::kRows);
  }
  // Fewer rows than ranks: some ranks hold only padding.
  absl::StatusOr<SplitPlan> plan =
      PlanLlamaSplit(Shape(2, false, 3), "lm_head.weight", 2, {3, 64}, 8);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->kind, SplitKind::kRowsPadded);
  EXPECT_EQ(plan->shard_shape, (std::vector<uint64_t>{1, 64}));
  EXPECT_EQ(plan->source_bytes(7), 0u);
}

// The rule for every kind, at TP 2 with 2 kv heads (kv split) and at TP 4
// (kv replicated).
TEST(LlamaSchemaTest, SplitKindOfEveryTensor) {
  using K = LlamaTensorKind;
  struct Want {
    K kind;
    SplitKind tp2, tp4;
  };
  const Want table[] = {
      {K::kEmbed, SplitKind::kRowsPadded, SplitKind::kRowsPadded},
      {K::kLmHead, SplitKind::kRowsPadded, SplitKind::kRowsPadded},
      {K::kFinalNorm, SplitKind::kReplicated, SplitKind::kReplicated},
      {K::kInputNorm, SplitKind::kReplicated, SplitKind::kReplicated},
      {K::kPostNorm, SplitKind::kReplicated, SplitKind::kReplicated},
      {K::kQ, SplitKind::kRows, SplitKind::kRows},
      {K::kK, SplitKind::kRows, SplitKind::kReplicated},
      {K::kV, SplitKind::kRows, SplitKind::kReplicated},
      {K::kO, SplitKind::kColumns, SplitKind::kColumns},
      {K::kGate, SplitKind::kRows, SplitKind::kRows},
      {K::kUp, SplitKind::kRows, SplitKind::kRows},
      {K::kDown, SplitKind::kColumns, SplitKind::kColumns},
  };
  for (const Want& w : table) {
    EXPECT_EQ(*LlamaSplitKind(Shape(2), w.kind, 2), w.tp2)
        << LlamaTensorName({w.kind, 0});
    EXPECT_EQ(*LlamaSplitKind(Shape(2), w.kind, 4), w.tp4)
        << LlamaTensorName({w.kind, 0});
    EXPECT_EQ(*LlamaSplitKind(Shape(2), w.kind, 1),
              w.tp2 == SplitKind::kReplicated ? SplitKind::kReplicated
              : w.tp2 == SplitKind::kColumns  ? SplitKind::kColumns
                                              : SplitKind::kRows)
        << LlamaTensorName({w.kind, 0});
  }
}

}  // namespace
}  // namespace df11
