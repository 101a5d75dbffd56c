// Device sampling (device_sampling.h): cub's segmented radix sort orders
// each row (stable, so equal logits keep id order), then one block per row
// reduces and scans in double.
#include <cub/block/block_reduce.cuh>
#include <cub/block/block_scan.cuh>
#include <cub/device/device_segmented_radix_sort.cuh>

#include "loader/backend/cuda/device_sampling.h"
#include "loader/engine/philox.h"
#include "loader/gpu/cuda_status.h"

namespace df11 {
namespace {

constexpr int kThreads = 512;

__global__ void InitSortIndexKernel(int32_t* ids, int32_t* offsets,
                                    int64_t rows, int64_t vocab) {
  const int64_t total = rows * vocab;
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < total;
       i += int64_t{gridDim.x} * blockDim.x) {
    ids[i] = static_cast<int32_t>(i % vocab);
  }
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i <= rows;
       i += int64_t{gridDim.x} * blockDim.x) {
    offsets[i] = static_cast<int32_t>(i * vocab);
  }
}

__global__ void UnshardKernel(const float* __restrict__ gathered, int64_t n,
                              int64_t shard, int64_t vocab,
                              float* __restrict__ rows) {
  const int64_t total = n * vocab;
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < total;
       i += int64_t{gridDim.x} * blockDim.x) {
    const int64_t row = i / vocab;
    const int64_t t = i % vocab;
    rows[i] = gathered[((t / shard) * n + row) * shard + t % shard];
  }
}

struct Best {
  float value;
  int32_t id;
};

struct BestOp {
  __device__ Best operator()(const Best& a, const Best& b) const {
    if (a.value > b.value) return a;
    if (b.value > a.value) return b;
    return a.id <= b.id ? a : b;
  }
};

using BlockBest = cub::BlockReduce<Best, kThreads>;
using BlockSum = cub::BlockReduce<double, kThreads>;
using BlockScan = cub::BlockScan<double, kThreads>;

union SampleShared {
  typename BlockBest::TempStorage best;
  typename BlockSum::TempStorage sum;
  typename BlockScan::TempStorage scan;
};

// The first index j < limit (in chunks of the block) where
// pred(cumulative sum of value(0..j)) holds, or limit; its cumulative sum
// goes to *at.
template <typename Value, typename Pred>
__device__ int64_t FirstCumulative(int64_t limit, Value value, Pred pred,
                                   SampleShared& shared, double* at) {
  __shared__ int64_t found;
  __shared__ double found_sum;
  double carry = 0;
  __syncthreads();  // every thread is done with the last call's `found`
  if (threadIdx.x == 0) found = limit;
  __syncthreads();
  for (int64_t base = 0; base < limit; base += kThreads) {
    const int64_t j = base + threadIdx.x;
    const double v = j < limit ? value(j) : 0.0;
    double cum = 0, chunk = 0;
    BlockScan(shared.scan).InclusiveSum(v, cum, chunk);
    cum += carry;
    if (j < limit && pred(cum)) {
      atomicMin(reinterpret_cast<unsigned long long*>(&found),
                static_cast<unsigned long long>(j));
    }
    __syncthreads();
    if (j == found) found_sum = cum;
    __syncthreads();
    if (found < limit) break;
    carry += chunk;
  }
  *at = found < limit ? found_sum : carry;
  return found;
}

__global__ void __launch_bounds__(kThreads)
    SampleRowsKernel(const float* __restrict__ rows,
                     const float* __restrict__ sorted_logits,
                     const int32_t* __restrict__ sorted_ids, bool sorted,
                     const DeviceSampleRequest* __restrict__ requests,
                     int64_t vocab, DeviceSampled* __restrict__ out) {
  __shared__ SampleShared shared;
  __shared__ Best best_shared;
  __shared__ double sum_shared;
  __shared__ int32_t token_shared;
  const int64_t i = blockIdx.x;
  const DeviceSampleRequest r = requests[i];
  DeviceSampled& o = out[i];
  if (!r.sample) {
    if (threadIdx.x == 0) o.token = -1;
    return;
  }
  const float* row = rows + i * vocab;

  // The maximum (lowest id among equals): greedy's token, logprobs' shift.
  Best mine{-INFINITY, 0x7fffffff};
  for (int64_t t = threadIdx.x; t < vocab; t += kThreads) {
    mine = BestOp()(mine, Best{row[t], static_cast<int32_t>(t)});
  }
  const Best best = BlockBest(shared.best).Reduce(mine, BestOp());
  if (threadIdx.x == 0) best_shared = best;
  __syncthreads();

  if (r.temperature == 0.0f || !sorted) {
    if (threadIdx.x == 0) token_shared = best_shared.id;
  } else {
    const float* vals = sorted_logits + i * vocab;
    const int32_t* ids = sorted_ids + i * vocab;
    const int64_t k = r.top_k > 0 && r.top_k < vocab ? r.top_k : vocab;
    const double top = vals[0];
    const double temperature = r.temperature;
    const auto prob = [&](int64_t j) {
      return exp((static_cast<double>(vals[j]) - top) / temperature);
    };
    double part = 0;
    for (int64_t j = threadIdx.x; j < k; j += kThreads) part += prob(j);
    const double total = BlockSum(shared.sum).Sum(part);
    if (threadIdx.x == 0) sum_shared = total;
    __syncthreads();
    const double all = sum_shared;
    __syncthreads();
    int64_t keep = k;
    double kept = all;
    if (r.top_p < 1.0f) {
      const double top_p = r.top_p;
      const int64_t j = FirstCumulative(
          k, prob, [&](double cum) { return cum / all >= top_p; }, shared,
          &kept);
      if (j < k) keep = j + 1;
      if (j >= k) kept = all;
    }
    const double u = PhiloxUniform(r.seed, r.stream, r.position) * kept;
    double unused;
    const int64_t j = FirstCumulative(
        keep, prob, [&](double cum) { return u < cum; }, shared, &unused);
    if (threadIdx.x == 0) token_shared = ids[j < keep ? j : keep - 1];
  }
  __syncthreads();
  const int32_t token = token_shared;
  if (threadIdx.x == 0) o.token = token;
  if (r.logprobs < 0) return;

  const double max = best_shared.value;
  double part = 0;
  for (int64_t t = threadIdx.x; t < vocab; t += kThreads) {
    part += exp(static_cast<double>(row[t]) - max);
  }
  const double sum = BlockSum(shared.sum).Sum(part);
  if (threadIdx.x == 0) {
    const double log_total = max + log(sum);
    o.logprob = static_cast<float>(row[token] - log_total);
    const int n =
        r.logprobs < kDeviceMaxLogprobs ? r.logprobs : kDeviceMaxLogprobs;
    for (int j = 0; j < n && j < vocab && sorted; ++j) {
      const int32_t id = sorted_ids[i * vocab + j];
      o.top_ids[j] = id;
      o.top_logprobs[j] = static_cast<float>(row[id] - log_total);
    }
  }
}

