// FlashInferPaged (flashinfer_paged.h) as FlashInfer's own types; for the
// .cu files that instantiate its kernels.
#ifndef DF11_LOADER_BACKEND_CUDA_FLASHINFER_PAGED_CUH_
#define DF11_LOADER_BACKEND_CUDA_FLASHINFER_PAGED_CUH_

#include <cuda_bf16.h>

#include <cstdint>
#include <flashinfer/page.cuh>

#include "loader/backend/cuda/flashinfer_paged.h"

namespace df11 {

using FlashInferBf16 = __nv_bfloat16;

// The cache of `p` for a batch of `sequences` (kv_indptr has one more).
inline flashinfer::paged_kv_t<FlashInferBf16, int32_t> FlashInferPagedKv(
    const FlashInferPaged& p, int64_t sequences) {
  return flashinfer::paged_kv_t<FlashInferBf16, int32_t>(
      static_cast<uint32_t>(p.kv_heads), static_cast<uint32_t>(p.page_size),
      static_cast<uint32_t>(p.head_dim), static_cast<uint32_t>(sequences),
      flashinfer::QKVLayout::kNHD, reinterpret_cast<FlashInferBf16*>(p.k_pages),
      reinterpret_cast<FlashInferBf16*>(p.v_pages), p.kv_indices, p.kv_indptr,
      p.kv_last_page_len);
}

inline FlashInferBf16* FlashInferQ(const FlashInferPaged& p) {
  return reinterpret_cast<FlashInferBf16*>(const_cast<uint16_t*>(p.q));
}

inline FlashInferBf16* FlashInferOut(const FlashInferPaged& p) {
  return reinterpret_cast<FlashInferBf16*>(p.out);
}

}  // namespace df11

#endif  // DF11_LOADER_BACKEND_CUDA_FLASHINFER_PAGED_CUH_
