// Hugging Face config.json -> LlamaConfig.
#include "loader/format/llama_config.h"

#include <cstdint>
#include <limits>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "loader/base/status_macros.h"
#include "loader/base/strict_json.h"
#include "loader/format/file_contents.h"
#include "nlohmann/json.hpp"

namespace df11 {
namespace {

using Json = nlohmann::json;

constexpr int64_t kMaxInt = std::numeric_limits<int64_t>::max();

// One token id or a list of them; empty when absent or null.
absl::StatusOr<std::vector<int64_t>> TokenIds(const JsonNode& field) {
  std::vector<int64_t> ids;
  if (field.absent_or_null()) return ids;
  if (!field.json().is_array()) {
    ASSIGN_OR_RETURN(int64_t id, field.Int(0));
    ids.push_back(id);
    return ids;
  }
  ASSIGN_OR_RETURN(std::vector<JsonNode> list, field.Elements());
  for (const JsonNode& id : list) {
    ASSIGN_OR_RETURN(int64_t value, id.Int(0));
    ids.push_back(value);
  }
  return ids;
}

// Reads the rope scaling fields from `rope` (the classic `rope_scaling`
// object, or transformers 5's `rope_parameters`). Strict: an unknown key
// could change the frequencies.
absl::Status ReadRopeScaling(const JsonNode& rope, bool has_theta,
                             RopeScaling& out) {
  if (has_theta) {
    RETURN_IF_ERROR(rope.ExpectFields(
        {"rope_type", "type", "rope_theta", "factor", "low_freq_factor",
         "high_freq_factor", "original_max_position_embeddings"}));
  } else {
    RETURN_IF_ERROR(rope.ExpectFields({"rope_type", "type", "factor",
                                       "low_freq_factor", "high_freq_factor",
                                       "original_max_position_embeddings"}));
  }
  JsonNode type_field = rope.Field("rope_type");
  ASSIGN_OR_RETURN(std::string type, type_field.StringOr(""));
  if (type.empty()) {
    type_field = rope.Field("type");  // older configs
    ASSIGN_OR_RETURN(type, type_field.StringOr(""));
  }
  if (type.empty() || type == "default") {
    out = RopeScaling();
    return absl::OkStatus();
  }
  if (type != "llama3") {
    return type_field.Error(absl::StrCat("unsupported rope scaling type '",
                                         type,
                                         "' (supported: default, llama3)"));
  }
  out.type = "llama3";
  ASSIGN_OR_RETURN(out.factor, rope.Field("factor").Double(0));
  ASSIGN_OR_RETURN(out.low_freq_factor,
                   rope.Field("low_freq_factor").Double(0));
  ASSIGN_OR_RETURN(out.high_freq_factor,
                   rope.Field("high_freq_factor").Double(0));
  ASSIGN_OR_RETURN(out.original_max_position_embeddings,
                   rope.Field("original_max_position_embeddings").Int(1));
  if (!(out.low_freq_factor < out.high_freq_factor)) {
    return rope.Field("low_freq_factor")
        .Error("must be smaller than high_freq_factor");
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<LlamaConfig> ParseLlamaConfig(absl::string_view json,
                                             absl::string_view file) {
  ASSIGN_OR_RETURN(Json root, ParseStrictJson(json, file));
  // The top level is not strict: Hugging Face writes many keys that do not
  // change the forward pass (architectures, transformers_version, use_cache,
  // initializer_range, pad_token_id, ...). The ones that would change it
  // are read and checked here; the rope objects are strict.
  const JsonNode f(root, file);
  RETURN_IF_ERROR(f.ExpectObject());

  const JsonNode model_type_field = f.Field("model_type");
  ASSIGN_OR_RETURN(std::string model_type, model_type_field.StringOr(""));
  if (model_type != "llama") {
    return model_type_field.Error(
        model_type.empty() ? "missing (expected \"llama\")"
                           : absl::StrCat("'", model_type,
                                          "' is not supported (expected "
                                          "\"llama\")"));
  }
  // The forward pass implements SiLU and bias-free projections only.
  const JsonNode act_field = f.Field("hidden_act");
  ASSIGN_OR_RETURN(std::string act, act_field.StringOr(""));
  if (!act.empty() && act != "silu") {
    return act_field.Error(
        absl::StrCat("'", act, "' is not supported (expected silu)"));
  }
  for (const char* bias : {"attention_bias", "mlp_bias"}) {
    ASSIGN_OR_RETURN(bool has_bias, f.Field(bias).BoolOr(false));
    if (has_bias) return f.Field(bias).Error("biases are not supported");
  }

  LlamaConfig c;
  ASSIGN_OR_RETURN(c.hidden_size, f.Field("hidden_size").Int(1));
  ASSIGN_OR_RETURN(c.intermediate_size, f.Field("intermediate_size").Int(1));
  ASSIGN_OR_RETURN(c.num_hidden_layers, f.Field("num_hidden_layers").Int(1));
  ASSIGN_OR_RETURN(c.num_attention_heads,
                   f.Field("num_attention_heads").Int(1));
  ASSIGN_OR_RETURN(
      c.num_key_value_heads,
      f.Field("num_key_value_heads").IntOr(c.num_attention_heads, 1, kMaxInt));
  ASSIGN_OR_RETURN(c.vocab_size, f.Field("vocab_size").Int(1));
  ASSIGN_OR_RETURN(c.max_position_embeddings,
                   f.Field("max_position_embeddings").Int(1));
  if (c.num_attention_heads % c.num_key_value_heads != 0) {
    return f.Field("num_key_value_heads")
        .Error(absl::StrCat(c.num_key_value_heads,
                            " does not divide num_attention_heads ",
                            c.num_attention_heads));
  }
  if (!f.Field("head_dim").absent_or_null()) {
    ASSIGN_OR_RETURN(c.head_dim, f.Field("head_dim").Int(1));
  } else {
    if (c.hidden_size % c.num_attention_heads != 0) {
      return f.Field("num_attention_heads")
          .Error(absl::StrCat(c.num_attention_heads,
                              " does not divide hidden_size ", c.hidden_size,
                              " and head_dim is absent"));
    }
    c.head_dim = c.hidden_size / c.num_attention_heads;
  }
  ASSIGN_OR_RETURN(c.rms_norm_eps, f.Field("rms_norm_eps").DoubleOr(1e-6, 0));
  ASSIGN_OR_RETURN(c.tie_word_embeddings,
                   f.Field("tie_word_embeddings").BoolOr(false));
  ASSIGN_OR_RETURN(c.bos_token_ids, TokenIds(f.Field("bos_token_id")));
  ASSIGN_OR_RETURN(c.eos_token_ids, TokenIds(f.Field("eos_token_id")));
  // transformers 5 writes "dtype"; earlier versions "torch_dtype".
  ASSIGN_OR_RETURN(c.torch_dtype, f.Field("torch_dtype").StringOr(""));
  if (c.torch_dtype.empty()) {
    ASSIGN_OR_RETURN(c.torch_dtype, f.Field("dtype").StringOr(""));
  }

  ASSIGN_OR_RETURN(c.rope_theta, f.Field("rope_theta").DoubleOr(10000.0, 0));
  const JsonNode params = f.Field("rope_parameters");
  const JsonNode scaling = f.Field("rope_scaling");
  if (!params.absent_or_null()) {
    RETURN_IF_ERROR(params.ExpectObject());
    ASSIGN_OR_RETURN(c.rope_theta,
                     params.Field("rope_theta").DoubleOr(c.rope_theta, 0));
    RETURN_IF_ERROR(
        ReadRopeScaling(params, /*has_theta=*/true, c.rope_scaling));
  } else if (!scaling.absent_or_null()) {
    RETURN_IF_ERROR(
        ReadRopeScaling(scaling, /*has_theta=*/false, c.rope_scaling));
  }
  return c;
}

LlamaShape ToLlamaShape(const LlamaConfig& config) {
  LlamaShape shape;
  shape.hidden = config.hidden_size;
  shape.intermediate = config.intermediate_size;
  shape.layers = config.num_hidden_layers;
  shape.heads = config.num_attention_heads;
  shape.kv_heads = config.num_key_value_heads;
  shape.head_dim = config.head_dim;
  shape.vocab = config.vocab_size;
  shape.tied = config.tie_word_embeddings;
  return shape;
}

absl::StatusOr<LlamaConfig> ReadLlamaConfig(const std::string& path) {
  ASSIGN_OR_RETURN(std::string text, ReadFileContents(path, 64 << 20));
  return ParseLlamaConfig(text, path);
}

}  // namespace df11
