#include "loader/cli/common_flags.h"

#include "absl/flags/flag.h"
#include "loader/base/parallel_for.h"

ABSL_FLAG(int, threads, 0, "worker threads (0 = one per hardware thread)");
ABSL_FLAG(int, prompt_tokens, 32,
          "loadgen, bench: prompt length of each request in tokens");

namespace df11::cli {

int Threads() {
  const int threads = absl::GetFlag(FLAGS_threads);
  return threads > 0 ? threads : HardwareThreads();
}

}  // namespace df11::cli
