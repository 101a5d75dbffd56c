#include "loader/engine/llama_weights.h"

#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "loader/base/status_macros.h"

namespace df11 {
namespace {

absl::Status Error(const WeightSource& source, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(source.path(), ": ", what));
}

// One tensor the config implies, as the source holds it.
absl::Status CheckOne(const LlamaShape& shape, LlamaTensorId id, int tp,
                      const WeightSource& source) {
  const std::string name = LlamaTensorName(id);
  absl::StatusOr<WeightInfo> info = source.Find(name);
  if (absl::IsNotFound(info.status())) {
    return Error(source, absl::StrCat("config.json implies tensor ", name,
                                      ", which the model does not have"));
  }
  // A source that splits on the fly rejects what it cannot split, naming it.
  if (!info.ok()) return info.status();
  if (info->dtype != Dtype::kBF16) {
    return Error(source, absl::StrCat(name, " is ", DtypeName(info->dtype),
                                      "; the engine needs BF16 weights"));
  }
  const std::vector<uint64_t> want = LlamaTensorShape(shape, id);
  if (info->shape != want) {
    return Error(source, absl::StrCat(name, " has shape [",
                                      absl::StrJoin(info->shape, ", "),
                                      "] but config.json implies [",
                                      absl::StrJoin(want, ", "), "]"));
  }
  absl::StatusOr<SplitKind> split = LlamaSplitKind(shape, id.kind, tp);
  if (!split.ok()) {
    return Error(source, absl::StrCat(name, ": ", split.status().message()));
  }
  if (info->split != *split) {
    return Error(source,
                 absl::StrCat(name, " is split as ", SplitKindName(info->split),
                              ", expected ", SplitKindName(*split)));
  }
  return absl::OkStatus();
}

}  // namespace

std::string LayerTensorName(int64_t layer, absl::string_view suffix) {
  return absl::StrCat("model.layers.", layer, ".", suffix);
}

absl::StatusOr<LlamaShardDims> CheckLlamaWeights(const LlamaConfig& config,
                                                 const WeightSource& source,
                                                 const WorldConfig& world) {
  const int tp = world.size;
  if (source.tp() != tp) {
    return Error(
        source, absl::StrCat("the weights are split for tensor parallel size ",
                             source.tp(), " but ", tp, " rank(s) are running"));
  }
  const LlamaShape shape = ToLlamaShape(config);
  // Nothing the schema does not know: ignoring a tensor changes the outputs.
  for (const std::string& name : source.TensorNames()) {
    absl::StatusOr<std::optional<LlamaTensorId>> id =
        ClassifyLlamaTensor(shape, name);
    if (!id.ok()) return Error(source, id.status().message());
  }
  for (const LlamaTensorId& id : LlamaTensors(shape)) {
    RETURN_IF_ERROR(CheckOne(shape, id, tp, source));
  }

  ASSIGN_OR_RETURN(const SplitKind kv_kind,
                   LlamaSplitKind(shape, LlamaTensorKind::kK, tp));
  const bool kv_split = kv_kind != SplitKind::kReplicated;
  LlamaShardDims dims;
  dims.q_heads = config.num_attention_heads / tp;
  dims.q_head_offset = world.rank * dims.q_heads;
  dims.kv_heads =
      kv_split ? config.num_key_value_heads / tp : config.num_key_value_heads;
  dims.kv_head_offset = kv_split ? world.rank * dims.kv_heads : 0;
  dims.ffn = config.intermediate_size / tp;
  dims.vocab = (config.vocab_size + tp - 1) / tp;
  dims.vocab_offset = world.rank * dims.vocab;
  dims.vocab_size = config.vocab_size;
  dims.lm_head = config.tie_word_embeddings ? kEmbedName : kLmHeadName;
  return dims;
}

}  // namespace df11
