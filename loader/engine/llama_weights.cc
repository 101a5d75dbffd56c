#include "loader/engine/llama_weights.h"

#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "loader/base/status_macros.h"

namespace df11 {
namespace {

struct Expected {
  std::string name;
  std::vector<uint64_t> shape;
  SplitKind split;
};

absl::Status CheckOne(const Expected& want, const WeightSource& source) {
  absl::StatusOr<WeightInfo> info = source.Find(want.name);
  if (!info.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(source.path(), ": config.json implies tensor ", want.name,
                     ", which the model does not have"));
  }
  if (info->dtype != Dtype::kBF16) {
    return absl::InvalidArgumentError(absl::StrCat(
        source.path(), ": ", want.name, " is ", DtypeName(info->dtype),
        "; the engine needs BF16 weights"));
  }
  if (info->shape != want.shape) {
    return absl::InvalidArgumentError(absl::StrCat(
        source.path(), ": ", want.name, " has shape [",
        absl::StrJoin(info->shape, ", "), "] but config.json implies [",
        absl::StrJoin(want.shape, ", "), "]"));
  }
  if (info->split != want.split) {
    return absl::InvalidArgumentError(absl::StrCat(
        source.path(), ": ", want.name, " is split as ",
        SplitKindName(info->split), ", expected ", SplitKindName(want.split)));
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
    return absl::InvalidArgumentError(absl::StrCat(
        source.path(), ": the weights are split for tensor parallel size ",
        source.tp(), " but ", tp, " rank(s) are running"));
  }
  const uint64_t h = config.hidden_size;
  const uint64_t hd = config.head_dim;
  const uint64_t q_out = config.num_attention_heads * hd;
  const uint64_t kv_out = config.num_key_value_heads * hd;
  const uint64_t f = config.intermediate_size;
  const uint64_t vocab = config.vocab_size;
  const bool kv_split = config.num_key_value_heads >= tp;
  const auto divides = [&](int64_t n, absl::string_view what) -> absl::Status {
    if (n % tp == 0) return absl::OkStatus();
    return absl::InvalidArgumentError(
        absl::StrCat(source.path(), ": config.json ", what, " ", n,
                     " is not divisible by tensor parallel size ", tp));
  };
  RETURN_IF_ERROR(divides(config.num_attention_heads, "num_attention_heads"));
  if (kv_split) {
    RETURN_IF_ERROR(divides(config.num_key_value_heads, "num_key_value_heads"));
  }
  RETURN_IF_ERROR(divides(config.intermediate_size, "intermediate_size"));
  RETURN_IF_ERROR(divides(config.vocab_size, "vocab_size"));

  std::vector<Expected> expected = {
      {kEmbedName, {vocab, h}, SplitKind::kRows},
      {kFinalNormName, {h}, SplitKind::kReplicated},
  };
  if (!config.tie_word_embeddings) {
    expected.push_back({kLmHeadName, {vocab, h}, SplitKind::kRows});
  }
  const SplitKind kv_kind =
      kv_split ? SplitKind::kRows : SplitKind::kReplicated;
  for (int64_t layer = 0; layer < config.num_hidden_layers; ++layer) {
    const std::vector<uint64_t> shapes[kNumLayerTensors] = {
        {h}, {q_out, h}, {kv_out, h}, {kv_out, h}, {h, q_out},
        {h}, {f, h},     {f, h},      {h, f}};
    const SplitKind kinds[kNumLayerTensors] = {SplitKind::kReplicated,
                                               SplitKind::kRows,
                                               kv_kind,
                                               kv_kind,
                                               SplitKind::kColumns,
                                               SplitKind::kReplicated,
                                               SplitKind::kRows,
                                               SplitKind::kRows,
                                               SplitKind::kColumns};
    for (int i = 0; i < kNumLayerTensors; ++i) {
      expected.push_back(
          {LayerTensorName(layer, kLayerSuffixes[i]), shapes[i], kinds[i]});
    }
  }
  for (const Expected& want : expected) RETURN_IF_ERROR(CheckOne(want, source));
  const std::string extra_layer =
      LayerTensorName(config.num_hidden_layers, kLayerSuffixes[kQ]);
  if (source.Find(extra_layer).ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        source.path(), ": config.json says num_hidden_layers ",
        config.num_hidden_layers, " but the model has ", extra_layer));
  }

  LlamaShardDims dims;
  dims.q_heads = config.num_attention_heads / tp;
  dims.q_head_offset = world.rank * dims.q_heads;
  dims.kv_heads =
      kv_split ? config.num_key_value_heads / tp : config.num_key_value_heads;
  dims.kv_head_offset = kv_split ? world.rank * dims.kv_heads : 0;
  dims.ffn = config.intermediate_size / tp;
  dims.vocab = config.vocab_size / tp;
  dims.vocab_offset = world.rank * dims.vocab;
  dims.lm_head = config.tie_word_embeddings ? kEmbedName : kLmHeadName;
  return dims;
}

}  // namespace df11
