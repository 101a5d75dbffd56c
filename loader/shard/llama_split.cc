#include "loader/shard/llama_split.h"

#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace df11 {
namespace {

SplitKind KindForName(absl::string_view name) {
  auto ends = [&](absl::string_view suffix) {
    return absl::EndsWith(name, suffix);
  };
  if (ends("q_proj.weight") || ends("k_proj.weight") || ends("v_proj.weight") ||
      ends("gate_proj.weight") || ends("up_proj.weight") ||
      ends("embed_tokens.weight") || name == "lm_head.weight") {
    return SplitKind::kRows;
  }
  if (ends("o_proj.weight") || ends("down_proj.weight")) {
    return SplitKind::kColumns;
  }
  return SplitKind::kReplicated;
}

}  // namespace

absl::string_view SplitKindName(SplitKind kind) {
  switch (kind) {
    case SplitKind::kReplicated:
      return "replicated";
    case SplitKind::kRows:
      return "rows";
    case SplitKind::kColumns:
      return "columns";
  }
  return "?";
}

absl::StatusOr<SplitKind> ParseSplitKind(absl::string_view name) {
  for (SplitKind k :
       {SplitKind::kReplicated, SplitKind::kRows, SplitKind::kColumns}) {
    if (SplitKindName(k) == name) return k;
  }
  return absl::InvalidArgumentError(absl::StrCat("unknown split '", name, "'"));
}

absl::StatusOr<SplitPlan> MakeSplitPlan(SplitKind kind, size_t element_bytes,
                                        const std::vector<uint64_t>& shape,
                                        int tp) {
  if (tp < 1) return absl::InvalidArgumentError("tp must be at least 1");
  SplitPlan plan{kind, tp, element_bytes, shape, shape};
  if (kind == SplitKind::kReplicated) return plan;
  const int dim = kind == SplitKind::kRows ? 0 : 1;
  if (shape.size() != 2) {
    return absl::InvalidArgumentError(
        absl::StrCat("a tensor split by ", SplitKindName(kind),
                     " must be 2-D, not [", absl::StrJoin(shape, ", "), "]"));
  }
  if (shape[dim] % tp != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "dimension ", dim, " of shape [", absl::StrJoin(shape, ", "),
        "] does not divide into ", tp, " tensor-parallel shards"));
  }
  plan.shard_shape[dim] = shape[dim] / tp;
  return plan;
}

absl::StatusOr<SplitPlan> PlanLlamaSplit(absl::string_view name,
                                         size_t element_bytes,
                                         const std::vector<uint64_t>& shape,
                                         const AttentionHeads& heads, int tp) {
  SplitKind kind = KindForName(name);
  const bool kv = absl::EndsWith(name, "k_proj.weight") ||
                  absl::EndsWith(name, "v_proj.weight");
  if (kv && heads.key_value < tp) kind = SplitKind::kReplicated;
  auto heads_divide = [&](int64_t count, absl::string_view what) {
    if (count % tp == 0) return absl::OkStatus();
    return absl::InvalidArgumentError(absl::StrCat(name, ": ", count, " ", what,
                                                   " do not divide into ", tp,
                                                   " tensor-parallel shards"));
  };
  absl::Status heads_ok;
  if (absl::EndsWith(name, "q_proj.weight") ||
      absl::EndsWith(name, "o_proj.weight")) {
    heads_ok = heads_divide(heads.query, "attention heads");
  } else if (kv && kind != SplitKind::kReplicated) {
    heads_ok = heads_divide(heads.key_value, "key/value heads");
  }
  if (!heads_ok.ok()) return heads_ok;
  absl::StatusOr<SplitPlan> plan =
      MakeSplitPlan(kind, element_bytes, shape, tp);
  if (!plan.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, ": ", plan.status().message()));
  }
  return plan;
}

namespace {

// Calls fn(tensor_offset, shard_offset, bytes) for each contiguous piece of
// rank `rank`'s shard.
template <typename F>
void ForEachShardPiece(const SplitPlan& plan, int rank, F&& fn) {
  const uint64_t shard_bytes = plan.shard_bytes();
  switch (plan.kind) {
    case SplitKind::kReplicated:
      fn(0, 0, shard_bytes);
      return;
    case SplitKind::kRows:
      fn(rank * shard_bytes, 0, shard_bytes);
      return;
    case SplitKind::kColumns: {
      const uint64_t row_bytes = plan.shape[1] * plan.element_bytes;
      const uint64_t piece = plan.shard_shape[1] * plan.element_bytes;
      for (uint64_t r = 0; r < plan.shape[0]; ++r) {
        fn(r * row_bytes + rank * piece, r * piece, piece);
      }
      return;
    }
  }
}

}  // namespace

void ExtractShard(const SplitPlan& plan, absl::Span<const uint8_t> tensor,
                  int rank, absl::Span<uint8_t> shard) {
  ForEachShardPiece(plan, rank, [&](uint64_t t, uint64_t s, uint64_t bytes) {
    std::memcpy(shard.data() + s, tensor.data() + t, bytes);
  });
}

void ExtractColumnsShardRows(const SplitPlan& plan,
                             absl::Span<const uint8_t> tensor, int rank,
                             uint64_t first_row, absl::Span<uint8_t> out) {
  const uint64_t row_bytes = plan.shape[1] * plan.element_bytes;
  const uint64_t piece = plan.shard_shape[1] * plan.element_bytes;
  const uint64_t rows = out.size() / piece;
  for (uint64_t r = 0; r < rows; ++r) {
    std::memcpy(out.data() + r * piece,
                tensor.data() + (first_row + r) * row_bytes + rank * piece,
                piece);
  }
}

void InsertShard(const SplitPlan& plan, absl::Span<const uint8_t> shard,
                 int rank, absl::Span<uint8_t> tensor) {
  ForEachShardPiece(plan, rank, [&](uint64_t t, uint64_t s, uint64_t bytes) {
    std::memcpy(tensor.data() + t, shard.data() + s, bytes);
  });
}

}  // namespace df11
