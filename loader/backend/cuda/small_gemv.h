// A memory-bound BF16 GEMV for a few rows: y[n, out] = x[n, in] * w[out, in]^T
// with n in 1..kSmallGemvMaxRows, BF16 x and w, FP32 accumulation, BF16 or
// FP32 output; the same contract as CublasLtGemm::MatMul
// (cublaslt_gemm.h).
//
//   if (SmallGemvSupports(x, w, n, in, out, y)) {
//     RETURN_IF_ERROR(LaunchSmallGemv(x, w, n, in, out, y, float_out, stream));
//   }
//
// What it is for: at decode batch 1 to 4 a step reads every weight once and
// does almost no arithmetic, so a matrix product can run no faster than its
// weight bytes stream from device memory; this kernel is written only for
// that (one pass over w in 16-byte loads, x from cache), where cuBLASLt's
// GEMM kernels fall short of the copy bandwidth. The backend uses it only
// for the shapes where gemv_bench measured it faster than cuBLASLt on the
// same device; everything else stays on cuBLASLt.
//
// Deterministic: every output is summed in a fixed order (each lane over a
// fixed set of columns, then a fixed butterfly across the warp), so the same
// inputs give the same bits on every call. It does not depend on n: row r of
// y is the same whatever the other rows of x are (batch invariant within
// 1..kSmallGemvMaxRows). No atomics, no workspace; can be captured in a
// CUDA graph.
#ifndef DF11_LOADER_BACKEND_CUDA_SMALL_GEMV_H_
#define DF11_LOADER_BACKEND_CUDA_SMALL_GEMV_H_

#include <cuda_runtime.h>

#include <cstdint>

#include "absl/status/status.h"

namespace df11 {

inline constexpr int kSmallGemvMaxRows = 4;

// Whether LaunchSmallGemv takes these arguments: 1 <= n <= kSmallGemvMaxRows,
// 1 <= in, out <= INT32_MAX, in % 8 == 0, x and w 16-byte aligned, y not
// null and 2-byte aligned. Needs no GPU; reads no memory.
bool SmallGemvSupports(const uint16_t* x, const uint16_t* w, int64_t n,
                       int64_t in, int64_t out, const void* y);

// y = x * w^T on `stream`. x: [n, in] BF16, row-major, contiguous; w: [out,
// in] BF16, row-major; y: [n, out], BF16 (uint16_t bits, rounded to nearest
// even) or FP32 when float_out. All device pointers; y must not overlap x or
// w. InvalidArgument where SmallGemvSupports is false, or when float_out and
// y is not 4-byte aligned; else the launch error, if any.
absl::Status LaunchSmallGemv(const uint16_t* x, const uint16_t* w, int64_t n,
                             int64_t in, int64_t out, void* y, bool float_out,
                             cudaStream_t stream);

}  // namespace df11

#endif  // DF11_LOADER_BACKEND_CUDA_SMALL_GEMV_H_
