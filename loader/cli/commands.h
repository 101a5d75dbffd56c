// The `df11` tool's subcommands. Each one lives in its own <name>_command.cc,
// defines its own flags with ABSL_FLAG, and returns the process exit code.
//
// `args` are the positional arguments after the command name; flags have
// already been parsed by absl::ParseCommandLine in main.
#ifndef DF11_LOADER_CLI_COMMANDS_H_
#define DF11_LOADER_CLI_COMMANDS_H_

#include <string>
#include <vector>

namespace df11::cli {

// Compresses LLM-like tensors, decodes them, checks every bit, prints a table.
int RunDemo(const std::vector<std::string>& args);

// DF11 model directories: see loader/format/df11_compress.h and
// df11_restore.h.
int RunCompress(const std::vector<std::string>& args);
int RunInspect(const std::vector<std::string>& args);
int RunVerify(const std::vector<std::string>& args);
int RunDecompress(const std::vector<std::string>& args);

// Writes a synthetic Llama-shaped BF16 checkpoint.
int RunSynth(const std::vector<std::string>& args);

// Generates from a token prompt with the Llama engine on the CPU backend;
// under mpirun, tensor parallel over the ranks.
int RunRun(const std::vector<std::string>& args);

// Clients of a df11d server (loader/serve/): a streamed Generate, a
// Forward, and a closed-loop load generator.
int RunGenerate(const std::vector<std::string>& args);
int RunForward(const std::vector<std::string>& args);
int RunLoadgen(const std::vector<std::string>& args);
// The memory plan of one GPU for a config or preset (loader/plan).
int RunPlan(const std::vector<std::string>& args);

// Serving speed per weight residency and batch size, as a table and JSON.
int RunBench(const std::vector<std::string>& args);

// Encodes stdin to {"ids": [...]} with --tokenizer, or decodes with --decode.
int RunTokenize(const std::vector<std::string>& args);

}  // namespace df11::cli

#endif  // DF11_LOADER_CLI_COMMANDS_H_
