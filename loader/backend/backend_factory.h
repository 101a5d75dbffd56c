// Makes the Backend a run asks for: the one place that knows every backend
// there is, so that the CLI, the daemon and the tests choose by name.
//
//   ASSIGN_OR_RETURN(BackendKind kind, ParseBackendKind("cpu"));
//   BackendFactory factory = MakeBackendFactory(kind, {.threads = 8});
//   ASSIGN_OR_RETURN(auto engine, OpenLlama(dir, world, factory, options));
#ifndef DF11_LOADER_BACKEND_BACKEND_FACTORY_H_
#define DF11_LOADER_BACKEND_BACKEND_FACTORY_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "loader/backend/weight_residency.h"
#include "loader/engine/open_model.h"

namespace df11 {

enum class BackendKind { kCpu, kCuda };

// "cpu" or "cuda"; InvalidArgument otherwise.
absl::StatusOr<BackendKind> ParseBackendKind(absl::string_view name);
absl::string_view BackendKindName(BackendKind kind);
// kCuda where this build has the CUDA backend and a GPU is visible, else
// kCpu.
BackendKind DefaultBackendKind();

// "df11", "bf16" or "offload" (weight_residency.h); InvalidArgument
// otherwise.
absl::StatusOr<WeightResidency> ParseWeightResidency(absl::string_view name);

struct BackendOptions {
  // CPU: threads for GEMMs, attention and decoding (per rank).
  int threads = 1;
  // CUDA: the most device memory this rank may use, in GB (10^9 bytes, the
  // memory plan's unit); 0 means all that is free. What CUDA, cuBLASLt and
  // NCCL allocate themselves (the context, handles) is not counted.
  double gpu_memory_gb = 0;
  // CUDA: where the weights live (weight_residency.h).
  WeightResidency weight_residency = WeightResidency::kDf11;
  // CUDA: replay decode steps as CUDA graphs.
  bool cuda_graphs = true;
  // CUDA: one-row products through our GEMV, not cuBLASLt.
  bool small_gemv = true;
  // CUDA: the compute stream outranks the decode stream.
  bool prioritize_compute = true;
  // CUDA: print each rank's memory plan to stderr once the weights are in.
  bool print_memory_plan = true;
};

// A factory for OpenLlama. Creating a kCuda backend in a build without
// CUDA is Unimplemented.
BackendFactory MakeBackendFactory(BackendKind kind,
                                  const BackendOptions& options);

}  // namespace df11

#endif  // DF11_LOADER_BACKEND_BACKEND_FACTORY_H_
