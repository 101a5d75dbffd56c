#include "loader/format/llama_config.h"

#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace df11 {
namespace {

using ::testing::HasSubstr;

// Abridged from the configs Meta published on the Hugging Face Hub.
constexpr char kLlama2_7b[] = R"({
  "architectures": ["LlamaForCausalLM"], "bos_token_id": 1,
  "eos_token_id": 2, "hidden_act": "silu", "hidden_size": 4096,
  "initializer_range": 0.02, "intermediate_size": 11008,
  "max_position_embeddings": 4096, "model_type": "llama",
  "num_attention_heads": 32, "num_hidden_layers": 32,
  "num_key_value_heads": 32, "pretraining_tp": 1, "rms_norm_eps": 1e-05,
  "rope_scaling": null, "tie_word_embeddings": false,
  "torch_dtype": "float16", "transformers_version": "4.31.0.dev0",
  "use_cache": true, "vocab_size": 32000})";

constexpr char kLlama3_8b[] = R"({
  "architectures": ["LlamaForCausalLM"], "attention_bias": false,
  "attention_dropout": 0.0, "bos_token_id": 128000, "eos_token_id": 128001,
  "hidden_act": "silu", "hidden_size": 4096, "intermediate_size": 14336,
  "max_position_embeddings": 8192, "model_type": "llama",
  "num_attention_heads": 32, "num_hidden_layers": 32,
  "num_key_value_heads": 8, "rms_norm_eps": 1e-05, "rope_theta": 500000.0,
  "torch_dtype": "bfloat16", "vocab_size": 128256})";

constexpr char kLlama31_405b[] = R"({
  "architectures": ["LlamaForCausalLM"], "attention_bias": false,
  "bos_token_id": 128000, "eos_token_id": [128001, 128008, 128009],
  "hidden_act": "silu", "hidden_size": 16384, "intermediate_size": 53248,
  "max_position_embeddings": 131072, "mlp_bias": false,
  "model_type": "llama", "num_attention_heads": 128,
  "num_hidden_layers": 126, "num_key_value_heads": 8, "rms_norm_eps": 1e-05,
  "rope_scaling": {"factor": 8.0, "low_freq_factor": 1.0,
                   "high_freq_factor": 4.0,
                   "original_max_position_embeddings": 8192,
                   "rope_type": "llama3"},
  "rope_theta": 500000.0, "tie_word_embeddings": false,
  "torch_dtype": "bfloat16", "vocab_size": 128256})";

constexpr char kLlama32_1b[] = R"({
  "architectures": ["LlamaForCausalLM"], "bos_token_id": 128000,
  "eos_token_id": 128001, "head_dim": 64, "hidden_act": "silu",
  "hidden_size": 2048, "intermediate_size": 8192,
  "max_position_embeddings": 131072, "model_type": "llama",
  "num_attention_heads": 32, "num_hidden_layers": 16,
  "num_key_value_heads": 8, "rms_norm_eps": 1e-05,
  "rope_scaling": {"factor": 32.0, "high_freq_factor": 4.0,
                   "low_freq_factor": 1.0,
                   "original_max_position_embeddings": 8192,
                   "rope_type": "llama3"},
  "rope_theta": 500000.0, "tie_word_embeddings": true,
  "torch_dtype": "bfloat16", "vocab_size": 128256})";

// The layout transformers 5 writes: rope_parameters, "dtype".
constexpr char kTransformers5[] = R"({
  "architectures": ["LlamaForCausalLM"], "bos_token_id": 128000,
  "eos_token_id": [128001, 128009], "head_dim": 64, "hidden_act": "silu",
  "hidden_size": 2048, "intermediate_size": 8192,
  "max_position_embeddings": 131072, "model_type": "llama",
  "num_attention_heads": 32, "num_hidden_layers": 16,
  "num_key_value_heads": 8, "rms_norm_eps": 1e-05,
  "rope_parameters": {"factor": 32.0, "high_freq_factor": 4.0,
                      "low_freq_factor": 1.0,
                      "original_max_position_embeddings": 8192,
                      "rope_theta": 500000.0, "rope_type": "llama3"},
  "tie_word_embeddings": true, "dtype": "bfloat16", "vocab_size": 128256})";

