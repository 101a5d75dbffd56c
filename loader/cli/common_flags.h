// Flags shared by several `df11` commands.
#ifndef DF11_LOADER_CLI_COMMON_FLAGS_H_
#define DF11_LOADER_CLI_COMMON_FLAGS_H_

#include "absl/flags/declare.h"

// Worker threads; 0 means one per hardware thread.
ABSL_DECLARE_FLAG(int, threads);
// Prompt length of each synthetic request (loadgen, bench).
ABSL_DECLARE_FLAG(int, prompt_tokens);

namespace df11::cli {

// --threads, with 0 resolved to the hardware thread count.
int Threads();

}  // namespace df11::cli

#endif  // DF11_LOADER_CLI_COMMON_FLAGS_H_
