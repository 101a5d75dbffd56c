#include "loader/backend/cuda/device_memory.h"

#include <cuda_runtime.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "loader/base/status_macros.h"
#include "loader/gpu/cuda_status.h"

namespace df11 {
namespace {

double GiB(uint64_t bytes) { return bytes / double(1ull << 30); }

}  // namespace

const char* DeviceUseName(DeviceUse use) {
  switch (use) {
    case DeviceUse::kWeights:
      return "weights (stored form)";
    case DeviceUse::kDecodeBuffers:
      return "decode buffers (2)";
    case DeviceUse::kActivations:
      return "activations";
    case DeviceUse::kKvCache:
      return "KV cache";
    case DeviceUse::kWorkspace:
      return "workspace";
    default:
      return "?";
  }
}

absl::StatusOr<std::shared_ptr<DeviceMemory>> DeviceMemory::Create(
    int device, uint64_t cap_bytes) {
  RETURN_IF_ERROR(CUDA_STATUS(cudaSetDevice(device)));
  size_t free = 0, total = 0;
  RETURN_IF_ERROR(CUDA_STATUS(cudaMemGetInfo(&free, &total)));
  // A cap above what is free is what is free: the cap only ever lowers it.
  if (cap_bytes == 0 || cap_bytes > free) cap_bytes = free;
  return std::shared_ptr<DeviceMemory>(new DeviceMemory(device, cap_bytes));
}

absl::StatusOr<Buffer> DeviceMemory::Allocate(uint64_t bytes, DeviceUse use) {
  const uint64_t rounded = (std::max<uint64_t>(bytes, 1) + 255) / 256 * 256;
  if (in_use_ + rounded > cap_) {
    return absl::ResourceExhaustedError(absl::StrFormat(
        "device memory: %s needs %.3f GiB more; %.3f GiB of the %.3f GiB cap "
        "(--gpu_memory_gb) are in use",
        DeviceUseName(use), GiB(rounded), GiB(in_use_), GiB(cap_)));
  }
  void* p = nullptr;
  RETURN_IF_ERROR(CUDA_STATUS(cudaMalloc(&p, rounded)));
  // Zeroed before any stream of ours can touch it (our streams do not
  // wait for the legacy default stream).
  absl::Status zero = CUDA_STATUS(cudaMemset(p, 0, rounded));
  if (zero.ok()) zero = CUDA_STATUS(cudaDeviceSynchronize());
  if (!zero.ok()) {
    cudaFree(p);
    return zero;
  }
  in_use_ += rounded;
  by_use_[static_cast<int>(use)] += rounded;
  peak_ = std::max(peak_, in_use_);
  std::shared_ptr<DeviceMemory> self = shared_from_this();
  return Buffer(p, bytes, [self, rounded, use](void* q) {
    cudaFree(q);
    self->Release(rounded, use);
  });
}

absl::StatusOr<Buffer> DeviceMemory::AllocatePinned(uint64_t bytes) {
  void* p = nullptr;
  RETURN_IF_ERROR(
      CUDA_STATUS(cudaMallocHost(&p, std::max<uint64_t>(bytes, 1))));
  pinned_ += bytes;
  std::shared_ptr<DeviceMemory> self = shared_from_this();
  return Buffer(p, bytes, [self, bytes](void* q) {
    cudaFreeHost(q);
    self->pinned_ -= bytes;
  });
}

void DeviceMemory::Release(uint64_t bytes, DeviceUse use) {
  in_use_ -= bytes;
  by_use_[static_cast<int>(use)] -= bytes;
}

std::string DeviceMemory::Plan() const {
  std::string out;
  for (int u = 0; u < static_cast<int>(DeviceUse::kCount); ++u) {
    absl::StrAppendFormat(&out, "  %-24s %10.4f GiB\n",
                          DeviceUseName(static_cast<DeviceUse>(u)),
                          GiB(by_use_[u]));
  }
  absl::StrAppendFormat(&out,
                        "  %-24s %10.4f GiB (peak %.4f, cap %.3f)\n"
                        "  %-24s %10.4f GiB\n",
                        "device total", GiB(in_use_), GiB(peak_), GiB(cap_),
                        "pinned host", GiB(pinned_));
  return out;
}

}  // namespace df11
