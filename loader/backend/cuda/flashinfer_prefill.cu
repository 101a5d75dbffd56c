// FlashInfer's paged prefill kernel, instantiated for the CUDA backend
// (flashinfer_prefill.h).
#include <cuda_bf16.h>

#include <cmath>
#include <exception>
#include <flashinfer/attention/default_prefill_params.cuh>
#include <flashinfer/attention/mask.cuh>
#include <flashinfer/attention/prefill.cuh>
#include <flashinfer/attention/variants.cuh>

#include "absl/strings/str_cat.h"
#include "loader/backend/cuda/flashinfer_paged.cuh"
#include "loader/backend/cuda/flashinfer_prefill.h"

namespace df11 {
namespace {

using Bf16 = FlashInferBf16;
using Params = flashinfer::BatchPrefillPagedParams<Bf16, Bf16, Bf16, int32_t>;
using Variant = flashinfer::DefaultAttention<false, false, false, false>;
constexpr uint32_t kTileQ = kFlashInferPrefillTileQ;

template <uint32_t kHeadDim>
cudaError_t Run(Params params, cudaStream_t stream) {
  return flashinfer::BatchPrefillWithPagedKVCacheDispatched<
      /*SAME_KV_STRIDES=*/true, kTileQ, kHeadDim, kHeadDim,
      flashinfer::PosEncodingMode::kNone, /*USE_FP16_QK_REDUCTION=*/false,
      flashinfer::MaskMode::kCausal, /*USE_TOKEN_HEAD_SF=*/false, Variant,
      Params>(params, /*tmp_v=*/nullptr, /*tmp_s=*/nullptr,
              /*enable_pdl=*/false, stream);
}

}  // namespace

int64_t FlashInferPrefillWork(const int32_t* qo_indptr, int64_t sequences,
                              int64_t group, int32_t* request, int32_t* tile) {
  int64_t n = 0;
  for (int64_t s = 0; s < sequences; ++s) {
    const int64_t packed = (qo_indptr[s + 1] - qo_indptr[s]) * group;
    for (int64_t t = 0; t * kFlashInferPrefillTileQ < packed; ++t) {
      request[n] = static_cast<int32_t>(s);
      tile[n] = static_cast<int32_t>(t);
      ++n;
    }
  }
  return n;
}

int64_t FlashInferPrefillMaxWork(int64_t rows, int64_t sequences,
                                 int64_t group) {
  // Each sequence rounds its packed rows up to whole tiles.
  return rows * group / kFlashInferPrefillTileQ + sequences;
}

bool FlashInferPrefillSupports(int64_t head_dim) {
  return head_dim == 64 || head_dim == 128;
}

absl::Status LaunchFlashInferPrefill(const FlashInferPrefillArgs& a,
                                     cudaStream_t stream) {
  const FlashInferPaged& g = a.paged;
  if (g.kv_heads < 1 || g.q_heads % g.kv_heads != 0 ||
      !FlashInferPrefillSupports(g.head_dim) || a.sequences < 0 || a.work < 0 ||
      g.page_size < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "FlashInfer prefill: head_dim ", g.head_dim, " with ", g.q_heads,
        " query heads over ", g.kv_heads, " kv heads is not instantiated"));
  }
  if (a.work == 0) return absl::OkStatus();
  Params p(FlashInferQ(g), FlashInferPagedKv(g, a.sequences),
           /*maybe_custom_mask=*/nullptr, a.qo_indptr,
           /*maybe_mask_indptr=*/nullptr, /*maybe_q_rope_offset=*/nullptr,
           FlashInferOut(g), /*lse=*/nullptr,
           /*maybe_alibi_slopes=*/nullptr, static_cast<uint32_t>(g.q_heads),
           static_cast<int32_t>(g.q_stride), static_cast<int32_t>(g.head_dim),
           /*window_left=*/-1, /*logits_soft_cap=*/0.0f,
           /*sm_scale=*/1.0f / std::sqrt(static_cast<float>(g.head_dim)),
           /*rope_scale=*/1.0f, /*rope_theta=*/1e4f);
  p.request_indices = a.request;
  p.qo_tile_indices = a.tile;
  p.kv_tile_indices = a.kv_tiles;
  p.block_valid_mask = reinterpret_cast<bool*>(a.valid);
  p.o_indptr = a.qo_indptr;
  p.kv_chunk_size_ptr = a.chunk_size;
  p.padded_batch_size = static_cast<uint32_t>(a.work);
  p.partition_kv = false;
  cudaError_t e = cudaSuccess;
  try {
    e = g.head_dim == 64 ? Run<64>(p, stream) : Run<128>(p, stream);
  } catch (const std::exception& ex) {  // FLASHINFER_ERROR throws
    return absl::InternalError(
        absl::StrCat("FlashInfer prefill rejected the launch: ", ex.what()));
  }
  if (e != cudaSuccess) {
    return absl::InternalError(absl::StrCat(
        "FlashInfer BatchPrefillWithPagedKVCacheDispatched failed: ",
        cudaGetErrorName(e), " (", cudaGetErrorString(e), ")"));
  }
  return absl::OkStatus();
}

}  // namespace df11
