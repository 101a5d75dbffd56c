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
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "kernels/cuda_status.h"
#include "kernels/decode_df11.h"
#include "kernels/device_encoded_tensor.h"
#include "loader/base/parallel_for.h"
#include "loader/codec/encoder.h"
#include "loader/codec/synthetic_weights.h"

namespace df11 {
namespace {

#define CHECK_OK(expr)                                        \
  do {                                                        \
    const absl::Status check_status_ = (expr);                \
    if (!check_status_.ok()) {                                \
      std::fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, \
                   check_status_.ToString().c_str());         \
      std::exit(1);                                           \
    }                                                         \
  } while (false)
#define CHECK_CUDA(expr) CHECK_OK(CudaStatus((expr), #expr))
#define CHECK_CUBLAS(expr)                                                 \
  do {                                                                     \
    const cublasStatus_t s_ = (expr);                                      \
    if (s_ != CUBLAS_STATUS_SUCCESS) {                                     \
      std::fprintf(stderr, "%s:%d: cuBLAS error %d\n", __FILE__, __LINE__, \
                   static_cast<int>(s_));                                  \
      std::exit(1);                                                        \
    }                                                                      \
  } while (false)

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

class Timer {
 public:
  explicit Timer(int runs) : runs_(runs) {
    CHECK_CUDA(cudaDeviceGetAttribute(&l2_bytes_, cudaDevAttrL2CacheSize, 0));
    flush_bytes_ = std::max<size_t>(size_t{4} * l2_bytes_, 256u << 20);
    CHECK_CUDA(cudaMalloc(&flush_, flush_bytes_));
    CHECK_CUDA(cudaEventCreate(&start_));
    CHECK_CUDA(cudaEventCreate(&stop_));
  }
  ~Timer() {
    cudaFree(flush_);
    cudaEventDestroy(start_);
    cudaEventDestroy(stop_);
  }

  // Median milliseconds of fn() over the runs, L2 flushed before each.
  double MedianMs(const std::function<void()>& fn) {
    fn();  // warm-up
    CHECK_CUDA(cudaDeviceSynchronize());
    std::vector<float> ms;
    for (int r = 0; r < runs_; ++r) {
      CHECK_CUDA(cudaMemsetAsync(flush_, r & 0xFF, flush_bytes_));
      CHECK_CUDA(cudaEventRecord(start_));
      fn();
      CHECK_CUDA(cudaEventRecord(stop_));
      CHECK_CUDA(cudaEventSynchronize(stop_));
      float t = 0;
      CHECK_CUDA(cudaEventElapsedTime(&t, start_, stop_));
      ms.push_back(t);
    }
    std::sort(ms.begin(), ms.end());
    return ms[ms.size() / 2];
  }

  int l2_bytes() const { return l2_bytes_; }

 private:
  int runs_;
  int l2_bytes_ = 0;
  size_t flush_bytes_ = 0;
  void* flush_ = nullptr;
  cudaEvent_t start_, stop_;
};

struct Prepared {
  Matrix m;
  uint64_t n;
  std::vector<uint16_t> values;
  DeviceEncodedTensor device;
  uint64_t payload_bytes;  // as stored: stream, sign/mantissa, index
  uint16_t* out = nullptr;
};

Prepared Prepare(const Matrix& m, uint64_t seed) {
  const uint64_t n = uint64_t{m.rows} * m.cols;
  // std from 0.006 to 0.02 across matrices.
  const double stddev = 0.006 + 0.014 * static_cast<double>(seed % 8) / 7;
  std::vector<uint16_t> values = Weights(n, stddev, seed);
  EncodeOptions options;
  options.threads = HardwareThreads();
  absl::StatusOr<EncodedTensor> t = EncodeBf16(values, options);
  CHECK_OK(t.status());
  absl::StatusOr<DeviceEncodedTensor> d = DeviceEncodedTensor::Upload(*t);
  CHECK_OK(d.status());
  Prepared p{m, n, std::move(values), *std::move(d), t->PayloadBytes()};
  CHECK_CUDA(cudaMalloc(&p.out, n * 2));
  return p;
}

// Poisons the outputs, decodes, and checks every element and the flags.
void CheckBitExact(const std::vector<Prepared*>& ps,
                   const std::function<void(uint32_t*)>& decode) {
  uint32_t* flags = nullptr;
  CHECK_CUDA(cudaMalloc(&flags, 4));
  CHECK_CUDA(cudaMemset(flags, 0, 4));
  for (Prepared* p : ps) CHECK_CUDA(cudaMemset(p->out, 0xA5, p->n * 2));
  decode(flags);
  CHECK_CUDA(cudaDeviceSynchronize());
  uint32_t host_flags = 0;
  CHECK_CUDA(cudaMemcpy(&host_flags, flags, 4, cudaMemcpyDeviceToHost));
  cudaFree(flags);
  if (host_flags != 0) {
    std::fprintf(stderr, "decode reported error flags %u\n", host_flags);
    std::exit(1);
  }
  for (Prepared* p : ps) {
    std::vector<uint16_t> got(p->n);
    CHECK_CUDA(
        cudaMemcpy(got.data(), p->out, p->n * 2, cudaMemcpyDeviceToHost));
    if (got != p->values) {
      size_t i = 0;
      while (got[i] == p->values[i]) ++i;
      std::fprintf(stderr, "%s: element %zu is 0x%04x, want 0x%04x\n",
                   p->m.name.c_str(), i, got[i], p->values[i]);
      std::exit(1);
    }
  }
}

// cuBLAS y = W x for one token; W is [rows, cols] row-major BF16.
class Gemv {
 public:
  Gemv() {
    CHECK_CUBLAS(cublasCreate(&handle_));
    CHECK_CUDA(cudaMalloc(&x_, kMaxCols * 2));
    CHECK_CUDA(cudaMalloc(&y_, kMaxRows * 2));
    const std::vector<uint16_t> x = Weights(kMaxCols, 1.0, 77);
    CHECK_CUDA(cudaMemcpy(x_, x.data(), kMaxCols * 2, cudaMemcpyHostToDevice));
  }
  ~Gemv() {
    cublasDestroy(handle_);
    cudaFree(x_);
    cudaFree(y_);
  }
  void Run(const uint16_t* w, size_t rows, size_t cols) {
    const float alpha = 1, beta = 0;
    // Column-major view: W^T is [cols, rows] with leading dimension cols.
    CHECK_CUBLAS(cublasGemmEx(
        handle_, CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(rows), 1,
        static_cast<int>(cols), &alpha, w, CUDA_R_16BF, static_cast<int>(cols),
        x_, CUDA_R_16BF, static_cast<int>(cols), &beta, y_, CUDA_R_16BF,
        static_cast<int>(rows), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
  }

 private:
  static constexpr size_t kMaxRows = 65536, kMaxCols = 65536;
  cublasHandle_t handle_;
  void* x_ = nullptr;
  void* y_ = nullptr;
};

int Main(int argc, char** argv) {
  int runs = 30;
  std::string json_path = "decode_bench.json";
  std::string only;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a.rfind("--runs=", 0) == 0) runs = std::atoi(a.c_str() + 7);
    if (a.rfind("--json=", 0) == 0) json_path = a.substr(7);
    if (a.rfind("--case=", 0) == 0) only = a.substr(7);
  }
  cudaDeviceProp prop;
  CHECK_CUDA(cudaGetDeviceProperties(&prop, 0));
  Timer timer(runs);
  Gemv gemv;