// Unknown top-level keys, as every Hugging Face config carries, are read
// past; null stands for absent.
constexpr char kExtraKeys[] = R"({
  "model_type": "llama", "hidden_size": 64, "intermediate_size": 128,
  "num_hidden_layers": 2, "num_attention_heads": 4, "vocab_size": 389,
  "max_position_embeddings": 128, "some_future_key": {"a": [1, {"b": 2}]},
  "pad_token_id": null, "head_dim": null, "rope_scaling": null,
  "num_key_value_heads": null, "use_cache": true})";

// A tiny random-init config as tests write it: no head_dim, no
// num_key_value_heads, rope_parameters with the default type.
constexpr char kTinyDefaults[] = R"({
  "model_type": "llama", "hidden_size": 64, "intermediate_size": 128,
  "num_hidden_layers": 2, "num_attention_heads": 4, "vocab_size": 256,
  "max_position_embeddings": 128,
  "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0}})";

struct GoodCase {
  const char* label;
  const char* json;
  LlamaConfig want;
};

LlamaConfig Want(int64_t hidden, int64_t ffn, int64_t layers, int64_t heads,
                 int64_t kv, int64_t head_dim, int64_t vocab, int64_t max_pos,
                 double eps, double theta, RopeScaling rope, bool tied,
                 std::vector<int64_t> bos, std::vector<int64_t> eos,
                 std::string dtype) {
  LlamaConfig c;
  c.hidden_size = hidden;
  c.intermediate_size = ffn;
  c.num_hidden_layers = layers;
  c.num_attention_heads = heads;
  c.num_key_value_heads = kv;
  c.head_dim = head_dim;
  c.vocab_size = vocab;
  c.max_position_embeddings = max_pos;
  c.rms_norm_eps = eps;
  c.rope_theta = theta;
  c.rope_scaling = rope;
  c.tie_word_embeddings = tied;
  c.bos_token_ids = bos;
  c.eos_token_ids = eos;
  c.torch_dtype = dtype;
  return c;
}

RopeScaling Llama3Rope(double factor) {
  RopeScaling r;
  r.type = "llama3";
  r.factor = factor;
  r.low_freq_factor = 1.0;
  r.high_freq_factor = 4.0;
  r.original_max_position_embeddings = 8192;
  return r;
}

class GoodConfigTest : public ::testing::TestWithParam<GoodCase> {};

TEST_P(GoodConfigTest, Parses) {
  const GoodCase& c = GetParam();
  absl::StatusOr<LlamaConfig> got = ParseLlamaConfig(c.json, "config.json");
  ASSERT_TRUE(got.ok()) << got.status();
  const LlamaConfig& w = c.want;
  EXPECT_EQ(got->hidden_size, w.hidden_size);
  EXPECT_EQ(got->intermediate_size, w.intermediate_size);
  EXPECT_EQ(got->num_hidden_layers, w.num_hidden_layers);
  EXPECT_EQ(got->num_attention_heads, w.num_attention_heads);
  EXPECT_EQ(got->num_key_value_heads, w.num_key_value_heads);
  EXPECT_EQ(got->head_dim, w.head_dim);
  EXPECT_EQ(got->vocab_size, w.vocab_size);
  EXPECT_EQ(got->max_position_embeddings, w.max_position_embeddings);
  EXPECT_EQ(got->rms_norm_eps, w.rms_norm_eps);
  EXPECT_EQ(got->rope_theta, w.rope_theta);
  EXPECT_EQ(got->rope_scaling.type, w.rope_scaling.type);
  EXPECT_EQ(got->rope_scaling.factor, w.rope_scaling.factor);
  EXPECT_EQ(got->rope_scaling.low_freq_factor, w.rope_scaling.low_freq_factor);
  EXPECT_EQ(got->rope_scaling.high_freq_factor,
            w.rope_scaling.high_freq_factor);
  EXPECT_EQ(got->rope_scaling.original_max_position_embeddings,
            w.rope_scaling.original_max_position_embeddings);
  EXPECT_EQ(got->tie_word_embeddings, w.tie_word_embeddings);
  EXPECT_EQ(got->bos_token_ids, w.bos_token_ids);
  EXPECT_EQ(got->eos_token_ids, w.eos_token_ids);
  EXPECT_EQ(got->torch_dtype, w.torch_dtype);
}

