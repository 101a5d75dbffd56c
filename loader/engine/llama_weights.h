// The weights a Llama config.json implies, checked against a WeightSource
// with the Llama tensor schema (loader/shard/llama_schema.h), and the
// dimensions of this rank's shards.
//
//   ASSIGN_OR_RETURN(LlamaShardDims dims,
//                    CheckLlamaWeights(config, *source, world));
//
// Every tensor the config implies must exist, be BF16, have the shape the
// config implies, and be split the way the schema splits it for world.size
// ranks. Every tensor the source holds must be one the schema knows: an
// unknown one (a q/k/v bias, say) is an error naming it, never ignored,
// since ignoring it gives wrong outputs; only known non-weights (rotary
// inv_freq buffers) are passed over. With tie_word_embeddings the LM head is
// the embedding, and an lm_head.weight is an error.
#ifndef DF11_LOADER_ENGINE_LLAMA_WEIGHTS_H_
#define DF11_LOADER_ENGINE_LLAMA_WEIGHTS_H_

#include <cstdint>
#include <iterator>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "loader/dist/world_config.h"
#include "loader/engine/weight_source.h"
#include "loader/format/llama_config.h"
#include "loader/shard/llama_schema.h"

namespace df11 {

// "model.layers.<layer>.<suffix>", e.g. suffix "self_attn.q_proj.weight".
std::string LayerTensorName(int64_t layer, absl::string_view suffix);

// The schema's names, as the engine spells them.
inline constexpr const char* kEmbedName = kLlamaEmbedName;
inline constexpr const char* kFinalNormName = kLlamaFinalNormName;
inline constexpr const char* kLmHeadName = kLlamaLmHeadName;

// One decoder layer's tensors, indexed in the schema's layer order
// (kLlamaLayerKinds), which is also the order the engine lays them out in
// its layer buffer.
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
inline constexpr const auto& kLayerSuffixes = kLlamaLayerSuffixes;
static_assert(std::size(kLlamaLayerKinds) == kNumLayerTensors);
static_assert(kLlamaLayerKinds[kInputNorm] == LlamaTensorKind::kInputNorm &&
              kLlamaLayerKinds[kQ] == LlamaTensorKind::kQ &&
              kLlamaLayerKinds[kK] == LlamaTensorKind::kK &&
              kLlamaLayerKinds[kV] == LlamaTensorKind::kV &&
              kLlamaLayerKinds[kO] == LlamaTensorKind::kO &&
              kLlamaLayerKinds[kPostNorm] == LlamaTensorKind::kPostNorm &&
              kLlamaLayerKinds[kGate] == LlamaTensorKind::kGate &&
              kLlamaLayerKinds[kUp] == LlamaTensorKind::kUp &&
              kLlamaLayerKinds[kDown] == LlamaTensorKind::kDown);

// What this rank computes.
struct LlamaShardDims {
  int64_t q_heads = 0;        // local query heads
  int64_t q_head_offset = 0;  // global index of the first
  int64_t kv_heads = 0;       // local kv heads (all of them when replicated)
  int64_t kv_head_offset = 0;
  int64_t ffn = 0;  // local intermediate size
  // Rows of this rank's embedding and LM head shards: ceil(vocab_size / tp).
  // When tp does not divide the vocabulary the shards are padded with zero
  // rows, so vocab * tp may exceed vocab_size: the rows at global index
  // >= vocab_size are padding, never a token, and must never be sampled or
  // appear in logits.
  int64_t vocab = 0;
  int64_t vocab_offset = 0;  // global index of this rank's first row
  int64_t vocab_size = 0;    // the real vocabulary (config.json vocab_size)
  const char* lm_head = kLmHeadName;  // or kEmbedName when tied
};

// Errors (InvalidArgument, naming the tensor and source.path()): a tensor
// the schema does not know or the config does not imply (e.g. a layer past
// num_hidden_layers), a missing tensor, a dtype other than BF16, a shape
// that does not match the config, a split other than the rule's, heads or
// an intermediate size that world.size does not divide; and a source split
// for a tp other than world.size.
absl::StatusOr<LlamaShardDims> CheckLlamaWeights(const LlamaConfig& config,
                                                 const WeightSource& source,
                                                 const WorldConfig& world);

}  // namespace df11

#endif  // DF11_LOADER_ENGINE_LLAMA_WEIGHTS_H_
