// The Llama tensor schema: which tensors a checkpoint of a given shape holds,
// their names, shapes and tensor-parallel split rules. The one place that
// knows them: `df11 compress` plans its splits with it, the engine checks
// its weights with it, the synthetic checkpoint writes it.
//
//   const LlamaShape shape = ToLlamaShape(config);  // format/llama_config.h
//   for (LlamaTensorId id : LlamaTensors(shape)) {
//     std::string name = LlamaTensorName(id);  // "model.layers.3...."
//     std::vector<uint64_t> dims = LlamaTensorShape(shape, id);
//     ASSIGN_OR_RETURN(SplitKind kind, LlamaSplitKind(shape, id.kind, tp));
//   }
//
// Strict: a checkpoint tensor the schema does not know (a q/k/v bias of a
// Qwen-style model, say) is an error, never ignored, since ignoring it gives
// wrong outputs. The only names let through are known non-weights (rotary
// inv_freq buffers of older checkpoints, see IsLlamaNonWeightTensor), which
// do not change the outputs.
//
// Split rules (weights are [out, in], row-major; loader/shard/llama_split.h):
//   q, gate, up             kRows      (heads / intermediate size divide tp)
//   k, v                    kRows when kv_heads >= tp (kv_heads divides tp),
//                           else kReplicated (every rank holds all kv heads)
//   o, down                 kColumns   (heads / intermediate size divide tp)
//   embed_tokens, lm_head   kRows when tp divides the vocabulary, else
//                           kRowsPadded (ceil(vocab / tp) rows per rank, the
//                           last rank(s) end in zero rows)
//   norms                   kReplicated
#ifndef DF11_LOADER_SHARD_LLAMA_SCHEMA_H_
#define DF11_LOADER_SHARD_LLAMA_SCHEMA_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "loader/shard/llama_split.h"

namespace df11 {

// What the schema needs of a model's config (all positive).
struct LlamaShape {
  int64_t hidden = 0;
  int64_t intermediate = 0;
  int64_t layers = 0;
  int64_t heads = 0;     // query heads
  int64_t kv_heads = 0;  // key/value heads
  int64_t head_dim = 0;
  int64_t vocab = 0;
  bool tied = false;  // the LM head is the embedding: no lm_head.weight
};

enum class LlamaTensorKind {
  kEmbed,      // model.embed_tokens.weight      [vocab, hidden]
  kFinalNorm,  // model.norm.weight              [hidden]
  kLmHead,     // lm_head.weight                 [vocab, hidden]
  // Per layer, model.layers.<i>.<suffix>:
  kInputNorm,  // input_layernorm.weight         [hidden]
  kQ,          // self_attn.q_proj.weight        [heads * head_dim, hidden]
  kK,          // self_attn.k_proj.weight        [kv_heads * head_dim, hidden]
  kV,          // self_attn.v_proj.weight        [kv_heads * head_dim, hidden]
  kO,          // self_attn.o_proj.weight        [hidden, heads * head_dim]
  kPostNorm,   // post_attention_layernorm.weight [hidden]
  kGate,       // mlp.gate_proj.weight           [intermediate, hidden]
  kUp,         // mlp.up_proj.weight             [intermediate, hidden]
  kDown,       // mlp.down_proj.weight           [hidden, intermediate]
};

// A decoder layer's tensors in the order the forward pass uses them.
inline constexpr LlamaTensorKind kLlamaLayerKinds[] = {
    LlamaTensorKind::kInputNorm, LlamaTensorKind::kQ,
    LlamaTensorKind::kK,         LlamaTensorKind::kV,
    LlamaTensorKind::kO,         LlamaTensorKind::kPostNorm,
    LlamaTensorKind::kGate,      LlamaTensorKind::kUp,
    LlamaTensorKind::kDown,
};
// Their name suffixes, in the same order.
inline constexpr const char* kLlamaLayerSuffixes[] = {
    "input_layernorm.weight",  "self_attn.q_proj.weight",
    "self_attn.k_proj.weight", "self_attn.v_proj.weight",
    "self_attn.o_proj.weight", "post_attention_layernorm.weight",
    "mlp.gate_proj.weight",    "mlp.up_proj.weight",
    "mlp.down_proj.weight",
};
inline constexpr const char kLlamaEmbedName[] = "model.embed_tokens.weight";
inline constexpr const char kLlamaFinalNormName[] = "model.norm.weight";
inline constexpr const char kLlamaLmHeadName[] = "lm_head.weight";

bool IsLlamaLayerKind(LlamaTensorKind kind);

struct LlamaTensorId {
  LlamaTensorKind kind = LlamaTensorKind::kEmbed;
  int64_t layer = -1;  // >= 0 for layer kinds, -1 for the others