  // Copy bandwidth, counting bytes read and written.
  const size_t copy_bytes = size_t{1} << 30;
  void *a = nullptr, *b = nullptr;
  CHECK_CUDA(cudaMalloc(&a, copy_bytes));
  CHECK_CUDA(cudaMalloc(&b, copy_bytes));
  CHECK_CUDA(cudaMemset(a, 0x3C, copy_bytes));
  const double copy_ms = timer.MedianMs([&] {
    CHECK_CUDA(cudaMemcpyAsync(b, a, copy_bytes, cudaMemcpyDeviceToDevice));
  });
  cudaFree(a);
  cudaFree(b);
  const double copy_gbs = 2.0 * copy_bytes / copy_ms / 1e6;
  std::printf("device: %s, %d SMs, L2 %d MB; runs %d, median, L2 flushed\n",
              prop.name, prop.multiProcessorCount, timer.l2_bytes() >> 20,
              runs);
  std::printf("device-to-device copy: %.0f GB/s (read + write)\n\n", copy_gbs);
  std::printf("%-22s %11s %9s %9s %9s %8s %6s %9s %8s %s\n", "case", "elements",
              "ms", "Gelem/s", "outGB/s", "roofline", "bits/w", "gemv_ms",
              "dec/gemv", "note");

  std::string json =
      absl::StrCat("{\"device\": \"", prop.name, "\", \"copy_gbs\": ", copy_gbs,
                   ", \"runs\": ", runs, ", \"cases\": [");
  uint64_t seed = 1;
  bool first = true;
  for (const Case& c : Cases()) {
    if (c.name.find(only) == std::string::npos) continue;
    std::vector<Prepared> ps;
    for (const Matrix& m : c.matrices) ps.push_back(Prepare(m, seed++));
    std::vector<Prepared*> all;
    std::vector<Df11DeviceTensor> views;
    std::vector<uint16_t*> outs;
    uint64_t n = 0, bytes = 0;
    for (Prepared& p : ps) {
      all.push_back(&p);
      views.push_back(p.device.view());
      outs.push_back(p.out);
      n += p.n;
      bytes += p.payload_bytes;
    }
    const auto batched = [&](uint32_t* flags) {
      CHECK_OK(DecodeDf11Batched(views.data(), outs.data(),
                                 static_cast<int>(views.size()), flags,
                                 nullptr));
    };
    CheckBitExact(all, batched);
    const double ms = timer.MedianMs([&] { batched(nullptr); });
    double gemv_ms = 0, parts_ms = 0;
    for (Prepared& p : ps) {
      gemv_ms += timer.MedianMs([&] { gemv.Run(p.out, p.m.rows, p.m.cols); });
      if (ps.size() > 1) {
        parts_ms += timer.MedianMs([&] {
          CHECK_OK(DecodeDf11(p.device.view(), p.out, nullptr, nullptr));
        });
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
    for (Prepared& p : ps) cudaFree(p.out);
  }
  json += "]}\n";
  if (FILE* f = std::fopen(json_path.c_str(), "w")) {
    std::fputs(json.c_str(), f);
    std::fclose(f);
  }
  return 0;
}

}  // namespace
}  // namespace df11

int main(int argc, char** argv) { return df11::Main(argc, argv); }
