// Generation over a batch of prompts of different lengths: one prefill step
// for all of them, then one decode step per new token for those still
// running, each sequence with its own seeded Sampler.
//
//   GenerateOptions options;
//   options.max_new_tokens = 20;
//   options.eos_ids = {128001, 128009};
//   ASSIGN_OR_RETURN(std::vector<Generation> out,
//                    Generate(*engine, {{1, 2, 3}, {4, 5}}, options));
//
// Every rank calls Generate with the same arguments and gets the same
// tokens: logits are identical on every rank after the all-gather, and the
// samplers are seeded alike. Prompt i samples with seed
// options.sampling.seed + i, so its random stream does not depend on its
// batch-mates (its logits may still differ from a batch-of-one run by FP32
// rounding: docs/engine.md).
#ifndef DF11_LOADER_ENGINE_GENERATE_H_
#define DF11_LOADER_ENGINE_GENERATE_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "loader/engine/llama_engine.h"
#include "loader/engine/sampler.h"

namespace df11 {

struct GenerateOptions {
  int64_t max_new_tokens = 16;
  SamplingParams sampling;
  // Generation of a sequence stops after it produces any of these (the EOS
  // token is included in its output). Usually config.eos_token_ids.
  std::vector<int64_t> eos_ids;
};

struct Generation {
  std::vector<int32_t> tokens;       // new tokens only
  std::vector<float> prompt_logits;  // [vocab] at the prompt's last position
  bool stopped_on_eos = false;
};

// Errors (InvalidArgument, nothing run): no prompts, more prompts than the
// engine's free sequence slots, an empty prompt, a negative max_new_tokens,
// bad sampling params, prompt + max_new_tokens longer than the engine's
// context; and the engine's errors (e.g. a token id out of range), after
// which every sequence Generate claimed is freed again.
absl::StatusOr<std::vector<Generation>> Generate(
    LlamaEngine& engine, const std::vector<std::vector<int32_t>>& prompts,
    const GenerateOptions& options);

}  // namespace df11

#endif  // DF11_LOADER_ENGINE_GENERATE_H_
