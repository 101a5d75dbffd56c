#include "loader/shard/llama_split.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace df11 {

absl::string_view SplitKindName(SplitKind kind) {
  switch (kind) {
    case SplitKind::kReplicated:
      return "replicated";
    case SplitKind::kRows:
      return "rows";
    case SplitKind::kColumns:
      return "columns";
    case SplitKind::kRowsPadded:
      return "rows_padded";
  }
  return "?";
}

absl::StatusOr<SplitKind> ParseSplitKind(absl::string_view name) {
  for (SplitKind k : {SplitKind::kReplicated, SplitKind::kRows,
                      SplitKind::kColumns, SplitKind::kRowsPadded}) {
    if (SplitKindName(k) == name) return k;
  }
  return absl::InvalidArgumentError(absl::StrCat("unknown split '", name, "'"));
}

uint64_t SplitPlan::source_bytes(int rank) const {
  if (kind != SplitKind::kRowsPadded) return shard_bytes();
  const uint64_t rows = shard_shape[0];
  const uint64_t first = std::min<uint64_t>(rank * rows, shape[0]);
  const uint64_t last = std::min<uint64_t>(first + rows, shape[0]);
  return (last - first) * shape[1] * element_bytes;
}

uint64_t SplitPlan::source_offset(int rank) const {
  if (kind == SplitKind::kReplicated) return 0;
  return std::min(rank * shard_bytes(), NumElements(shape) * element_bytes);
}

absl::StatusOr<SplitPlan> MakeSplitPlan(SplitKind kind, size_t element_bytes,
                                        const std::vector<uint64_t>& shape,
                                        int tp) {
  if (tp < 1) return absl::InvalidArgumentError("tp must be at least 1");
  SplitPlan plan{kind, tp, element_bytes, shape, shape};
  if (kind == SplitKind::kReplicated) return plan;
  if (shape.size() != 2) {
    return absl::InvalidArgumentError(
        absl::StrCat("a tensor split by ", SplitKindName(kind),
                     " must be 2-D, not [", absl::StrJoin(shape, ", "), "]"));
  }
  if (kind == SplitKind::kRowsPadded) {
    plan.shard_shape[0] = (shape[0] + tp - 1) / tp;
    return plan;
  }
  const int dim = kind == SplitKind::kRows ? 0 : 1;
  if (shape[dim] % tp != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "dimension ", dim, " of shape [", absl::StrJoin(shape, ", "),
        "] does not divide into ", tp, " tensor-parallel shards"));
  }
  plan.shard_shape[dim] = shape[dim] / tp;
  return plan;
}

namespace {

// Calls fn(tensor_offset, shard_offset, bytes) for each contiguous piece of
// rank `rank`'s shard that comes from the tensor.
template <typename F>
void ForEachShardPiece(const SplitPlan& plan, int rank, F&& fn) {
  if (plan.contiguous()) {
    const uint64_t bytes = plan.source_bytes(rank);
    if (bytes > 0) fn(plan.source_offset(rank), 0, bytes);
    return;
  }
  const uint64_t row_bytes = plan.shape[1] * plan.element_bytes;
  const uint64_t piece = plan.shard_shape[1] * plan.element_bytes;
  for (uint64_t r = 0; r < plan.shape[0]; ++r) {
    fn(r * row_bytes + rank * piece, r * piece, piece);
  }
}

}  // namespace

void ExtractShard(const SplitPlan& plan, absl::Span<const uint8_t> tensor,
                  int rank, absl::Span<uint8_t> shard) {
  ForEachShardPiece(plan, rank, [&](uint64_t t, uint64_t s, uint64_t bytes) {
    std::memcpy(shard.data() + s, tensor.data() + t, bytes);
  });
  const uint64_t real = plan.source_bytes(rank);
  std::memset(shard.data() + real, 0, shard.size() - real);
}

void ExtractShardRows(const SplitPlan& plan, absl::Span<const uint8_t> tensor,
                      int rank, uint64_t first_row, absl::Span<uint8_t> out) {
  const uint64_t row_bytes = plan.shape[1] * plan.element_bytes;
  const uint64_t piece = plan.shard_shape[1] * plan.element_bytes;
  const uint64_t rows = out.size() / piece;
  if (plan.kind == SplitKind::kColumns) {
    for (uint64_t r = 0; r < rows; ++r) {
      std::memcpy(out.data() + r * piece,
                  tensor.data() + (first_row + r) * row_bytes + rank * piece,
                  piece);
    }
    return;
  }
  // Rows of the tensor, from the shard's first row on; zeros past its end.
  const uint64_t first =
      (plan.kind == SplitKind::kReplicated ? 0 : rank * plan.shard_shape[0]) +
      first_row;
  const uint64_t real =
      std::min(rows, plan.shape[0] - std::min(first, plan.shape[0]));
  if (real > 0) {
    std::memcpy(out.data(), tensor.data() + first * row_bytes,
                real * row_bytes);
  }
  std::memset(out.data() + real * row_bytes, 0, (rows - real) * row_bytes);
}

void InsertShard(const SplitPlan& plan, absl::Span<const uint8_t> shard,
                 int rank, absl::Span<uint8_t> tensor) {
  ForEachShardPiece(plan, rank, [&](uint64_t t, uint64_t s, uint64_t bytes) {
    std::memcpy(tensor.data() + t, shard.data() + s, bytes);
  });
}

bool ShardPaddingIsZero(const SplitPlan& plan, int rank,
                        absl::Span<const uint8_t> shard) {
  const absl::Span<const uint8_t> padding =
      shard.subspan(plan.source_bytes(rank));
  return std::all_of(padding.begin(), padding.end(),
                     [](uint8_t b) { return b == 0; });
}

}  // namespace df11
