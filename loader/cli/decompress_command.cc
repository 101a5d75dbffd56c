// `df11 decompress DIR OUT_HF_DIR`
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "loader/cli/commands.h"
#include "loader/cli/common_flags.h"
#include "loader/cli/progress.h"
#include "loader/format/df11_restore.h"

namespace df11::cli {

int RunDecompress(const std::vector<std::string>& args) {
  if (args.size() != 2) {
    std::fprintf(stderr, "usage: df11 decompress DIR OUT_HF_DIR\n");
    return 2;
  }
  std::unique_ptr<ProgressBar> bar;
  const absl::Status s = DecompressModel(
      args[0], args[1], Threads(), [&](const RestoreProgress& p) {
        if (bar == nullptr) {
          bar = std::make_unique<ProgressBar>("decompress", p.bytes_total);
        }
        bar->Update(p.bytes_done, p.tensor);
      });
  if (bar != nullptr) bar->Finish();
  if (!s.ok()) {
    std::fprintf(stderr, "df11 decompress: %s\n", s.ToString().c_str());
    return 1;
  }
  std::printf("wrote BF16 checkpoint %s\n", args[1].c_str());
  return 0;
}

}  // namespace df11::cli
