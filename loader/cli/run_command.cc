// `df11 run --model DIR (--prompt TEXT | --tokens 1,2,3) [sampling flags]`
//
// Offline generation for debugging and demos. DIR is a DF11 model directory
// (df11.json) or a BF16 Hugging Face checkpoint. Under mpirun
// (./launch/df11 run --np 2 ...) each rank runs its shard and rank 0 prints.
//   --prompt  text, encoded with DIR/tokenizer.json as Hugging Face does
//             (its post-processor adds BOS where the tokenizer says so);
//             the continuation is printed as text while it is generated,
//             and the speed on stderr
//   --tokens  token ids; several prompts separated by ';' run as one batch
//   --json    one JSON object per prompt and line: {"tokens": [new ids]},
//             with --prompt also "prompt_tokens" and "text"
//   --logits  with --json, adds "logits": the prompt's last-position logits
//   --backend cpu or cuda (default: cuda where this build has it and a GPU
//             is visible); with cuda, --gpu_memory_gb (plan's flag, GB,
//             default 80) caps each rank's device memory and --weights picks
//             df11 | bf16 | offload
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/flags/declare.h"
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
#include "loader/tokenizer/stream_decoder.h"
#include "loader/tokenizer/tokenizer.h"
#include "nlohmann/json.hpp"

ABSL_FLAG(std::string, model, "",
          "run: DF11 model directory or BF16 Hugging Face checkpoint");
ABSL_FLAG(std::string, prompt, "",
          "run: prompt text, encoded with DIR/tokenizer.json; the "
          "continuation is printed as text as it is generated");
ABSL_FLAG(std::string, tokens, "",
          "run: prompt token ids, e.g. 1,2,3; several prompts, run as one "
          "batch: 1,2,3;4,5");
ABSL_FLAG(int64_t, max_new, 20, "run: tokens to generate at most");
ABSL_FLAG(double, temperature, 0.0, "run: sampling temperature (0 = greedy)");
ABSL_FLAG(int, top_k, 0, "run: sample from the k most likely (0 = all)");
ABSL_FLAG(double, top_p, 1.0, "run: nucleus sampling mass (1 = all)");
ABSL_FLAG(uint64_t, sample_seed, 0, "run: sampling seed");
ABSL_FLAG(bool, ignore_eos, false, "run: keep generating after an EOS id");
ABSL_FLAG(std::string, backend, "",
          "run: cpu or cuda (default: cuda where this build has it and a GPU "
          "is visible, else cpu)");
// Defined by plan_command.cc (GB of 10^9 bytes); run passes it to the CUDA
// backend as each rank's device memory cap.
ABSL_DECLARE_FLAG(double, gpu_memory_gb);
ABSL_FLAG(std::string, weights, "df11",
          "run: cuda: df11 (compressed, decoded just in time), bf16 (decoded "
          "once, resident) or offload (BF16 in pinned host memory)");
ABSL_FLAG(bool, cuda_graphs, true, "run: cuda: replay decode steps as graphs");
ABSL_FLAG(bool, json, false, "run: print one JSON object per prompt");
ABSL_FLAG(bool, logits, false,
          "run: with --json, include the prompt's last-position logits");

