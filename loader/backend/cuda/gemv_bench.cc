// gemv_bench: our small GEMV (small_gemv.h) against cuBLASLt
// (CublasLtGemm::MatMul, what the backend runs today) on the matrix products
// of a decode step, for 1, 2 and 4 rows, in GB/s of weights read against the
// same run's copy bandwidth. The measurement behind where the backend uses
// small_gemv (docs/cuda_backend.md); model speed is `df11 bench`'s.
//
//   gemv_bench [--runs=50] [--json=gemv_bench.json] [--case=SUBSTRING]
//
// Shapes (in, out): Llama 3.1 8B qkv (4096, 6144), o (4096, 4096), gate_up
// (4096, 28672), down (14336, 4096), lm_head (4096, 128256, FP32 out);
// SmolLM2 135M qkv (576, 960), o (576, 576), gate_up (576, 3072), down
// (1536, 576), lm_head (576, 49152, FP32 out). x is N(0, 1) and w N(0, 0.02),
// BF16.
//
// Before any timing, each kernel's first output is checked: ours against
// cuBLASLt on every element, and both against an FP64 host reference on
// sampled rows, within the bound of an FP32 sum plus the BF16 rounding (as
// cuda_ops_test). A mismatch ends the run with exit status 1: a benchmark
// must never time wrong results.
//
// Two timings of each kernel, both with CUDA events:
//   flushed  the median of --runs launches, each after a memset of 4x L2
//            (at least 256 MB);
//   graph    back-to-back launches captured in one CUDA graph, as the
//            backend replays a decode step, cycling through copies of w
//            that together exceed 4x L2, so no launch finds its weights in
//            L2: launch gaps and tails as a step sees them. Per launch, the
//            median of 5 replays.
// GB/s counts the bytes of w (x and y are under 0.2% of them); %copy is that
// over the same run's device-to-device copy bandwidth (cudaMemcpyAsync of
// 512 MiB, bytes read + written, flushed median), as `df11 bench` and
// decode_bench count it. ours/lt is cuBLASLt's time over ours: above 1, ours
// is faster. The last lines sum one Llama 3.1 8B layer (qkv, o, gate_up,
// down) per row count: cuBLASLt alone, ours alone, and the faster per shape.
#include <cuda_runtime.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "loader/backend/cuda/cublaslt_gemm.h"
#include "loader/backend/cuda/small_gemv.h"
#include "loader/base/status_macros.h"
#include "loader/codec/synthetic_weights.h"
#include "loader/gpu/bench_timer.h"
#include "loader/gpu/cuda_status.h"

namespace df11 {
namespace {

struct Shape {
  const char* name;
  int64_t in, out;
  bool float_out;
  bool llama_layer;  // summed into the Llama 3.1 8B layer
};

constexpr Shape kShapes[] = {
    {"llama8b qkv", 4096, 6144, false, true},
    {"llama8b o", 4096, 4096, false, true},
    {"llama8b gate_up", 4096, 28672, false, true},
    {"llama8b down", 14336, 4096, false, true},
    {"llama8b lm_head", 4096, 128256, true, false},
    {"smollm2 qkv", 576, 960, false, false},
    {"smollm2 o", 576, 576, false, false},
    {"smollm2 gate_up", 576, 3072, false, false},
    {"smollm2 down", 1536, 576, false, false},
    {"smollm2 lm_head", 576, 49152, true, false},
};
constexpr int64_t kRowCounts[] = {1, 2, 4};

constexpr size_t kCopyBytes = size_t{512} << 20;
constexpr size_t kWorkspaceBytes = size_t{32} << 20;  // the backend's
// Weights repeat with this period (elements): a pool of random values,
// tiled on the device, so the host need not draw a gigabyte of them.
constexpr int64_t kPool = int64_t{3} << 20;
constexpr double kHalfUlp = 1.0 / 256;  // BF16 rounding, relative

std::vector<uint16_t> RandomBf16(size_t n, float stddev, std::mt19937& rng) {
  std::normal_distribution<float> normal(0.0f, stddev);
  std::vector<uint16_t> out(n);
  for (uint16_t& h : out) h = Bf16FromFloat(normal(rng));
  return out;
}

// The weight pool, on the host and the device, and the prefix sums of its
// squares, for the norm of any row of a tiled matrix.
struct Pool {
  std::vector<uint16_t> host;
  std::vector<double> square_prefix;  // kPool + 1
  DeviceArray<> device;

