// `df11 compress IN_HF_DIR OUT_DIR --tp N [--threads T] [--memory_mb M]`
#include <sys/resource.h>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "loader/cli/commands.h"
#include "loader/cli/common_flags.h"
#include "loader/cli/progress.h"
#include "loader/format/df11_compress.h"

ABSL_FLAG(int, tp, 1, "compress: tensor-parallel ranks to shard for");
ABSL_FLAG(int64_t, memory_mb, 0,
          "compress: working-set budget in MiB (0 = a quarter of RAM, "
          "2048 to 16384); a shard larger than half of it is encoded alone");

namespace df11::cli {

int RunCompress(const std::vector<std::string>& args) {
  if (args.size() != 2) {
    std::fprintf(stderr,
                 "usage: df11 compress IN_HF_DIR OUT_DIR --tp N "
                 "[--threads T] [--memory_mb M]\n");
    return 2;
  }
  CompressOptions options;
  options.tp = absl::GetFlag(FLAGS_tp);
  options.threads = Threads();
  const int64_t memory_mb = absl::GetFlag(FLAGS_memory_mb);
  if (memory_mb < 0) {
    std::fprintf(stderr, "df11 compress: --memory_mb must be >= 0\n");
    return 2;
  }
  options.memory_budget = uint64_t(memory_mb) << 20;
  std::unique_ptr<ProgressBar> bar;
  options.on_progress = [&](const CompressProgress& p) {
    if (bar == nullptr)
      bar = std::make_unique<ProgressBar>("compress", p.bytes_total);
    bar->Update(p.bytes_done, p.tensor);
  };
  std::fprintf(stderr, "compressing %s -> %s (tp=%d, %d threads)\n",
               args[0].c_str(), args[1].c_str(), options.tp, options.threads);
  absl::StatusOr<CompressSummary> s =
      CompressCheckpoint(args[0], args[1], options);
  if (bar != nullptr) bar->Finish();
  if (!s.ok()) {
    std::fprintf(stderr, "df11 compress: %s\n", s.status().ToString().c_str());
    return 1;
  }
  const double df11_bits =
      8.0 * s->df11_stored_bytes / std::max<uint64_t>(1, s->df11_elements);
  const double bound =
      s->df11_entropy_bits / std::max<uint64_t>(1, s->df11_elements);
  std::printf("\n%-22s %12s %12s %8s %12s\n", "", "original", "stored", "ratio",
              "bits/weight");
  std::printf(
      "%-22s %12s %12s %7.2f%% %12s\n", "all tensors, all ranks",
      HumanBytes(s->original_bytes).c_str(),
      HumanBytes(s->stored_bytes).c_str(),
      100.0 * s->stored_bytes / std::max<uint64_t>(1, s->original_bytes), "");
  std::printf("%-22s %12s %12s %7.2f%% %12.3f\n", "DF11-encoded shards",
              HumanBytes(2.0 * s->df11_elements).c_str(),
              HumanBytes(s->df11_stored_bytes).c_str(), 100.0 * df11_bits / 16,
              df11_bits);
  std::printf("%-22s %12s %12s %8s %12.3f\n", "entropy bound 8+H(exp)", "", "",
              "", bound);
  rusage usage;
  getrusage(RUSAGE_SELF, &usage);
  std::printf(
      "\n%zu tensors (%zu DF11-encoded) in %.2f s, %s/s of BF16 in, peak RSS "
      "%s; wrote %s\n",
      s->tensors, s->df11_tensors, s->seconds,
      HumanBytes(s->original_bytes / std::max(1e-9, s->seconds)).c_str(),
      HumanBytes(usage.ru_maxrss * 1024.0).c_str(), args[1].c_str());
  return 0;
}

}  // namespace df11::cli
