// The backend conformance suite (loader/backend/backend_conformance_test.h)
// on the CPU reference backend.
#include "loader/backend/backend_conformance_test.h"
#include "loader/backend/backend_factory.h"

namespace df11 {

INSTANTIATE_TEST_SUITE_P(
    Cpu, BackendConformanceTest,
    testing::Values(ConformanceBackend{
        "cpu", MakeBackendFactory(BackendKind::kCpu, {.threads = 2})}),
    [](const testing::TestParamInfo<ConformanceBackend>& info) {
      return info.param.name;
    });

}  // namespace df11