INSTANTIATE_TEST_SUITE_P(
    Configs, GoodConfigTest,
    ::testing::Values(
        GoodCase{"llama2_7b", kLlama2_7b,
                 Want(4096, 11008, 32, 32, 32, 128, 32000, 4096, 1e-5, 10000.0,
                      RopeScaling(), false, {1}, {2}, "float16")},
        GoodCase{"llama3_8b", kLlama3_8b,
                 Want(4096, 14336, 32, 32, 8, 128, 128256, 8192, 1e-5, 500000.0,
                      RopeScaling(), false, {128000}, {128001}, "bfloat16")},
        GoodCase{"llama31_405b", kLlama31_405b,
                 Want(16384, 53248, 126, 128, 8, 128, 128256, 131072, 1e-5,
                      500000.0, Llama3Rope(8.0), false, {128000},
                      {128001, 128008, 128009}, "bfloat16")},
        GoodCase{"llama32_1b", kLlama32_1b,
                 Want(2048, 8192, 16, 32, 8, 64, 128256, 131072, 1e-5, 500000.0,
                      Llama3Rope(32.0), true, {128000}, {128001}, "bfloat16")},
        GoodCase{"transformers5", kTransformers5,
                 Want(2048, 8192, 16, 32, 8, 64, 128256, 131072, 1e-5, 500000.0,
                      Llama3Rope(32.0), true, {128000}, {128001, 128009},
                      "bfloat16")},
        GoodCase{"extra_keys", kExtraKeys,
                 Want(64, 128, 2, 4, 4, 16, 389, 128, 1e-6, 10000.0,
                      RopeScaling(), false, {}, {}, "")},
        GoodCase{"tiny_defaults", kTinyDefaults,
                 Want(64, 128, 2, 4, 4, 16, 256, 128, 1e-6, 10000.0,
                      RopeScaling(), false, {}, {}, "")}),
    [](const ::testing::TestParamInfo<GoodCase>& info) {
      return std::string(info.param.label);
    });

struct BadCase {
  const char* label;
  std::string json;
  const char* detail;  // expected in the message, after the file name
};

// kLlama31_405b with one substitution applied.
std::string Edit(absl::string_view from, absl::string_view to) {
  std::string s = kLlama31_405b;
  EXPECT_NE(s.find(std::string(from)), std::string::npos) << from;
  return absl::StrReplaceAll(s, {{from, to}});
}

class BadConfigTest : public ::testing::TestWithParam<BadCase> {};

TEST_P(BadConfigTest, IsInvalidArgumentNamingFileAndField) {
  const BadCase& c = GetParam();
  absl::StatusOr<LlamaConfig> got =
      ParseLlamaConfig(c.json, "/models/x/config.json");
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument)
      << got.status();
  EXPECT_THAT(got.status().message(), HasSubstr("/models/x/config.json: "));
  EXPECT_THAT(got.status().message(), HasSubstr(c.detail));
}

