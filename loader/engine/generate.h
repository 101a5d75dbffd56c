// Offline generation over a batch of prompts of different lengths: prompts
// are fed in chunks of at most max_batch_tokens per step, then one token per
// running sequence per step, each prompt with its own random stream, until
// max_new_tokens or an EOS id.
//
//   GenerateOptions options;
//   options.max_new_tokens = 20;
//   options.eos_ids = {128001, 128009};
//   ASSIGN_OR_RETURN(std::vector<Generation> out,
//                    Generate(*engine, {{1, 2, 3}, {4, 5}}, options));
//
// Every rank calls Generate with the same arguments and gets the same
// tokens. Prompt i samples from random stream i with options.sampling.seed,
// so its draws do not depend on its batch-mates (its logits may still
// differ from a batch-of-one run by FP32 rounding: docs/engine.md).
#ifndef DF11_LOADER_ENGINE_GENERATE_H_
#define DF11_LOADER_ENGINE_GENERATE_H_

#include <cstdint>
#include <functional>
#include <vector>

#include "absl/status/statusor.h"
#include "loader/engine/llama_engine.h"
#include "loader/engine/sampling.h"

namespace df11 {

struct GenerateOptions {
  int64_t max_new_tokens = 16;
  SamplingParams sampling;
  // Generation of a sequence stops after it produces any of these (the EOS
  // token is included in its output). Usually config.eos_token_ids.
  std::vector<int64_t> eos_ids;
  // Return each prompt's last-position logits.
  bool prompt_logits = false;
  // Called with (prompt index, token) as each token is drawn, in order.
  std::function<void(size_t, int32_t)> on_token;
};

struct Generation {
  std::vector<int32_t> tokens;       // new tokens only
  std::vector<float> prompt_logits;  // [vocab], when asked for
  bool stopped_on_eos = false;
};

// Errors (InvalidArgument, nothing run): no prompts, an empty prompt, a
// negative max_new_tokens, bad sampling params, prompt + max_new_tokens
// longer than the engine's context; ResourceExhausted when the KV cache
// cannot hold every prompt at once; and the engine's errors (e.g. a token id
// out of range), after which every sequence Generate added is removed again.
absl::StatusOr<std::vector<Generation>> Generate(
    LlamaEngine& engine, const std::vector<std::vector<int32_t>>& prompts,
    const GenerateOptions& options);

}  // namespace df11

#endif  // DF11_LOADER_ENGINE_GENERATE_H_
