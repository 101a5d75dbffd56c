// The Llama-family hyperparameters, read from a Hugging Face config.json.
//
//   ASSIGN_OR_RETURN(LlamaConfig c, ReadLlamaConfig("/models/x/config.json"));
//
// Understands Llama 2, 3, 3.1 and 3.2 configs: grouped-query attention,
// explicit head_dim, rope_theta, llama3 rope scaling, tie_word_embeddings,
// rms_norm_eps, and BOS/EOS ids given as one id or a list; both the classic
// layout (`rope_theta` + `rope_scaling`) and the one transformers 5 writes
// (`rope_parameters`).
#ifndef DF11_LOADER_FORMAT_LLAMA_CONFIG_H_
#define DF11_LOADER_FORMAT_LLAMA_CONFIG_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "loader/shard/llama_schema.h"

namespace df11 {

struct RopeScaling {
  // "none" or "llama3"; other types are rejected at parse time.
  std::string type = "none";
  double factor = 1.0;
  double low_freq_factor = 1.0;
  double high_freq_factor = 4.0;
  int64_t original_max_position_embeddings = 8192;
};

struct LlamaConfig {
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;
  int64_t num_hidden_layers = 0;
  int64_t num_attention_heads = 0;
  int64_t num_key_value_heads = 0;  // = num_attention_heads when absent
  int64_t head_dim = 0;             // = hidden_size / heads when absent
  int64_t vocab_size = 0;
  int64_t max_position_embeddings = 0;
  double rms_norm_eps = 1e-6;
  double rope_theta = 10000.0;
  RopeScaling rope_scaling;
  bool tie_word_embeddings = false;
  std::vector<int64_t> bos_token_ids;
  std::vector<int64_t> eos_token_ids;
  std::string torch_dtype;  // as written, e.g. "bfloat16"
};

// Parses config.json text. `file` names the source in messages. Errors
// (InvalidArgument, naming the file and the JSON path): bad JSON, a key twice
// in one object, a missing or non-positive size, a head count that does not
// divide, an unsupported model_type, activation, bias or rope scaling type,
// an unknown key inside rope_scaling / rope_parameters. Other unknown
// top-level keys are read past: Hugging Face configs carry many that do not
// change the forward pass.
absl::StatusOr<LlamaConfig> ParseLlamaConfig(absl::string_view json,
                                             absl::string_view file);
absl::StatusOr<LlamaConfig> ReadLlamaConfig(const std::string& path);

// The tensor schema's view of the config (loader/shard/llama_schema.h).
LlamaShape ToLlamaShape(const LlamaConfig& config);

}  // namespace df11

#endif  // DF11_LOADER_FORMAT_LLAMA_CONFIG_H_
