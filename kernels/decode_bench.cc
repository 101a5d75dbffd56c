// decode_bench: speed of the DF11 GPU decoder against same-run baselines.
//
//   decode_bench [--runs=30] [--json=decode_bench.json] [--case=SUBSTRING]
//
// Cases (issue 4): 4096x4096, 14336x4096, 4096x14336, 53248x2048 and the
// TP=8 shard set of one Llama 3.1 405B layer decoded in one batched launch.
// Weights are Gaussian with std between 0.006 and 0.02. Each output is
// poisoned and checked bit-exact against the original weights before timing.
// Each timing is the median of --runs launches, with L2 flushed before each.
// Baselines measured in the same run: device-to-device copy bandwidth (bytes
// read + written) and a cuBLAS BF16 GEMV (one token) over the same matrix.
#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "kernels/decode_df11.h"
#include "kernels/device_encoded_tensor.h"
#include "loader/base/parallel_for.h"
#include "loader/base/status_macros.h"
#include "loader/codec/encoder.h"
#include "loader/codec/synthetic_weights.h"
#include "loader/gpu/bench_timer.h"
#include "loader/gpu/cublas_status.h"
#include "loader/gpu/cuda_status.h"

namespace df11 {
namespace {

struct Matrix {
  std::string name;
  size_t rows;
  size_t cols;
};

struct Case {
  std::string name;
  std::vector<Matrix> matrices;  // more than one: decoded in one launch
};

std::vector<Case> Cases() {
  return {
      {"4096x4096", {{"w", 4096, 4096}}},
      {"14336x4096", {{"w", 14336, 4096}}},
      {"4096x14336", {{"w", 4096, 14336}}},
      {"53248x2048", {{"w", 53248, 2048}}},
      {"405B layer TP=8",
       {{"q", 2048, 16384},
        {"k", 128, 16384},
        {"v", 128, 16384},
        {"o", 16384, 2048},
        {"gate", 6656, 16384},
        {"up", 6656, 16384},
        {"down", 16384, 6656}}},
  };
}

// Gaussian BF16 weights, generated in parallel slices.
std::vector<uint16_t> Weights(size_t n, double stddev, uint64_t seed) {
  constexpr size_t kSlice = size_t{1} << 20;
  std::vector<uint16_t> out(n);
  ParallelFor((n + kSlice - 1) / kSlice, HardwareThreads(),
              [&](size_t begin, size_t end) {
                for (size_t s = begin; s < end; ++s) {
                  const size_t len = std::min(kSlice, n - s * kSlice);
                  const std::vector<uint16_t> v =
                      GaussianBf16(len, stddev, seed * 1000003 + s);
                  std::memcpy(out.data() + s * kSlice, v.data(), len * 2);
                }
              });
  return out;
}

struct Prepared {
  Matrix m;
  uint64_t n;
  std::vector<uint16_t> values;
  DeviceEncodedTensor device;
  uint64_t payload_bytes;  // as stored: stream, sign/mantissa, index
  DeviceArray<uint16_t> out;
};

absl::StatusOr<Prepared> Prepare(const Matrix& m, uint64_t seed) {
  const uint64_t n = uint64_t{m.rows} * m.cols;
  // std from 0.006 to 0.02 across matrices.
  const double stddev = 0.006 + 0.014 * static_cast<double>(seed % 8) / 7;
  std::vector<uint16_t> values = Weights(n, stddev, seed);
  EncodeOptions options;
  options.threads = HardwareThreads();
  ASSIGN_OR_RETURN(EncodedTensor t, EncodeBf16(values, options));
  ASSIGN_OR_RETURN(DeviceEncodedTensor d, DeviceEncodedTensor::Upload(t));
  ASSIGN_OR_RETURN(DeviceArray<uint16_t> out, DeviceAlloc<uint16_t>(n * 2));
  return Prepared{
      m, n, std::move(values), std::move(d), t.PayloadBytes(), std::move(out)};
}

// Poisons the outputs, decodes, and checks every element and the flags.
absl::Status CheckBitExact(
    const std::vector<Prepared*>& ps,
    const std::function<absl::Status(uint32_t*)>& decode) {
  ASSIGN_OR_RETURN(DeviceArray<uint32_t> flags, DeviceAlloc<uint32_t>(4));
  RETURN_IF_ERROR(CUDA_STATUS(cudaMemset(flags.get(), 0, 4)));
  for (Prepared* p : ps) {
    RETURN_IF_ERROR(CUDA_STATUS(cudaMemset(p->out.get(), 0xA5, p->n * 2)));
  }
  RETURN_IF_ERROR(decode(flags.get()));
  RETURN_IF_ERROR(CUDA_STATUS(cudaDeviceSynchronize()));
  uint32_t host_flags = 0;
  RETURN_IF_ERROR(CUDA_STATUS(
      cudaMemcpy(&host_flags, flags.get(), 4, cudaMemcpyDeviceToHost)));
  if (host_flags != 0) {
    return absl::InternalError(
        absl::StrCat("decode reported error flags ", host_flags));
  }
  for (Prepared* p : ps) {
    std::vector<uint16_t> got(p->n);
    RETURN_IF_ERROR(CUDA_STATUS(cudaMemcpy(got.data(), p->out.get(), p->n * 2,
                                           cudaMemcpyDeviceToHost)));
    if (got != p->values) {
      size_t i = 0;
      while (got[i] == p->values[i]) ++i;
      return absl::InternalError(
          absl::StrFormat("%s: element %zu is 0x%04x, want 0x%04x", p->m.name,
                          i, got[i], p->values[i]));
    }
  }
  return absl::OkStatus();
}

// cuBLAS y = W x for one token; W is [rows, cols] row-major BF16.
class Gemv {
 public:
  static absl::StatusOr<std::unique_ptr<Gemv>> Create() {
    std::unique_ptr<Gemv> g(new Gemv());
    RETURN_IF_ERROR(CUBLAS_STATUS(cublasCreate(&g->handle_)));
    ASSIGN_OR_RETURN(g->x_, DeviceAlloc<void>(kMaxCols * 2));
    ASSIGN_OR_RETURN(g->y_, DeviceAlloc<void>(kMaxRows * 2));
    const std::vector<uint16_t> x = Weights(kMaxCols, 1.0, 77);
    RETURN_IF_ERROR(CUDA_STATUS(cudaMemcpy(g->x_.get(), x.data(), kMaxCols * 2,
                                           cudaMemcpyHostToDevice)));
    return g;
  }
  ~Gemv() {
    if (handle_ != nullptr) cublasDestroy(handle_);
  }
  absl::Status Run(const uint16_t* w, size_t rows, size_t cols) {
    const float alpha = 1, beta = 0;
    // Column-major view: W^T is [cols, rows] with leading dimension cols.
    return CUBLAS_STATUS(cublasGemmEx(
        handle_, CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(rows), 1,
        static_cast<int>(cols), &alpha, w, CUDA_R_16BF, static_cast<int>(cols),
        x_.get(), CUDA_R_16BF, static_cast<int>(cols), &beta, y_.get(),
        CUDA_R_16BF, static_cast<int>(rows), CUBLAS_COMPUTE_32F,
        CUBLAS_GEMM_DEFAULT));
  }

