#include "loader/gpu/bench_timer.h"

#include <algorithm>
#include <vector>

#include "loader/base/status_macros.h"
#include "loader/gpu/cuda_status.h"

namespace df11 {
namespace {

constexpr int kGraphReplays = 5;

}  // namespace

absl::StatusOr<DeviceArray<void>> DeviceAllocBytes(size_t bytes) {
  void* p = nullptr;
  RETURN_IF_ERROR(CUDA_STATUS(cudaMalloc(&p, bytes)));
  return DeviceArray<void>(p);
}

absl::StatusOr<std::unique_ptr<BenchTimer>> BenchTimer::Create(
    int runs, cudaStream_t stream) {
  std::unique_ptr<BenchTimer> t(new BenchTimer(std::max(runs, 1), stream));
  RETURN_IF_ERROR(CUDA_STATUS(
      cudaDeviceGetAttribute(&t->l2_bytes_, cudaDevAttrL2CacheSize, 0)));
  t->flush_bytes_ = std::max<size_t>(size_t{4} * t->l2_bytes_, 256u << 20);
  ASSIGN_OR_RETURN(t->flush_, DeviceAllocBytes(t->flush_bytes_));
  RETURN_IF_ERROR(CUDA_STATUS(cudaEventCreate(&t->start_)));
  RETURN_IF_ERROR(CUDA_STATUS(cudaEventCreate(&t->stop_)));
  return t;
}

BenchTimer::~BenchTimer() {
  if (start_ != nullptr) cudaEventDestroy(start_);
  if (stop_ != nullptr) cudaEventDestroy(stop_);
}

absl::StatusOr<double> BenchTimer::FlushedMs(
    const std::function<absl::Status()>& fn) {
  RETURN_IF_ERROR(fn());  // warm-up
  RETURN_IF_ERROR(CUDA_STATUS(cudaStreamSynchronize(stream_)));
  std::vector<float> ms;
  for (int r = 0; r < runs_; ++r) {
    RETURN_IF_ERROR(CUDA_STATUS(
        cudaMemsetAsync(flush_.get(), r & 0xFF, flush_bytes_, stream_)));
    RETURN_IF_ERROR(CUDA_STATUS(cudaEventRecord(start_, stream_)));
    RETURN_IF_ERROR(fn());
    RETURN_IF_ERROR(CUDA_STATUS(cudaEventRecord(stop_, stream_)));
    RETURN_IF_ERROR(CUDA_STATUS(cudaEventSynchronize(stop_)));
    float t = 0;
    RETURN_IF_ERROR(CUDA_STATUS(cudaEventElapsedTime(&t, start_, stop_)));
    ms.push_back(t);
  }
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

absl::StatusOr<double> BenchTimer::GraphMs(
    const std::function<absl::Status(int)>& fn, int launches) {
  RETURN_IF_ERROR(CUDA_STATUS(
      cudaStreamBeginCapture(stream_, cudaStreamCaptureModeThreadLocal)));
  absl::Status s;
  for (int i = 0; i < launches && s.ok(); ++i) s = fn(i);
  cudaGraph_t graph = nullptr;
  const absl::Status ended = CUDA_STATUS(cudaStreamEndCapture(stream_, &graph));
  if (s.ok()) s = ended;
  cudaGraphExec_t exec = nullptr;
  if (s.ok()) s = CUDA_STATUS(cudaGraphInstantiate(&exec, graph, 0));
  if (graph != nullptr) cudaGraphDestroy(graph);
  std::vector<float> ms;
  for (int r = 0; r <= kGraphReplays && s.ok(); ++r) {
    s = CUDA_STATUS(cudaEventRecord(start_, stream_));
    if (s.ok()) s = CUDA_STATUS(cudaGraphLaunch(exec, stream_));
    if (s.ok()) s = CUDA_STATUS(cudaEventRecord(stop_, stream_));
    if (s.ok()) s = CUDA_STATUS(cudaEventSynchronize(stop_));
    float t = 0;
    if (s.ok()) s = CUDA_STATUS(cudaEventElapsedTime(&t, start_, stop_));
    if (r > 0) ms.push_back(t / launches);
  }
  if (exec != nullptr) cudaGraphExecDestroy(exec);
  RETURN_IF_ERROR(s);
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

}  // namespace df11
