// `df11 verify DIR [--against HF_DIR]`
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "loader/cli/commands.h"
#include "loader/cli/common_flags.h"
#include "loader/cli/progress.h"
#include "loader/format/df11_restore.h"

ABSL_FLAG(std::string, against, "",
          "verify: also compare bit for bit with this HF checkpoint");

namespace df11::cli {

int RunVerify(const std::vector<std::string>& args) {
  if (args.size() != 1) {
    std::fprintf(stderr, "usage: df11 verify DIR [--against HF_DIR]\n");
    return 2;
  }
  VerifyOptions options;
  options.threads = Threads();
  options.against = absl::GetFlag(FLAGS_against);
  std::unique_ptr<ProgressBar> bar;
  options.on_progress = [&](const RestoreProgress& p) {
    if (bar == nullptr)
      bar = std::make_unique<ProgressBar>("verify", p.bytes_total);
    bar->Update(p.bytes_done, p.tensor);
  };
  absl::StatusOr<VerifyReport> report = VerifyModel(args[0], options);
  if (bar != nullptr) bar->Finish();
  if (!report.ok()) {
    std::fprintf(stderr, "df11 verify: FAILED: %s\n",
                 report.status().ToString().c_str());
    return 1;
  }
  std::printf(
      "OK: %zu tensors, %zu shards, %s decoded and checked%s in %.1f s "
      "(%s/s)\n",
      report->tensors, report->shards,
      HumanBytes(report->original_bytes).c_str(),
      options.against.empty()
          ? ""
          : (" bit for bit against " + options.against).c_str(),
      report->seconds,
      HumanBytes(report->original_bytes / std::max(1e-9, report->seconds))
          .c_str());
  return 0;
}

}  // namespace df11::cli