  bool operator==(const LlamaTensorId& o) const {
    return kind == o.kind && layer == o.layer;
  }
};

// "model.embed_tokens.weight", "model.layers.3.self_attn.q_proj.weight", ...
std::string LlamaTensorName(LlamaTensorId id);

// The inverse of LlamaTensorName, for any layer number written in canonical
// decimal. InvalidArgument for any other name: "model.layers.0.self_attn.
// q_proj.bias is not a Llama tensor df11 knows; ignoring it would give
// wrong outputs".
absl::StatusOr<LlamaTensorId> ParseLlamaTensorName(absl::string_view name);

// Known tensors of real checkpoints that are not weights and do not change
// the outputs: "model.layers.<i>.self_attn.rotary_emb.inv_freq" (a buffer
// older transformers saved; df11 computes RoPE from config.json). `df11
// compress` keeps them (replicated, so decompress restores the checkpoint);
// the engine ignores them.
bool IsLlamaNonWeightTensor(absl::string_view name);

// Every tensor `shape` implies, in the forward pass's order: the embedding,
// each layer's kLlamaLayerKinds, the final norm, then the LM head unless
// tied.
std::vector<LlamaTensorId> LlamaTensors(const LlamaShape& shape);

// What the schema makes of a checkpoint tensor name: its id, or nullopt for
// a known non-weight. InvalidArgument (the message names the tensor) for an
// unknown name, a layer at or past shape.layers ("config.json says
// num_hidden_layers 2 but the model has model.layers.2...."), or
// lm_head.weight when the LM head is tied.
absl::StatusOr<std::optional<LlamaTensorId>> ClassifyLlamaTensor(
    const LlamaShape& shape, absl::string_view name);

// The tensor's full (unsplit) shape: [out, in] for matrices, [hidden] for
// norms. REQUIRES: id is one of LlamaTensors(shape).
std::vector<uint64_t> LlamaTensorShape(const LlamaShape& shape,
                                       LlamaTensorId id);

// The split of tensors of `kind` for `tp` ranks, by the rules above.
// InvalidArgument when tp does not divide what must divide:
//   "4 attention heads do not divide into 8 tensor-parallel shards",
//   "2 key/value heads do not divide into 3 tensor-parallel shards",
//   "intermediate size 100 does not divide into 8 tensor-parallel shards".
// The vocabulary never needs to divide (kRowsPadded).
absl::StatusOr<SplitKind> LlamaSplitKind(const LlamaShape& shape,
                                         LlamaTensorKind kind, int tp);

// The split plan of checkpoint tensor `name` with shape `tensor_shape` for
// `tp` ranks: ClassifyLlamaTensor, then the tensor must have the shape
// `shape` implies, then LlamaSplitKind. A known non-weight is replicated.
// Errors are InvalidArgument and start with the tensor's name, e.g.
// "model.layers.0.mlp.up_proj.weight has shape [100, 64] but config.json
// implies [128, 64]".
absl::StatusOr<SplitPlan> PlanLlamaSplit(
    const LlamaShape& shape, absl::string_view name, size_t element_bytes,
    const std::vector<uint64_t>& tensor_shape, int tp);

}  // namespace df11

#endif  // DF11_LOADER_SHARD_LLAMA_SCHEMA_H_
