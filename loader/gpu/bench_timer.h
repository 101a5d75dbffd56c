// What the GPU benchmark programs share: owned device arrays and a timer of
// kernels, with the L2 cache flushed before each run or back to back in a
// CUDA graph.
//
//   ASSIGN_OR_RETURN(auto timer, BenchTimer::Create(/*runs=*/30, stream));
//   ASSIGN_OR_RETURN(double ms, timer->FlushedMs([&] { return Launch(); }));
//
// Not thread-safe.
#ifndef DF11_LOADER_GPU_BENCH_TIMER_H_
#define DF11_LOADER_GPU_BENCH_TIMER_H_

#include <cuda_runtime.h>

#include <cstddef>
#include <functional>
#include <memory>

#include "absl/status/statusor.h"

namespace df11 {

struct CudaFree {
  void operator()(void* p) const { cudaFree(p); }
};
template <typename T = void>
using DeviceArray = std::unique_ptr<T, CudaFree>;

// cudaMalloc of `bytes`, owned.
absl::StatusOr<DeviceArray<void>> DeviceAllocBytes(size_t bytes);
template <typename T = void>
absl::StatusOr<DeviceArray<T>> DeviceAlloc(size_t bytes) {
  absl::StatusOr<DeviceArray<void>> p = DeviceAllocBytes(bytes);
  if (!p.ok()) return p.status();
  return DeviceArray<T>(static_cast<T*>(p->release()));
}

class BenchTimer {
 public:
  // Times on `stream` (nullptr: the legacy default stream); flushes with a
  // memset of 4 × L2 (at least 256 MiB).
  static absl::StatusOr<std::unique_ptr<BenchTimer>> Create(
      int runs, cudaStream_t stream = nullptr);
  ~BenchTimer();

  // The median milliseconds of fn() over the runs, L2 flushed before each,
  // after one warm-up call.
  absl::StatusOr<double> FlushedMs(const std::function<absl::Status()>& fn);

  // Milliseconds per launch of fn(0), ..., fn(launches - 1) captured back to
  // back in one CUDA graph: the median of 5 replays, after one.
  absl::StatusOr<double> GraphMs(const std::function<absl::Status(int)>& fn,
                                 int launches);

  int l2_bytes() const { return l2_bytes_; }

 private:
  BenchTimer(int runs, cudaStream_t stream) : runs_(runs), stream_(stream) {}

  int runs_;
  cudaStream_t stream_;
  int l2_bytes_ = 0;
  size_t flush_bytes_ = 0;
  DeviceArray<void> flush_;
  cudaEvent_t start_ = nullptr;
  cudaEvent_t stop_ = nullptr;
};

}  // namespace df11

#endif  // DF11_LOADER_GPU_BENCH_TIMER_H_
