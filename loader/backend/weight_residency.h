// Where a backend keeps the weights it loads (BackendOptions::
// weight_residency; docs/cuda_backend.md):
//
//   kDf11          as stored: DF11 payloads stay compressed in device memory
//                  and are decoded just in time per group; raw tensors (a
//                  BF16 checkpoint, norms) are used in place
//   kBf16Resident  decoded once at load, BF16 in device memory
//   kOffloadPinned BF16 in pinned host memory, copied per group into the two
//                  decode buffers (the CPU-offload baseline)
//
// The CPU backend keeps every weight in host memory and ignores it.
#ifndef DF11_LOADER_BACKEND_WEIGHT_RESIDENCY_H_
#define DF11_LOADER_BACKEND_WEIGHT_RESIDENCY_H_

namespace df11 {

enum class WeightResidency { kDf11, kBf16Resident, kOffloadPinned };

}  // namespace df11

#endif  // DF11_LOADER_BACKEND_WEIGHT_RESIDENCY_H_
