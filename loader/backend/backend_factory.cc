#include "loader/backend/backend_factory.h"

#include <memory>

#include "absl/strings/str_cat.h"
#include "loader/backend/cpu/cpu_backend.h"
#include "loader/base/status_macros.h"
#ifdef DF11_HAVE_CUDA
#include "loader/backend/cuda/cuda_backend.h"
#endif

namespace df11 {

absl::StatusOr<BackendKind> ParseBackendKind(absl::string_view name) {
  if (name == "cpu") return BackendKind::kCpu;
  if (name == "cuda") return BackendKind::kCuda;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown backend '", name, "' (cpu or cuda)"));
}

absl::string_view BackendKindName(BackendKind kind) {
  return kind == BackendKind::kCuda ? "cuda" : "cpu";
}

absl::StatusOr<WeightResidency> ParseWeightResidency(absl::string_view name) {
  if (name == "df11") return WeightResidency::kDf11;
  if (name == "bf16") return WeightResidency::kBf16Resident;
  if (name == "offload") return WeightResidency::kOffloadPinned;
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown weight residency '", name, "' (df11, bf16 or offload)"));
}

BackendKind DefaultBackendKind() {
#ifdef DF11_HAVE_CUDA
  if (VisibleCudaDevices() > 0) return BackendKind::kCuda;
#endif
  return BackendKind::kCpu;
}

BackendFactory MakeBackendFactory(BackendKind kind,
                                  const BackendOptions& options) {
  return [kind, options](const WorldConfig& world)
             -> absl::StatusOr<std::unique_ptr<Backend>> {
    if (kind == BackendKind::kCuda) {
#ifdef DF11_HAVE_CUDA
      CudaBackendOptions cuda;
      cuda.gpu_memory_gb = options.gpu_memory_gb;
      cuda.residency = options.weight_residency;
      cuda.cuda_graphs = options.cuda_graphs;
      cuda.small_gemv = options.small_gemv;
      cuda.prioritize_compute = options.prioritize_compute;
      cuda.print_memory_plan = options.print_memory_plan;
      ASSIGN_OR_RETURN(std::unique_ptr<CudaBackend> backend,
                       CudaBackend::Create(world, cuda));
      return std::unique_ptr<Backend>(std::move(backend));
#else
      return absl::UnimplementedError("this build of df11 has no CUDA backend");
#endif
    }
    return std::make_unique<CpuBackend>(world, options.threads);
  };
}

}  // namespace df11
