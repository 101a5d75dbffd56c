// Paged prefill attention through FlashInfer's BatchPrefillWithPagedKVCache
// kernel (header-only templates from the flashinfer-python wheel; see
// bazel/flashinfer_configure.bzl): ragged query rows, sequence s owning rows
// [qo_indptr[s], qo_indptr[s + 1]) at the last positions of its kv (so
// chunked prefill and decode rows fit too), causal, BF16 q, k, v and output,
// FP32 softmax. Instantiated for head_dim 64 and 128 with one query tile of
// kFlashInferPrefillTileQ packed rows (query rows × GQA group) per CTA and no
// split-KV; the page size is given at run time.
//
//   int64_t tiles = FlashInferPrefillWork(qo_indptr, sequences, group,
//                                         request_host, tile_host);
//   ... upload both, then:
//   if (FlashInferPrefillSupports(head_dim))
//     RETURN_IF_ERROR(LaunchFlashInferPrefill(args, stream));
#ifndef DF11_LOADER_BACKEND_CUDA_FLASHINFER_PREFILL_H_
#define DF11_LOADER_BACKEND_CUDA_FLASHINFER_PREFILL_H_

#include <cuda_runtime.h>

#include <cstdint>

#include "absl/status/status.h"
#include "loader/backend/cuda/flashinfer_paged.h"

namespace df11 {

inline constexpr int64_t kFlashInferPrefillTileQ = 64;

// The CTAs of one launch, on the host: CTA i computes query tile tile[i]
// (rows tile[i] * kFlashInferPrefillTileQ / group ...) of sequence
// request[i]. Returns their count, at most
// FlashInferPrefillMaxWork(rows, sequences, group); both arrays must hold
// that many.
int64_t FlashInferPrefillWork(const int32_t* qo_indptr, int64_t sequences,
                              int64_t group, int32_t* request, int32_t* tile);
int64_t FlashInferPrefillMaxWork(int64_t rows, int64_t sequences,
                                 int64_t group);

struct FlashInferPrefillArgs {
  FlashInferPaged paged;  // kv_indptr etc. over `sequences` sequences
  int64_t sequences = 0;
  int32_t* qo_indptr = nullptr;  // [sequences + 1], device
  // The work list from FlashInferPrefillWork, on the device, `work` long,
  // valid[i] != 0 for the entries in use (CTAs of the others return at
  // once); kv_tiles: `work` zeros; chunk_size: one int (unused without
  // split-KV).
  int64_t work = 0;
  int32_t* request = nullptr;
  int32_t* tile = nullptr;
  uint8_t* valid = nullptr;
  int32_t* kv_tiles = nullptr;
  int32_t* chunk_size = nullptr;
};

bool FlashInferPrefillSupports(int64_t head_dim);

// Errors: InvalidArgument for a shape that is not instantiated; Internal
// for a failed launch or a configuration FlashInfer rejects.
absl::Status LaunchFlashInferPrefill(const FlashInferPrefillArgs& args,
                                     cudaStream_t stream);

}  // namespace df11

#endif  // DF11_LOADER_BACKEND_CUDA_FLASHINFER_PREFILL_H_
