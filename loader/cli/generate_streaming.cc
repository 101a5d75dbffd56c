#include "loader/cli/generate_streaming.h"

#include <algorithm>
#include <chrono>

#include "loader/base/status_macros.h"
#include "loader/engine/sampler.h"

namespace df11::cli {

absl::StatusOr<Generation> GenerateStreaming(
    LlamaEngine& engine, const std::vector<int32_t>& prompt,
    const GenerateOptions& options,
    const std::function<absl::Status(int32_t)>& on_token,
    StreamTiming* timing) {
  using Clock = std::chrono::steady_clock;
  RETURN_IF_ERROR(ValidateSampling(options.sampling));
  ASSIGN_OR_RETURN(const int sequence, engine.NewSequence());
  Sampler sampler(options.sampling);
  Generation out;
  std::vector<int32_t> input = prompt;
  absl::Status status;
  while (static_cast<int64_t>(out.tokens.size()) < options.max_new_tokens) {
    const Clock::time_point start = Clock::now();
    absl::StatusOr<std::vector<std::vector<float>>> logits =
        engine.Forward({{sequence, input, false}});
    if (!logits.ok()) {
      status = logits.status();
      break;
    }
    if (out.tokens.empty()) out.prompt_logits = (*logits)[0];
    const int32_t next = sampler.Next((*logits)[0]);
    (out.tokens.empty() ? timing->prefill_seconds : timing->decode_seconds) +=
        std::chrono::duration<double>(Clock::now() - start).count();
    out.tokens.push_back(next);
    status = on_token(next);
    if (!status.ok()) break;
    if (std::find(options.eos_ids.begin(), options.eos_ids.end(), next) !=
        options.eos_ids.end()) {
      out.stopped_on_eos = true;
      break;
    }
    input = {next};
  }
  engine.FreeSequence(sequence);
  RETURN_IF_ERROR(status);
  return out;
}

}  // namespace df11::cli
