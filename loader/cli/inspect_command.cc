// `df11 inspect DIR`: per tensor and in total, shape, split, bits/weight,
// entropy bound and checksum status.
#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "loader/cli/commands.h"
#include "loader/cli/progress.h"
#include "loader/format/df11_model.h"

namespace df11::cli {

int RunInspect(const std::vector<std::string>& args) {
  if (args.size() != 1) {
    std::fprintf(stderr, "usage: df11 inspect DIR\n");
    return 2;
  }
  absl::StatusOr<std::unique_ptr<Df11Model>> model = Df11Model::Open(args[0]);
  if (!model.ok()) {
    std::fprintf(stderr, "df11 inspect: %s\n",
                 model.status().ToString().c_str());
    return 1;
  }
  const Manifest& m = (*model)->manifest();
  std::printf("%s: DF11 format v%d, tp=%d, %zu tensors\n\n", args[0].c_str(),
              m.format_version, m.tp, m.tensors.size());
  std::printf("%-48s %-6s %-14s %-11s %10s %8s %8s %s\n", "tensor", "dtype",
              "shape", "split", "stored", "bits/w", "8+H", "checksums");
  uint64_t stored_total = 0, original_total = 0, df11_elements = 0,
           df11_stored = 0;
  double entropy_bits = 0;
  int bad = 0;
  for (size_t t = 0; t < m.tensors.size(); ++t) {
    const ManifestTensor& mt = m.tensors[t];
    uint64_t stored = 0;
    double entropy = 0;
    std::string checks = "ok";
    for (int rank = 0; rank < m.tp; ++rank) {
      stored += (*model)->StoredBytes(t, rank);
      entropy += mt.shards[rank].exponent_entropy;
      const absl::Status s = (*model)->CheckPayload(t, rank);
      if (!s.ok()) {
        checks = "BAD rank " + std::to_string(rank);
        ++bad;
      }
    }
    const uint64_t original = (*model)->ShardBytes(t) * m.tp;
    const bool df11 = mt.encoding == Encoding::kDf11;
    const double elements = original / 2.0;
    stored_total += stored;
    original_total += original;
    if (df11) {
      df11_elements += original / 2;
      df11_stored += stored;
      entropy_bits += (8 + entropy / m.tp) * elements;
    }
    std::printf(
        "%-48s %-6s %-14s %-11s %10s %8s %8s %s\n", mt.name.c_str(),
        std::string(DtypeName(mt.dtype)).c_str(),
        absl::StrJoin(mt.shape, "x").c_str(),
        std::string(SplitKindName(mt.split)).c_str(),
        HumanBytes(stored).c_str(),
        df11 ? absl::StrFormat("%.3f", 8.0 * stored / elements).c_str() : "raw",
        df11 ? absl::StrFormat("%.3f", 8 + entropy / m.tp).c_str() : "",
        checks.c_str());
  }
  std::printf("\ntotal over %d ranks: %s stored for %s of tensors (%.2f%%)\n",
              m.tp, HumanBytes(stored_total).c_str(),
              HumanBytes(original_total).c_str(),
              100.0 * stored_total / std::max<uint64_t>(1, original_total));
  if (df11_elements > 0) {
    std::printf("DF11-encoded: %.3f bits/weight, entropy bound %.3f\n",
                8.0 * df11_stored / df11_elements,
                entropy_bits / df11_elements);
  }
  if (bad > 0) {
    std::printf("%d shard(s) FAIL their payload checksum\n", bad);
    return 1;
  }
  std::printf("all payload checksums ok\n");
  return 0;
}

}  // namespace df11::cli
