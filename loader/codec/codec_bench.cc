// codec_bench: DF11 size and CPU encode/decode speed.
//
//   bazel run //loader/codec:codec_bench -- --json_out=/tmp/codec.json
//   bazel run //loader/codec:codec_bench -- --bf16_dir=/tmp/minilm_bf16
//
// Tensor sets: a synthetic Llama-like layer (always), and every *.bf16 file
// in --bf16_dir (raw little-endian BF16, e.g. real trained weights written by
// loader/codec/minilm_to_bf16.py). For each set it prints bits/weight split
// into exponent code, sign+mantissa and index, the entropy bound
// 8 + H(exponent), the cost of the 12-bit code limit, the cost of one code
// shared by all tensors of the set, and encode/decode MB/s of BF16 with one
// thread and with all threads. Every encoding is decoded and compared bit for
// bit before anything is timed.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "loader/base/parallel_for.h"
#include "loader/base/status_macros.h"
#include "loader/codec/decoder.h"
#include "loader/codec/encoder.h"
#include "loader/codec/exponent_histogram.h"
#include "loader/codec/synthetic_weights.h"

ABSL_FLAG(std::string, bf16_dir, "",
          "directory of raw .bf16 tensors to measure as one more set");
ABSL_FLAG(int, hidden, 2048, "hidden size of the synthetic layer");
ABSL_FLAG(int, ffn, 8192, "FFN size of the synthetic layer");
ABSL_FLAG(int, threads, 0, "threads for the all-thread runs (0 = all cores)");
ABSL_FLAG(int, repeats, 5, "timed runs per measurement (median is reported)");
ABSL_FLAG(std::string, json_out, "", "also write the results here as JSON");

