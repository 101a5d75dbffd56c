// Helpers for tests of GPU code, which build wherever the CUDA toolkit is
// and run wherever a GPU is (cuda_cc_test tags them `gpu`; `df11 test` runs
// them only on a machine with one).
//
//   TEST(DecodeDf11Test, Works) {
//     SKIP_WITHOUT_GPU();
//     ...
//   }
//
// HaveGpu() is true when the CUDA runtime sees at least one device (it is
// false without a driver). SKIP_WITHOUT_GPU() prints a notice and skips the
// current test when there is none; use it at the top of a test body.
#ifndef DF11_LOADER_GPU_GPU_TEST_UTIL_H_
#define DF11_LOADER_GPU_GPU_TEST_UTIL_H_

#include <cuda_runtime.h>

#include <cstdio>

#include "gtest/gtest.h"

namespace df11 {

inline bool HaveGpu() {
  int n = 0;
  return cudaGetDeviceCount(&n) == cudaSuccess && n > 0;
}

}  // namespace df11

#define SKIP_WITHOUT_GPU()                                                  \
  do {                                                                      \
    if (!::df11::HaveGpu()) {                                               \
      std::printf(                                                          \
          "NOTICE: no CUDA GPU found; skipping %s\n",                       \
          ::testing::UnitTest::GetInstance()->current_test_info()->name()); \
      GTEST_SKIP() << "no CUDA GPU";                                        \
    }                                                                       \
  } while (false)

#endif  // DF11_LOADER_GPU_GPU_TEST_UTIL_H_
