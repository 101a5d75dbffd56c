// Sampling on the device, the same draws as the reference sampler
// (loader/engine/sampling.h, SampleRow): greedy is the argmax (lowest id
// among equal maxima); otherwise candidates sorted by logit (ties by id),
// cut to top_k, softmax(logit / temperature) in double, cut to the shortest
// prefix whose mass reaches top_p, and one drawn by inverse CDF with
// PhiloxUniform(seed, stream, position). Logprobs are log_softmax over the
// whole vocabulary in double.
//
//   LaunchUnshardLogits(gathered, tp, n, shard, vocab, rows, stream);
//   if (any row draws or wants top logprobs)
//     LaunchSortRows(rows, n, vocab, sort_workspace, stream);
//   LaunchSampleRows(rows, sort_workspace, requests, n, vocab, out, stream);
//
// The sums run in parallel, so a draw whose uniform lands within double
// rounding (~1e-16 of the mass) of a bucket boundary may pick the
// neighbouring token; cuda_ops_test.cc checks equality with SampleRow.
#ifndef DF11_LOADER_BACKEND_CUDA_DEVICE_SAMPLING_H_
#define DF11_LOADER_BACKEND_CUDA_DEVICE_SAMPLING_H_

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"

namespace df11 {

// A SampleRequest as the device reads it.
struct DeviceSampleRequest {
  uint64_t seed = 0;
  uint64_t stream = 0;
  int64_t position = 0;
  float temperature = 0;
  float top_p = 1;
  int32_t top_k = 0;
  int32_t logprobs = -1;
  int32_t sample = 0;
  int32_t padding = 0;
};

inline constexpr int kDeviceMaxLogprobs = 20;

// What the device hands back per logit row.
struct DeviceSampled {
  int32_t token = -1;
  float logprob = 0;
  int32_t top_ids[kDeviceMaxLogprobs];
  float top_logprobs[kDeviceMaxLogprobs];
};

// Buffers for sorting up to `max_rows` rows of `vocab` logits.
struct SortWorkspace {
  float* sorted_logits = nullptr;    // [max_rows, vocab]
  int32_t* sorted_ids = nullptr;     // [max_rows, vocab]
  const int32_t* ids = nullptr;      // [max_rows, vocab]: i % vocab
  const int32_t* offsets = nullptr;  // [max_rows + 1]: i * vocab
  void* temp = nullptr;
  size_t temp_bytes = 0;
  int64_t max_rows = 0;
};

// Bytes of cub temporary storage SortRows needs.
absl::Status SortTempBytes(int64_t max_rows, int64_t vocab, size_t* bytes);
// Fills ws.ids and ws.offsets (writable device arrays of the sizes above).
absl::Status LaunchInitSortIndex(int32_t* ids, int32_t* offsets,
                                 int64_t max_rows, int64_t vocab,
                                 cudaStream_t stream);

// rows[i, t] = gathered[t / shard][i][t % shard] for t < vocab: the ranks'
// shards [tp, n, shard] as rows [n, vocab] over the real vocabulary.
absl::Status LaunchUnshardLogits(const float* gathered, int64_t tp, int64_t n,
                                 int64_t shard, int64_t vocab, float* rows,
                                 cudaStream_t stream);

// Sorts each of the n rows [n, vocab] by logit, largest first, ties by id,
// into ws.sorted_logits / ws.sorted_ids. REQUIRES: n <= ws.max_rows.
absl::Status LaunchSortRows(const float* rows, int64_t n, int64_t vocab,
                            const SortWorkspace& ws, cudaStream_t stream);

// Samples row i per requests[i] into out[i], for i < n. `sorted` says
// whether LaunchSortRows ran for these rows (needed by draws with
// temperature > 0 and by logprobs > 0).
absl::Status LaunchSampleRows(const float* rows, const SortWorkspace& ws,
                              bool sorted, const DeviceSampleRequest* requests,
                              int64_t n, int64_t vocab, DeviceSampled* out,
                              cudaStream_t stream);

}  // namespace df11

#endif  // DF11_LOADER_BACKEND_CUDA_DEVICE_SAMPLING_H_
