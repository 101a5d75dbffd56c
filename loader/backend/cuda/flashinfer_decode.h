// Paged decode attention through FlashInfer's BatchDecodeWithPagedKVCache
// kernel (header-only templates from the flashinfer-python wheel; see
// bazel/flashinfer_configure.bzl): one query row per sequence, at the
// sequence's last position, BF16 q, k, v and output, FP32 softmax.
// Instantiated for head_dim 64 and 128, page size given at run time; the
// GQA group size (1, 2, 3, 4, 6, 8 or 16) is dispatched inside FlashInfer.
//
//   if (FlashInferDecodeSupports(head_dim, group))
//     RETURN_IF_ERROR(LaunchFlashInferDecode(args, stream));
#ifndef DF11_LOADER_BACKEND_CUDA_FLASHINFER_DECODE_H_
#define DF11_LOADER_BACKEND_CUDA_FLASHINFER_DECODE_H_

#include <cuda_runtime.h>

#include <cstdint>

#include "absl/status/status.h"

namespace df11 {

struct FlashInferDecodeArgs {
  // q of row b, head h at q + b * q_stride + h * head_dim; BF16.
  const uint16_t* q = nullptr;
  int64_t q_stride = 0;
  int64_t rows = 0;  // = sequences: row b is sequence b's last token
  int64_t q_heads = 0;
  int64_t kv_heads = 0;  // query head h reads kv head h / (q_heads / kv_heads)
  int64_t head_dim = 0;
  int64_t page_size = 16;
  // Pools [pages][page_size][kv_heads][head_dim] (NHD), BF16.
  uint16_t* k_pages = nullptr;
  uint16_t* v_pages = nullptr;
  int32_t* indptr = nullptr;         // [rows + 1]
  int32_t* indices = nullptr;        // page ids
  int32_t* last_page_len = nullptr;  // [rows]
  // Device scratch: request_indices [rows] = 0..rows-1, kv_tile_indices
  // [rows] = 0, and one int (the chunk size, unused without split-KV).
  int32_t* request_indices = nullptr;
  int32_t* tile_indices = nullptr;
  int32_t* chunk_size = nullptr;
  uint16_t* out = nullptr;  // [rows, q_heads, head_dim]
};

bool FlashInferDecodeSupports(int64_t head_dim, int64_t group);

absl::Status LaunchFlashInferDecode(const FlashInferDecodeArgs& args,
                                    cudaStream_t stream);

}  // namespace df11

#endif  // DF11_LOADER_BACKEND_CUDA_FLASHINFER_DECODE_H_