namespace df11::cli {
namespace {

using Clock = std::chrono::steady_clock;

absl::StatusOr<std::vector<std::vector<int32_t>>> ParsePrompts(
    const std::string& text) {
  std::vector<std::vector<int32_t>> prompts;
  for (absl::string_view prompt : absl::StrSplit(text, ';')) {
    std::vector<int32_t>& ids = prompts.emplace_back();
    for (absl::string_view part : absl::StrSplit(prompt, ',')) {
      int32_t id = 0;
      if (!absl::SimpleAtoi(part, &id)) {
        return absl::InvalidArgumentError(
            absl::StrCat("--tokens: '", part, "' is not a token id"));
      }
      ids.push_back(id);
    }
  }
  return prompts;
}

struct RunResult {
  std::optional<tokenizer::Tokenizer> tokenizer;  // with --prompt
  std::vector<std::vector<int32_t>> prompts;
  std::vector<Generation> generations;
  EngineMemory memory;
  double prefill_seconds = 0;  // to the first token
  double decode_seconds = 0;   // from the first token to the last
};

// With --prompt, `print_text` streams the continuation to stdout.
absl::StatusOr<RunResult> RunModel(const WorldConfig& world, bool print_text) {
  const std::string dir = absl::GetFlag(FLAGS_model);
  if (dir.empty()) return absl::InvalidArgumentError("--model is required");
  BackendKind kind = DefaultBackendKind();
  if (!absl::GetFlag(FLAGS_backend).empty()) {
    ASSIGN_OR_RETURN(kind, ParseBackendKind(absl::GetFlag(FLAGS_backend)));
  }
  RunResult result;
  const std::string text = absl::GetFlag(FLAGS_prompt);
  if (!text.empty()) {
    absl::StatusOr<tokenizer::Tokenizer> tok =
        tokenizer::Tokenizer::FromFile(dir + "/tokenizer.json");
    RETURN_IF_ERROR(
        Annotate(tok.status(), "--prompt needs the model's tokenizer"));
    result.tokenizer.emplace(*std::move(tok));
    ASSIGN_OR_RETURN(std::vector<int32_t> ids, result.tokenizer->Encode(text));
    result.prompts.push_back(std::move(ids));
  } else {
    ASSIGN_OR_RETURN(result.prompts, ParsePrompts(absl::GetFlag(FLAGS_tokens)));
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
  int64_t needed = 1;
  int64_t total = 0;
  int64_t prompt_tokens = 0;
  for (const std::vector<int32_t>& prompt : result.prompts) {
    prompt_tokens += prompt.size();
    const int64_t n =
        prompt.size() + std::max<int64_t>(1, options.max_new_tokens);
    if (n > config.max_position_embeddings) {
      return absl::InvalidArgumentError(absl::StrCat(
          prompt.size(), " prompt tokens + --max_new ", options.max_new_tokens,
          " = ", n, " is longer than the model's context of ",
          config.max_position_embeddings, " (max_position_embeddings)"));
    }
    needed = std::max(needed, n);
    total += (n + 15) / 16 * 16;
  }

  BackendOptions backend;
  backend.threads = std::max(1, Threads() / world.size);
  backend.gpu_memory_gb = absl::GetFlag(FLAGS_gpu_memory_gb);
  ASSIGN_OR_RETURN(backend.weight_residency,
                   ParseWeightResidency(absl::GetFlag(FLAGS_weights)));
  backend.cuda_graphs = absl::GetFlag(FLAGS_cuda_graphs);
  EngineOptions engine_options;
  engine_options.max_context = needed;
  engine_options.kv_capacity_tokens = total;
  engine_options.max_batch_sequences =
      std::max<int64_t>(1, result.prompts.size());
  // Scratch for the prompts in one step (Generate chunks longer ones).
  engine_options.max_batch_tokens = std::clamp<int64_t>(
      prompt_tokens, engine_options.max_batch_sequences, 512);
  ASSIGN_OR_RETURN(
      std::unique_ptr<LlamaEngine> engine,
      OpenLlama(dir, world, MakeBackendFactory(kind, backend), engine_options));

  // With a tokenizer, the continuation is shown as it is drawn.
  std::optional<tokenizer::StreamDecoder> stream;
  absl::Status stream_status;
  if (result.tokenizer.has_value()) {
    stream.emplace(&*result.tokenizer, /*skip_special_tokens=*/true);
  }
  const Clock::time_point start = Clock::now();
  Clock::time_point first, last;
  int64_t drawn = 0;
  options.on_token = [&](size_t, int32_t id) {
    last = Clock::now();
    if (drawn++ == 0) first = last;
    if (!stream.has_value() || !stream_status.ok()) return;
    absl::StatusOr<std::string> delta = stream->Step(id);
    stream_status = delta.status();
    if (delta.ok() && print_text) {
      std::fwrite(delta->data(), 1, delta->size(), stdout);
      std::fflush(stdout);
    }
  };
  ASSIGN_OR_RETURN(result.generations,
                   Generate(*engine, result.prompts, options));
  RETURN_IF_ERROR(stream_status);
  if (stream.has_value()) {
    ASSIGN_OR_RETURN(std::string rest, stream->Flush());
    if (print_text) std::printf("%s\n", rest.c_str());
  }
  if (drawn > 0) {
    result.prefill_seconds =
        std::chrono::duration<double>(first - start).count();
    result.decode_seconds = std::chrono::duration<double>(last - first).count();
  }
  result.memory = engine->memory();
  return result;
}

void PrintResult(const RunResult& r) {
  const tokenizer::Tokenizer* tokenizer =
      r.tokenizer.has_value() ? &*r.tokenizer : nullptr;
  if (absl::GetFlag(FLAGS_json)) {
    for (size_t i = 0; i < r.generations.size(); ++i) {
      const Generation& g = r.generations[i];
      nlohmann::json j;
      j["tokens"] = g.tokens;
      if (tokenizer != nullptr) {
        j["prompt_tokens"] = r.prompts[i];
        j["text"] = tokenizer->Decode(g.tokens, /*skip_special_tokens=*/true)
                        .value_or("");
      }
      if (absl::GetFlag(FLAGS_logits)) j["logits"] = g.prompt_logits;
      std::printf("%s\n", j.dump(-1, ' ', false,
                                 nlohmann::json::error_handler_t::replace)
                              .c_str());
    }
    return;
  }
  if (tokenizer != nullptr) {
    // The text went to stdout already; the speed goes to stderr.
    const size_t n = r.generations[0].tokens.size();
    std::fprintf(stderr,
                 "%zu prompt tokens in %.2f s, then %zu new tokens in %.2f s: "
                 "%.2f tokens/s\n",
                 r.prompts[0].size(), r.prefill_seconds, n > 0 ? n - 1 : 0,
                 r.decode_seconds,
                 n > 1 ? (n - 1) / std::max(1e-9, r.decode_seconds) : 0.0);
    return;
  }
  for (size_t i = 0; i < r.generations.size(); ++i) {
    const Generation& g = r.generations[i];
    std::printf(
        "tokens%s: %s%s\n",
        r.generations.size() > 1 ? absl::StrCat("[", i, "]").c_str() : "",
        absl::StrJoin(g.tokens, " ").c_str(), g.stopped_on_eos ? " (eos)" : "");
  }
  const EngineMemory& m = r.memory;
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

}  // namespace

int RunRun(const std::vector<std::string>& args) {
  const bool text_mode = !absl::GetFlag(FLAGS_prompt).empty();
  if (!args.empty() || text_mode == !absl::GetFlag(FLAGS_tokens).empty()) {
    std::fprintf(stderr,
                 "usage: df11 run --model DIR (--prompt TEXT | --tokens "
                 "1,2,3[;4,5]) [--max_new N] [--temperature T --top_k K "
                 "--top_p P --sample_seed S] [--backend cpu|cuda "
                 "--gpu_memory_gb G --weights df11|bf16|offload] [--json "
                 "[--logits]]\n");
    return 2;
  }
  absl::StatusOr<std::unique_ptr<MpiSession>> session =
      MpiSession::Start(nullptr, nullptr);
  if (!session.ok()) {
    std::fprintf(stderr, "df11 run: %s\n", session.status().ToString().c_str());
    return 1;
  }
  const WorldConfig world = (*session)->world();
  absl::StatusOr<RunResult> result =
      RunModel(world, world.is_root() && !absl::GetFlag(FLAGS_json));
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
  if (world.is_root()) PrintResult(*result);
  return 0;
}

}  // namespace df11::cli