namespace df11 {
namespace {

struct Tensor {
  std::string name;
  std::vector<uint16_t> values;
};

struct TensorSet {
  std::string name;
  std::vector<Tensor> tensors;
};

TensorSet SyntheticLayer(int hidden, int ffn) {
  TensorSet set{absl::StrFormat("synthetic layer h=%d ffn=%d", hidden, ffn),
                {}};
  for (NamedWeights& w : LlamaLikeLayer(hidden, ffn, /*seed=*/1)) {
    set.tensors.push_back({w.name, std::move(w.values)});
  }
  return set;
}

absl::StatusOr<TensorSet> ReadBf16Dir(const std::string& dir) {
  TensorSet set{"real: " + dir, {}};
  std::vector<std::filesystem::path> files;
  std::error_code error;
  for (std::filesystem::directory_iterator it(dir, error), end;
       !error && it != end; it.increment(error)) {
    if (it->path().extension() == ".bf16") files.push_back(it->path());
  }
  if (error) {
    return absl::NotFoundError(absl::StrCat(dir, ": ", error.message()));
  }
  std::sort(files.begin(), files.end());
  for (const auto& path : files) {
    std::ifstream in(path, std::ios::binary);
    const uintmax_t bytes = std::filesystem::file_size(path, error);
    if (error || !in) {
      return absl::NotFoundError(
          absl::StrCat(path.string(), ": cannot read: ", error.message()));
    }
    Tensor t{path.stem().string(), std::vector<uint16_t>(bytes / 2)};
    in.read(reinterpret_cast<char*>(t.values.data()), bytes / 2 * 2);
    if (!in) {
      return absl::DataLossError(absl::StrCat(path.string(), ": short read"));
    }
    // Tiny tensors (biases, norms) are stored raw by the model format.
    if (t.values.size() >= 4096) set.tensors.push_back(std::move(t));
  }
  if (set.tensors.empty()) {
    return absl::NotFoundError(absl::StrCat("no .bf16 tensors in ", dir));
  }
  return set;
}

// Median seconds of f() over `repeats` runs; f's first error stops it.
template <typename F>
absl::StatusOr<double> MedianSeconds(int repeats, F&& f) {
  std::vector<double> times;
  for (int r = 0; r < repeats; ++r) {
    const auto start = std::chrono::steady_clock::now();
    RETURN_IF_ERROR(f());
    times.push_back(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
            .count());
  }
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

struct Result {
  std::string set;
  uint64_t elements = 0;
  double code_bits = 0, index_bits = 0, entropy_bits = 0;
  double unlimited_code_bits = 0, shared_code_bits = 0;
  double encode_1t = 0, encode_nt = 0, decode_1t = 0, decode_nt = 0;
  int threads = 1;
};

absl::StatusOr<Result> Measure(const TensorSet& set, int threads, int repeats) {
  Result r;
  r.set = set.name;
  r.threads = threads;
  ExponentHistogram shared{};
  std::vector<ExponentHistogram> histograms;
  std::vector<EncodedTensor> encoded;
  for (const Tensor& t : set.tensors) {
    histograms.push_back(CountExponents(t.values));
    AddHistogram(histograms.back(), shared);
    EncodeOptions options;
    options.threads = threads;
    absl::StatusOr<EncodedTensor> e = EncodeBf16(t.values, options);
    RETURN_IF_ERROR(Annotate(e.status(), t.name));
    std::vector<uint16_t> decoded(t.values.size(), 0xFFFF);
    RETURN_IF_ERROR(Annotate(
        DecodeBf16(e->view(), absl::MakeSpan(decoded), threads), t.name));
    if (decoded != t.values) {
      return absl::InternalError(
          absl::StrCat(t.name, ": round trip is not bit-exact"));
    }
    const uint64_t n = t.values.size();
    r.elements += n;
    r.code_bits += e->stream_bits;
    // Everything but code bits and sign/mantissa bytes: gaps, block starts,
    // stream padding to the chunk and the extra chunk, the 256-byte table.
    r.index_bits += (e->PayloadBytes() - n) * 8.0 - e->stream_bits + 256 * 8;
    r.entropy_bits += ExponentEntropy(histograms.back()) * n;
    ASSIGN_OR_RETURN(const CodeLengths unlimited,
                     BuildCodeLengths(histograms.back(), 40));
    r.unlimited_code_bits += CodedBits(histograms.back(), unlimited);
    encoded.push_back(*std::move(e));
  }
  ASSIGN_OR_RETURN(const CodeLengths shared_code,
                   BuildCodeLengths(shared, kMaxCodeLength));
  for (const ExponentHistogram& h : histograms) {
    r.shared_code_bits += CodedBits(h, shared_code);
  }

  const double mb = r.elements * 2 / 1e6;
  auto encode_all = [&](int t) -> absl::Status {
    EncodeOptions options;
    options.threads = t;
    for (const Tensor& tensor : set.tensors) {
      RETURN_IF_ERROR(EncodeBf16(tensor.values, options).status());
    }
    return absl::OkStatus();
  };
  std::vector<std::vector<uint16_t>> outputs;
  for (const Tensor& t : set.tensors) outputs.emplace_back(t.values.size());
  auto decode_all = [&](int t) -> absl::Status {
    for (size_t i = 0; i < encoded.size(); ++i) {
      RETURN_IF_ERROR(
          DecodeBf16(encoded[i].view(), absl::MakeSpan(outputs[i]), t));
    }
    return absl::OkStatus();
  };
  ASSIGN_OR_RETURN(const double encode_1t,
                   MedianSeconds(repeats, [&] { return encode_all(1); }));
  ASSIGN_OR_RETURN(const double encode_nt,
                   MedianSeconds(repeats, [&] { return encode_all(threads); }));
  ASSIGN_OR_RETURN(const double decode_1t,
                   MedianSeconds(repeats, [&] { return decode_all(1); }));
  ASSIGN_OR_RETURN(const double decode_nt,
                   MedianSeconds(repeats, [&] { return decode_all(threads); }));
  r.encode_1t = mb / encode_1t;
  r.encode_nt = mb / encode_nt;
  r.decode_1t = mb / decode_1t;
  r.decode_nt = mb / decode_nt;
  return r;
}

void Print(const Result& r) {
  const double n = r.elements;
  const double code = r.code_bits / n, index = r.index_bits / n;
  const double total = 8 + code + index, bound = 8 + r.entropy_bits / n;
  std::printf("\n%s: %llu elements in BF16\n", r.set.c_str(),
              static_cast<unsigned long long>(r.elements));
  std::printf(
      "  bits/weight: exponent code %.4f + sign/mantissa 8 + index "
      "%.4f = %.4f (%.2f%% of BF16)\n",
      code, index, total, 100 * total / 16);
  std::printf(
      "  entropy bound 8 + H = %.4f; total - bound = %.4f "
      "(target <= 0.25)\n",
      bound, total - bound);
  std::printf(
      "  limit12 - unlimited Huffman: %+.5f bit/weight; one shared "
      "code - per-tensor codes: %+.5f bit/weight\n",
      (r.code_bits - r.unlimited_code_bits) / n,
      (r.shared_code_bits - r.code_bits) / n);
  std::printf("  %-7s %12s %12s %10s\n", "MB/s", "1 thread",
              absl::StrCat(r.threads, " threads").c_str(), "scaling");
  std::printf("  %-7s %12.0f %12.0f %9.2fx\n", "encode", r.encode_1t,
              r.encode_nt, r.encode_nt / r.encode_1t);
  std::printf("  %-7s %12.0f %12.0f %9.2fx\n", "decode", r.decode_1t,
              r.decode_nt, r.decode_nt / r.decode_1t);
}

std::string Json(const std::vector<Result>& results) {
  std::string out = "[\n";
  for (size_t i = 0; i < results.size(); ++i) {
    const Result& r = results[i];
    const double n = r.elements;
    absl::StrAppendFormat(
        &out,
        "  {\"set\": \"%s\", \"elements\": %d, \"code_bits_per_weight\": %.5f, "
        "\"index_bits_per_weight\": %.5f, \"total_bits_per_weight\": %.5f, "
        "\"entropy_bound\": %.5f, \"limit_cost\": %.6f, "
        "\"shared_code_cost\": %.6f, \"threads\": %d, "
        "\"encode_mb_s_1t\": %.1f, \"encode_mb_s_nt\": %.1f, "
        "\"decode_mb_s_1t\": %.1f, \"decode_mb_s_nt\": %.1f}%s\n",
        r.set, r.elements, r.code_bits / n, r.index_bits / n,
        8 + (r.code_bits + r.index_bits) / n, 8 + r.entropy_bits / n,
        (r.code_bits - r.unlimited_code_bits) / n,
        (r.shared_code_bits - r.code_bits) / n, r.threads, r.encode_1t,
        r.encode_nt, r.decode_1t, r.decode_nt,
        i + 1 < results.size() ? "," : "");
  }
  return out + "]\n";
}

absl::Status Run(int threads) {
  std::vector<TensorSet> sets;
  sets.push_back(
      SyntheticLayer(absl::GetFlag(FLAGS_hidden), absl::GetFlag(FLAGS_ffn)));
  if (!absl::GetFlag(FLAGS_bf16_dir).empty()) {
    ASSIGN_OR_RETURN(TensorSet set, ReadBf16Dir(absl::GetFlag(FLAGS_bf16_dir)));
    sets.push_back(std::move(set));
  }
  std::vector<Result> results;
  for (const TensorSet& set : sets) {
    ASSIGN_OR_RETURN(Result r,
                     Measure(set, threads, absl::GetFlag(FLAGS_repeats)));
    results.push_back(std::move(r));
    Print(results.back());
  }
  const std::string json_out = absl::GetFlag(FLAGS_json_out);
  if (!json_out.empty()) {
    std::ofstream out(json_out);
    out << Json(results);
    if (!out)
      return absl::InternalError(absl::StrCat(json_out, ": write failed"));
  }
  return absl::OkStatus();
}

}  // namespace
}  // namespace df11

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  int threads = absl::GetFlag(FLAGS_threads);
  if (threads <= 0) threads = df11::HardwareThreads();
  const absl::Status status = df11::Run(threads);
  if (!status.ok()) {
    std::fprintf(stderr, "codec_bench: %s\n", status.ToString().c_str());
    return 1;
  }
  return 0;
}
