// `df11 run --model DIR --tokens 1,2,3 --max_new 20 [sampling flags]`
//
// Offline generation for debugging and demos. DIR is a DF11 model directory
// (df11.json) or a BF16 Hugging Face checkpoint. Under mpirun
// (./launch/df11 run --np 2 ...) each rank runs its shard and rank 0 prints.
//   --json    one JSON object: {"tokens": [generated ids]}
//   --logits  with --json, adds "logits": the prompt's last-position logits
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "loader/backend/backend_factory.h"
#include "loader/base/status_macros.h"
#include "loader/cli/commands.h"
#include "loader/cli/common_flags.h"
#include "loader/dist/mpi_session.h"
#include "loader/engine/generate.h"
#include "loader/engine/llama_engine.h"
#include "loader/engine/open_model.h"
#include "loader/format/llama_config.h"
#include "nlohmann/json.hpp"

ABSL_FLAG(std::string, model, "",
          "run: DF11 model directory or BF16 Hugging Face checkpoint");
ABSL_FLAG(std::string, tokens, "", "run: prompt token ids, e.g. 1,2,3");
ABSL_FLAG(int64_t, max_new, 20, "run: tokens to generate at most");
ABSL_FLAG(double, temperature, 0.0, "run: sampling temperature (0 = greedy)");
ABSL_FLAG(int, top_k, 0, "run: sample from the k most likely (0 = all)");
ABSL_FLAG(double, top_p, 1.0, "run: nucleus sampling mass (1 = all)");
ABSL_FLAG(uint64_t, sample_seed, 0, "run: sampling seed");
ABSL_FLAG(bool, ignore_eos, false, "run: keep generating after an EOS id");
ABSL_FLAG(std::string, backend, "",
          "run: cpu or cuda (default: cuda where this build has it and a GPU "
          "is visible, else cpu)");
ABSL_FLAG(double, gpu_memory_gb, 0,
          "run: cuda: the most device memory each rank may use, in GiB (0: "
          "all that is free)");
ABSL_FLAG(std::string, weights, "df11",
          "run: cuda: df11 (compressed, decoded just in time), bf16 (decoded "
          "once, resident) or offload (BF16 in pinned host memory)");
ABSL_FLAG(bool, cuda_graphs, true, "run: cuda: replay decode steps as graphs");
ABSL_FLAG(bool, json, false, "run: print one JSON object");
ABSL_FLAG(bool, logits, false,
          "run: with --json, include the prompt's last-position logits");