int Blocks(int64_t count) {
  const int64_t b = (count + 255) / 256;
  return static_cast<int>(b < 1 ? 1 : (b > 1 << 20 ? 1 << 20 : b));
}

}  // namespace

absl::Status SortTempBytes(int64_t max_rows, int64_t vocab, size_t* bytes) {
  *bytes = 0;
  return CUDA_STATUS(cub::DeviceSegmentedRadixSort::SortPairsDescending(
      nullptr, *bytes, static_cast<const float*>(nullptr),
      static_cast<float*>(nullptr), static_cast<const int32_t*>(nullptr),
      static_cast<int32_t*>(nullptr), max_rows * vocab,
      static_cast<int>(max_rows), static_cast<const int32_t*>(nullptr),
      static_cast<const int32_t*>(nullptr)));
}

absl::Status LaunchInitSortIndex(int32_t* ids, int32_t* offsets,
                                 int64_t max_rows, int64_t vocab,
                                 cudaStream_t stream) {
  if (max_rows < 1 || vocab < 1 || max_rows * vocab > 0x7fffffff) {
    return absl::InvalidArgumentError("sampling: rows * vocab too large");
  }
  InitSortIndexKernel<<<Blocks(max_rows * vocab), 256, 0, stream>>>(
      ids, offsets, max_rows, vocab);
  return CUDA_STATUS(cudaGetLastError());
}

absl::Status LaunchUnshardLogits(const float* gathered, int64_t tp, int64_t n,
                                 int64_t shard, int64_t vocab, float* rows,
                                 cudaStream_t stream) {
  if (n < 0 || shard < 1 || vocab < 1 || vocab > tp * shard) {
    return absl::InvalidArgumentError("UnshardLogits: bad sizes");
  }
  if (n == 0) return absl::OkStatus();
  UnshardKernel<<<Blocks(n * vocab), 256, 0, stream>>>(gathered, n, shard,
                                                       vocab, rows);
  return CUDA_STATUS(cudaGetLastError());
}

absl::Status LaunchSortRows(const float* rows, int64_t n, int64_t vocab,
                            const SortWorkspace& ws, cudaStream_t stream) {
  if (n < 0 || n > ws.max_rows) {
    return absl::InvalidArgumentError("SortRows: more rows than the workspace");
  }
  if (n == 0) return absl::OkStatus();
  size_t bytes = ws.temp_bytes;
  return CUDA_STATUS(cub::DeviceSegmentedRadixSort::SortPairsDescending(
      ws.temp, bytes, rows, ws.sorted_logits, ws.ids, ws.sorted_ids, n * vocab,
      static_cast<int>(n), ws.offsets, ws.offsets + 1, 0,
      static_cast<int>(sizeof(float) * 8), stream));
}

absl::Status LaunchSampleRows(const float* rows, const SortWorkspace& ws,
                              bool sorted, const DeviceSampleRequest* requests,
                              int64_t n, int64_t vocab, DeviceSampled* out,
                              cudaStream_t stream) {
  if (n < 0 || vocab < 1 || (sorted && n > ws.max_rows)) {
    return absl::InvalidArgumentError("SampleRows: bad sizes");
  }
  if (n == 0) return absl::OkStatus();
  SampleRowsKernel<<<static_cast<unsigned>(n), kThreads, 0, stream>>>(
      rows, ws.sorted_logits, ws.sorted_ids, sorted, requests, vocab, out);
  return CUDA_STATUS(cudaGetLastError());
}

}  // namespace df11
