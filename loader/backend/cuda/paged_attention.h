// Causal grouped-query attention over the paged BF16 KV cache, for prefill
// and decode rows alike (docs/cuda_backend.md says why this is our own
// kernel for now and what FlashInfer would replace).
//
//   RETURN_IF_ERROR(LaunchPagedAttention(args, stream));
//
// Row r (a token of sequence row_seq[r] at position positions[r]) attends,
// for each of its local query heads h, to positions [0, positions[r]] of its
// sequence, whose k and v sit in the pools at slot
// kv_indices[kv_indptr[seq] + p / block_tokens] * block_tokens +
// p % block_tokens. Local query head h reads local kv head
// (q_head_offset + h) / group - kv_head_offset. score = (q . k) *
// head_dim^-0.5 in FP32, softmax in FP32 (online, per warp, then merged),
// out = sum p v in FP32, rounded once to BF16. The reference is
// CpuBackend::Attention.
#ifndef DF11_LOADER_BACKEND_CUDA_PAGED_ATTENTION_H_
#define DF11_LOADER_BACKEND_CUDA_PAGED_ATTENTION_H_

#include <cuda_runtime.h>

#include <cstdint>

#include "absl/status/status.h"

namespace df11 {

struct PagedAttentionArgs {
  const uint16_t* qkv = nullptr;  // [rows, qkv_width]; q heads first
  int64_t qkv_width = 0;
  const int32_t* positions = nullptr;  // [rows]
  const int32_t* row_seq = nullptr;    // [rows]
  int64_t rows = 0;
  int64_t q_heads = 0;  // local
  int64_t q_head_offset = 0;
  int64_t kv_heads = 0;  // local
  int64_t kv_head_offset = 0;
  int64_t group = 1;
  int64_t head_dim = 0;              // even, at most 256
  const uint16_t* k_pool = nullptr;  // [slots, kv_heads * head_dim]
  const uint16_t* v_pool = nullptr;
  const int32_t* kv_indptr = nullptr;  // [seqs + 1]
  const int32_t* kv_indices = nullptr;
  int64_t block_tokens = 16;
  uint16_t* out = nullptr;  // [rows, q_heads * head_dim]
};

// Errors: InvalidArgument for a head_dim outside [2, 256], more than 65535
// rows, or head counts that do not fit the widths; the launch error.
absl::Status LaunchPagedAttention(const PagedAttentionArgs& args,
                                  cudaStream_t stream);

}  // namespace df11

#endif  // DF11_LOADER_BACKEND_CUDA_PAGED_ATTENTION_H_
