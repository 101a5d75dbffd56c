// The one place the CUDA backend gets memory: device memory within a cap
// (BackendOptions::gpu_memory_gb), pinned host memory, and the accounts of
// both by purpose, for the memory plan printed at start.
//
//   auto memory = std::make_shared<DeviceMemory>(device, 80ull << 30);
//   ASSIGN_OR_RETURN(Buffer kv, memory->Allocate(bytes, DeviceUse::kKvCache));
//   std::string plan = memory->Plan();
//
// Device allocations are cudaMalloc'd (256-byte aligned) and zero-filled;
// past the cap they fail with ResourceExhausted naming the purpose, the
// size, what is in use and the cap. A Buffer frees itself and its account;
// buffers keep the DeviceMemory alive. What CUDA, cuBLASLt and NCCL allocate
// themselves (the context, handles, NCCL's channels) is outside the cap:
// leave a little headroom. Not thread-safe.
#ifndef DF11_LOADER_BACKEND_CUDA_DEVICE_MEMORY_H_
#define DF11_LOADER_BACKEND_CUDA_DEVICE_MEMORY_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "loader/engine/backend.h"

namespace df11 {

enum class DeviceUse {
  kWeights,        // resident weights (stored form)
  kDecodeBuffers,  // the two decoded-layer buffers
  kActivations,    // the engine's scratch (Backend::Allocate)
  kKvCache,
  kWorkspace,  // step metadata, RoPE table, GEMM and sampling workspace
  kCount,
};
const char* DeviceUseName(DeviceUse use);

class DeviceMemory : public std::enable_shared_from_this<DeviceMemory> {
 public:
  // `cap_bytes` 0, or more than the device has free at creation: what is
  // free.
  static absl::StatusOr<std::shared_ptr<DeviceMemory>> Create(
      int device, uint64_t cap_bytes);

  absl::StatusOr<Buffer> Allocate(uint64_t bytes, DeviceUse use);
  // Page-locked host memory (not counted against the cap).
  absl::StatusOr<Buffer> AllocatePinned(uint64_t bytes);

  uint64_t cap() const { return cap_; }
  uint64_t in_use() const { return in_use_; }
  uint64_t peak() const { return peak_; }
  uint64_t in_use(DeviceUse use) const {
    return by_use_[static_cast<int>(use)];
  }
  uint64_t pinned() const { return pinned_; }
  // One line per purpose, in GiB, with the total, the peak and the cap.
  std::string Plan() const;

 private:
  DeviceMemory(int device, uint64_t cap) : device_(device), cap_(cap) {}
  void Release(uint64_t bytes, DeviceUse use);

  int device_;
  uint64_t cap_;
  uint64_t in_use_ = 0;
  uint64_t peak_ = 0;
  uint64_t pinned_ = 0;
  uint64_t by_use_[static_cast<int>(DeviceUse::kCount)] = {};
};

}  // namespace df11

#endif  // DF11_LOADER_BACKEND_CUDA_DEVICE_MEMORY_H_
