// Hugging Face config.json -> LlamaConfig.
#include "loader/format/llama_config.h"

#include <cstdint>
#include <limits>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "loader/base/status_macros.h"
#include "loader/format/file_contents.h"
#include "nlohmann/json.hpp"

namespace df11 {
namespace {

using Json = nlohmann::json;

// Reads fields of one JSON object, naming the file and field in errors.
class FieldReader {
 public:
  FieldReader(const Json& object, absl::string_view file,
              absl::string_view prefix = "")
      : object_(object), file_(file), prefix_(prefix) {}

  // nullptr when the field is absent or null.
  const Json* Find(absl::string_view key) const {
    auto it = object_.find(std::string(key));
    if (it == object_.end() || it->is_null()) return nullptr;
    return &*it;
  }

  absl::Status Error(absl::string_view key, absl::string_view what) const {
    return absl::InvalidArgumentError(
        absl::StrCat(file_, ": ", prefix_, key, ": ", what));
  }

  absl::StatusOr<int64_t> PositiveInt(absl::string_view key) const {
    const Json* v = Find(key);
    if (v == nullptr) return Error(key, "missing");
    return PositiveInt(key, *v);
  }

  absl::StatusOr<int64_t> PositiveInt(absl::string_view key,
                                      const Json& v) const {
    if (!v.is_number_unsigned() ||
        v.get<uint64_t>() >
            static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) ||
        v.get<uint64_t>() == 0) {
      return Error(key,
                   absl::StrCat("expected a positive integer, got ", v.dump()));
    }
    return static_cast<int64_t>(v.get<uint64_t>());
  }

  absl::StatusOr<int64_t> PositiveIntOr(absl::string_view key,
                                        int64_t fallback) const {
    const Json* v = Find(key);
    if (v == nullptr) return fallback;
    return PositiveInt(key, *v);
  }

  absl::StatusOr<double> PositiveNumberOr(absl::string_view key,
                                          double fallback) const {
    const Json* v = Find(key);
    if (v == nullptr) return fallback;
    if (!v->is_number() || !(v->get<double>() > 0)) {
      return Error(key,
                   absl::StrCat("expected a positive number, got ", v->dump()));
    }
    return v->get<double>();
  }

  absl::StatusOr<double> PositiveNumber(absl::string_view key) const {
    if (Find(key) == nullptr) return Error(key, "missing");
    return PositiveNumberOr(key, 0);
  }

  absl::StatusOr<bool> BoolOr(absl::string_view key, bool fallback) const {
    const Json* v = Find(key);
    if (v == nullptr) return fallback;
    if (!v->is_boolean()) {
      return Error(key,
                   absl::StrCat("expected true or false, got ", v->dump()));
    }
    return v->get<bool>();
  }

  // "" when absent.
  absl::StatusOr<std::string> StringOr(absl::string_view key) const {
    const Json* v = Find(key);
    if (v == nullptr) return std::string();
    if (!v->is_string()) {
      return Error(key, absl::StrCat("expected a string, got ", v->dump()));
    }
    return v->get<std::string>();
  }

  // One token id or a list of them; empty when absent.
  absl::StatusOr<std::vector<int64_t>> TokenIds(absl::string_view key) const {
    const Json* v = Find(key);
    std::vector<int64_t> ids;
    if (v == nullptr) return ids;
    auto add = [&](const Json& id) -> absl::Status {
      if (!id.is_number_unsigned() ||
          id.get<uint64_t>() >
              static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        return Error(key, absl::StrCat("expected a token id or a list of "
                                       "them, got ",
                                       v->dump()));
      }
      ids.push_back(static_cast<int64_t>(id.get<uint64_t>()));
      return absl::OkStatus();
    };
    if (v->is_array()) {
      for (const Json& id : *v) RETURN_IF_ERROR(add(id));
    } else {
      RETURN_IF_ERROR(add(*v));
    }
    return ids;
  }

