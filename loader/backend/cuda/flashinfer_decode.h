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
#include "loader/backend/cuda/flashinfer_paged.h"

namespace df11 {

struct FlashInferDecodeArgs {
  FlashInferPaged paged;
  int64_t rows = 0;  // = sequences: row b is sequence b's last token
  // Device scratch: request_indices [rows] = 0..rows-1, kv_tile_indices
  // [rows] = 0, and one int (the chunk size, unused without split-KV).
  int32_t* request_indices = nullptr;
  int32_t* tile_indices = nullptr;
  int32_t* chunk_size = nullptr;
};

bool FlashInferDecodeSupports(int64_t head_dim, int64_t group);

absl::Status LaunchFlashInferDecode(const FlashInferDecodeArgs& args,
                                    cudaStream_t stream);

}  // namespace df11

#endif  // DF11_LOADER_BACKEND_CUDA_FLASHINFER_DECODE_H_
