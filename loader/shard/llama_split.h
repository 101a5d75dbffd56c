// Megatron-style tensor-parallel split plans: how a tensor's bytes map to the
// shards of `tp` ranks, and back. Which split a Llama tensor gets is decided
// by the schema (loader/shard/llama_schema.h, PlanLlamaSplit); this file only
// knows the kinds.
//
//   ASSIGN_OR_RETURN(SplitPlan plan,
//                    MakeSplitPlan(SplitKind::kRows, 2, {4096, 4096}, tp));
//   std::vector<uint8_t> shard(plan.shard_bytes());
//   ExtractShard(plan, tensor_bytes, rank, absl::MakeSpan(shard));
//
// Kinds (a split tensor is 2-D, [out, in], row-major):
//   kReplicated   every rank holds the whole tensor
//   kRows         rank r holds rows [r·R/tp, (r+1)·R/tp); tp must divide R
//   kColumns      rank r holds columns [r·C/tp, (r+1)·C/tp) of every row;
//                 tp must divide C
//   kRowsPadded   every rank holds S = ceil(R/tp) rows: rank r's shard is
//                 rows [r·S, min(R, (r+1)·S)) followed by zero rows up to S.
//                 A rank may hold only zeros (R = 3 at tp = 4). Used for the
//                 vocabulary when tp does not divide it, as vLLM's
//                 VocabParallelEmbedding pads.
#ifndef DF11_LOADER_SHARD_LLAMA_SPLIT_H_
#define DF11_LOADER_SHARD_LLAMA_SPLIT_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "loader/base/dtype.h"

namespace df11 {

enum class SplitKind { kReplicated, kRows, kColumns, kRowsPadded };

// "replicated", "rows", "columns", "rows_padded" (the manifest's names).
absl::string_view SplitKindName(SplitKind kind);
absl::StatusOr<SplitKind> ParseSplitKind(absl::string_view name);

struct SplitPlan {
  SplitKind kind = SplitKind::kReplicated;
  int tp = 1;
  size_t element_bytes = 2;
  std::vector<uint64_t> shape;        // the whole tensor
  std::vector<uint64_t> shard_shape;  // what each rank holds

  uint64_t shard_elements() const { return NumElements(shard_shape); }
  uint64_t shard_bytes() const { return shard_elements() * element_bytes; }
  // The bytes of rank `rank`'s shard that come from the tensor; the rest of
  // the shard (kRowsPadded only) is zero rows. REQUIRES: 0 <= rank < tp.
  uint64_t source_bytes(int rank) const;
  // True when the part of each shard that comes from the tensor is one
  // contiguous byte range of the tensor, at source_offset(rank): for kRows
  // and kRowsPadded, for kReplicated, and for kColumns at tp = 1.
  bool contiguous() const { return kind != SplitKind::kColumns || tp == 1; }
  // REQUIRES: contiguous(). Where rank's part starts in the tensor: 0 for
  // kReplicated, else rank * shard_bytes() (clamped to the tensor's end for
  // a rank that holds only padding).
  uint64_t source_offset(int rank) const;
};

// A plan for `kind`, checking only the shape: a split tensor must be 2-D and
// kRows and kColumns need tp to divide the split dimension (InvalidArgument,
// naming the shape). Used when reading a model back, where the kind comes
// from the manifest; PlanLlamaSplit picks kinds for a checkpoint.
absl::StatusOr<SplitPlan> MakeSplitPlan(SplitKind kind, size_t element_bytes,
                                        const std::vector<uint64_t>& shape,
                                        int tp);

// Copies rank `rank`'s shard of `tensor` into `shard`, zeroing its padding.
// REQUIRES: tensor.size() == product(shape) * element_bytes,
//           shard.size() == plan.shard_bytes(), 0 <= rank < tp.
void ExtractShard(const SplitPlan& plan, absl::Span<const uint8_t> tensor,
                  int rank, absl::Span<uint8_t> shard);

// Rows [first_row, first_row + out.size() / row bytes) of rank `rank`'s
// shard only, packed into `out`, as ExtractShard would place them at
// first_row * shard row bytes. Lets a caller gather a shard in cache-sized
// pieces and use each piece while it is in cache.
// REQUIRES: a 2-D tensor; the rows lie inside the shard.
void ExtractShardRows(const SplitPlan& plan, absl::Span<const uint8_t> tensor,
                      int rank, uint64_t first_row, absl::Span<uint8_t> out);

// The inverse: writes rank `rank`'s shard into its place in `tensor`
// (padding rows are dropped).
void InsertShard(const SplitPlan& plan, absl::Span<const uint8_t> shard,
                 int rank, absl::Span<uint8_t> tensor);

// True when every padding byte of rank `rank`'s shard is zero (always true
// for kinds without padding). REQUIRES: shard.size() == plan.shard_bytes().
bool ShardPaddingIsZero(const SplitPlan& plan, int rank,
                        absl::Span<const uint8_t> shard);

}  // namespace df11

#endif  // DF11_LOADER_SHARD_LLAMA_SPLIT_H_
