// Megatron-style tensor-parallel split rules for Llama checkpoints.
//
//   ASSIGN_OR_RETURN(SplitPlan plan,
//                    PlanLlamaSplit(name, dtype_size, shape, {32, 8}, tp));
//   std::vector<uint8_t> shard(plan.shard_bytes());
//   ExtractShard(plan, tensor_bytes, rank, absl::MakeSpan(shard));
//
// Rules (weights are [out, in], row-major):
//   q, k, v, gate, up     split by output rows (dim 0)
//   o, down               split by input columns (dim 1)
//   embed_tokens, lm_head split by vocabulary rows (dim 0)
//   norms, anything else  replicated
//   k, v                  replicated when num_key_value_heads < tp
#ifndef DF11_LOADER_SHARD_LLAMA_SPLIT_H_
#define DF11_LOADER_SHARD_LLAMA_SPLIT_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "loader/base/dtype.h"

namespace df11 {

enum class SplitKind { kReplicated, kRows, kColumns };

absl::string_view SplitKindName(SplitKind kind);  // "replicated", "rows", ...
absl::StatusOr<SplitKind> ParseSplitKind(absl::string_view name);

struct SplitPlan {
  SplitKind kind = SplitKind::kReplicated;
  int tp = 1;
  size_t element_bytes = 2;
  std::vector<uint64_t> shape;        // the whole tensor
  std::vector<uint64_t> shard_shape;  // what each rank holds

  uint64_t shard_elements() const { return NumElements(shard_shape); }
  uint64_t shard_bytes() const { return shard_elements() * element_bytes; }
  // For kRows and kReplicated, and kColumns at tp = 1, a shard is one
  // contiguous byte range of the tensor: [rank * shard_bytes(), ...) or the
  // whole tensor.
  bool contiguous() const { return kind != SplitKind::kColumns || tp == 1; }
};

// What the rules need to know of the model.
struct AttentionHeads {
  int64_t query = 0;
  int64_t key_value = 0;
};

// The split of tensor `name` for `tp` ranks. Errors (InvalidArgument, naming
// the tensor): a split dimension that tp does not divide, a split tensor that
// is not 2-D, or heads that tp does not divide.
absl::StatusOr<SplitPlan> PlanLlamaSplit(absl::string_view name,
                                         size_t element_bytes,
                                         const std::vector<uint64_t>& shape,
                                         const AttentionHeads& heads, int tp);

// A plan for a given kind, checking only divisibility; used when reading a
// model back, where the kind comes from the manifest.
absl::StatusOr<SplitPlan> MakeSplitPlan(SplitKind kind, size_t element_bytes,
                                        const std::vector<uint64_t>& shape,
                                        int tp);

// Copies rank `rank`'s shard of `tensor` into `shard`.
// REQUIRES: tensor.size() == product(shape) * element_bytes,
//           shard.size() == plan.shard_bytes(), 0 <= rank < tp.
void ExtractShard(const SplitPlan& plan, absl::Span<const uint8_t> tensor,
                  int rank, absl::Span<uint8_t> shard);

// Rows [first_row, first_row + out.size() / row bytes) of the shard only, for
// a kColumns split: `out` receives them packed, as ExtractShard would place
// them at first_row * shard row bytes. Lets a caller gather a shard in
// cache-sized pieces and use each piece while it is in cache.
void ExtractColumnsShardRows(const SplitPlan& plan,
                             absl::Span<const uint8_t> tensor, int rank,
                             uint64_t first_row, absl::Span<uint8_t> out);

// The inverse: writes rank `rank`'s shard into its place in `tensor`.
void InsertShard(const SplitPlan& plan, absl::Span<const uint8_t> shard,
                 int rank, absl::Span<uint8_t> tensor);

}  // namespace df11

#endif  // DF11_LOADER_SHARD_LLAMA_SPLIT_H_
