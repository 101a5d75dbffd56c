#include "loader/backend/step_batch_check.h"

#include "absl/strings/str_cat.h"

namespace df11 {
namespace {

absl::Status BadBatch(absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("step batch: ", what));
}

}  // namespace

absl::Status CheckStepBatch(const StepBatch& b, const BackendLimits& limits) {
  const int64_t rows = b.rows();
  const int64_t seqs = b.sequences();
  if (rows < 1 || rows > limits.max_batch_tokens) {
    return BadBatch(
        absl::StrCat(rows, " rows, limit ", limits.max_batch_tokens));
  }
  if (seqs < 1 || seqs > limits.max_batch_sequences) {
    return BadBatch(
        absl::StrCat(seqs, " sequences, limit ", limits.max_batch_sequences));
  }
  if (static_cast<int64_t>(b.positions.size()) != rows ||
      static_cast<int64_t>(b.kv_slots.size()) != rows ||
      static_cast<int64_t>(b.kv_indptr.size()) != seqs + 1 ||
      static_cast<int64_t>(b.kv_last_page_len.size()) != seqs ||
      b.logit_rows.size() != b.sampling.size() ||
      static_cast<int64_t>(b.logit_rows.size()) > rows) {
    return BadBatch("array sizes disagree");
  }
  const int64_t bs = limits.kv_block_tokens;
  const int64_t slots = limits.kv_blocks * bs;
  if (b.qo_indptr[0] != 0 || b.qo_indptr[seqs] != rows || b.kv_indptr[0] != 0 ||
      b.kv_indptr[seqs] != static_cast<int64_t>(b.kv_indices.size())) {
    return BadBatch("indptr arrays do not start at 0 and end at their size");
  }
  for (int64_t s = 0; s < seqs; ++s) {
    const int64_t pages = b.kv_indptr[s + 1] - b.kv_indptr[s];
    if (b.qo_indptr[s + 1] <= b.qo_indptr[s] || pages < 1 ||
        b.kv_last_page_len[s] < 1 || b.kv_last_page_len[s] > bs) {
      return BadBatch(
          absl::StrCat("sequence ", s, " has no rows or no blocks"));
    }
    const int64_t length = (pages - 1) * bs + b.kv_last_page_len[s];
    for (int64_t r = b.qo_indptr[s]; r < b.qo_indptr[s + 1]; ++r) {
      if (b.positions[r] < 0 || b.positions[r] >= length ||
          b.positions[r] >= limits.max_context) {
        return BadBatch(absl::StrCat("row ", r, ": position ", b.positions[r],
                                     " outside its sequence or the context"));
      }
    }
  }
  for (int32_t block : b.kv_indices) {
    if (block < 0 || block >= limits.kv_blocks) {
      return BadBatch(absl::StrCat("block id ", block, " outside the pool"));
    }
  }
  for (int64_t r = 0; r < rows; ++r) {
    if (b.kv_slots[r] < 0 || b.kv_slots[r] >= slots) {
      return BadBatch(absl::StrCat("row ", r, ": KV slot ", b.kv_slots[r],
                                   " outside the pool"));
    }
  }
  for (size_t i = 0; i < b.logit_rows.size(); ++i) {
    if (b.logit_rows[i] < 0 || b.logit_rows[i] >= rows ||
        (i > 0 && b.logit_rows[i] <= b.logit_rows[i - 1])) {
      return BadBatch("logit rows are not increasing rows of the batch");
    }
  }
  return absl::OkStatus();
}

}  // namespace df11