 private:
  const Json& object_;
  absl::string_view file_;
  std::string prefix_;
};

// Reads the rope scaling fields from `rope` (the classic `rope_scaling`
// object, or transformers 5's `rope_parameters`).
absl::Status ReadRopeScaling(const FieldReader& rope, RopeScaling& out) {
  std::string type_key = "rope_type";
  ASSIGN_OR_RETURN(std::string type, rope.StringOr(type_key));
  if (type.empty()) {
    type_key = "type";  // older configs
    ASSIGN_OR_RETURN(type, rope.StringOr(type_key));
  }
  if (type.empty() || type == "default") {
    out = RopeScaling();
    return absl::OkStatus();
  }
  if (type != "llama3") {
    return rope.Error(type_key,
                      absl::StrCat("unsupported rope scaling type '", type,
                                   "' (supported: default, llama3)"));
  }
  out.type = "llama3";
  ASSIGN_OR_RETURN(out.factor, rope.PositiveNumber("factor"));
  ASSIGN_OR_RETURN(out.low_freq_factor, rope.PositiveNumber("low_freq_factor"));
  ASSIGN_OR_RETURN(out.high_freq_factor,
                   rope.PositiveNumber("high_freq_factor"));
  ASSIGN_OR_RETURN(out.original_max_position_embeddings,
                   rope.PositiveInt("original_max_position_embeddings"));
  if (!(out.low_freq_factor < out.high_freq_factor)) {
    return rope.Error("low_freq_factor",
                      "must be smaller than high_freq_factor");
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<LlamaConfig> ParseLlamaConfig(absl::string_view json,
                                             absl::string_view file) {
  Json root = Json::parse(json.begin(), json.end(), nullptr,
                          /*allow_exceptions=*/false);
  if (root.is_discarded() || !root.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat(file, ": not a valid JSON object"));
  }
  const FieldReader f(root, file);

  ASSIGN_OR_RETURN(std::string model_type, f.StringOr("model_type"));
  if (model_type != "llama") {
    return f.Error("model_type",
                   model_type.empty()
                       ? "missing (expected \"llama\")"
                       : absl::StrCat("'", model_type,
                                      "' is not supported (expected "
                                      "\"llama\")"));
  }
  // The forward pass implements SiLU and bias-free projections only.
  ASSIGN_OR_RETURN(std::string act, f.StringOr("hidden_act"));
  if (!act.empty() && act != "silu") {
    return f.Error(
        "hidden_act",
        absl::StrCat("'", act, "' is not supported (expected silu)"));
  }
  for (const char* bias : {"attention_bias", "mlp_bias"}) {
    ASSIGN_OR_RETURN(bool has_bias, f.BoolOr(bias, false));
    if (has_bias) return f.Error(bias, "biases are not supported");
  }

  LlamaConfig c;
  ASSIGN_OR_RETURN(c.hidden_size, f.PositiveInt("hidden_size"));
  ASSIGN_OR_RETURN(c.intermediate_size, f.PositiveInt("intermediate_size"));
  ASSIGN_OR_RETURN(c.num_hidden_layers, f.PositiveInt("num_hidden_layers"));
  ASSIGN_OR_RETURN(c.num_attention_heads, f.PositiveInt("num_attention_heads"));
  ASSIGN_OR_RETURN(
      c.num_key_value_heads,
      f.PositiveIntOr("num_key_value_heads", c.num_attention_heads));
  ASSIGN_OR_RETURN(c.vocab_size, f.PositiveInt("vocab_size"));
  ASSIGN_OR_RETURN(c.max_position_embeddings,
                   f.PositiveInt("max_position_embeddings"));
  if (c.num_attention_heads % c.num_key_value_heads != 0) {
    return f.Error("num_key_value_heads",
                   absl::StrCat(c.num_key_value_heads,
                                " does not divide num_attention_heads ",
                                c.num_attention_heads));
  }
  if (f.Find("head_dim") != nullptr) {
    ASSIGN_OR_RETURN(c.head_dim, f.PositiveInt("head_dim"));
  } else {
    if (c.hidden_size % c.num_attention_heads != 0) {
      return f.Error(
          "num_attention_heads",
          absl::StrCat(c.num_attention_heads, " does not divide hidden_size ",
                       c.hidden_size, " and head_dim is absent"));
    }
    c.head_dim = c.hidden_size / c.num_attention_heads;
  }
  ASSIGN_OR_RETURN(c.rms_norm_eps, f.PositiveNumberOr("rms_norm_eps", 1e-6));
  ASSIGN_OR_RETURN(c.tie_word_embeddings,
                   f.BoolOr("tie_word_embeddings", false));
  ASSIGN_OR_RETURN(c.bos_token_ids, f.TokenIds("bos_token_id"));
  ASSIGN_OR_RETURN(c.eos_token_ids, f.TokenIds("eos_token_id"));
  // transformers 5 writes "dtype"; earlier versions "torch_dtype".
  ASSIGN_OR_RETURN(c.torch_dtype, f.StringOr("torch_dtype"));
  if (c.torch_dtype.empty()) {
    ASSIGN_OR_RETURN(c.torch_dtype, f.StringOr("dtype"));
  }

  ASSIGN_OR_RETURN(c.rope_theta, f.PositiveNumberOr("rope_theta", 10000.0));
  const Json* params = f.Find("rope_parameters");
  const Json* scaling = f.Find("rope_scaling");
  if (params != nullptr) {
    if (!params->is_object()) {
      return f.Error("rope_parameters", "expected an object");
    }
    const FieldReader rope(*params, file, "rope_parameters.");
    ASSIGN_OR_RETURN(c.rope_theta,
                     rope.PositiveNumberOr("rope_theta", c.rope_theta));
    RETURN_IF_ERROR(ReadRopeScaling(rope, c.rope_scaling));
  } else if (scaling != nullptr) {
    if (!scaling->is_object()) {
      return f.Error("rope_scaling", "expected an object or null");
    }
    RETURN_IF_ERROR(ReadRopeScaling(
        FieldReader(*scaling, file, "rope_scaling."), c.rope_scaling));
  }
  return c;
}

absl::StatusOr<LlamaConfig> ReadLlamaConfig(const std::string& path) {
  ASSIGN_OR_RETURN(std::string text, ReadFileContents(path, 64 << 20));
  return ParseLlamaConfig(text, path);
}

}  // namespace df11