  double Value(int64_t e) const { return FloatFromBf16(host[e % kPool]); }
  // Euclidean norm of elements [begin, begin + len) of the tiling, len <=
  // kPool.
  double Norm(int64_t begin, int64_t len) const {
    const int64_t a = begin % kPool;
    const double s = a + len <= kPool
                         ? square_prefix[a + len] - square_prefix[a]
                         : square_prefix[kPool] - square_prefix[a] +
                               square_prefix[a + len - kPool];
    return std::sqrt(std::max(s, 0.0));
  }
};

absl::StatusOr<Pool> MakePool(std::mt19937& rng) {
  Pool p;
  p.host = RandomBf16(kPool, 0.02f, rng);
  p.square_prefix.assign(kPool + 1, 0.0);
  for (int64_t i = 0; i < kPool; ++i) {
    const double v = FloatFromBf16(p.host[i]);
    p.square_prefix[i + 1] = p.square_prefix[i] + v * v;
  }
  ASSIGN_OR_RETURN(p.device, DeviceAlloc<>(kPool * 2));
  RETURN_IF_ERROR(CUDA_STATUS(cudaMemcpy(p.device.get(), p.host.data(),
                                         kPool * 2, cudaMemcpyHostToDevice)));
  return p;
}

// `copies` copies of the [out, in] tiling of the pool, one after another.
absl::StatusOr<DeviceArray<>> TiledWeights(const Pool& pool, int64_t elements,
                                           int copies) {
  ASSIGN_OR_RETURN(DeviceArray<> w, DeviceAlloc<>(elements * 2 * copies));
  uint16_t* base = static_cast<uint16_t*>(w.get());
  for (int64_t e = 0; e < elements; e += kPool) {
    RETURN_IF_ERROR(CUDA_STATUS(cudaMemcpy(base + e, pool.device.get(),
                                           std::min(kPool, elements - e) * 2,
                                           cudaMemcpyDefault)));
  }
  for (int c = 1; c < copies; ++c) {
    RETURN_IF_ERROR(CUDA_STATUS(cudaMemcpy(base + c * elements, base,
                                           elements * 2, cudaMemcpyDefault)));
  }
  return w;
}

std::vector<double> ReadOutput(const void* y, int64_t count, bool float_out,
                               absl::Status* status) {
  std::vector<double> v(count);
  if (float_out) {
    std::vector<float> f(count);
    *status =
        CUDA_STATUS(cudaMemcpy(f.data(), y, count * 4, cudaMemcpyDeviceToHost));
    std::copy(f.begin(), f.end(), v.begin());
  } else {
    std::vector<uint16_t> b(count);
    *status =
        CUDA_STATUS(cudaMemcpy(b.data(), y, count * 2, cudaMemcpyDeviceToHost));
    std::transform(b.begin(), b.end(), v.begin(), FloatFromBf16);
  }
  return v;
}

// The checks before timing (see the top of the file). An FP32 sum of `in`
// exact products (BF16 x BF16) is within in 2^-24 sum |x w| of the exact
// sum, whatever the order; BF16 output adds one rounding, 2^-8 relative.
// Against cuBLASLt, sum |x w| is bounded by |x| |w| (Cauchy-Schwarz), and
// the two outputs may each be off by the bound, in opposite directions.
absl::Status CheckOutputs(const Shape& s, int64_t n,
                          const std::vector<uint16_t>& x, const Pool& pool,
                          const std::vector<double>& ours,
                          const std::vector<double>& lt) {
  const double fp32 = std::ldexp(double(s.in), -24);
  const double round = s.float_out ? 0.0 : kHalfUlp * 1.01;
  const auto fail = [&](const char* what, int64_t r, int64_t o, double got,
                        double want, double tol) {
    return absl::InternalError(absl::StrFormat(
        "%s n=%d: output [%d, %d]: %s %.9g, want %.9g, tolerance %.3g", s.name,
        n, r, o, what, got, want, tol));
  };
  for (int64_t r = 0; r < n; ++r) {
    double x_norm = 0;
    for (int64_t k = 0; k < s.in; ++k) {
      x_norm += FloatFromBf16(x[r * s.in + k]) * FloatFromBf16(x[r * s.in + k]);
    }
    x_norm = std::sqrt(x_norm);
    for (int64_t o = 0; o < s.out; ++o) {
      const double a = ours[r * s.out + o], b = lt[r * s.out + o];
      const double e = fp32 * x_norm * pool.Norm(o * s.in, s.in);
      const double tol = round * (std::abs(a) + std::abs(b)) + 2 * e;
      if (!(std::abs(a - b) <= tol)) {
        return fail("ours against cuBLASLt", r, o, a, b, tol);
      }
    }
    // Sampled rows of w against the exact sum: the first, the last and
    // about 256 between.
    std::vector<int64_t> sampled;
    for (int64_t o = 0; o < s.out; o += std::max<int64_t>(1, s.out / 256)) {
      sampled.push_back(o);
    }
    if (sampled.back() != s.out - 1) sampled.push_back(s.out - 1);
    for (int64_t o : sampled) {
      double y = 0, abs = 0;
      for (int64_t k = 0; k < s.in; ++k) {
        const double p =
            FloatFromBf16(x[r * s.in + k]) * pool.Value(o * s.in + k);
        y += p;
        abs += std::abs(p);
      }
      const double e = fp32 * abs;
      const double tol = round * (std::abs(y) + e) + e;
      const double a = ours[r * s.out + o], b = lt[r * s.out + o];
      if (!(std::abs(a - y) <= tol)) return fail("ours", r, o, a, y, tol);
      if (!(std::abs(b - y) <= tol)) return fail("cuBLASLt", r, o, b, y, tol);
    }
  }
  return absl::OkStatus();
}

struct Result {
  const Shape* shape;
  int64_t n;
  double w_bytes;
  double lt_ms, ours_ms;              // flushed
  double lt_graph_ms, ours_graph_ms;  // back to back in a graph
};

class Bench {
 public:
  Bench(cudaStream_t stream, BenchTimer* timer, CublasLtGemm* gemm, Pool* pool)
      : stream_(stream), timer_(timer), gemm_(gemm), pool_(pool) {}

