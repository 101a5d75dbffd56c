// BF16 GEMV for 1..4 activation rows (small_gemv.h).
//
// Each warp owns kRowsPerWarp = 2 rows of w and computes them against all n
// rows of x; a block of 8 warps owns 16 rows, so the grid is ceil(out / 16)
// blocks. A lane reads 16-byte chunks (8 BF16) of its rows at chunk indices
// lane, lane + 32, ...: each warp load instruction covers 512 contiguous
// bytes of a row. One iteration issues kUnroll = 4 chunks per row, all before
// the first use, so a lane has 2 x 4 = 8 independent 16-byte weight loads
// (128 bytes) in flight.
//
// Why R = 2 rows per warp, not 4: the grid must fill the device on the
// shapes that matter most. o_proj and down_proj (out = 4096) give 256 blocks
// at R = 2 but only 128 at R = 4, fewer than the 132 SMs of an H200, with
// 32 KB in flight per SM, short of the ~36 KB Little's law asks for at
// 4.8 TB/s and ~1 us latency. At R = 2 and unroll 4 the loads in flight per
// lane are the same 8 as at R = 4 and unroll 2, at the same register cost.
// What R = 4 would save, re-reading x once per 4 rows instead of 2, is L1
// traffic, which has room to spare: the weight stream is ~18 B/clock/SM and
// L1 serves 128. Smaller blocks also make a finer last wave on gate_up and
// lm_head.
//
// Cache hints: each weight is read exactly once, so its loads are
// ld.global.nc.L1::no_allocate (keeping L1 for x, which every warp re-reads)
// with an L2 evict_first policy (so the stream displaces its own lines
// before the activations and KV cache the step reads next). x is small (at
// most 4 x in BF16) and goes through __ldg.
//
// Summation order, fixed: lane l accumulates, per (x row, w row), the
// products of chunks l, l + 32, l + 64, ... in increasing order, each chunk's
// 8 elements in order, in FP32 with fmaf; then a butterfly over the warp
// (__shfl_xor_sync 16, 8, 4, 2, 1); lane 0 rounds (BF16, nearest even) and
// stores. None of it depends on timing or on n.
#include <cuda_bf16.h>

#include <cstdint>

#include "absl/strings/str_cat.h"
#include "loader/backend/cuda/small_gemv.h"
#include "loader/gpu/cuda_status.h"