namespace df11::cli {
namespace {

absl::StatusOr<std::vector<int32_t>> ParseTokens(const std::string& text) {
  std::vector<int32_t> ids;
  for (absl::string_view part : absl::StrSplit(text, ',')) {
    int32_t id = 0;
    if (!absl::SimpleAtoi(part, &id)) {
      return absl::InvalidArgumentError(
          absl::StrCat("--tokens: '", part, "' is not a token id"));
    }
    ids.push_back(id);
  }
  return ids;
}

struct RunResult {
  Generation generation;
  EngineMemory memory;
};

absl::StatusOr<RunResult> RunModel(const WorldConfig& world) {
  const std::string dir = absl::GetFlag(FLAGS_model);
  if (dir.empty()) return absl::InvalidArgumentError("--model is required");
  ASSIGN_OR_RETURN(std::vector<int32_t> prompt,
                   ParseTokens(absl::GetFlag(FLAGS_tokens)));
  BackendKind kind = DefaultBackendKind();
  if (!absl::GetFlag(FLAGS_backend).empty()) {
    ASSIGN_OR_RETURN(kind, ParseBackendKind(absl::GetFlag(FLAGS_backend)));
  }
  ASSIGN_OR_RETURN(LlamaConfig config, ReadLlamaConfig(dir + "/config.json"));

  GenerateOptions options;
  options.max_new_tokens = absl::GetFlag(FLAGS_max_new);
  options.sampling.temperature =
      static_cast<float>(absl::GetFlag(FLAGS_temperature));
  options.sampling.top_k = absl::GetFlag(FLAGS_top_k);
  options.sampling.top_p = static_cast<float>(absl::GetFlag(FLAGS_top_p));
  options.sampling.seed = absl::GetFlag(FLAGS_sample_seed);
  options.prompt_logits = absl::GetFlag(FLAGS_logits);
  if (!absl::GetFlag(FLAGS_ignore_eos)) options.eos_ids = config.eos_token_ids;
  const int64_t needed =
      prompt.size() + std::max<int64_t>(1, options.max_new_tokens);
  if (needed > config.max_position_embeddings) {
    return absl::InvalidArgumentError(absl::StrCat(
        prompt.size(), " prompt tokens + --max_new ", options.max_new_tokens,
        " = ", needed, " is longer than the model's context of ",
        config.max_position_embeddings, " (max_position_embeddings)"));
  }

  BackendOptions backend;
  backend.threads = std::max(1, Threads() / world.size);
  backend.gpu_memory_gb = absl::GetFlag(FLAGS_gpu_memory_gb);
  ASSIGN_OR_RETURN(backend.weights,
                   ParseWeightResidency(absl::GetFlag(FLAGS_weights)));
  backend.cuda_graphs = absl::GetFlag(FLAGS_cuda_graphs);
  EngineOptions engine_options;
  engine_options.max_context = needed;
  engine_options.kv_capacity_tokens = needed;
  ASSIGN_OR_RETURN(
      std::unique_ptr<LlamaEngine> engine,
      OpenLlama(dir, world, MakeBackendFactory(kind, backend), engine_options));
  ASSIGN_OR_RETURN(std::vector<Generation> out,
                   Generate(*engine, {prompt}, options));
  return RunResult{std::move(out[0]), engine->memory()};
}

}  // namespace

int RunRun(const std::vector<std::string>& args) {
  if (!args.empty()) {
    std::fprintf(stderr,
                 "usage: df11 run --model DIR --tokens 1,2,3 [--max_new N] "
                 "[--temperature T --top_k K --top_p P --sample_seed S] "
                 "[--backend cpu|cuda --gpu_memory_gb G --weights "
                 "df11|bf16|offload] [--json [--logits]]\n");
    return 2;
  }
  absl::StatusOr<std::unique_ptr<MpiSession>> session =
      MpiSession::Start(nullptr, nullptr);
  if (!session.ok()) {
    std::fprintf(stderr, "df11 run: %s\n", session.status().ToString().c_str());
    return 1;
  }
  const WorldConfig world = (*session)->world();
  absl::StatusOr<RunResult> result = RunModel(world);
  if (!result.ok()) {
    // The ranks agree on errors (llama_engine.h), so rank 0 speaks for all;
    // a rank that timed out waiting for the others ends the whole job.
    const bool timed_out =
        result.status().code() == absl::StatusCode::kDeadlineExceeded;
    if (world.is_root() || timed_out) {
      std::fprintf(stderr, "df11 run: %s\n",
                   result.status().ToString().c_str());
    }
    if (timed_out) (*session)->Abort(1);
    return 1;
  }
  if (!world.is_root()) return 0;
  const Generation& g = result->generation;
  if (absl::GetFlag(FLAGS_json)) {
    nlohmann::json j;
    j["tokens"] = g.tokens;
    if (absl::GetFlag(FLAGS_logits)) j["logits"] = g.prompt_logits;
    std::printf("%s\n", j.dump().c_str());
  } else {
    const EngineMemory& m = result->memory;
    std::printf("tokens: %s%s\n", absl::StrJoin(g.tokens, " ").c_str(),
                g.stopped_on_eos ? " (eos)" : "");
    std::printf(
        "rank 0 memory: weights %llu B stored (%llu B as BF16), decode "
        "buffers %llu B, KV cache %llu B, activations %llu B, workspace %llu "
        "B\n",
        static_cast<unsigned long long>(m.weights_stored),
        static_cast<unsigned long long>(m.weights_original),
        static_cast<unsigned long long>(m.decode_buffers),
        static_cast<unsigned long long>(m.kv_cache),
        static_cast<unsigned long long>(m.activations),
        static_cast<unsigned long long>(m.workspace));
  }
  return 0;
}

}  // namespace df11::cli
