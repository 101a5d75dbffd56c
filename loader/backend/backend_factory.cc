#include "loader/backend/backend_factory.h"

#include <memory>

#include "absl/strings/str_cat.h"
#include "loader/backend/cpu/cpu_backend.h"

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

BackendKind DefaultBackendKind() { return BackendKind::kCpu; }

BackendFactory MakeBackendFactory(BackendKind kind,
                                  const BackendOptions& options) {
  return [kind, options](const WorldConfig& world)
             -> absl::StatusOr<std::unique_ptr<Backend>> {
    if (kind == BackendKind::kCuda) {
      return absl::UnimplementedError("this build of df11 has no CUDA backend");
    }
    return std::make_unique<CpuBackend>(world, options.threads);
  };
}

}  // namespace df11
