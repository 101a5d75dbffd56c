// Bad input to the engine gets a clear error that names what is wrong, and
// changes nothing: a config.json that does not match the tensors, token ids
// out of range, sequences longer than the context, a TP size that does not
// match the shards, a corrupted DF11 shard.
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "loader/backend/cpu/cpu_backend.h"
#include "loader/base/status_macros.h"
#include "loader/engine/generate.h"
#include "loader/engine/weight_source.h"
#include "loader/format/safetensors.h"
#include "nlohmann/json.hpp"
#include "tests/engine/golden_fixture.h"

namespace df11 {
namespace {

namespace fs = std::filesystem;

std::string TempDir(const std::string& name) {
  const fs::path dir = fs::path(std::getenv("TEST_TMPDIR")) / name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir.string();
}

// Opens golden model `model` with one field of its config.json replaced.
absl::StatusOr<std::unique_ptr<LlamaEngine>> OpenWithConfigField(
    const std::string& model, const std::string& field,
    const nlohmann::json& value) {
  const std::string src = absl::StrCat(kGoldenRoot, "/", model);
  const std::string dir = TempDir(model + "_" + field);
  fs::copy_file(src + "/model.safetensors", dir + "/model.safetensors");
  std::ifstream in(src + "/config.json");
  std::stringstream text;
  text << in.rdbuf();
  nlohmann::json config = nlohmann::json::parse(text.str());
  config[field] = value;
  std::ofstream(dir + "/config.json") << config.dump(1);
  ASSIGN_OR_RETURN(LlamaConfig parsed, ReadLlamaConfig(dir + "/config.json"));
  ASSIGN_OR_RETURN(auto source, OpenHfWeightSource(dir, parsed, 1, 0));
  return LlamaEngine::Create(parsed, *source,
                             std::make_unique<CpuBackend>(WorldConfig{}, 1),
                             EngineOptions{});
}

struct ConfigCase {
  const char* name;
  const char* model;
  const char* field;
  nlohmann::json value;
  const char* message;
};

class ConfigMismatchTest : public testing::TestWithParam<ConfigCase> {};

TEST_P(ConfigMismatchTest, IsRejectedNamingTheTensor) {
  const ConfigCase& c = GetParam();
  auto engine = OpenWithConfigField(c.model, c.field, c.value);
  ASSERT_FALSE(engine.ok());
  EXPECT_EQ(engine.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(engine.status().message().find(c.message), std::string::npos)
      << engine.status();
}

INSTANTIATE_TEST_SUITE_P(
    Cases, ConfigMismatchTest,
    testing::Values(
        ConfigCase{"hidden", "mha", "hidden_size", 128,
                   "model.embed_tokens.weight has shape [256, 64] but "
                   "config.json implies [256, 128]"},
        ConfigCase{"ffn", "mha", "intermediate_size", 256,
                   "model.layers.0.mlp.gate_proj.weight has shape [128, 64] "
                   "but config.json implies [256, 64]"},
        ConfigCase{"vocab", "gqa_llama3", "vocab_size", 512,
                   "model.embed_tokens.weight has shape [320, 64]"},
        ConfigCase{"kv_heads", "gqa_llama3", "num_key_value_heads", 4,
                   "model.layers.0.self_attn.k_proj.weight has shape [64, 64] "
                   "but config.json implies [128, 64]"},
        ConfigCase{"head_dim", "gqa_llama3", "head_dim", 16,
                   "q_proj.weight has shape [128, 64] but config.json implies "
                   "[64, 64]"},
        ConfigCase{"more_layers", "mha", "num_hidden_layers", 3,
                   "config.json implies tensor "
                   "model.layers.2.input_layernorm.weight, which the model "
                   "does not have"},
        ConfigCase{"fewer_layers", "gqa_llama3", "num_hidden_layers", 2,
                   "config.json says num_hidden_layers 2 but the model has "
                   "model.layers.2."},
        ConfigCase{"untied_without_head", "mha", "tie_word_embeddings", false,
                   "config.json implies tensor lm_head.weight, which the "
                   "model does not have"}),
    [](const testing::TestParamInfo<ConfigCase>& info) {
      return std::string(info.param.name);
    });

// Golden model `model`'s checkpoint plus `extra` tensors, in a new directory.
struct ExtraTensor {
  std::string name;
  Dtype dtype;
  std::vector<uint64_t> shape;
};

absl::StatusOr<std::string> WithExtraTensors(
    const std::string& model, const std::string& tag,
    const std::vector<ExtraTensor>& extra) {
  const std::string src = absl::StrCat(kGoldenRoot, "/", model);
  const std::string dir = TempDir(model + "_" + tag);
  fs::copy_file(src + "/config.json", dir + "/config.json");
  ASSIGN_OR_RETURN(auto original,
                   SafetensorsFile::Open(src + "/model.safetensors"));
  std::vector<SafetensorsWriter::Declared> declared;
  for (const TensorInfo& t : original->tensors()) {
    declared.push_back({t.name, t.dtype});
  }
  for (const ExtraTensor& t : extra) declared.push_back({t.name, t.dtype});
  SafetensorsWriter writer(dir + "/model.safetensors", declared);
  RETURN_IF_ERROR(writer.Open());
  for (const TensorInfo& t : original->tensors()) {
    RETURN_IF_ERROR(writer.Append(t.name, t.shape, original->Data(t)));
  }
  for (const ExtraTensor& t : extra) {
    const std::vector<uint8_t> bytes(NumElements(t.shape) * DtypeSize(t.dtype),
                                     1);
    RETURN_IF_ERROR(writer.Append(t.name, t.shape, bytes));
  }
  RETURN_IF_ERROR(writer.Finish());
  return dir;
}

absl::StatusOr<std::unique_ptr<LlamaEngine>> OpenHf(const std::string& dir,
                                                    int tp, int rank) {
  ASSIGN_OR_RETURN(LlamaConfig config, ReadLlamaConfig(dir + "/config.json"));
  ASSIGN_OR_RETURN(auto source, OpenHfWeightSource(dir, config, tp, rank));
  return LlamaEngine::Create(
      config, *source,
      std::make_unique<CpuBackend>(WorldConfig{.rank = rank, .size = tp}, 1),
      EngineOptions{});
}

// A tensor the schema does not know changes the outputs if ignored (a
// Qwen-style q/k/v bias, say): the engine refuses to load, naming it.
TEST(UnknownTensor, IsRejectedAtLoadNamingTheTensorAndSource) {
  struct Case {
    std::vector<ExtraTensor> extra;
    std::string message;
  };
  const Case cases[] = {
      {{{"model.layers.0.self_attn.q_proj.bias", Dtype::kBF16, {64}}},
       "model.layers.0.self_attn.q_proj.bias is not a Llama tensor df11 "
       "knows; ignoring it would give wrong outputs"},
      {{{"model.layers.1.self_attn.v_proj.bias", Dtype::kBF16, {64}}},
       "model.layers.1.self_attn.v_proj.bias is not a Llama tensor df11 "
       "knows"},
      {{{"lm_head.weight", Dtype::kBF16, {256, 64}}},
       "config.json ties the LM head to the embedding (tie_word_embeddings) "
       "but the model has lm_head.weight"},
  };
  int i = 0;
  for (const Case& c : cases) {
    auto dir = WithExtraTensors("mha", absl::StrCat("extra", i++), c.extra);
    ASSERT_TRUE(dir.ok()) << dir.status();
    auto engine = OpenHf(*dir, 1, 0);
    ASSERT_FALSE(engine.ok()) << c.message;
    EXPECT_EQ(engine.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(engine.status().message().find(absl::StrCat(*dir, ": ")),
              std::string::npos)
        << engine.status();
    EXPECT_NE(engine.status().message().find(c.message), std::string::npos)
        << engine.status();
  }
}

// Rotary inv_freq buffers that older checkpoints carry are not weights: they
// load, and are not used.
TEST(UnknownTensor, RotaryInvFreqBuffersAreNotWeights) {
  auto dir = WithExtraTensors(
      "mha", "inv_freq",
      {{"model.layers.0.self_attn.rotary_emb.inv_freq", Dtype::kF32, {8}},
       {"model.layers.1.self_attn.rotary_emb.inv_freq", Dtype::kF32, {8}}});
  ASSERT_TRUE(dir.ok()) << dir.status();
  auto engine = OpenHf(*dir, 1, 0);
  EXPECT_TRUE(engine.ok()) << engine.status();
}

class ForwardErrorTest : public testing::Test {
 protected:
  void SetUp() override {
    auto golden = LoadGolden("mha");  // vocab 256, context 64
    ASSERT_TRUE(golden.ok()) << golden.status();
    golden_ = *std::move(golden);
    auto engine = MakeEngine(golden_, WeightKind::kHfBf16, {0, 1}, 2);
    ASSERT_TRUE(engine.ok()) << engine.status();
    engine_ = *std::move(engine);
    auto seq = NewSequence(*engine_);
    ASSERT_TRUE(seq.ok());
    seq_ = *seq;
    ASSERT_TRUE(engine_->Forward({{seq_, {5, 6, 7}}}).ok());
  }

  // Runs `batch`, expects InvalidArgument containing `message`, and that the
  // sequence is unchanged and still works.
  void ExpectRejected(const std::vector<StepInput>& batch,
                      const std::string& message) {
    auto logits = engine_->Forward(batch);
    ASSERT_FALSE(logits.ok());
    EXPECT_EQ(logits.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(logits.status().message().find(message), std::string::npos)
        << logits.status();
    EXPECT_EQ(engine_->Length(seq_), 3);
    EXPECT_TRUE(engine_->Forward({{seq_, {8}}}).ok());
  }

  GoldenModel golden_;
  std::unique_ptr<LlamaEngine> engine_;
  SequenceId seq_ = 0;
};

TEST_F(ForwardErrorTest, TokenIdTooLarge) {
  ExpectRejected({{seq_, {1, 256}}},
                 "token id 256 at index 1 is out of range "
                 "[0, 256)");
}

TEST_F(ForwardErrorTest, NegativeTokenId) {
  ExpectRejected({{seq_, {-1}}}, "token id -1 at index 0 is out of range");
}

TEST_F(ForwardErrorTest, SequenceLongerThanContext) {
  ExpectRejected({{seq_, std::vector<int32_t>(62, 1)}},
                 "would hold 65 tokens, longer than the context of 64");
}

TEST_F(ForwardErrorTest, SequenceTwiceInOneBatch) {
  ExpectRejected({{seq_, {1}}, {seq_, {2}}},
                 "the sequence is in the batch twice");
}

TEST_F(ForwardErrorTest, SequenceNotLive) {
  ExpectRejected({{1, {1}}}, "not a live sequence");
}

TEST_F(ForwardErrorTest, NoTokens) {
  ExpectRejected({{seq_, {}}}, "no tokens");
}

TEST_F(ForwardErrorTest, GeneratePastContext) {
  GenerateOptions options;
  options.max_new_tokens = 10;
  auto out = Generate(*engine_, {std::vector<int32_t>(60, 1)}, options);
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(out.status().message().find(
                "60 tokens + max_new_tokens 10 = 70 is longer than the "
                "context of 64"),
            std::string::npos)
      << out.status();
}

TEST_F(ForwardErrorTest, GenerateBadSampling) {
  GenerateOptions options;
  options.sampling.top_p = 0;
  auto out = Generate(*engine_, {{1, 2}}, options);
  ASSERT_FALSE(out.ok());
  EXPECT_NE(out.status().message().find("top_p 0 must be in (0, 1]"),
            std::string::npos)
      << out.status();
}

TEST(TpMismatch, ShardsForTwoRanksOpenedByOne) {
  auto golden = LoadGolden("gqa_llama3");
  ASSERT_TRUE(golden.ok()) << golden.status();
  auto dir = CompressedDir(*golden, 2, "");
  ASSERT_TRUE(dir.ok()) << dir.status();
  auto source = OpenDf11WeightSource(*dir, 0);
  ASSERT_TRUE(source.ok()) << source.status();
  auto engine = LlamaEngine::Create(
      golden->config, **source, std::make_unique<CpuBackend>(WorldConfig{}, 1),
      EngineOptions{});
  ASSERT_FALSE(engine.ok());
  EXPECT_EQ(engine.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(engine.status().message().find(
                "the weights are split for tensor parallel size 2 but 1 "
                "rank(s) are running"),
            std::string::npos)
      << engine.status();
}

// A flipped byte in a rank file is caught by the payload checksum when the
// weights are loaded: the engine is never created.
TEST(CorruptShard, FlippedByteIsDataLossNamingTheFile) {
  auto golden = LoadGolden("mha");
  ASSERT_TRUE(golden.ok()) << golden.status();
  auto dir = CompressedDir(*golden, 1, "_corrupt");
  ASSERT_TRUE(dir.ok()) << dir.status();
  const std::string rank_file = *dir + "/rank-00.safetensors";
  {
    std::fstream f(rank_file, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(-100, std::ios::end);
    char byte = 0;
    f.read(&byte, 1);
    byte ^= 0x5a;
    f.seekp(-100, std::ios::end);
    f.write(&byte, 1);
  }
  auto source = OpenDf11WeightSource(*dir, 0);
  ASSERT_TRUE(source.ok()) << source.status();
  auto engine = LlamaEngine::Create(
      golden->config, **source, std::make_unique<CpuBackend>(WorldConfig{}, 1),
      EngineOptions{});
  ASSERT_FALSE(engine.ok());
  EXPECT_EQ(engine.status().code(), absl::StatusCode::kDataLoss)
      << engine.status();
  EXPECT_NE(engine.status().message().find("rank-00.safetensors"),
            std::string::npos)
      << engine.status();
}

}  // namespace
}  // namespace df11
