// df11: the command-line tool. Usually run through ./launch/df11.
//
//   df11 demo
//   df11 help
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "loader/cli/commands.h"

namespace {

struct Command {
  std::string_view name;
  std::string_view usage;
  int (*run)(const std::vector<std::string>& args);
};

constexpr Command kCommands[] = {
    {"demo", "demo  compress, decode and verify LLM-like BF16 tensors",
     df11::cli::RunDemo},
    {"synth",
     "synth OUT_DIR [--preset tiny|small|8b] [--layers N] [--tied]  write a "
     "synthetic BF16 Llama checkpoint",
     df11::cli::RunSynth},
    {"compress",
     "compress IN_HF_DIR OUT_DIR --tp N [--threads T] [--memory_mb M]  "
     "BF16 checkpoint -> DF11 model directory",
     df11::cli::RunCompress},
    {"inspect",
     "inspect DIR  per-tensor sizes, bits/weight, entropy bound, checksums",
     df11::cli::RunInspect},
    {"verify", "verify DIR [--against HF_DIR]  decode everything and check it",
     df11::cli::RunVerify},
    {"decompress", "decompress DIR OUT_HF_DIR  write the BF16 checkpoint back",
     df11::cli::RunDecompress},
    {"run",
     "run --model DIR --tokens 1,2,3 [--max_new N] [--temperature T] "
     "[--top_k K] [--top_p P] [--json [--logits]]  generate on the CPU "
     "(./launch/df11 run --np N for tensor parallel)",
     df11::cli::RunRun},
    {"generate",
     "generate --server HOST:PORT \"prompt\" [--tokens 1,2,3] [--max_new N] "
     "[sampling flags of run] [--stop a,b] [--json]  stream text from a df11d "
     "server",
     df11::cli::RunGenerate},
    {"forward",
     "forward --server HOST:PORT --tokens 1,2,3 [--all_positions] "
     "[--top_logprobs N] [--json]  logits from a df11d server",
     df11::cli::RunForward},
    {"loadgen",
     "loadgen --server HOST:PORT --concurrency N --duration S "
     "[--prompt_tokens P] [--max_new M] [--json]  throughput and latency "
     "percentiles of a df11d server",
     df11::cli::RunLoadgen},
    {"plan",
     "plan (--config CONFIG_JSON | --preset NAME) --tp N --gpu_memory_gb G "
     "[--max_batch_tokens T] [--json]  per-GPU memory plan and KV capacity",
     df11::cli::RunPlan},
    {"bench",
     "bench --backend cpu|cuda (--model DIR | --synthetic PRESET) --batch "
     "1,8,64 --prompt_tokens P [--modes df11,bf16,offload] [--json FILE]  "
     "serving speed per weight residency",
     df11::cli::RunBench},
    {"tokenize",
     "tokenize --tokenizer FILE [--decode]  text on stdin to {\"ids\": [...]} "
     "JSON, or ids back to text",
     df11::cli::RunTokenize},
};

void PrintHelp() {
  std::printf("usage: df11 <command> [flags] [args]\n\ncommands:\n");
  for (const Command& c : kCommands) std::printf("  %s\n", c.usage.data());
  std::printf("\n`df11 <command> --help` lists every flag.\n");
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage("df11 <command> [flags] [args]");
  std::vector<char*> positional = absl::ParseCommandLine(argc, argv);
  if (positional.size() < 2 || std::string_view(positional[1]) == "help") {
    PrintHelp();
    return positional.size() < 2 ? 2 : 0;
  }
  const std::string_view name = positional[1];
  for (const Command& c : kCommands) {
    if (c.name != name) continue;
    return c.run(
        std::vector<std::string>(positional.begin() + 2, positional.end()));
  }
  std::fprintf(stderr, "df11: unknown command '%s'\n\n", positional[1]);
  PrintHelp();
  return 2;
}