INSTANTIATE_TEST_SUITE_P(
    Errors, BadConfigTest,
    ::testing::Values(
        BadCase{"bad_json", "{\"model_type\": ", "not valid JSON: parse error"},
        BadCase{"not_object", "[]", "expected an object, got []"},
        BadCase{"wrong_model_type",
                Edit(R"("model_type": "llama")", R"("model_type": "mistral")"),
                "model_type: 'mistral' is not supported"},
        BadCase{"missing_model_type", Edit(R"("model_type": "llama",)", ""),
                "model_type: missing"},
        BadCase{"missing_hidden_size", Edit(R"("hidden_size": 16384,)", ""),
                "hidden_size: missing"},
        BadCase{
            "zero_layers",
            Edit(R"("num_hidden_layers": 126)", R"("num_hidden_layers": 0)"),
            "num_hidden_layers: expected an integer >= 1, got 0"},
        BadCase{"float_vocab",
                Edit(R"("vocab_size": 128256)", R"("vocab_size": 128256.0)"),
                "vocab_size: expected an integer, got 128256.0"},
        BadCase{"string_heads",
                Edit(R"("num_attention_heads": 128)",
                     R"("num_attention_heads": "128")"),
                "num_attention_heads: expected an integer, got \"128\""},
        BadCase{
            "kv_does_not_divide",
            Edit(R"("num_key_value_heads": 8)", R"("num_key_value_heads": 7)"),
            "num_key_value_heads: 7 does not divide"},
        BadCase{"heads_do_not_divide_hidden",
                Edit(R"("num_attention_heads": 128)",
                     R"("num_attention_heads": 96)"),
                "num_attention_heads: 96 does not divide hidden_size"},
        BadCase{"unsupported_rope",
                Edit(R"("rope_type": "llama3")", R"("rope_type": "yarn")"),
                "rope_scaling.rope_type: unsupported rope scaling type 'yarn'"},
        BadCase{"llama3_missing_factor", Edit(R"("factor": 8.0,)", ""),
                "rope_scaling.factor: missing"},
        BadCase{"rope_scaling_not_object",
                Edit(R"("rope_scaling": {)", R"("rope_scaling": 3, "x": {)"),
                "rope_scaling: expected an object"},
        BadCase{"bad_eos",
                Edit(R"([128001, 128008, 128009])", R"([128001, "x"])"),
                "eos_token_id[1]: expected an integer, got \"x\""},
        BadCase{"negative_eps",
                Edit(R"("rms_norm_eps": 1e-05)", R"("rms_norm_eps": -1)"),
                "rms_norm_eps: expected a number > 0, got -1"},
        BadCase{"tie_not_bool",
                Edit(R"("tie_word_embeddings": false)",
                     R"("tie_word_embeddings": 0)"),
                "tie_word_embeddings: expected true or false"},
        BadCase{"bias", Edit(R"("mlp_bias": false)", R"("mlp_bias": true)"),
                "mlp_bias: biases are not supported"},
        BadCase{"activation",
                Edit(R"("hidden_act": "silu")", R"("hidden_act": "gelu")"),
                "hidden_act: 'gelu' is not supported"},
        BadCase{"duplicate_key",
                Edit(R"("vocab_size": 128256})",
                     R"("vocab_size": 128256, "vocab_size": 128000})"),
                "duplicate key \"vocab_size\""},
        BadCase{"duplicate_key_in_rope",
                Edit(R"("factor": 8.0,)", R"("factor": 8.0, "factor": 2.0,)"),
                "rope_scaling: duplicate key \"factor\""},
        BadCase{"unknown_rope_field",
                Edit(R"("factor": 8.0,)", R"("factor": 8.0, "beta_fast": 32,)"),
                "rope_scaling: unknown field \"beta_fast\""},
        BadCase{"zero_original_max_position",
                Edit(R"("original_max_position_embeddings": 8192)",
                     R"("original_max_position_embeddings": 0)"),
                "rope_scaling.original_max_position_embeddings: expected an "
                "integer >= 1, got 0"},
        BadCase{
            "t5_unsupported_rope",
            absl::StrReplaceAll(kTransformers5, {{R"("rope_type": "llama3")",
                                                  R"("rope_type": "linear")"}}),
            "rope_parameters.rope_type: unsupported"}),
    [](const ::testing::TestParamInfo<BadCase>& info) {
      return std::string(info.param.label);
    });

TEST(ReadLlamaConfigTest, ReadsFileAndReportsMissingFile) {
  const char* tmp = std::getenv("TEST_TMPDIR");
  std::string path =
      absl::StrCat(tmp != nullptr ? tmp : "/tmp", "/config.json");
  std::ofstream(path) << kLlama32_1b;
  absl::StatusOr<LlamaConfig> got = ReadLlamaConfig(path);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->head_dim, 64);

  std::string missing = path + ".missing";
  got = ReadLlamaConfig(missing);
  EXPECT_EQ(got.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(got.status().message(), HasSubstr(missing));
}

}  // namespace
}  // namespace df11
