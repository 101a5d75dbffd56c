// Encode throughput of df11's tokenizer on a fixed text, checked id for id
// against Hugging Face tokenizers first. Usually run by tokenizer_bench.py,
// which makes the input, times HF on the same text and prints both.
//
//   tokenizer_bench --tokenizer tok.json --cases cases.json [--repeats 5]
//
// cases.json: {"chunks": ["text", ...], "ids": [[...], ...]} where ids are
// HF's encodings (add_special_tokens=False). Prints a table and one JSON
// line: {"bytes": N, "tokens": N, "seconds": S, "mb_per_s": X}.
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "loader/tokenizer/tokenizer.h"

ABSL_FLAG(std::string, tokenizer, "", "tokenizer.json to load");
ABSL_FLAG(std::string, cases, "", "JSON with chunks and HF's ids");
ABSL_FLAG(int, repeats, 5, "timed passes over all chunks; the best is kept");

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  using df11::tokenizer::Tokenizer;
  auto tok = Tokenizer::FromFile(absl::GetFlag(FLAGS_tokenizer));
  if (!tok.ok()) {
    std::fprintf(stderr, "%s\n", tok.status().ToString().c_str());
    return 1;
  }
  std::ifstream in(absl::GetFlag(FLAGS_cases), std::ios::binary);
  std::stringstream buf;
  buf << in.rdbuf();
  const auto cases = nlohmann::json::parse(buf.str(), nullptr, false);
  if (cases.is_discarded() || !cases.contains("chunks")) {
    std::fprintf(stderr, "cannot read %s\n",
                 absl::GetFlag(FLAGS_cases).c_str());
    return 1;
  }
  const auto chunks = cases["chunks"].get<std::vector<std::string>>();
  const auto expected = cases["ids"].get<std::vector<std::vector<int32_t>>>();
  df11::tokenizer::EncodeOptions options;
  options.add_special_tokens = false;

  // Correctness first: every chunk must match HF exactly.
  size_t bytes = 0, tokens = 0;
  for (size_t i = 0; i < chunks.size(); ++i) {
    auto ids = tok->Encode(chunks[i], options);
    if (!ids.ok() || *ids != expected[i]) {
      std::fprintf(
          stderr, "MISMATCH with HF on chunk %zu: %s\n", i,
          ids.ok() ? "different ids" : ids.status().ToString().c_str());
      return 1;
    }
    bytes += chunks[i].size();
    tokens += ids->size();
  }

  double best = 1e30;
  for (int r = 0; r < absl::GetFlag(FLAGS_repeats); ++r) {
    size_t sink = 0;
    const auto t0 = std::chrono::steady_clock::now();
    for (const std::string& c : chunks) sink += tok->Encode(c, options)->size();
    const double s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
            .count();
    if (sink != tokens) return 1;
    best = std::min(best, s);
  }
  const double mbps = bytes / best / 1e6;
  std::printf(
      "df11 encode: %zu chunks, %.2f MB, %zu tokens, all ids match HF\n",
      chunks.size(), bytes / 1e6, tokens);
  std::printf("df11 encode: best of %d: %.3f s, %.2f MB/s\n",
              absl::GetFlag(FLAGS_repeats), best, mbps);
  std::printf(
      "{\"bytes\": %zu, \"tokens\": %zu, \"seconds\": %.6f, "
      "\"mb_per_s\": %.3f}\n",
      bytes, tokens, best, mbps);
  return 0;
}
