// Attention alone, Llama 3.1 8B heads (32 query, 8 KV, head_dim 128; blocks
// of 16): our paged-attention kernel against FlashInfer's paged decode
// kernel, on B sequences of C cached tokens with one new row each (in
// microseconds and GB/s of KV read), and against FlashInfer's paged prefill
// kernel, on B fresh prompts of P tokens (microseconds and TFLOP/s of the
// causal attention). The measurements behind the choice of kernels
// (docs/cuda_backend.md); model speed is `df11 bench`'s.
//
//   attention_bench
//
// Inputs are random BF16 values, the same for both kernels; before timing,
// the two outputs are compared (the largest difference is printed, and a
// difference beyond 0.05 stops the program); each kernel is then timed over
// 20 launches after a warm-up, with CUDA events.
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <random>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "loader/backend/cuda/paged_attention.h"
#include "loader/base/status_macros.h"
#include "loader/codec/synthetic_weights.h"
#include "loader/gpu/bench_timer.h"
#include "loader/gpu/cuda_status.h"
#ifdef DF11_HAVE_FLASHINFER
#include "loader/backend/cuda/flashinfer_decode.h"
#include "loader/backend/cuda/flashinfer_prefill.h"
#endif

namespace df11 {
namespace {

constexpr int64_t kQHeads = 32, kKvHeads = 8, kHeadDim = 128, kBlock = 16;
constexpr int64_t kGroup = kQHeads / kKvHeads;
constexpr int64_t kKvWidth = kKvHeads * kHeadDim;
constexpr int64_t kWidth = (kQHeads + 2 * kKvHeads) * kHeadDim;
constexpr int kRuns = 20;
constexpr double kMaxDifference = 0.05;

std::vector<uint16_t> RandomBf16(size_t n, std::mt19937& rng) {
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<uint16_t> out(n);
  for (uint16_t& h : out) h = Bf16FromFloat(normal(rng));
  return out;
}

template <typename T>
absl::StatusOr<DeviceArray<>> Upload(const std::vector<T>& host) {
  const size_t bytes = host.size() * sizeof(T);
  ASSIGN_OR_RETURN(DeviceArray<> d, DeviceAlloc<>(std::max<size_t>(bytes, 4)));
  RETURN_IF_ERROR(CUDA_STATUS(
      cudaMemcpy(d.get(), host.data(), bytes, cudaMemcpyHostToDevice)));
  return d;
}

template <typename T>
T* As(const DeviceArray<>& d) {
  return static_cast<T*>(d.get());
}

absl::StatusOr<std::vector<uint16_t>> Download(const DeviceArray<>& d,
                                               size_t n) {
  std::vector<uint16_t> host(n);
  RETURN_IF_ERROR(CUDA_STATUS(
      cudaMemcpy(host.data(), d.get(), n * 2, cudaMemcpyDeviceToHost)));
  return host;
}

// Microseconds per launch of `launch`, over kRuns launches after one.
template <typename Launch>
absl::StatusOr<double> Time(Launch launch) {
  RETURN_IF_ERROR(launch());
  cudaEvent_t e0, e1;
  RETURN_IF_ERROR(CUDA_STATUS(cudaEventCreate(&e0)));
  RETURN_IF_ERROR(CUDA_STATUS(cudaEventCreate(&e1)));
  absl::Status s = CUDA_STATUS(cudaEventRecord(e0));
  for (int r = 0; r < kRuns && s.ok(); ++r) s = launch();
  if (s.ok()) s = CUDA_STATUS(cudaEventRecord(e1));
  if (s.ok()) s = CUDA_STATUS(cudaEventSynchronize(e1));
  float ms = 0;
  if (s.ok()) s = CUDA_STATUS(cudaEventElapsedTime(&ms, e0, e1));
  cudaEventDestroy(e0);
  cudaEventDestroy(e1);
  RETURN_IF_ERROR(s);
  return 1e3 * ms / kRuns;
}

// One layer's attention on the device: `batch` sequences of `context` cached
// tokens, of which the last `step_rows` are the step's rows (1: decode;
// `context`: a fresh prompt). Pages are consecutive.
struct Inputs {
  int64_t batch = 0, context = 0, step_rows = 0;
  int64_t rows() const { return batch * step_rows; }
  int64_t out_elements() const { return rows() * kQHeads * kHeadDim; }
  DeviceArray<> k, v, qkv, out, library_out;
  DeviceArray<> positions, row_seq, qo_indptr, kv_indptr, kv_indices,
      last_page_len;
};

absl::StatusOr<Inputs> MakeInputs(int64_t batch, int64_t context,
                                  int64_t step_rows, std::mt19937& rng) {
  Inputs in;
  in.batch = batch;
  in.context = context;
  in.step_rows = step_rows;
  const int64_t pages = (context + kBlock - 1) / kBlock;
  const int64_t slots = batch * pages * kBlock;
  const int64_t rows = in.rows();
  ASSIGN_OR_RETURN(in.k, Upload(RandomBf16(slots * kKvWidth, rng)));
  ASSIGN_OR_RETURN(in.v, Upload(RandomBf16(slots * kKvWidth, rng)));
  ASSIGN_OR_RETURN(in.qkv, Upload(RandomBf16(rows * kWidth, rng)));
  const std::vector<uint16_t> zeros(in.out_elements());
  ASSIGN_OR_RETURN(in.out, Upload(zeros));
  ASSIGN_OR_RETURN(in.library_out, Upload(zeros));
  std::vector<int32_t> positions(rows), row_seq(rows), qo(batch + 1),
      kv(batch + 1), indices(batch * pages), last(batch);
  for (int64_t r = 0; r < rows; ++r) {
    positions[r] = static_cast<int32_t>(context - step_rows + r % step_rows);
    row_seq[r] = static_cast<int32_t>(r / step_rows);
  }
  for (int64_t b = 0; b <= batch; ++b) {
    qo[b] = static_cast<int32_t>(b * step_rows);
    kv[b] = static_cast<int32_t>(b * pages);
  }
  for (size_t i = 0; i < indices.size(); ++i) {
    indices[i] = static_cast<int32_t>(i);
  }
  std::fill(last.begin(), last.end(),
            static_cast<int32_t>(context - (pages - 1) * kBlock));
  ASSIGN_OR_RETURN(in.positions, Upload(positions));
  ASSIGN_OR_RETURN(in.row_seq, Upload(row_seq));
  ASSIGN_OR_RETURN(in.qo_indptr, Upload(qo));
  ASSIGN_OR_RETURN(in.kv_indptr, Upload(kv));
  ASSIGN_OR_RETURN(in.kv_indices, Upload(indices));
  ASSIGN_OR_RETURN(in.last_page_len, Upload(last));
  return in;
}

PagedAttentionArgs OurArgs(const Inputs& in) {
  PagedAttentionArgs a;
  a.qkv = As<uint16_t>(in.qkv);
  a.qkv_width = kWidth;
  a.positions = As<int32_t>(in.positions);
  a.row_seq = As<int32_t>(in.row_seq);
  a.rows = in.rows();
  a.q_heads = kQHeads;
  a.kv_heads = kKvHeads;
  a.group = kGroup;
  a.head_dim = kHeadDim;
  a.k_pool = As<uint16_t>(in.k);
  a.v_pool = As<uint16_t>(in.v);
  a.kv_indptr = As<int32_t>(in.kv_indptr);
  a.kv_indices = As<int32_t>(in.kv_indices);
  a.block_tokens = kBlock;
  a.out = As<uint16_t>(in.out);
  return a;
}

// Times our kernel, then `library` (when built) after comparing the two
// outputs; returns {ours, library, max difference} (-1: no library).
template <typename Library>
absl::StatusOr<std::vector<double>> Compare(const Inputs& in, Library library) {
  const PagedAttentionArgs a = OurArgs(in);
  ASSIGN_OR_RETURN(double ours,
                   Time([&] { return LaunchPagedAttention(a, nullptr); }));
  double theirs = -1, difference = -1;
#ifdef DF11_HAVE_FLASHINFER
  RETURN_IF_ERROR(library());
  ASSIGN_OR_RETURN(std::vector<uint16_t> mine,
                   Download(in.out, in.out_elements()));
  ASSIGN_OR_RETURN(std::vector<uint16_t> lib,
                   Download(in.library_out, in.out_elements()));
  difference = 0;
  for (size_t i = 0; i < mine.size(); ++i) {
    difference = std::max<double>(
        difference, std::abs(FloatFromBf16(mine[i]) - FloatFromBf16(lib[i])));
  }
  if (!(difference <= kMaxDifference)) {
    return absl::InternalError(absl::StrCat(
        "the outputs differ by up to ", difference, " (batch ", in.batch,
        ", context ", in.context, ", rows per sequence ", in.step_rows, ")"));
  }
  ASSIGN_OR_RETURN(theirs, Time(library));
#else
  (void)library;
#endif
  return std::vector<double>{ours, theirs, difference};
}

#ifdef DF11_HAVE_FLASHINFER
FlashInferPaged Paged(const Inputs& in) {
  FlashInferPaged p;
  p.q = As<uint16_t>(in.qkv);
  p.q_stride = kWidth;
  p.q_heads = kQHeads;
  p.kv_heads = kKvHeads;
  p.head_dim = kHeadDim;
  p.page_size = kBlock;
  p.k_pages = As<uint16_t>(in.k);
  p.v_pages = As<uint16_t>(in.v);
  p.kv_indptr = As<int32_t>(in.kv_indptr);
  p.kv_indices = As<int32_t>(in.kv_indices);
  p.kv_last_page_len = As<int32_t>(in.last_page_len);
  p.out = As<uint16_t>(in.library_out);
  return p;
}
#endif

// B sequences of C cached tokens, one new row each.
absl::Status BenchDecode(int64_t batch, int64_t context, std::mt19937& rng) {
  ASSIGN_OR_RETURN(Inputs in, MakeInputs(batch, context, 1, rng));
#ifdef DF11_HAVE_FLASHINFER
  std::vector<int32_t> index(2 * batch + 1, 0);
  for (int64_t b = 0; b < batch; ++b) index[b] = static_cast<int32_t>(b);
  index[2 * batch] = static_cast<int32_t>(context);
  ASSIGN_OR_RETURN(DeviceArray<> dindex, Upload(index));
  FlashInferDecodeArgs f;
  f.paged = Paged(in);
  f.rows = batch;
  f.request_indices = As<int32_t>(dindex);
  f.tile_indices = As<int32_t>(dindex) + batch;
  f.chunk_size = As<int32_t>(dindex) + 2 * batch;
  const auto library = [&] { return LaunchFlashInferDecode(f, nullptr); };
#else
  const auto library = [] { return absl::OkStatus(); };
#endif
  ASSIGN_OR_RETURN(std::vector<double> t, Compare(in, library));
  const double bytes = 2.0 * batch * context * kKvWidth * 2;
  std::printf("%-8lld %-8lld %12.1f %12.1f %14.1f %16.1f %12.4f\n",
              static_cast<long long>(batch), static_cast<long long>(context),
              t[0], bytes / t[0] / 1e3, t[1],
              t[1] > 0 ? bytes / t[1] / 1e3 : 0.0, t[2]);
  return absl::OkStatus();
}

// B fresh prompts of P tokens: every row attends to its prompt up to
// itself.
absl::Status BenchPrefill(int64_t batch, int64_t prompt, std::mt19937& rng) {
  ASSIGN_OR_RETURN(Inputs in, MakeInputs(batch, prompt, prompt, rng));
#ifdef DF11_HAVE_FLASHINFER
  std::vector<int32_t> qo(batch + 1);
  for (int64_t b = 0; b <= batch; ++b) qo[b] = static_cast<int32_t>(b * prompt);
  const int64_t most = FlashInferPrefillMaxWork(in.rows(), batch, kGroup);
  std::vector<int32_t> request(most), tile(most);
  const int64_t work = FlashInferPrefillWork(qo.data(), batch, kGroup,
                                             request.data(), tile.data());
  request.resize(work);
  tile.resize(work);
  ASSIGN_OR_RETURN(DeviceArray<> drequest, Upload(request));
  ASSIGN_OR_RETURN(DeviceArray<> dtile, Upload(tile));
  ASSIGN_OR_RETURN(DeviceArray<> dvalid, Upload(std::vector<uint8_t>(work, 1)));
  ASSIGN_OR_RETURN(DeviceArray<> dzeros,
                   Upload(std::vector<int32_t>(work + 1, 0)));
  FlashInferPrefillArgs f;
  f.paged = Paged(in);
  f.sequences = batch;
  f.qo_indptr = As<int32_t>(in.qo_indptr);
  f.work = work;
  f.request = As<int32_t>(drequest);
  f.tile = As<int32_t>(dtile);
  f.valid = As<uint8_t>(dvalid);
  f.kv_tiles = As<int32_t>(dzeros);
  f.chunk_size = As<int32_t>(dzeros) + work;
  const auto library = [&] { return LaunchFlashInferPrefill(f, nullptr); };
#else
  const auto library = [] { return absl::OkStatus(); };
#endif
  ASSIGN_OR_RETURN(std::vector<double> t, Compare(in, library));
  // Causal: P(P+1)/2 scores per head, 2 FLOPs each for QK and for PV.
  const double flops =
      4.0 * batch * kQHeads * kHeadDim * (prompt * (prompt + 1) / 2.0);
  std::printf("%-8lld %-8lld %12.1f %12.1f %14.1f %16.1f %12.4f\n",
              static_cast<long long>(batch), static_cast<long long>(prompt),
              t[0], flops / t[0] / 1e6, t[1],
              t[1] > 0 ? flops / t[1] / 1e6 : 0.0, t[2]);
  return absl::OkStatus();
}

int Fail(const absl::Status& s) {
  std::fprintf(stderr, "attention_bench: %s\n", s.ToString().c_str());
  return 1;
}

}  // namespace
}  // namespace df11

int main() {
  std::mt19937 rng(7);
  std::printf("decode (one new row per sequence)\n");
  std::printf("%-8s %-8s %12s %12s %14s %16s %12s\n", "batch", "context",
              "ours us", "ours GB/s", "flashinfer us", "flashinfer GB/s",
              "max |diff|");
  for (int64_t context : {1024, 4096}) {
    for (int64_t batch : {1, 16, 64}) {
      const absl::Status s = df11::BenchDecode(batch, context, rng);
      if (!s.ok()) return df11::Fail(s);
    }
  }
  std::printf("\nprefill (causal, fresh prompts)\n");
  std::printf("%-8s %-8s %12s %12s %14s %16s %12s\n", "batch", "prompt",
              "ours us", "ours TFLOP/s", "flashinfer us", "flashinfer TF/s",
              "max |diff|");
  for (const auto& [batch, prompt] : {std::pair<int64_t, int64_t>{1, 128},
                                      {1, 512},
                                      {1, 2048},
                                      {8, 512},
                                      {64, 128}}) {
    const absl::Status s = df11::BenchPrefill(batch, prompt, rng);
    if (!s.ok()) return df11::Fail(s);
  }
  return 0;
}
