// `df11 synth OUT_DIR [--preset tiny|small|8b] [--layers N] [--tied]`
#include <cstdio>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "loader/cli/commands.h"
#include "loader/cli/common_flags.h"
#include "loader/cli/progress.h"
#include "loader/format/synthetic_checkpoint.h"

ABSL_FLAG(std::string, preset, "tiny", "synth: tiny, small or 8b");
ABSL_FLAG(int, layers, -1, "synth: number of layers (-1 = the preset's)");
ABSL_FLAG(bool, tied, false, "synth: tie the LM head to the embedding");
ABSL_FLAG(double, max_file_gb, 2.0,
          "synth: split safetensors files above this size (GB)");
ABSL_FLAG(uint64_t, seed, 1, "synth: random seed");

namespace df11::cli {

int RunSynth(const std::vector<std::string>& args) {
  if (args.size() != 1) {
    std::fprintf(stderr,
                 "usage: df11 synth OUT_DIR [--preset tiny|small|8b] "
                 "[--layers N] [--tied]\n");
    return 2;
  }
  absl::StatusOr<SyntheticSpec> spec =
      SyntheticPreset(absl::GetFlag(FLAGS_preset));
  if (!spec.ok()) {
    std::fprintf(stderr, "df11 synth: %s\n", spec.status().ToString().c_str());
    return 2;
  }
  if (absl::GetFlag(FLAGS_layers) >= 0)
    spec->num_layers = absl::GetFlag(FLAGS_layers);
  spec->tie_word_embeddings = absl::GetFlag(FLAGS_tied);
  spec->seed = absl::GetFlag(FLAGS_seed);
  spec->max_file_bytes =
      static_cast<uint64_t>(absl::GetFlag(FLAGS_max_file_gb) * 1e9);
  const absl::Status s = WriteSyntheticCheckpoint(args[0], *spec, Threads());
  if (!s.ok()) {
    std::fprintf(stderr, "df11 synth: %s\n", s.ToString().c_str());
    return 1;
  }
  std::printf(
      "wrote synthetic Llama checkpoint %s: %s of BF16, %lld layers, "
      "hidden %lld\n",
      args[0].c_str(), HumanBytes(SyntheticBytes(*spec)).c_str(),
      static_cast<long long>(spec->num_layers),
      static_cast<long long>(spec->hidden_size));
  return 0;
}

}  // namespace df11::cli
