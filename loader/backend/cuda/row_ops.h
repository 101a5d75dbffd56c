// Row-wise and element-wise kernels of the CUDA backend. BF16 activations
// (bit patterns as uint16_t), FP32 arithmetic, one rounding to BF16 per
// output. The CPU backend (loader/backend/cpu/cpu_backend.cc) is the
// reference of each; cuda_ops_test.cc checks them against it.
//
//   RETURN_IF_ERROR(LaunchRmsNorm(x, w, rows, dim, eps, out, stream));
//
// Every launcher checks its sizes (InvalidArgument), enqueues on `stream`,
// and returns the launch error, if any. All pointers are device pointers.
#ifndef DF11_LOADER_BACKEND_CUDA_ROW_OPS_H_
#define DF11_LOADER_BACKEND_CUDA_ROW_OPS_H_

#include <cuda_runtime.h>

#include <cstdint>

#include "absl/status/status.h"

namespace df11 {

// x[r, :] = table[tokens[r] - vocab_offset, :], or zeros where the token is
// outside [vocab_offset, vocab_offset + vocab_shard). table: [vocab_shard,
// dim]; tokens: [rows]; x: [rows, dim].
absl::Status LaunchEmbed(const uint16_t* table, const int32_t* tokens,
                         int64_t rows, int64_t dim, int64_t vocab_offset,
                         int64_t vocab_shard, uint16_t* x, cudaStream_t stream);

// out[i, :] = x[ids[i], :] for i < n. out may be x itself when ids[i] >= i
// for every i (rows move towards the front), as for logit rows.
absl::Status LaunchGatherRows(const uint16_t* x, const int32_t* ids, int64_t n,
                              int64_t dim, uint16_t* out, cudaStream_t stream);

// out = x / sqrt(mean(x^2) + eps) * weight per row; x, out: [n, dim] (may
// alias); weight: [dim].
absl::Status LaunchRmsNorm(const uint16_t* x, const uint16_t* weight, int64_t n,
                           int64_t dim, float eps, uint16_t* out,
                           cudaStream_t stream);

// Rotate-half RoPE, in place, of the first `heads` heads of each row of
// qkv [rows, width]: pairs (j, j + head_dim/2) by the angle of the row's
// position; cos/sin: [max_context, head_dim / 2] FP32.
absl::Status LaunchRope(uint16_t* qkv, const int32_t* positions, int64_t rows,
                        int64_t width, int64_t heads, int64_t head_dim,
                        const float* cos, const float* sin,
                        cudaStream_t stream);

// k_pool[slot[r], :] = qkv[r, k_offset : k_offset + kv_width], and the same
// for v (at k_offset + kv_width) into v_pool.
absl::Status LaunchStoreKv(const uint16_t* qkv, const int32_t* slots,
                           int64_t rows, int64_t width, int64_t k_offset,
                           int64_t kv_width, uint16_t* k_pool, uint16_t* v_pool,
                           cudaStream_t stream);

// out[r, :] = silu(gate_up[r, :width]) * gate_up[r, width:].
absl::Status LaunchSiluMul(const uint16_t* gate_up, int64_t n, int64_t width,
                           uint16_t* out, cudaStream_t stream);

// x += y over `count` values.
absl::Status LaunchAdd(uint16_t* x, const uint16_t* y, int64_t count,
                       cudaStream_t stream);

}  // namespace df11

#endif  // DF11_LOADER_BACKEND_CUDA_ROW_OPS_H_