 private:
  Gemv() = default;
  static constexpr size_t kMaxRows = 65536, kMaxCols = 65536;
  cublasHandle_t handle_ = nullptr;
  DeviceArray<void> x_;
  DeviceArray<void> y_;
};

struct Options {
  int runs = 30;
  std::string json_path = "decode_bench.json";
  std::string only;
};

absl::Status Run(const Options& options) {
  cudaDeviceProp prop;
  RETURN_IF_ERROR(CUDA_STATUS(cudaGetDeviceProperties(&prop, 0)));
  ASSIGN_OR_RETURN(std::unique_ptr<BenchTimer> timer,
                   BenchTimer::Create(options.runs));
  ASSIGN_OR_RETURN(std::unique_ptr<Gemv> gemv, Gemv::Create());

  // Copy bandwidth, counting bytes read and written.
  const size_t copy_bytes = size_t{1} << 30;
  double copy_ms = 0;
  {
    ASSIGN_OR_RETURN(DeviceArray<void> a, DeviceAlloc<void>(copy_bytes));
    ASSIGN_OR_RETURN(DeviceArray<void> b, DeviceAlloc<void>(copy_bytes));
    RETURN_IF_ERROR(CUDA_STATUS(cudaMemset(a.get(), 0x3C, copy_bytes)));
    ASSIGN_OR_RETURN(copy_ms, timer->FlushedMs([&] {
      return CUDA_STATUS(cudaMemcpyAsync(b.get(), a.get(), copy_bytes,
                                         cudaMemcpyDeviceToDevice));
    }));
  }
  const double copy_gbs = 2.0 * copy_bytes / copy_ms / 1e6;
  std::printf("device: %s, %d SMs, L2 %d MB; runs %d, median, L2 flushed\n",
              prop.name, prop.multiProcessorCount, timer->l2_bytes() >> 20,
              options.runs);
  std::printf("device-to-device copy: %.0f GB/s (read + write)\n\n", copy_gbs);
  std::printf("%-22s %11s %9s %9s %9s %8s %6s %9s %8s %s\n", "case", "elements",
              "ms", "Gelem/s", "outGB/s", "roofline", "bits/w", "gemv_ms",
              "dec/gemv", "note");

  std::string json =
      absl::StrCat("{\"device\": \"", prop.name, "\", \"copy_gbs\": ", copy_gbs,
                   ", \"runs\": ", options.runs, ", \"cases\": [");
  uint64_t seed = 1;
  bool first = true;
  for (const Case& c : Cases()) {
    if (c.name.find(options.only) == std::string::npos) continue;
    std::vector<Prepared> ps;
    for (const Matrix& m : c.matrices) {
      ASSIGN_OR_RETURN(Prepared p, Prepare(m, seed++));
      ps.push_back(std::move(p));
    }
    std::vector<Prepared*> all;
    std::vector<Df11DeviceTensor> views;
    std::vector<uint16_t*> outs;
    uint64_t n = 0, bytes = 0;
    for (Prepared& p : ps) {
      all.push_back(&p);
      views.push_back(p.device.view());
      outs.push_back(p.out.get());
      n += p.n;
      bytes += p.payload_bytes;
    }
    const auto batched = [&](uint32_t* flags) {
      return DecodeDf11Batched(views.data(), outs.data(),
                               static_cast<int>(views.size()), flags, nullptr);
    };
    RETURN_IF_ERROR(Annotate(CheckBitExact(all, batched), c.name));
    ASSIGN_OR_RETURN(const double ms,
                     timer->FlushedMs([&] { return batched(nullptr); }));
    double gemv_ms = 0, parts_ms = 0;
    for (Prepared& p : ps) {
      ASSIGN_OR_RETURN(const double g, timer->FlushedMs([&] {
        return gemv->Run(p.out.get(), p.m.rows, p.m.cols);
      }));
      gemv_ms += g;
      if (ps.size() > 1) {
        ASSIGN_OR_RETURN(const double part, timer->FlushedMs([&] {
          return DecodeDf11(p.device.view(), p.out.get(), nullptr, nullptr);
        }));
        parts_ms += part;
      }
    }
    const double gelems = n / ms / 1e6;
    const double roofline = (bytes + 2.0 * n) / ms / 1e6 / copy_gbs;
    std::string note;
    if (ps.size() > 1) {
      note = absl::StrCat("batched; sum of ", ps.size(), " launches ", parts_ms,
                          " ms (batched/sum ", ms / parts_ms, ")");
    }
    std::printf("%-22s %11llu %9.4f %9.1f %9.0f %7.1f%% %6.2f %9.4f %8.2f %s\n",
                c.name.c_str(), static_cast<unsigned long long>(n), ms, gelems,
                2.0 * n / ms / 1e6, 100 * roofline, 8.0 * bytes / n, gemv_ms,
                ms / gemv_ms, note.c_str());
    std::fflush(stdout);
    absl::StrAppend(&json, first ? "" : ", ", "{\"case\": \"", c.name,
                    "\", \"elements\": ", n, ", \"payload_bytes\": ", bytes,
                    ", \"ms\": ", ms, ", \"gelems\": ", gelems,
                    ", \"out_gbs\": ", 2.0 * n / ms / 1e6,
                    ", \"roofline\": ", roofline, ", \"gemv_ms\": ", gemv_ms,
                    ", \"sum_of_parts_ms\": ", parts_ms, "}");
    first = false;
  }
  json += "]}\n";
  FILE* f = std::fopen(options.json_path.c_str(), "w");
  if (f == nullptr) {
    return absl::ErrnoToStatus(errno, absl::StrCat("open ", options.json_path));
  }
  std::fputs(json.c_str(), f);
  std::fclose(f);
  return absl::OkStatus();
}

}  // namespace
}  // namespace df11

int main(int argc, char** argv) {
  df11::Options options;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a.rfind("--runs=", 0) == 0) options.runs = std::atoi(a.c_str() + 7);
    if (a.rfind("--json=", 0) == 0) options.json_path = a.substr(7);
    if (a.rfind("--case=", 0) == 0) options.only = a.substr(7);
  }
  const absl::Status status = df11::Run(options);
  if (!status.ok()) {
    std::fprintf(stderr, "decode_bench: %s\n", status.ToString().c_str());
    return 1;
  }
  return 0;
}
