// The backend conformance suite (loader/backend/backend_conformance_test.h)
// on the CUDA backend: BF16 activations, so every tolerance is scaled by
// BF16's unit roundoff. Tagged gpu; run on the GPU machine.
#include "loader/backend/backend_conformance_test.h"
#include "loader/backend/backend_factory.h"

namespace df11 {

INSTANTIATE_TEST_SUITE_P(
    Cuda, BackendConformanceTest,
    testing::Values(ConformanceBackend{
        "cuda",
        MakeBackendFactory(BackendKind::kCuda, {.print_memory_plan = false})}),
    [](const testing::TestParamInfo<ConformanceBackend>& info) {
      return info.param.name;
    });

}  // namespace df11
