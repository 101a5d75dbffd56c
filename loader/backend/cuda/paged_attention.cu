// Paged causal GQA attention (paged_attention.h). One CUDA block of four
// warps per (row, query head); each warp walks every fourth position with
// an online softmax, its lanes holding EPL consecutive head elements; the
// four partial results are merged at the end.
#include <cuda_bf16.h>

#include <cmath>

#include "loader/backend/cuda/paged_attention.h"
#include "loader/gpu/cuda_status.h"

namespace df11 {
namespace {

constexpr int kWarps = 4;
constexpr int kMaxHeadDim = 256;

__device__ __forceinline__ float Widen(uint16_t bits) {
  return __uint_as_float(static_cast<uint32_t>(bits) << 16);
}

// EPL consecutive BF16 values, widened.
template <int EPL>
__device__ __forceinline__ void Load(const uint16_t* p, float* out) {
  if constexpr (EPL == 8) {
    const uint4 w = *reinterpret_cast<const uint4*>(p);
    const uint32_t words[4] = {w.x, w.y, w.z, w.w};
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      out[2 * i] = __uint_as_float(words[i] << 16);
      out[2 * i + 1] = __uint_as_float(words[i] & 0xffff0000u);
    }
  } else if constexpr (EPL == 4) {
    const uint2 w = *reinterpret_cast<const uint2*>(p);
    out[0] = __uint_as_float(w.x << 16);
    out[1] = __uint_as_float(w.x & 0xffff0000u);
    out[2] = __uint_as_float(w.y << 16);
    out[3] = __uint_as_float(w.y & 0xffff0000u);
  } else if constexpr (EPL == 2) {
    const uint32_t w = *reinterpret_cast<const uint32_t*>(p);
    out[0] = __uint_as_float(w << 16);
    out[1] = __uint_as_float(w & 0xffff0000u);
  } else {
    out[0] = Widen(p[0]);
  }
}

template <int EPL>
__global__ void __launch_bounds__(kWarps * 32)
    PagedAttentionKernel(PagedAttentionArgs a, float scale) {
  const int head = blockIdx.x;
  const int64_t r = blockIdx.y;
  const int warp = threadIdx.x >> 5;
  const int lane = threadIdx.x & 31;
  const int hd = static_cast<int>(a.head_dim);
  const bool active = lane * EPL < hd;
  const int64_t kv_width = a.kv_heads * a.head_dim;
  const int64_t kv_head = (a.q_head_offset + head) / a.group - a.kv_head_offset;
  const int32_t* blocks = a.kv_indices + a.kv_indptr[a.row_seq[r]];
  const int64_t visible = int64_t{a.positions[r]} + 1;
  const int64_t bs = a.block_tokens;

  float q[EPL], acc[EPL];
#pragma unroll
  for (int e = 0; e < EPL; ++e) q[e] = acc[e] = 0.0f;
  if (active) Load<EPL>(a.qkv + r * a.qkv_width + head * hd + lane * EPL, q);
  float m = -INFINITY, l = 0.0f;
  for (int64_t p = warp; p < visible; p += kWarps) {
    const int64_t slot = int64_t{blocks[p / bs]} * bs + p % bs;
    const int64_t at = slot * kv_width + kv_head * hd + lane * EPL;
    float k[EPL], v[EPL];
    float dot = 0.0f;
    if (active) {
      Load<EPL>(a.k_pool + at, k);
      Load<EPL>(a.v_pool + at, v);
#pragma unroll
      for (int e = 0; e < EPL; ++e) dot = fmaf(q[e], k[e], dot);
    }
    for (int o = 16; o > 0; o >>= 1)
      dot += __shfl_xor_sync(0xffffffffu, dot, o);
    const float s = dot * scale;
    const float m_new = fmaxf(m, s);
    const float correction = expf(m - m_new);
    const float weight = expf(s - m_new);
    l = l * correction + weight;
    if (active) {
#pragma unroll
      for (int e = 0; e < EPL; ++e)
        acc[e] = fmaf(acc[e], correction, weight * v[e]);
    }
    m = m_new;
  }

  __shared__ float warp_m[kWarps], warp_l[kWarps];
  __shared__ float warp_acc[kWarps][kMaxHeadDim];
  if (lane == 0) {
    warp_m[warp] = m;
    warp_l[warp] = l;
  }
  if (active) {
#pragma unroll
    for (int e = 0; e < EPL; ++e) warp_acc[warp][lane * EPL + e] = acc[e];
  }
  __syncthreads();
  float max = -INFINITY;
#pragma unroll
  for (int w = 0; w < kWarps; ++w) max = fmaxf(max, warp_m[w]);
  float total = 0.0f;
  float factor[kWarps];
#pragma unroll
  for (int w = 0; w < kWarps; ++w) {
    // A warp that saw no position has m = -inf and l = 0: factor 0.
    factor[w] = warp_l[w] > 0.0f ? expf(warp_m[w] - max) : 0.0f;
    total += warp_l[w] * factor[w];
  }
  uint16_t* out = a.out + (r * a.q_heads + head) * hd;
  for (int d = threadIdx.x; d < hd; d += kWarps * 32) {
    float sum = 0.0f;
#pragma unroll
    for (int w = 0; w < kWarps; ++w) sum = fmaf(warp_acc[w][d], factor[w], sum);
    out[d] = __bfloat16_as_ushort(__float2bfloat16_rn(sum / total));
  }
}

}  // namespace

absl::Status LaunchPagedAttention(const PagedAttentionArgs& a,
                                  cudaStream_t stream) {
  if (a.head_dim < 2 || a.head_dim > kMaxHeadDim || a.head_dim % 2 != 0 ||
      a.rows < 0 || a.rows > 65535 || a.q_heads < 0 || a.kv_heads < 1 ||
      a.group < 1 || a.block_tokens < 1 ||
      (a.q_heads + 2 * a.kv_heads) * a.head_dim > a.qkv_width) {
    return absl::InvalidArgumentError(
        "PagedAttention: head_dim must be even and at most 256, rows at most "
        "65535, and the heads must fit qkv_width");
  }
  if (a.rows == 0 || a.q_heads == 0) return absl::OkStatus();
  // Elements per lane: the smallest power of two with 32 lanes covering
  // head_dim, and head_dim a multiple of it (aligned vector loads).
  int epl = 1;
  while (epl * 32 < a.head_dim) epl *= 2;
  if (a.head_dim % epl != 0) {
    return absl::InvalidArgumentError(
        "PagedAttention: head_dim must be a multiple of ceil(head_dim / 32) "
        "rounded up to a power of two");
  }
  const float scale = 1.0f / std::sqrt(static_cast<float>(a.head_dim));
  const dim3 grid(static_cast<unsigned>(a.q_heads),
                  static_cast<unsigned>(a.rows));
  switch (epl) {
    case 1:
      PagedAttentionKernel<1><<<grid, kWarps * 32, 0, stream>>>(a, scale);
      break;
    case 2:
      PagedAttentionKernel<2><<<grid, kWarps * 32, 0, stream>>>(a, scale);
      break;
    case 4:
      PagedAttentionKernel<4><<<grid, kWarps * 32, 0, stream>>>(a, scale);
      break;
    default:
      PagedAttentionKernel<8><<<grid, kWarps * 32, 0, stream>>>(a, scale);
      break;
  }
  return CUDA_STATUS(cudaGetLastError());
}

}  // namespace df11
