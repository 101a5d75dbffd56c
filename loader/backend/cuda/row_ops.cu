// Row-wise and element-wise kernels (row_ops.h).
#include <cuda_bf16.h>

#include "loader/backend/cuda/row_ops.h"
#include "loader/gpu/cuda_status.h"

namespace df11 {
namespace {

__device__ __forceinline__ float Widen(uint16_t bits) {
  return __uint_as_float(static_cast<uint32_t>(bits) << 16);
}

__device__ __forceinline__ uint16_t Round(float f) {
  return __bfloat16_as_ushort(__float2bfloat16_rn(f));
}

constexpr int kThreads = 256;

int Blocks(int64_t count, int threads = kThreads) {
  const int64_t b = (count + threads - 1) / threads;
  return static_cast<int>(b < 1 ? 1 : (b > 65535 * 32 ? 65535 * 32 : b));
}

absl::Status Bad(const char* what) { return absl::InvalidArgumentError(what); }

__global__ void EmbedKernel(const uint16_t* __restrict__ table,
                            const int32_t* __restrict__ tokens, int64_t rows,
                            int64_t dim, int64_t vocab_offset,
                            int64_t vocab_shard, uint16_t* __restrict__ x) {
  const int64_t total = rows * dim;
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < total;
       i += int64_t{gridDim.x} * blockDim.x) {
    const int64_t r = i / dim;
    const int64_t row = tokens[r] - vocab_offset;
    x[i] = (row < 0 || row >= vocab_shard) ? uint16_t{0}
                                           : table[row * dim + i % dim];
  }
}

__global__ void GatherRowsKernel(const uint16_t* __restrict__ x,
                                 const int32_t* __restrict__ ids, int64_t n,
                                 int64_t dim, uint16_t* __restrict__ out) {
  const int64_t total = n * dim;
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < total;
       i += int64_t{gridDim.x} * blockDim.x) {
    out[i] = x[ids[i / dim] * dim + i % dim];
  }
}

// In place: one block, rows in order, so a row is read before a later
// output row overwrites it (ids[i] >= i).
__global__ void GatherRowsInPlaceKernel(uint16_t* x, const int32_t* ids,
                                        int64_t n, int64_t dim) {
  for (int64_t i = 0; i < n; ++i) {
    const int64_t src = ids[i];
    uint16_t v[8];
    for (int64_t base = 0; base < dim; base += 8 * blockDim.x) {
      for (int k = 0; k < 8; ++k) {
        const int64_t j = base + k * blockDim.x + threadIdx.x;
        if (j < dim) v[k] = x[src * dim + j];
      }
      __syncthreads();
      for (int k = 0; k < 8; ++k) {
        const int64_t j = base + k * blockDim.x + threadIdx.x;
        if (j < dim) x[i * dim + j] = v[k];
      }
      __syncthreads();
    }
  }
}

// One block per row: the sum of squares in FP32 (a tree over the block,
// each thread summing a strided part in index order), then one rounding.
__global__ void RmsNormKernel(const uint16_t* x, const uint16_t* weight,
                              int64_t dim, float eps, uint16_t* out) {
  const int64_t r = blockIdx.x;
  const uint16_t* xr = x + r * dim;
  float sum = 0.0f;
  for (int64_t j = threadIdx.x; j < dim; j += blockDim.x) {
    const float v = Widen(xr[j]);
    sum = fmaf(v, v, sum);
  }
  __shared__ float warp_sums[32];
  for (int o = 16; o > 0; o >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, o);
  if ((threadIdx.x & 31) == 0) warp_sums[threadIdx.x >> 5] = sum;
  __syncthreads();
  if (threadIdx.x < 32) {
    float s = threadIdx.x < (blockDim.x >> 5) ? warp_sums[threadIdx.x] : 0.0f;
    for (int o = 16; o > 0; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
    if (threadIdx.x == 0) warp_sums[0] = s;
  }
  __syncthreads();
  const float inv = 1.0f / sqrtf(warp_sums[0] / static_cast<float>(dim) + eps);
  uint16_t* o = out + r * dim;
  for (int64_t j = threadIdx.x; j < dim; j += blockDim.x) {
    o[j] = Round(Widen(weight[j]) * (Widen(xr[j]) * inv));
  }
}

__global__ void RopeKernel(uint16_t* qkv, const int32_t* __restrict__ positions,
                           int64_t rows, int64_t width, int64_t heads,
                           int64_t half, const float* __restrict__ cos,
                           const float* __restrict__ sin) {
  const int64_t total = rows * heads * half;
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < total;
       i += int64_t{gridDim.x} * blockDim.x) {
    const int64_t j = i % half;
    const int64_t head = (i / half) % heads;
    const int64_t r = i / (half * heads);
    const int64_t t = int64_t{positions[r]} * half + j;
    uint16_t* v = qkv + r * width + head * 2 * half;
    const float a = Widen(v[j]);
    const float b = Widen(v[j + half]);
    v[j] = Round(a * cos[t] - b * sin[t]);
    v[j + half] = Round(b * cos[t] + a * sin[t]);
  }
}

