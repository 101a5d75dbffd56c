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
#include "loader/engine/open_model.h"

namespace df11 {

enum class BackendKind { kCpu, kCuda };

// "cpu" or "cuda"; InvalidArgument otherwise.
absl::StatusOr<BackendKind> ParseBackendKind(absl::string_view name);
absl::string_view BackendKindName(BackendKind kind);
// kCuda where this build has the CUDA backend and a GPU is visible, else
// kCpu.
BackendKind DefaultBackendKind();

struct BackendOptions {
  // CPU: threads for GEMMs, attention and decoding (per rank).
  int threads = 1;
  // CUDA: the most device memory this rank may use; 0 means all of it.
  double gpu_memory_gb = 0;
};

// A factory for OpenLlama. Creating a kCuda backend in a build without
// CUDA is Unimplemented.
BackendFactory MakeBackendFactory(BackendKind kind,
                                  const BackendOptions& options);

}  // namespace df11

#endif  // DF11_LOADER_BACKEND_BACKEND_FACTORY_H_
