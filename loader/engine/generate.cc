#include "loader/engine/generate.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "loader/base/status_macros.h"

namespace df11 {
namespace {

absl::Status CheckRequest(const LlamaEngine& engine,
                          const std::vector<std::vector<int32_t>>& prompts,
                          const GenerateOptions& options) {
  if (prompts.empty()) return absl::InvalidArgumentError("no prompts");
  if (options.max_new_tokens < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "max_new_tokens ", options.max_new_tokens, " must be >= 0"));
  }
  RETURN_IF_ERROR(ValidateSampling(options.sampling));
  for (size_t i = 0; i < prompts.size(); ++i) {
    if (prompts[i].empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("prompt ", i, " is empty"));
    }
    const int64_t total = prompts[i].size() + options.max_new_tokens;
    if (total > engine.max_context()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "prompt ", i, ": ", prompts[i].size(), " tokens + max_new_tokens ",
          options.max_new_tokens, " = ", total,
          " is longer than the context of ", engine.max_context()));
    }
  }
  return absl::OkStatus();
}

// Frees the sequences it holds when it goes out of scope.
class SequenceGuard {
 public:
  explicit SequenceGuard(LlamaEngine& engine) : engine_(engine) {}
  ~SequenceGuard() {
    for (int s : ids) engine_.FreeSequence(s);
  }
  std::vector<int> ids;

 private:
  LlamaEngine& engine_;
};

}  // namespace

absl::StatusOr<std::vector<Generation>> Generate(
    LlamaEngine& engine, const std::vector<std::vector<int32_t>>& prompts,
    const GenerateOptions& options) {
  RETURN_IF_ERROR(CheckRequest(engine, prompts, options));
  SequenceGuard sequences(engine);
  std::vector<Sampler> samplers;
  for (size_t i = 0; i < prompts.size(); ++i) {
    ASSIGN_OR_RETURN(int id, engine.NewSequence());
    sequences.ids.push_back(id);
    SamplingParams params = options.sampling;
    params.seed += i;
    samplers.emplace_back(params);
  }

  std::vector<Generation> out(prompts.size());
  std::vector<StepInput> step;
  for (size_t i = 0; i < prompts.size(); ++i) {
    step.push_back({sequences.ids[i], prompts[i], false});
  }
  std::vector<size_t> running(prompts.size());
  for (size_t i = 0; i < running.size(); ++i) running[i] = i;
  bool prefill = true;
  while (!running.empty() && options.max_new_tokens > 0) {
    ASSIGN_OR_RETURN(std::vector<std::vector<float>> logits,
                     engine.Forward(step));
    std::vector<size_t> still_running;
    step.clear();
    for (size_t k = 0; k < running.size(); ++k) {
      const size_t i = running[k];
      if (prefill) out[i].prompt_logits = logits[k];
      const int32_t next = samplers[i].Next(logits[k]);
      out[i].tokens.push_back(next);
      const bool eos = std::find(options.eos_ids.begin(), options.eos_ids.end(),
                                 next) != options.eos_ids.end();
      out[i].stopped_on_eos = eos;
      if (eos || static_cast<int64_t>(out[i].tokens.size()) >=
                     options.max_new_tokens) {
        continue;
      }
      still_running.push_back(i);
      step.push_back({sequences.ids[i], {next}, false});
    }
    running = std::move(still_running);
    prefill = false;
  }
  if (options.max_new_tokens == 0) {
    // Only the prompt logits were asked for.
    ASSIGN_OR_RETURN(std::vector<std::vector<float>> logits,
                     engine.Forward(step));
    for (size_t i = 0; i < prompts.size(); ++i) {
      out[i].prompt_logits = std::move(logits[i]);
    }
  }
  return out;
}

}  // namespace df11