  absl::StatusOr<Result> Run(const Shape& s, int64_t n, int runs,
                             std::mt19937& rng) {
    const int64_t elements = s.in * s.out;
    const double w_bytes = 2.0 * elements;
    // Enough copies that each launch's weights were evicted since their
    // last use; one, when w alone exceeds 4x L2.
    const int copies = static_cast<int>(
        std::max<double>(1, std::ceil(4.0 * timer_->l2_bytes() / w_bytes)));
    const int launches = std::max(runs, copies);
    ASSIGN_OR_RETURN(DeviceArray<> w, TiledWeights(*pool_, elements, copies));
    const std::vector<uint16_t> xh = RandomBf16(n * s.in, 1.0f, rng);
    const size_t y_bytes = n * s.out * (s.float_out ? 4 : 2);
    ASSIGN_OR_RETURN(DeviceArray<> x, DeviceAlloc<>(xh.size() * 2));
    ASSIGN_OR_RETURN(DeviceArray<> y_ours, DeviceAlloc<>(y_bytes));
    ASSIGN_OR_RETURN(DeviceArray<> y_lt, DeviceAlloc<>(y_bytes));
    RETURN_IF_ERROR(CUDA_STATUS(
        cudaMemcpy(x.get(), xh.data(), xh.size() * 2, cudaMemcpyHostToDevice)));
    const uint16_t* xd = static_cast<const uint16_t*>(x.get());
    const uint16_t* w0 = static_cast<const uint16_t*>(w.get());
    const auto ours = [&](int copy) {
      return LaunchSmallGemv(xd, w0 + copy * elements, n, s.in, s.out,
                             y_ours.get(), s.float_out, stream_);
    };
    const auto lt = [&](int copy) {
      return gemm_->MatMul(xd, w0 + copy * elements, n, s.in, s.out, y_lt.get(),
                           s.float_out, stream_);
    };

    // Poisoned outputs (NaN), one call each, then the checks.
    RETURN_IF_ERROR(CUDA_STATUS(cudaMemset(y_ours.get(), 0xFF, y_bytes)));
    RETURN_IF_ERROR(CUDA_STATUS(cudaMemset(y_lt.get(), 0xFF, y_bytes)));
    RETURN_IF_ERROR(ours(0));
    RETURN_IF_ERROR(lt(0));
    RETURN_IF_ERROR(CUDA_STATUS(cudaStreamSynchronize(stream_)));
    absl::Status read;
    const std::vector<double> yo =
        ReadOutput(y_ours.get(), n * s.out, s.float_out, &read);
    RETURN_IF_ERROR(read);
    const std::vector<double> yl =
        ReadOutput(y_lt.get(), n * s.out, s.float_out, &read);
    RETURN_IF_ERROR(read);
    RETURN_IF_ERROR(CheckOutputs(s, n, xh, *pool_, yo, yl));

    Result r{&s, n, w_bytes, 0, 0, 0, 0};
    ASSIGN_OR_RETURN(r.lt_ms, timer_->FlushedMs([&] { return lt(0); }));
    ASSIGN_OR_RETURN(r.ours_ms, timer_->FlushedMs([&] { return ours(0); }));
    ASSIGN_OR_RETURN(
        r.lt_graph_ms,
        timer_->GraphMs([&](int i) { return lt(i % copies); }, launches));
    ASSIGN_OR_RETURN(
        r.ours_graph_ms,
        timer_->GraphMs([&](int i) { return ours(i % copies); }, launches));
    return r;
  }

