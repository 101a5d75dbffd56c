// What the FlashInfer attention wrappers (flashinfer_decode.h,
// flashinfer_prefill.h) share: the step's BF16 queries, the paged KV cache
// of one layer, and the output.
#ifndef DF11_LOADER_BACKEND_CUDA_FLASHINFER_PAGED_H_
#define DF11_LOADER_BACKEND_CUDA_FLASHINFER_PAGED_H_

#include <cstdint>

namespace df11 {

struct FlashInferPaged {
  // q of row r, head h at q + r * q_stride + h * head_dim; BF16.
  const uint16_t* q = nullptr;
  int64_t q_stride = 0;
  int64_t q_heads = 0;
  int64_t kv_heads = 0;  // query head h reads kv head h / (q_heads / kv_heads)
  int64_t head_dim = 0;
  int64_t page_size = 16;
  // Pools [pages][page_size][kv_heads][head_dim] (NHD), BF16.
  uint16_t* k_pages = nullptr;
  uint16_t* v_pages = nullptr;
  int32_t* kv_indptr = nullptr;         // [sequences + 1]: page ranges
  int32_t* kv_indices = nullptr;        // page ids
  int32_t* kv_last_page_len = nullptr;  // [sequences]
  uint16_t* out = nullptr;              // [rows, q_heads, head_dim]
};

}  // namespace df11

#endif  // DF11_LOADER_BACKEND_CUDA_FLASHINFER_PAGED_H_
