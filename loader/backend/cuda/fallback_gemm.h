// y[n, out] = x[n, in] * w[out, in]^T for shapes cuBLASLt declines (leading
// dimensions that are not a multiple of 8 elements, as in the tests' awkward
// sizes): BF16 operands, FP32 accumulation in index order, BF16 or FP32
// output. Slow; real models never take it.
#ifndef DF11_LOADER_BACKEND_CUDA_FALLBACK_GEMM_H_
#define DF11_LOADER_BACKEND_CUDA_FALLBACK_GEMM_H_

#include <cuda_runtime.h>

#include <cstdint>

#include "absl/status/status.h"

namespace df11 {

absl::Status LaunchFallbackGemm(const uint16_t* x, const uint16_t* w, int64_t n,
                                int64_t in, int64_t out, void* y,
                                bool float_out, cudaStream_t stream);

}  // namespace df11

#endif  // DF11_LOADER_BACKEND_CUDA_FALLBACK_GEMM_H_
