// df11: the command-line tool. Usually run through ./launch/df11.
//
//   df11 help                 the commands
//   df11 <command> --help     that command's usage and flags, with defaults
//   df11 demo
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "loader/cli/commands.h"
#include "loader/cli/flag_help.h"

namespace {

struct Command {
  std::string_view name;
  std::string_view usage;
  int (*run)(const std::vector<std::string>& args);
  // Shared flags (common_flags.h) the command reads, comma-separated.
  std::string_view shared_flags;
};

constexpr Command kCommands[] = {
    {"demo", "demo  compress, decode and verify LLM-like BF16 tensors",
     df11::cli::RunDemo, "threads"},
    {"synth",
     "synth OUT_DIR [--preset tiny|small|8b] [--layers N] [--tied]  write a "
     "synthetic BF16 Llama checkpoint",
     df11::cli::RunSynth, "threads"},
    {"compress",
     "compress IN_HF_DIR OUT_DIR --tp N [--threads T] [--memory_mb M]  "
     "BF16 checkpoint -> DF11 model directory",
     df11::cli::RunCompress, "threads"},
    {"inspect",
     "inspect DIR  per-tensor sizes, bits/weight, entropy bound, checksums",
     df11::cli::RunInspect, ""},
    {"verify", "verify DIR [--against HF_DIR]  decode everything and check it",
     df11::cli::RunVerify, "threads"},
    {"decompress", "decompress DIR OUT_HF_DIR  write the BF16 checkpoint back",
     df11::cli::RunDecompress, "threads"},
    {"run",
     "run --model DIR (--prompt TEXT | --tokens 1,2,3[;4,5]) [--max_new N] "
     "[--temperature T] [--top_k K] [--top_p P] [--json [--logits]]  "
     "generate on the CPU (./launch/df11 run --np N for tensor parallel)",
     df11::cli::RunRun, "threads,backend"},
    {"generate",
     "generate --server HOST:PORT \"prompt\" [--tokens 1,2,3] [--max_new N] "
     "[sampling flags of run] [--stop a,b] [--json]  stream text from a df11d "
     "server",
     df11::cli::RunGenerate,
     "add_special_tokens,ignore_eos,json,max_new,sample_seed,temperature,"
     "tokens,top_k,top_p,server,timeout_s,tls_ca,tls_server_name,auth_token_"
     "file"},
    {"forward",
     "forward --server HOST:PORT --tokens 1,2,3 [--all_positions] "
     "[--top_logprobs N] [--json]  logits from a df11d server",
     df11::cli::RunForward,
     "json,tokens,server,timeout_s,tls_ca,tls_server_name,auth_token_file"},
    {"loadgen",
     "loadgen --server HOST:PORT --concurrency N --duration S "
     "[--prompt_tokens P] [--max_new M] [--json]  throughput and latency "
     "percentiles of a df11d server",
     df11::cli::RunLoadgen,
     "json,max_new,prompt_tokens,temperature,server,timeout_s,tls_ca,tls_"
     "server_name,auth_token_file"},
    {"plan",
     "plan (--config CONFIG_JSON | --preset NAME) --tp N --gpu_memory_gb G "
     "[--max_batch_tokens T] [--json]  per-GPU memory plan and KV capacity",
     df11::cli::RunPlan, "json,layers,preset,tp"},
    {"bench",
     "bench --backend cpu|cuda (--model DIR | --synthetic PRESET) --batch "
     "1,8,64 --prompt_tokens P [--modes df11,bf16,offload] [--json FILE]  "
     "serving speed per weight residency",
     df11::cli::RunBench,
     "backend,bits_per_weight,gpu_memory_gb,json,kv_block_tokens,layers,"
     "max_batch_sequences,max_batch_tokens,max_context,max_logit_rows,model,"
     "prompt_tokens,threads"},
    {"tokenize",
     "tokenize --tokenizer FILE [--decode]  text on stdin to {\"ids\": [...]} "
     "JSON, or ids back to text",
     df11::cli::RunTokenize, ""},
};

void PrintHelp() {
  std::printf("usage: df11 <command> [flags] [args]\n\ncommands:\n");
  for (const Command& c : kCommands) std::printf("  %s\n", c.usage.data());
  std::printf("\n`df11 <command> --help` lists the command's flags.\n");
}

absl::string_view ToAbsl(std::string_view s) { return {s.data(), s.size()}; }

void PrintCommandHelp(const Command& c) {
  std::printf("usage: df11 %s\n\nflags:\n%s", c.usage.data(),
              df11::cli::CommandFlagHelp(ToAbsl(c.name), ToAbsl(c.shared_flags))
                  .c_str());
}

const Command* FindCommand(std::string_view name) {
  for (const Command& c : kCommands) {
    if (c.name == name) return &c;
  }
  return nullptr;
}

bool IsHelpFlag(std::string_view arg) {
  return arg == "--help" || arg == "-help" || arg == "-h";
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage("df11 <command> [flags] [args]");
  // Help is answered before absl parses the flags: absl's own --help lists
  // only flags of a file named after the program, and exits 1.
  if (argc >= 2 && IsHelpFlag(argv[1])) {
    PrintHelp();
    return 0;
  }
  if (argc >= 2) {
    const bool help_command = std::string_view(argv[1]) == "help" && argc >= 3;
    const Command* c = FindCommand(argv[help_command ? 2 : 1]);
    for (int i = 2; c != nullptr && i < argc; ++i) {
      if (help_command || IsHelpFlag(argv[i])) {
        PrintCommandHelp(*c);
        return 0;
      }
    }
  }
  std::vector<char*> positional = absl::ParseCommandLine(argc, argv);
  if (positional.size() < 2 || std::string_view(positional[1]) == "help") {
    PrintHelp();
    return positional.size() < 2 ? 2 : 0;
  }
  const Command* c = FindCommand(positional[1]);
  if (c == nullptr) {
    std::fprintf(stderr, "df11: unknown command '%s'\n\n", positional[1]);
    PrintHelp();
    return 2;
  }
  return c->run(
      std::vector<std::string>(positional.begin() + 2, positional.end()));
}
