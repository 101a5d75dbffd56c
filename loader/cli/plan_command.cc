// `df11 plan (--config CONFIG_JSON | --preset NAME [--layers N]) --tp N
//   --gpu_memory_gb G [--max_batch_tokens T] [--max_batch_sequences S]
//   [--kv_block_tokens B] [--max_context C] [--bits_per_weight W] [--json]`
//
// The memory plan of one GPU (loader/plan/memory_plan.h): weights in DF11,
// in BF16 and offloaded, the decode buffers, activations, workspaces,
// margin, and the KV cache capacity that remains. Needs no GPU.
//
//   df11 plan --preset 405b --tp 8 --gpu_memory_gb 80
//   df11 plan --config /models/llama-3.1-70b/config.json --tp 4 --json
#include <cstdio>
#include <string>
#include <vector>

#include "absl/flags/declare.h"
#include "absl/flags/flag.h"
#include "absl/status/statusor.h"
#include "loader/base/status_macros.h"
#include "loader/cli/commands.h"
#include "loader/engine/synthetic_source.h"
#include "loader/format/llama_config.h"
#include "loader/plan/memory_plan.h"
#include "nlohmann/json.hpp"

ABSL_FLAG(std::string, config, "",
          "plan: a config.json (or the model directory holding it); "
          "otherwise --preset");
ABSL_FLAG(double, gpu_memory_gb, 80,
          "plan, bench: memory of one GPU, GB (10^9 bytes)");
ABSL_FLAG(int64_t, max_batch_tokens, 512,
          "plan, bench: most new tokens in one step");
ABSL_FLAG(int64_t, max_batch_sequences, 64, "plan: most sequences in one step");
ABSL_FLAG(int64_t, max_logit_rows, 64, "plan: rows of one LM-head chunk");
ABSL_FLAG(int64_t, kv_block_tokens, 16, "plan: tokens per KV-cache block");
ABSL_FLAG(int64_t, max_context, 0,
          "plan: longest sequence (0 = the config's max_position_embeddings)");
ABSL_FLAG(double, bits_per_weight, df11::kDf11BitsPerWeight,
          "plan, bench: DF11 bits per weight of the matrices");

// Defined by other commands; the same meaning here.
ABSL_DECLARE_FLAG(std::string, preset);  // synth
ABSL_DECLARE_FLAG(int, layers);          // synth
ABSL_DECLARE_FLAG(int, tp);              // compress
ABSL_DECLARE_FLAG(bool, json);           // run

namespace df11::cli {
namespace {

absl::StatusOr<LlamaConfig> PlanConfig() {
  const int layers = absl::GetFlag(FLAGS_layers);
  std::string path = absl::GetFlag(FLAGS_config);
  if (path.empty()) {
    return SyntheticLlamaConfig(absl::GetFlag(FLAGS_preset), layers);
  }
  if (path.size() < 5 || path.substr(path.size() - 5) != ".json") {
    path += "/config.json";
  }
  ASSIGN_OR_RETURN(LlamaConfig config, ReadLlamaConfig(path));
  if (layers >= 0) config.num_hidden_layers = layers;
  return config;
}

absl::Status Plan() {
  ASSIGN_OR_RETURN(LlamaConfig config, PlanConfig());
  PlanOptions options;
  options.gpu_memory_gb = absl::GetFlag(FLAGS_gpu_memory_gb);
  options.max_batch_tokens = absl::GetFlag(FLAGS_max_batch_tokens);
  options.max_batch_sequences = absl::GetFlag(FLAGS_max_batch_sequences);
  options.max_logit_rows = absl::GetFlag(FLAGS_max_logit_rows);
  options.kv_block_tokens = absl::GetFlag(FLAGS_kv_block_tokens);
  options.max_context = absl::GetFlag(FLAGS_max_context);
  options.df11_bits_per_weight = absl::GetFlag(FLAGS_bits_per_weight);
  ASSIGN_OR_RETURN(MemoryPlan plan,
                   PlanMemory(config, absl::GetFlag(FLAGS_tp), options));
  if (absl::GetFlag(FLAGS_json)) {
    nlohmann::json j = MemoryPlanJson(plan);
    j["model"] = {{"hidden_size", config.hidden_size},
                  {"intermediate_size", config.intermediate_size},
                  {"num_hidden_layers", config.num_hidden_layers},
                  {"num_attention_heads", config.num_attention_heads},
                  {"num_key_value_heads", config.num_key_value_heads},
                  {"head_dim", config.head_dim},
                  {"vocab_size", config.vocab_size}};
    std::printf("%s\n", j.dump(2).c_str());
  } else {
    std::printf("%s", FormatMemoryPlan(config, plan).c_str());
  }
  return absl::OkStatus();
}

}  // namespace

int RunPlan(const std::vector<std::string>& args) {
  if (!args.empty()) {
    std::fprintf(stderr,
                 "usage: df11 plan (--config CONFIG_JSON | --preset NAME "
                 "[--layers N]) --tp N --gpu_memory_gb G [--max_batch_tokens "
                 "T] [--max_batch_sequences S] [--kv_block_tokens B] "
                 "[--json]\n");
    return 2;
  }
  const absl::Status s = Plan();
  if (!s.ok()) {
    std::fprintf(stderr, "df11 plan: %s\n", s.ToString().c_str());
    return 1;
  }
  return 0;
}

}  // namespace df11::cli