__global__ void StoreKvKernel(const uint16_t* __restrict__ qkv,
                              const int32_t* __restrict__ slots, int64_t rows,
                              int64_t width, int64_t k_offset, int64_t kv_width,
                              uint16_t* __restrict__ k_pool,
                              uint16_t* __restrict__ v_pool) {
  const int64_t total = rows * kv_width;
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < total;
       i += int64_t{gridDim.x} * blockDim.x) {
    const int64_t r = i / kv_width;
    const int64_t c = i % kv_width;
    const int64_t slot = slots[r];
    const uint16_t* k = qkv + r * width + k_offset;
    k_pool[slot * kv_width + c] = k[c];
    v_pool[slot * kv_width + c] = k[kv_width + c];
  }
}

__global__ void SiluMulKernel(const uint16_t* __restrict__ gate_up, int64_t n,
                              int64_t width, uint16_t* __restrict__ out) {
  const int64_t total = n * width;
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < total;
       i += int64_t{gridDim.x} * blockDim.x) {
    const int64_t r = i / width;
    const int64_t c = i % width;
    const float g = Widen(gate_up[r * 2 * width + c]);
    const float u = Widen(gate_up[r * 2 * width + width + c]);
    out[i] = Round(g / (1.0f + expf(-g)) * u);
  }
}

__global__ void AddKernel(uint16_t* __restrict__ x,
                          const uint16_t* __restrict__ y, int64_t count) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < count;
       i += int64_t{gridDim.x} * blockDim.x) {
    x[i] = Round(Widen(x[i]) + Widen(y[i]));
  }
}

}  // namespace

absl::Status LaunchEmbed(const uint16_t* table, const int32_t* tokens,
                         int64_t rows, int64_t dim, int64_t vocab_offset,
                         int64_t vocab_shard, uint16_t* x,
                         cudaStream_t stream) {
  if (rows < 0 || dim < 1) return Bad("Embed: bad sizes");
  if (rows == 0) return absl::OkStatus();
  EmbedKernel<<<Blocks(rows * dim), kThreads, 0, stream>>>(
      table, tokens, rows, dim, vocab_offset, vocab_shard, x);
  return CUDA_STATUS(cudaGetLastError());
}

absl::Status LaunchGatherRows(const uint16_t* x, const int32_t* ids, int64_t n,
                              int64_t dim, uint16_t* out, cudaStream_t stream) {
  if (n < 0 || dim < 1) return Bad("GatherRows: bad sizes");
  if (n == 0) return absl::OkStatus();
  if (x == out) {
    GatherRowsInPlaceKernel<<<1, kThreads, 0, stream>>>(out, ids, n, dim);
  } else {
    GatherRowsKernel<<<Blocks(n * dim), kThreads, 0, stream>>>(x, ids, n, dim,
                                                               out);
  }
  return CUDA_STATUS(cudaGetLastError());
}

absl::Status LaunchRmsNorm(const uint16_t* x, const uint16_t* weight, int64_t n,
                           int64_t dim, float eps, uint16_t* out,
                           cudaStream_t stream) {
  if (n < 0 || dim < 1 || n > 0x7fffffff) return Bad("RmsNorm: bad sizes");
  if (n == 0) return absl::OkStatus();
  RmsNormKernel<<<static_cast<unsigned>(n), kThreads, 0, stream>>>(
      x, weight, dim, eps, out);
  return CUDA_STATUS(cudaGetLastError());
}

absl::Status LaunchRope(uint16_t* qkv, const int32_t* positions, int64_t rows,
                        int64_t width, int64_t heads, int64_t head_dim,
                        const float* cos, const float* sin,
                        cudaStream_t stream) {
  if (rows < 0 || head_dim < 2 || head_dim % 2 != 0 ||
      heads * head_dim > width) {
    return Bad("Rope: bad sizes");
  }
  if (rows == 0 || heads == 0) return absl::OkStatus();
  const int64_t half = head_dim / 2;
  RopeKernel<<<Blocks(rows * heads * half), kThreads, 0, stream>>>(
      qkv, positions, rows, width, heads, half, cos, sin);
  return CUDA_STATUS(cudaGetLastError());
}

absl::Status LaunchStoreKv(const uint16_t* qkv, const int32_t* slots,
                           int64_t rows, int64_t width, int64_t k_offset,
                           int64_t kv_width, uint16_t* k_pool, uint16_t* v_pool,
                           cudaStream_t stream) {
  if (rows < 0 || kv_width < 1 || k_offset + 2 * kv_width > width) {
    return Bad("StoreKv: bad sizes");
  }
  if (rows == 0) return absl::OkStatus();
  StoreKvKernel<<<Blocks(rows * kv_width), kThreads, 0, stream>>>(
      qkv, slots, rows, width, k_offset, kv_width, k_pool, v_pool);
  return CUDA_STATUS(cudaGetLastError());
}

absl::Status LaunchSiluMul(const uint16_t* gate_up, int64_t n, int64_t width,
                           uint16_t* out, cudaStream_t stream) {
  if (n < 0 || width < 1) return Bad("SiluMul: bad sizes");
  if (n == 0) return absl::OkStatus();
  SiluMulKernel<<<Blocks(n * width), kThreads, 0, stream>>>(gate_up, n, width,
                                                            out);
  return CUDA_STATUS(cudaGetLastError());
}

absl::Status LaunchAdd(uint16_t* x, const uint16_t* y, int64_t count,
                       cudaStream_t stream) {
  if (count < 0) return Bad("Add: bad sizes");
  if (count == 0) return absl::OkStatus();
  AddKernel<<<Blocks(count), kThreads, 0, stream>>>(x, y, count);
  return CUDA_STATUS(cudaGetLastError());
}

}  // namespace df11