 private:
  cudaStream_t stream_;
  BenchTimer* timer_;
  CublasLtGemm* gemm_;
  Pool* pool_;
};

struct Options {
  int runs = 50;
  std::string json_path;  // none: no JSON
  std::string only;
};

double Gbs(double bytes, double ms) { return bytes / ms / 1e6; }

void PrintRow(const Result& r, double copy_gbs) {
  const auto pct = [&](double ms) {
    return 100 * Gbs(r.w_bytes, ms) / copy_gbs;
  };
  std::printf(
      "%-16s %2lld %8.2f | %8.4f %7.0f %5.1f%% | %8.4f %7.0f %5.1f%% %7.2f | "
      "%8.4f %5.1f%% %8.4f %5.1f%% %7.2f\n",
      r.shape->name, static_cast<long long>(r.n), r.w_bytes / 1e6, r.lt_ms,
      Gbs(r.w_bytes, r.lt_ms), pct(r.lt_ms), r.ours_ms,
      Gbs(r.w_bytes, r.ours_ms), pct(r.ours_ms), r.lt_ms / r.ours_ms,
      r.lt_graph_ms, pct(r.lt_graph_ms), r.ours_graph_ms, pct(r.ours_graph_ms),
      r.lt_graph_ms / r.ours_graph_ms);
  std::fflush(stdout);
}

// One Llama 3.1 8B layer per row count: the sums of the four products.
void PrintLayerSums(const std::vector<Result>& results, double copy_gbs) {
  for (int64_t n : kRowCounts) {
    double bytes = 0, lt = 0, ours = 0, best = 0, glt = 0, gours = 0, gbest = 0;
    int shapes = 0;
    for (const Result& r : results) {
      if (r.n != n || !r.shape->llama_layer) continue;
      ++shapes;
      bytes += r.w_bytes;
      lt += r.lt_ms;
      ours += r.ours_ms;
      best += std::min(r.lt_ms, r.ours_ms);
      glt += r.lt_graph_ms;
      gours += r.ours_graph_ms;
      gbest += std::min(r.lt_graph_ms, r.ours_graph_ms);
    }
    if (shapes != 4) continue;
    const auto pct = [&](double ms) { return 100 * Gbs(bytes, ms) / copy_gbs; };
    std::printf(
        "llama8b layer n=%lld, %.1f MB: flushed cuBLASLt %.4f ms (%.1f%%), "
        "ours %.4f ms (%.1f%%), faster of each %.4f ms (%.1f%%); graph "
        "cuBLASLt %.4f ms (%.1f%%), ours %.4f ms (%.1f%%), faster of each "
        "%.4f ms (%.1f%%)\n",
        static_cast<long long>(n), bytes / 1e6, lt, pct(lt), ours, pct(ours),
        best, pct(best), glt, pct(glt), gours, pct(gours), gbest, pct(gbest));
  }
}

absl::Status WriteJson(const std::string& path, const cudaDeviceProp& prop,
                       double copy_gbs, int runs,
                       const std::vector<Result>& results) {
  std::string json =
      absl::StrCat("{\"device\": \"", prop.name, "\", \"copy_gbs\": ", copy_gbs,
                   ", \"runs\": ", runs, ", \"results\": [");
  for (size_t i = 0; i < results.size(); ++i) {
    const Result& r = results[i];
    absl::StrAppend(&json, i == 0 ? "" : ", ", "{\"case\": \"", r.shape->name,
                    "\", \"n\": ", r.n, ", \"in\": ", r.shape->in,
                    ", \"out\": ", r.shape->out,
                    ", \"float_out\": ", r.shape->float_out ? "true" : "false",
                    ", \"w_bytes\": ", r.w_bytes,
                    ", \"cublaslt_ms\": ", r.lt_ms,
                    ", \"ours_ms\": ", r.ours_ms,
                    ", \"cublaslt_graph_ms\": ", r.lt_graph_ms,
                    ", \"ours_graph_ms\": ", r.ours_graph_ms, "}");
  }
  json += "]}\n";
  FILE* f = std::fopen(path.c_str(), "w");
  if (f == nullptr) {
    return absl::ErrnoToStatus(errno, absl::StrCat("open ", path));
  }
  const bool ok = std::fputs(json.c_str(), f) >= 0;
  if (std::fclose(f) != 0 || !ok) {
    return absl::ErrnoToStatus(errno, absl::StrCat("write ", path));
  }
  return absl::OkStatus();
}

absl::Status Run(const Options& options) {
  cudaDeviceProp prop;
  RETURN_IF_ERROR(CUDA_STATUS(cudaGetDeviceProperties(&prop, 0)));
  cudaStream_t stream = nullptr;
  RETURN_IF_ERROR(
      CUDA_STATUS(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking)));
  const std::unique_ptr<CUstream_st, void (*)(cudaStream_t)> stream_owner(
      stream, [](cudaStream_t s) { cudaStreamDestroy(s); });
  ASSIGN_OR_RETURN(std::unique_ptr<BenchTimer> timer,
                   BenchTimer::Create(options.runs, stream));
  ASSIGN_OR_RETURN(DeviceArray<> workspace, DeviceAlloc<>(kWorkspaceBytes));
  ASSIGN_OR_RETURN(std::unique_ptr<CublasLtGemm> gemm,
                   CublasLtGemm::Create(workspace.get(), kWorkspaceBytes));
  std::mt19937 rng(7);
  ASSIGN_OR_RETURN(Pool pool, MakePool(rng));

