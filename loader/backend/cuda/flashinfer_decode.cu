// FlashInfer's paged decode kernel, instantiated for the CUDA backend
// (flashinfer_decode.h).
#include <cuda_bf16.h>

#include <cmath>
#include <flashinfer/attention/decode.cuh>
#include <flashinfer/attention/default_decode_params.cuh>
#include <flashinfer/attention/variants.cuh>

#include "absl/strings/str_cat.h"
#include "loader/backend/cuda/flashinfer_decode.h"
#include "loader/backend/cuda/flashinfer_paged.cuh"

namespace df11 {
namespace {

using Bf16 = FlashInferBf16;
using Params = flashinfer::BatchDecodeParams<Bf16, Bf16, Bf16, int32_t>;
using Variant = flashinfer::DefaultAttention<false, false, false, false>;

template <uint32_t kHeadDim>
cudaError_t Run(Params params, cudaStream_t stream) {
  return flashinfer::BatchDecodeWithPagedKVCacheDispatched<
      kHeadDim, flashinfer::PosEncodingMode::kNone, Variant, Params>(
      params, /*tmp_v=*/nullptr, /*tmp_s=*/nullptr, /*enable_pdl=*/false,
      stream);
}

}  // namespace

bool FlashInferDecodeSupports(int64_t head_dim, int64_t group) {
  return (head_dim == 64 || head_dim == 128) &&
         (group == 1 || group == 2 || group == 3 || group == 4 || group == 6 ||
          group == 8 || group == 16);
}

absl::Status LaunchFlashInferDecode(const FlashInferDecodeArgs& a,
                                    cudaStream_t stream) {
  const FlashInferPaged& g = a.paged;
  if (g.kv_heads < 1 || g.q_heads % g.kv_heads != 0 ||
      !FlashInferDecodeSupports(g.head_dim, g.q_heads / g.kv_heads) ||
      a.rows < 0 || g.page_size < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "FlashInfer decode: head_dim ", g.head_dim, " with ", g.q_heads,
        " query heads over ", g.kv_heads, " kv heads is not instantiated"));
  }
  if (a.rows == 0) return absl::OkStatus();
  Params p(FlashInferQ(g), /*q_rope_offset=*/nullptr,
           FlashInferPagedKv(g, a.rows), FlashInferOut(g),
           /*lse=*/nullptr, /*maybe_alibi_slopes=*/nullptr,
           static_cast<uint32_t>(g.q_heads), static_cast<int32_t>(g.q_stride),
           static_cast<int32_t>(g.head_dim), /*window_left=*/-1,
           /*logits_soft_cap=*/0.0f,
           /*sm_scale=*/1.0f / std::sqrt(static_cast<float>(g.head_dim)),
           /*rope_scale=*/1.0f, /*rope_theta=*/1e4f);
  p.padded_batch_size = static_cast<uint32_t>(a.rows);
  p.request_indices = a.request_indices;
  p.kv_tile_indices = a.tile_indices;
  p.kv_chunk_size_ptr = a.chunk_size;
  p.block_valid_mask = nullptr;
  const cudaError_t e =
      g.head_dim == 64 ? Run<64>(p, stream) : Run<128>(p, stream);
  if (e != cudaSuccess) {
    return absl::InternalError(absl::StrCat(
        "FlashInfer BatchDecodeWithPagedKVCacheDispatched failed: ",
        cudaGetErrorName(e), " (", cudaGetErrorString(e), ")"));
  }
  return absl::OkStatus();
}

}  // namespace df11
