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

// Removes the sequences it holds when it goes out of scope.
class SequenceGuard {
 public:
  explicit SequenceGuard(LlamaEngine& engine) : engine_(engine) {}
  ~SequenceGuard() {
    for (SequenceId id : ids) engine_.RemoveSequence(id);
  }
  std::vector<SequenceId> ids;

 private:
  LlamaEngine& engine_;
};

struct Running {
  size_t fed = 0;     // prompt tokens fed so far
  int32_t next = -1;  // the token to feed next, once the prompt is in
  bool done = false;
};

}  // namespace

absl::StatusOr<std::vector<Generation>> Generate(
    LlamaEngine& engine, const std::vector<std::vector<int32_t>>& prompts,
    const GenerateOptions& options) {
  RETURN_IF_ERROR(CheckRequest(engine, prompts, options));
  SequenceGuard guard(engine);
  SequenceId id = 0;
  for (const std::vector<int32_t>& prompt : prompts) {
    while (engine.HasSequence(id)) ++id;
    RETURN_IF_ERROR(engine.AddSequence(
        id, prompt.size() + std::max<int64_t>(1, options.max_new_tokens)));
    guard.ids.push_back(id++);
  }

  const EngineOptions& limits = engine.options();
  std::vector<Generation> out(prompts.size());
  std::vector<Running> state(prompts.size());
  while (true) {
    StepPlan plan;
    std::vector<size_t> which;
    int64_t budget = limits.max_batch_tokens;
    for (size_t i = 0; i < prompts.size() && budget > 0; ++i) {
      Running& s = state[i];
      if (s.done) continue;
      if (static_cast<int64_t>(plan.items.size()) >=
          limits.max_batch_sequences) {
        break;
      }
      SequenceStep item;
      item.id = guard.ids[i];
      if (s.fed < prompts[i].size()) {
        const size_t n = std::min<size_t>(prompts[i].size() - s.fed, budget);
        item.tokens.assign(prompts[i].begin() + s.fed,
                           prompts[i].begin() + s.fed + n);
        s.fed += n;
        if (s.fed == prompts[i].size()) {
          item.sample.sample = options.max_new_tokens > 0;
          if (options.prompt_logits) item.logits = LogitsWanted::kLast;
        }
      } else {
        item.tokens = {s.next};
        item.sample.sample = true;
      }
      item.sample.params = options.sampling;
      item.sample.stream = i;
      budget -= item.tokens.size();
      plan.items.push_back(std::move(item));
      which.push_back(i);
    }
    if (plan.items.empty()) break;
    ASSIGN_OR_RETURN(std::vector<SequenceResult> results, engine.Step(plan));
    for (size_t k = 0; k < which.size(); ++k) {
      const size_t i = which[k];
      Generation& g = out[i];
      if (plan.items[k].logits == LogitsWanted::kLast) {
        g.prompt_logits = std::move(results[k].logits);
      }
      if (!plan.items[k].sample.sample) {
        // A prompt chunk, or the whole prompt when no token is wanted.
        state[i].done = state[i].fed == prompts[i].size();
        continue;
      }
      const int32_t token = results[k].sampled.token;
      g.tokens.push_back(token);
      if (options.on_token) options.on_token(i, token);
      g.stopped_on_eos =
          std::find(options.eos_ids.begin(), options.eos_ids.end(), token) !=
          options.eos_ids.end();
      state[i].next = token;
      state[i].done =
          g.stopped_on_eos ||
          static_cast<int64_t>(g.tokens.size()) >= options.max_new_tokens;
    }
  }
  return out;
}

}  // namespace df11
