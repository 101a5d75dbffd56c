#include "loader/shard/llama_schema.h"

#include <iterator>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"

namespace df11 {
namespace {

constexpr char kLayerPrefix[] = "model.layers.";
constexpr size_t kNumLayerKinds = std::size(kLlamaLayerKinds);
static_assert(std::size(kLlamaLayerSuffixes) == kNumLayerKinds);

// Splits "model.layers.<i>.<rest>" into i and rest; false for any other name
// or a layer number that is not canonical decimal (no sign, no leading zero).
bool SplitLayerName(absl::string_view name, int64_t* layer,
                    absl::string_view* rest) {
  if (!absl::ConsumePrefix(&name, kLayerPrefix)) return false;
  const size_t dot = name.find('.');
  if (dot == 0 || dot == absl::string_view::npos) return false;
  const absl::string_view digits = name.substr(0, dot);
  for (char c : digits) {
    if (!absl::ascii_isdigit(c)) return false;
  }
  if (digits.size() > 1 && digits[0] == '0') return false;
  if (!absl::SimpleAtoi(digits, layer)) return false;  // overflow
  *rest = name.substr(dot + 1);
  return true;
}

absl::Status Indivisible(int64_t count, absl::string_view what, int tp) {
  return absl::InvalidArgumentError(absl::StrCat(
      count, " ", what, " do not divide into ", tp, " tensor-parallel shards"));
}

}  // namespace

bool IsLlamaLayerKind(LlamaTensorKind kind) {
  return kind != LlamaTensorKind::kEmbed &&
         kind != LlamaTensorKind::kFinalNorm &&
         kind != LlamaTensorKind::kLmHead;
}

std::string LlamaTensorName(LlamaTensorId id) {
  switch (id.kind) {
    case LlamaTensorKind::kEmbed:
      return kLlamaEmbedName;
    case LlamaTensorKind::kFinalNorm:
      return kLlamaFinalNormName;
    case LlamaTensorKind::kLmHead:
      return kLlamaLmHeadName;
    default:
      break;
  }
  for (size_t i = 0; i < kNumLayerKinds; ++i) {
    if (kLlamaLayerKinds[i] == id.kind) {
      return absl::StrCat(kLayerPrefix, id.layer, ".", kLlamaLayerSuffixes[i]);
    }
  }
  return "";  // unreachable for valid enum values
}

absl::StatusOr<LlamaTensorId> ParseLlamaTensorName(absl::string_view name) {
  if (name == kLlamaEmbedName) return LlamaTensorId{LlamaTensorKind::kEmbed};
  if (name == kLlamaFinalNormName) {
    return LlamaTensorId{LlamaTensorKind::kFinalNorm};
  }
  if (name == kLlamaLmHeadName) return LlamaTensorId{LlamaTensorKind::kLmHead};
  int64_t layer;
  absl::string_view suffix;
  if (SplitLayerName(name, &layer, &suffix)) {
    for (size_t i = 0; i < kNumLayerKinds; ++i) {
      if (suffix == kLlamaLayerSuffixes[i]) {
        return LlamaTensorId{kLlamaLayerKinds[i], layer};
      }
    }
  }
  return absl::InvalidArgumentError(
      absl::StrCat(name,
                   " is not a Llama tensor df11 knows; ignoring it would give "
                   "wrong outputs"));
}

bool IsLlamaNonWeightTensor(absl::string_view name) {
  int64_t layer;
  absl::string_view suffix;
  return SplitLayerName(name, &layer, &suffix) &&
         suffix == "self_attn.rotary_emb.inv_freq";
}

std::vector<LlamaTensorId> LlamaTensors(const LlamaShape& shape) {
  std::vector<LlamaTensorId> ids = {{LlamaTensorKind::kEmbed}};
  for (int64_t layer = 0; layer < shape.layers; ++layer) {
    for (LlamaTensorKind kind : kLlamaLayerKinds) ids.push_back({kind, layer});
  }
  ids.push_back({LlamaTensorKind::kFinalNorm});
  if (!shape.tied) ids.push_back({LlamaTensorKind::kLmHead});
  return ids;
}

absl::StatusOr<std::optional<LlamaTensorId>> ClassifyLlamaTensor(
    const LlamaShape& shape, absl::string_view name) {
  if (IsLlamaNonWeightTensor(name)) return std::nullopt;
  absl::StatusOr<LlamaTensorId> id = ParseLlamaTensorName(name);
  if (!id.ok()) return id.status();
  if (IsLlamaLayerKind(id->kind) && id->layer >= shape.layers) {
    return absl::InvalidArgumentError(
        absl::StrCat("config.json says num_hidden_layers ", shape.layers,
                     " but the model has ", name));
  }
  if (id->kind == LlamaTensorKind::kLmHead && shape.tied) {
    return absl::InvalidArgumentError(
        absl::StrCat("config.json ties the LM head to the embedding "
                     "(tie_word_embeddings) but the model has ",
                     name));
  }
  return std::optional<LlamaTensorId>(*id);
}

std::vector<uint64_t> LlamaTensorShape(const LlamaShape& shape,
                                       LlamaTensorId id) {
  const uint64_t h = shape.hidden;
  const uint64_t q = shape.heads * shape.head_dim;
  const uint64_t kv = shape.kv_heads * shape.head_dim;
  const uint64_t f = shape.intermediate;
  const uint64_t v = shape.vocab;
  switch (id.kind) {
    case LlamaTensorKind::kEmbed:
    case LlamaTensorKind::kLmHead:
      return {v, h};
    case LlamaTensorKind::kFinalNorm:
    case LlamaTensorKind::kInputNorm:
    case LlamaTensorKind::kPostNorm:
      return {h};
    case LlamaTensorKind::kQ:
      return {q, h};
    case LlamaTensorKind::kK:
    case LlamaTensorKind::kV:
      return {kv, h};
    case LlamaTensorKind::kO:
      return {h, q};
    case LlamaTensorKind::kGate:
    case LlamaTensorKind::kUp:
      return {f, h};
    case LlamaTensorKind::kDown:
      return {h, f};
  }
  return {};
}

absl::StatusOr<SplitKind> LlamaSplitKind(const LlamaShape& shape,
                                         LlamaTensorKind kind, int tp) {
  if (tp < 1) return absl::InvalidArgumentError("tp must be at least 1");
  switch (kind) {
    case LlamaTensorKind::kEmbed:
    case LlamaTensorKind::kLmHead:
      return shape.vocab % tp == 0 ? SplitKind::kRows : SplitKind::kRowsPadded;
    case LlamaTensorKind::kFinalNorm:
    case LlamaTensorKind::kInputNorm:
    case LlamaTensorKind::kPostNorm:
      return SplitKind::kReplicated;
    case LlamaTensorKind::kQ:
    case LlamaTensorKind::kO:
      if (shape.heads % tp != 0) {
        return Indivisible(shape.heads, "attention heads", tp);
      }
      return kind == LlamaTensorKind::kQ ? SplitKind::kRows
                                         : SplitKind::kColumns;
    case LlamaTensorKind::kK:
    case LlamaTensorKind::kV:
      if (shape.kv_heads < tp) return SplitKind::kReplicated;
      if (shape.kv_heads % tp != 0) {
        return Indivisible(shape.kv_heads, "key/value heads", tp);
      }
      return SplitKind::kRows;
    case LlamaTensorKind::kGate:
    case LlamaTensorKind::kUp:
    case LlamaTensorKind::kDown:
      if (shape.intermediate % tp != 0) {
        return absl::InvalidArgumentError(absl::StrCat(
            "intermediate size ", shape.intermediate, " does not divide into ",
            tp, " tensor-parallel shards"));
      }
      return kind == LlamaTensorKind::kDown ? SplitKind::kColumns
                                            : SplitKind::kRows;
  }
  return SplitKind::kReplicated;
}

absl::StatusOr<SplitPlan> PlanLlamaSplit(
    const LlamaShape& shape, absl::string_view name, size_t element_bytes,
    const std::vector<uint64_t>& tensor_shape, int tp) {
  absl::StatusOr<std::optional<LlamaTensorId>> id =
      ClassifyLlamaTensor(shape, name);
  if (!id.ok()) return id.status();
  SplitKind kind = SplitKind::kReplicated;
  if (id->has_value()) {
    const std::vector<uint64_t> want = LlamaTensorShape(shape, **id);
    if (tensor_shape != want) {
      return absl::InvalidArgumentError(absl::StrCat(
          name, " has shape [", absl::StrJoin(tensor_shape, ", "),
          "] but config.json implies [", absl::StrJoin(want, ", "), "]"));
    }
    absl::StatusOr<SplitKind> split = LlamaSplitKind(shape, (*id)->kind, tp);
    if (!split.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(name, ": ", split.status().message()));
    }
    kind = *split;
  }
  absl::StatusOr<SplitPlan> plan =
      MakeSplitPlan(kind, element_bytes, tensor_shape, tp);
  if (!plan.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, ": ", plan.status().message()));
  }
  return plan;
}

}  // namespace df11
