// One warp per output element (fallback_gemm.h).
#include <cuda_bf16.h>

#include "loader/backend/cuda/fallback_gemm.h"
#include "loader/gpu/cuda_status.h"

namespace df11 {
namespace {

__global__ void FallbackGemmKernel(const uint16_t* __restrict__ x,
                                   const uint16_t* __restrict__ w, int64_t n,
                                   int64_t in, int64_t out, void* y,
                                   bool float_out) {
  const int64_t warp = (blockIdx.x * int64_t{blockDim.x} + threadIdx.x) >> 5;
  const int lane = threadIdx.x & 31;
  if (warp >= n * out) return;
  const int64_t r = warp / out;
  const int64_t o = warp % out;
  float sum = 0.0f;
  for (int64_t k = lane; k < in; k += 32) {
    sum =
        fmaf(__uint_as_float(static_cast<uint32_t>(x[r * in + k]) << 16),
             __uint_as_float(static_cast<uint32_t>(w[o * in + k]) << 16), sum);
  }
  for (int s = 16; s > 0; s >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, s);
  if (lane != 0) return;
  if (float_out) {
    static_cast<float*>(y)[warp] = sum;
  } else {
    static_cast<uint16_t*>(y)[warp] =
        __bfloat16_as_ushort(__float2bfloat16_rn(sum));
  }
}

}  // namespace

absl::Status LaunchFallbackGemm(const uint16_t* x, const uint16_t* w, int64_t n,
                                int64_t in, int64_t out, void* y,
                                bool float_out, cudaStream_t stream) {
  if (n < 0 || in < 1 || out < 1) {
    return absl::InvalidArgumentError("FallbackGemm: bad sizes");
  }
  const int64_t threads = n * out * 32;
  if (threads == 0) return absl::OkStatus();
  const int64_t blocks = (threads + 255) / 256;
  if (blocks > 0x7fffffff) {
    return absl::InvalidArgumentError("FallbackGemm: too large");
  }
  FallbackGemmKernel<<<static_cast<unsigned>(blocks), 256, 0, stream>>>(
      x, w, n, in, out, y, float_out);
  return CUDA_STATUS(cudaGetLastError());
}

}  // namespace df11
