// The tensors a Llama checkpoint must hold for a given config.json, checked
// against a WeightSource, and the dimensions of this rank's shards.
//
//   ASSIGN_OR_RETURN(LlamaShardDims dims,
//                    CheckLlamaWeights(config, *source, world));
//
// Every tensor the config implies must exist, be BF16, have the shape the
// config implies, and be split the way loader/shard/llama_split.h splits it
// for world.size ranks. Extra tensors are ignored, except a layer beyond
// num_hidden_layers (a config with too few layers). With
// tie_word_embeddings the LM head is the embedding.
#ifndef DF11_LOADER_ENGINE_LLAMA_WEIGHTS_H_
#define DF11_LOADER_ENGINE_LLAMA_WEIGHTS_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "loader/dist/world_config.h"
#include "loader/engine/weight_source.h"
#include "loader/format/llama_config.h"

namespace df11 {

// "model.layers.<layer>.<suffix>", e.g. suffix "self_attn.q_proj.weight".
std::string LayerTensorName(int64_t layer, absl::string_view suffix);

inline constexpr char kEmbedName[] = "model.embed_tokens.weight";
inline constexpr char kFinalNormName[] = "model.norm.weight";
inline constexpr char kLmHeadName[] = "lm_head.weight";

// The suffixes of one decoder layer's tensors, in the order the engine lays
// them out in its layer buffer.
inline constexpr const char* kLayerSuffixes[] = {
    "input_layernorm.weight",  "self_attn.q_proj.weight",
    "self_attn.k_proj.weight", "self_attn.v_proj.weight",
    "self_attn.o_proj.weight", "post_attention_layernorm.weight",
    "mlp.gate_proj.weight",    "mlp.up_proj.weight",
    "mlp.down_proj.weight",
};
enum LayerTensor {
  kInputNorm,
  kQ,
  kK,
  kV,
  kO,
  kPostNorm,
  kGate,
  kUp,
  kDown,
  kNumLayerTensors,
};

// What this rank computes.
struct LlamaShardDims {
  int64_t q_heads = 0;        // local query heads
  int64_t q_head_offset = 0;  // global index of the first
  int64_t kv_heads = 0;       // local kv heads (all of them when replicated)
  int64_t kv_head_offset = 0;
  int64_t ffn = 0;  // local intermediate size
  int64_t vocab = 0;
  int64_t vocab_offset = 0;
  const char* lm_head = kLmHeadName;  // or kEmbedName when tied
};

// Errors (InvalidArgument, naming the tensor, source.path() and the config
// value): a missing tensor, a dtype other than BF16, a shape that does not
// match the config, a split other than the rule's; and a source split for a
// tp other than world.size.
absl::StatusOr<LlamaShardDims> CheckLlamaWeights(const LlamaConfig& config,
                                                 const WeightSource& source,
                                                 const WorldConfig& world);

}  // namespace df11

#endif  // DF11_LOADER_ENGINE_LLAMA_WEIGHTS_H_
