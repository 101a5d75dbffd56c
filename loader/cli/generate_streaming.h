// Generation of one prompt that hands each new token to a callback as soon
// as it is sampled, for `df11 run --prompt` (Generate in
// loader/engine/generate.h batches prompts and returns only at the end).
//
//   StreamTiming timing;
//   ASSIGN_OR_RETURN(Generation g,
//                    GenerateStreaming(*engine, prompt, options,
//                                      [&](int32_t id) { return Show(id); },
//                                      &timing));
//
// Same semantics as Generate for one prompt: the sampler is seeded with
// options.sampling.seed, generation stops after max_new_tokens or an EOS id
// (included), and prompt_logits are the prompt's last-position logits. Every
// rank calls it with the same arguments (the engine's collectives).
// Errors: InvalidArgument for bad sampling params, the engine's errors, and
// the first error `on_token` returns (generation stops there). The sequence
// is freed in every case.
#ifndef DF11_LOADER_CLI_GENERATE_STREAMING_H_
#define DF11_LOADER_CLI_GENERATE_STREAMING_H_

#include <cstdint>
#include <functional>
#include <vector>

#include "absl/status/statusor.h"
#include "loader/engine/generate.h"
#include "loader/engine/llama_engine.h"

namespace df11::cli {

struct StreamTiming {
  double prefill_seconds = 0;  // the prompt's step, first token included
  double decode_seconds = 0;   // the steps of every later token
};

absl::StatusOr<Generation> GenerateStreaming(
    LlamaEngine& engine, const std::vector<int32_t>& prompt,
    const GenerateOptions& options,
    const std::function<absl::Status(int32_t)>& on_token, StreamTiming* timing);

}  // namespace df11::cli

#endif  // DF11_LOADER_CLI_GENERATE_STREAMING_H_
