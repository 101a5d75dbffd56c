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
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "loader/backend/cpu/cpu_backend.h"
#include "loader/backend/cpu/mpi_session.h"
#include "loader/base/status_macros.h"
#include "loader/cli/commands.h"
#include "loader/cli/common_flags.h"
#include "loader/cli/generate_streaming.h"
#include "loader/engine/generate.h"
#include "loader/engine/llama_engine.h"
#include "loader/engine/weight_source.h"
#include "loader/format/df11_manifest.h"
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
ABSL_FLAG(bool, json, false, "run: print one JSON object per prompt");
ABSL_FLAG(bool, logits, false,
          "run: with --json, include the prompt's last-position logits");

namespace df11::cli {
namespace {

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
  StreamTiming timing;  // of --prompt
};

// With --prompt, `print_text` streams the continuation to stdout.
absl::StatusOr<RunResult> RunModel(const ParallelConfig& parallel,
                                   bool print_text) {
  const std::string dir = absl::GetFlag(FLAGS_model);
  if (dir.empty()) return absl::InvalidArgumentError("--model is required");
  RunResult result;
  const std::string text = absl::GetFlag(FLAGS_prompt);
  if (!text.empty()) {
    absl::StatusOr<tokenizer::Tokenizer> tok =
        tokenizer::Tokenizer::FromFile(dir + "/tokenizer.json");
    if (!tok.ok()) {
      return absl::Status(tok.status().code(),
                          absl::StrCat("--prompt needs the model's tokenizer: ",
                                       tok.status().message()));
    }
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
  if (!absl::GetFlag(FLAGS_ignore_eos)) options.eos_ids = config.eos_token_ids;
  int64_t needed = 1;
  for (const std::vector<int32_t>& prompt : result.prompts) {
    const int64_t n =
        prompt.size() + std::max<int64_t>(0, options.max_new_tokens);
    if (n > config.max_position_embeddings) {
      return absl::InvalidArgumentError(absl::StrCat(
          prompt.size(), " prompt tokens + --max_new ", options.max_new_tokens,
          " = ", n, " is longer than the model's context of ",
          config.max_position_embeddings, " (max_position_embeddings)"));
    }
    needed = std::max(needed, n);
  }

  const int threads = std::max(1, Threads() / parallel.size);
  std::unique_ptr<WeightSource> source;
  if (std::filesystem::exists(std::filesystem::path(dir) / kManifestFileName)) {
    ASSIGN_OR_RETURN(source, OpenDf11WeightSource(dir, parallel.rank, threads));
  } else {
    ASSIGN_OR_RETURN(
        source, OpenHfWeightSource(dir, config, parallel.size, parallel.rank));
  }
  EngineOptions engine_options;
  engine_options.max_context = needed;
  engine_options.max_sequences = result.prompts.size();
  ASSIGN_OR_RETURN(
      std::unique_ptr<LlamaEngine> engine,
      LlamaEngine::Create(config, std::move(source),
                          std::make_unique<CpuBackend>(parallel, threads),
                          engine_options));
  if (!result.tokenizer.has_value()) {
    ASSIGN_OR_RETURN(result.generations,
                     Generate(*engine, result.prompts, options));
  } else {
    tokenizer::StreamDecoder stream(&*result.tokenizer,
                                    /*skip_special_tokens=*/true);
    ASSIGN_OR_RETURN(Generation g,
                     GenerateStreaming(
                         *engine, result.prompts[0], options,
                         [&](int32_t id) -> absl::Status {
                           ASSIGN_OR_RETURN(std::string delta, stream.Step(id));
                           if (print_text) {
                             std::fwrite(delta.data(), 1, delta.size(), stdout);
                             std::fflush(stdout);
                           }
                           return absl::OkStatus();
                         },
                         &result.timing));
    ASSIGN_OR_RETURN(std::string rest, stream.Flush());
    if (print_text) std::printf("%s\n", rest.c_str());
    result.generations.push_back(std::move(g));
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
    std::fprintf(
        stderr,
        "%zu prompt tokens in %.2f s, then %zu new tokens in %.2f s: "
        "%.2f tokens/s\n",
        r.prompts[0].size(), r.timing.prefill_seconds, n > 0 ? n - 1 : 0,
        r.timing.decode_seconds,
        n > 1 ? (n - 1) / std::max(1e-9, r.timing.decode_seconds) : 0.0);
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
      "rank 0 memory: weights %llu B stored, layer buffer %llu B, KV cache "
      "%llu B, activations %llu B\n",
      static_cast<unsigned long long>(m.weights_stored),
      static_cast<unsigned long long>(m.layer_buffer),
      static_cast<unsigned long long>(m.kv_cache),
      static_cast<unsigned long long>(m.activations));
}

}  // namespace

int RunRun(const std::vector<std::string>& args) {
  const bool text_mode = !absl::GetFlag(FLAGS_prompt).empty();
  if (!args.empty() || text_mode == !absl::GetFlag(FLAGS_tokens).empty()) {
    std::fprintf(stderr,
                 "usage: df11 run --model DIR (--prompt TEXT | --tokens "
                 "1,2,3[;4,5]) [--max_new N] [--temperature T --top_k K "
                 "--top_p P --sample_seed S] [--json [--logits]]\n");
    return 2;
  }
  absl::StatusOr<std::unique_ptr<MpiSession>> session =
      MpiSession::Start(nullptr, nullptr);
  if (!session.ok()) {
    std::fprintf(stderr, "df11 run: %s\n", session.status().ToString().c_str());
    return 1;
  }
  const ParallelConfig parallel = (*session)->parallel();
  absl::StatusOr<RunResult> result =
      RunModel(parallel, parallel.is_root() && !absl::GetFlag(FLAGS_json));
  if (!result.ok()) {
    std::fprintf(stderr, "df11 run: %s%s\n",
                 parallel.size > 1
                     ? absl::StrCat("rank ", parallel.rank, ": ").c_str()
                     : "",
                 result.status().ToString().c_str());
    // The other ranks may be waiting in a collective: end them too.
    (*session)->Abort(1);
    return 1;
  }
  if (parallel.is_root()) PrintResult(*result);
  return 0;
}

}  // namespace df11::cli
