// `df11 demo`: compresses LLM-like BF16 tensors plus adversarial ones,
// decodes them, checks every bit, and prints a table.
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/str_format.h"
#include "loader/cli/commands.h"
#include "loader/cli/common_flags.h"
#include "loader/codec/decoder.h"
#include "loader/codec/encoder.h"
#include "loader/codec/exponent_histogram.h"
#include "loader/codec/synthetic_weights.h"

ABSL_FLAG(int, demo_hidden, 1024, "hidden size of the demo's layer");
ABSL_FLAG(int, demo_ffn, 3584, "FFN size of the demo's layer");

namespace df11::cli {
namespace {

double Millis(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(
             std::chrono::steady_clock::now() - start)
      .count();
}

}  // namespace

int RunDemo(const std::vector<std::string>& args) {
  if (!args.empty()) {
    std::fprintf(stderr, "demo takes no arguments\n");
    return 2;
  }
  const int threads = Threads();
  std::vector<NamedWeights> tensors =
      LlamaLikeLayer(absl::GetFlag(FLAGS_demo_hidden),
                     absl::GetFlag(FLAGS_demo_ffn), /*seed=*/2024);
  tensors.push_back({"all_65536_bf16_patterns", 256, 256, AllBf16Patterns(7)});
  tensors.push_back(
      {"one_repeated_value", 1, 1000, std::vector<uint16_t>(1000, 0x3C00)});

  std::printf(
      "df11 demo: DF11-encode a Llama-like layer and adversarial "
      "tensors, decode on %d CPU threads, compare every bit\n\n",
      threads);
  std::printf("%-24s %13s %10s %10s %7s %9s %9s %8s %8s %s\n", "tensor",
              "shape", "BF16 MB", "DF11 MB", "ratio", "bits/w", "8+H(exp)",
              "enc ms", "dec ms", "bit-exact");
  uint64_t total_elements = 0, total_bytes = 0;
  double total_entropy_bits = 0;
  int mismatches = 0;
  for (const NamedWeights& t : tensors) {
    const uint64_t n = t.values.size();
    EncodeOptions options;
    options.threads = threads;
    auto start = std::chrono::steady_clock::now();
    auto encoded = EncodeBf16(t.values, options);
    const double encode_ms = Millis(start);
    if (!encoded.ok()) {
      std::fprintf(stderr, "%s: %s\n", t.name.c_str(),
                   encoded.status().ToString().c_str());
      return 1;
    }
    std::vector<uint16_t> decoded(n, 0xFFFF);
    start = std::chrono::steady_clock::now();
    const absl::Status status =
        DecodeBf16(encoded->view(), absl::MakeSpan(decoded), threads);
    const double decode_ms = Millis(start);
    const bool exact = status.ok() && decoded == t.values;
    mismatches += !exact;

    // Everything a model file stores: payload plus the 256-byte code table.
    const uint64_t bytes = encoded->PayloadBytes() + 256;
    const double entropy = ExponentEntropy(CountExponents(t.values));
    total_elements += n;
    total_bytes += bytes;
    total_entropy_bits += (8 + entropy) * n;
    std::printf("%-24s %13s %10.2f %10.2f %6.1f%% %9.3f %9.3f %8.1f %8.1f %s\n",
                t.name.c_str(),
                absl::StrFormat("%dx%d", t.rows, t.cols).c_str(), n * 2 / 1e6,
                bytes / 1e6, 100.0 * bytes / (2.0 * n), 8.0 * bytes / n,
                8 + entropy, encode_ms, decode_ms,
                exact         ? "yes"
                : status.ok() ? "NO: bits differ"
                              : status.ToString().c_str());
  }
  std::printf("%-24s %13s %10.2f %10.2f %6.1f%% %9.3f %9.3f\n", "total", "",
              total_elements * 2 / 1e6, total_bytes / 1e6,
              100.0 * total_bytes / (2.0 * total_elements),
              8.0 * total_bytes / total_elements,
              total_entropy_bits / total_elements);
  if (mismatches > 0) {
    std::printf("\nFAILED: %d tensor(s) did not round-trip bit for bit\n",
                mismatches);
    return 1;
  }
  std::printf("\nall %zu tensors round-trip bit for bit (%llu elements)\n",
              tensors.size(), static_cast<unsigned long long>(total_elements));
  return 0;
}

}  // namespace df11::cli