namespace df11 {
namespace {

constexpr int kThreads = 256;
constexpr int kWarps = kThreads / 32;
constexpr int kRowsPerWarp = 2;
constexpr int kRowsPerBlock = kWarps * kRowsPerWarp;
constexpr int kUnroll = 4;
constexpr int kStep = 32 * kUnroll;  // chunks a warp covers per iteration

__device__ __forceinline__ uint64_t EvictFirstPolicy() {
  uint64_t policy;
  asm("createpolicy.fractional.L2::evict_first.b64 %0, 1.0;" : "=l"(policy));
  return policy;
}

// A weight chunk: read once, so it bypasses L1 and leaves L2 first. Not
// volatile: the compiler may schedule it like any other load.
__device__ __forceinline__ uint4 LoadWeight(const uint4* p, uint64_t policy) {
  uint4 v;
  asm("ld.global.nc.L1::no_allocate.L2::cache_hint.v4.u32 {%0, %1, %2, %3}, "
      "[%4], %5;"
      : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
      : "l"(p), "l"(policy));
  return v;
}

// Element 2i of a chunk is the low half of word i (little-endian).
__device__ __forceinline__ void Widen8(const uint4& v, float (&f)[8]) {
  const uint32_t words[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    f[2 * i] = __uint_as_float(words[i] << 16);
    f[2 * i + 1] = __uint_as_float(words[i] & 0xffff0000u);
  }
}

// acc[j][r] += x[j, chunk c] . w[r, chunk c] for kUnroll chunks c = c0 +
// lane + 32u. kGuarded: the last, partial iteration, where chunks at or
// past `chunks` are neither loaded nor added.
template <int N, bool kGuarded>
__device__ __forceinline__ void Accumulate(
    const uint4* __restrict__ x, const uint4* const (&w)[kRowsPerWarp],
    int chunks, int c0, uint64_t policy, float (&acc)[N][kRowsPerWarp]) {
  uint4 wv[kUnroll][kRowsPerWarp];
#pragma unroll
  for (int u = 0; u < kUnroll; ++u) {
    const int c = c0 + 32 * u;
#pragma unroll
    for (int r = 0; r < kRowsPerWarp; ++r) {
      if (!kGuarded || c < chunks) wv[u][r] = LoadWeight(w[r] + c, policy);
    }
  }
#pragma unroll
  for (int u = 0; u < kUnroll; ++u) {
    const int c = c0 + 32 * u;
    if (kGuarded && c >= chunks) break;
#pragma unroll
    for (int j = 0; j < N; ++j) {
      float xf[8];
      Widen8(__ldg(x + int64_t{j} * chunks + c), xf);
#pragma unroll
      for (int r = 0; r < kRowsPerWarp; ++r) {
        float wf[8];
        Widen8(wv[u][r], wf);
#pragma unroll
        for (int e = 0; e < 8; ++e) acc[j][r] = fmaf(xf[e], wf[e], acc[j][r]);
      }
    }
  }
}

template <int N, bool kFloatOut>
__global__ void __launch_bounds__(kThreads)
    SmallGemvKernel(const uint16_t* __restrict__ x,
                    const uint16_t* __restrict__ w, int in, int out,
                    void* __restrict__ y) {
  const int lane = threadIdx.x & 31;
  const int64_t row0 =
      (int64_t{blockIdx.x} * kWarps + (threadIdx.x >> 5)) * kRowsPerWarp;
  if (row0 >= out) return;  // whole warps only: no barrier follows
  const int chunks = in / 8;
  // Rows past `out` (the last warp when out is odd) re-read the last row
  // and are not stored: no branch inside the loop.
  const uint4* wr[kRowsPerWarp];
#pragma unroll
  for (int r = 0; r < kRowsPerWarp; ++r) {
    const int64_t row = row0 + r < out ? row0 + r : out - 1;
    wr[r] = reinterpret_cast<const uint4*>(w + row * in);
  }
  const uint4* xc = reinterpret_cast<const uint4*>(x);
  const uint64_t policy = EvictFirstPolicy();

  float acc[N][kRowsPerWarp];
#pragma unroll
  for (int j = 0; j < N; ++j) {
#pragma unroll
    for (int r = 0; r < kRowsPerWarp; ++r) acc[j][r] = 0.0f;
  }
  int base = 0;
  for (; base + kStep <= chunks; base += kStep) {
    Accumulate<N, false>(xc, wr, chunks, base + lane, policy, acc);
  }
  if (base < chunks) {
    Accumulate<N, true>(xc, wr, chunks, base + lane, policy, acc);
  }

#pragma unroll
  for (int j = 0; j < N; ++j) {
#pragma unroll
    for (int r = 0; r < kRowsPerWarp; ++r) {
#pragma unroll
      for (int s = 16; s > 0; s >>= 1) {
        acc[j][r] += __shfl_xor_sync(0xffffffffu, acc[j][r], s);
      }
    }
  }
  if (lane != 0) return;
#pragma unroll
  for (int r = 0; r < kRowsPerWarp; ++r) {
    if (row0 + r >= out) break;
#pragma unroll
    for (int j = 0; j < N; ++j) {
      const int64_t i = int64_t{j} * out + row0 + r;
      if (kFloatOut) {
        static_cast<float*>(y)[i] = acc[j][r];
      } else {
        static_cast<uint16_t*>(y)[i] =
            __bfloat16_as_ushort(__float2bfloat16_rn(acc[j][r]));
      }
    }
  }
}

template <int N>
void Launch(const uint16_t* x, const uint16_t* w, int in, int out, void* y,
            bool float_out, unsigned blocks, cudaStream_t stream) {
  if (float_out) {
    SmallGemvKernel<N, true><<<blocks, kThreads, 0, stream>>>(x, w, in, out, y);
  } else {
    SmallGemvKernel<N, false>
        <<<blocks, kThreads, 0, stream>>>(x, w, in, out, y);
  }
}

bool Aligned(const void* p, uintptr_t bytes) {
  return reinterpret_cast<uintptr_t>(p) % bytes == 0;
}

}  // namespace

bool SmallGemvSupports(const uint16_t* x, const uint16_t* w, int64_t n,
                       int64_t in, int64_t out, const void* y) {
  return n >= 1 && n <= kSmallGemvMaxRows && in >= 1 && in <= INT32_MAX &&
         in % 8 == 0 && out >= 1 && out <= INT32_MAX && x != nullptr &&
         w != nullptr && y != nullptr && Aligned(x, 16) && Aligned(w, 16) &&
         Aligned(y, 2);
}

absl::Status LaunchSmallGemv(const uint16_t* x, const uint16_t* w, int64_t n,
                             int64_t in, int64_t out, void* y, bool float_out,
                             cudaStream_t stream) {
  if (!SmallGemvSupports(x, w, n, in, out, y) ||
      (float_out && !Aligned(y, 4))) {
    return absl::InvalidArgumentError(absl::StrCat(
        "SmallGemv: unsupported n ", n, ", in ", in, ", out ", out,
        " or alignment (needs 1 <= n <= ", kSmallGemvMaxRows,
        ", in % 8 == 0, 1 <= in, out < 2^31, x and w 16-byte aligned, y "
        "aligned to its element)"));
  }
  const unsigned blocks =
      static_cast<unsigned>((out + kRowsPerBlock - 1) / kRowsPerBlock);
  const int in32 = static_cast<int>(in), out32 = static_cast<int>(out);
  switch (n) {
    case 1:
      Launch<1>(x, w, in32, out32, y, float_out, blocks, stream);
      break;
    case 2:
      Launch<2>(x, w, in32, out32, y, float_out, blocks, stream);
      break;
    case 3:
      Launch<3>(x, w, in32, out32, y, float_out, blocks, stream);
      break;
    default:
      Launch<4>(x, w, in32, out32, y, float_out, blocks, stream);
      break;
  }
  return CUDA_STATUS(cudaGetLastError());
}

}  // namespace df11