  double copy_ms = 0;
  {
    ASSIGN_OR_RETURN(DeviceArray<> a, DeviceAlloc<>(kCopyBytes));
    ASSIGN_OR_RETURN(DeviceArray<> b, DeviceAlloc<>(kCopyBytes));
    RETURN_IF_ERROR(CUDA_STATUS(cudaMemset(a.get(), 0x3C, kCopyBytes)));
    ASSIGN_OR_RETURN(copy_ms, timer->FlushedMs([&] {
      return CUDA_STATUS(cudaMemcpyAsync(b.get(), a.get(), kCopyBytes,
                                         cudaMemcpyDeviceToDevice, stream));
    }));
  }
  const double copy_gbs = Gbs(2.0 * kCopyBytes, copy_ms);
  std::printf("device: %s, %d SMs, L2 %d MB; runs %d, median\n", prop.name,
              prop.multiProcessorCount, timer->l2_bytes() >> 20, options.runs);
  std::printf("device-to-device copy: %.0f GB/s (read + write, 512 MiB)\n\n",
              copy_gbs);
  std::printf("%-16s %2s %8s | %-23s | %-31s | %-39s\n", "", "", "",
              "cuBLASLt, L2 flushed", "ours, L2 flushed",
              "graph, back to back, per launch");
  std::printf(
      "%-16s %2s %8s | %8s %7s %6s | %8s %7s %6s %7s | %8s %6s %8s %6s %7s\n",
      "case", "n", "w MB", "ms", "GB/s", "%copy", "ms", "GB/s", "%copy",
      "ours/lt", "lt ms", "%copy", "ours ms", "%copy", "ours/lt");

  Bench bench(stream, timer.get(), gemm.get(), &pool);
  std::vector<Result> results;
  for (const Shape& s : kShapes) {
    if (std::string(s.name).find(options.only) == std::string::npos) continue;
    for (int64_t n : kRowCounts) {
      absl::StatusOr<Result> r = bench.Run(s, n, options.runs, rng);
      RETURN_IF_ERROR(Annotate(r.status(), absl::StrCat(s.name, " n=", n)));
      PrintRow(*r, copy_gbs);
      results.push_back(*r);
    }
  }
  std::printf("\n");
  PrintLayerSums(results, copy_gbs);
  if (options.json_path.empty()) return absl::OkStatus();
  return WriteJson(options.json_path, prop, copy_gbs, options.runs, results);
}

}  // namespace
}  // namespace df11

int main(int argc, char** argv) {
  df11::Options options;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a.rfind("--runs=", 0) == 0) {
      options.runs = std::atoi(a.c_str() + 7);
    } else if (a.rfind("--json=", 0) == 0) {
      options.json_path = a.substr(7);
    } else if (a.rfind("--case=", 0) == 0) {
      options.only = a.substr(7);
    } else {
      std::fprintf(stderr,
                   "gemv_bench: unknown argument %s\nusage: gemv_bench "
                   "[--runs=50] [--json=FILE] [--case=SUBSTRING]\n",
                   a.c_str());
      return 2;
    }
  }
  if (options.runs < 1) {
    std::fprintf(stderr, "gemv_bench: --runs must be at least 1\n");
    return 2;
  }
  const absl::Status status = df11::Run(options);
  if (!status.ok()) {
    std::fprintf(stderr, "gemv_bench: %s\n", status.ToString().c_str());
    return 1;
  }
  return 0;
}
