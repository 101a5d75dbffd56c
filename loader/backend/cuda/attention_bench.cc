// Attention alone, Llama 3.1 8B heads (32 query, 8 KV, head_dim 128; blocks
// of 16): our paged-attention kernel against FlashInfer's paged decode
// kernel, on B sequences of C cached tokens with one new row each (in
// microseconds and GB/s of KV read), and against FlashInfer's paged prefill
// kernel, on B fresh prompts of P tokens (microseconds and TFLOP/s of the
// causal attention). The measurements behind the choice of kernels
// (docs/cuda_backend.md); model speed is `df11 bench`'s. Before timing a
// prefill case, the two kernels' outputs are compared (max abs difference).
//
//   attention_bench
//
// Inputs are random BF16 values, the same for both kernels; each is timed
// over 20 launches after a warm-up, with CUDA events.
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "loader/backend/cuda/paged_attention.h"
#include "loader/base/status_macros.h"
#include "loader/codec/synthetic_weights.h"
#include "loader/gpu/cuda_status.h"
#ifdef DF11_HAVE_FLASHINFER
#include "loader/backend/cuda/flashinfer_decode.h"
#include "loader/backend/cuda/flashinfer_prefill.h"
#endif

namespace df11 {
namespace {

constexpr int64_t kQHeads = 32, kKvHeads = 8, kHeadDim = 128, kBlock = 16;
constexpr int kRuns = 20;

// Device memory freed on scope exit.
class DeviceArray {
 public:
  ~DeviceArray() { cudaFree(data_); }
  absl::Status Upload(const void* host, size_t bytes) {
    RETURN_IF_ERROR(CUDA_STATUS(cudaMalloc(&data_, bytes)));
    return CUDA_STATUS(cudaMemcpy(data_, host, bytes, cudaMemcpyHostToDevice));
  }
  template <typename T>
  T* as() const {
    return static_cast<T*>(data_);
  }

 private:
  void* data_ = nullptr;
};

std::vector<uint16_t> RandomBf16(size_t n, std::mt19937& rng) {
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<uint16_t> out(n);
  for (uint16_t& h : out) {
    const float f = normal(rng);
    uint32_t bits;
    std::memcpy(&bits, &f, sizeof(bits));
    h = static_cast<uint16_t>(bits >> 16);
  }
  return out;
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

absl::Status BenchOne(int64_t batch, int64_t context, std::mt19937& rng) {
  const int64_t kv_width = kKvHeads * kHeadDim;
  const int64_t width = (kQHeads + 2 * kKvHeads) * kHeadDim;
  const int64_t blocks_per = context / kBlock;
  const int64_t slots = batch * context;
  DeviceArray k, v, qkv, out, pos, seq, indptr, indices;
  RETURN_IF_ERROR(
      k.Upload(RandomBf16(slots * kv_width, rng).data(), slots * kv_width * 2));
  RETURN_IF_ERROR(
      v.Upload(RandomBf16(slots * kv_width, rng).data(), slots * kv_width * 2));
  RETURN_IF_ERROR(
      qkv.Upload(RandomBf16(batch * width, rng).data(), batch * width * 2));
  RETURN_IF_ERROR(
      out.Upload(std::vector<uint16_t>(batch * kQHeads * kHeadDim).data(),
                 batch * kQHeads * kHeadDim * 2));
  std::vector<int32_t> hp(batch, static_cast<int32_t>(context - 1)), hs(batch),
      hi(batch + 1, 0), hx(batch * blocks_per);
  for (int64_t b = 0; b < batch; ++b) {
    hs[b] = static_cast<int32_t>(b);
    hi[b + 1] = static_cast<int32_t>((b + 1) * blocks_per);
  }
  for (size_t i = 0; i < hx.size(); ++i) hx[i] = static_cast<int32_t>(i);
  RETURN_IF_ERROR(pos.Upload(hp.data(), batch * 4));
  RETURN_IF_ERROR(seq.Upload(hs.data(), batch * 4));
  RETURN_IF_ERROR(indptr.Upload(hi.data(), (batch + 1) * 4));
  RETURN_IF_ERROR(indices.Upload(hx.data(), hx.size() * 4));

  PagedAttentionArgs a;
  a.qkv = qkv.as<uint16_t>();
  a.qkv_width = width;
  a.positions = pos.as<int32_t>();
  a.row_seq = seq.as<int32_t>();
  a.rows = batch;
  a.q_heads = kQHeads;
  a.kv_heads = kKvHeads;
  a.group = kQHeads / kKvHeads;
  a.head_dim = kHeadDim;
  a.k_pool = k.as<uint16_t>();
  a.v_pool = v.as<uint16_t>();
  a.kv_indptr = indptr.as<int32_t>();
  a.kv_indices = indices.as<int32_t>();
  a.block_tokens = kBlock;
  a.out = out.as<uint16_t>();
  ASSIGN_OR_RETURN(double ours,
                   Time([&] { return LaunchPagedAttention(a, nullptr); }));
  double theirs = -1;
#ifdef DF11_HAVE_FLASHINFER
  std::vector<int32_t> last(batch, static_cast<int32_t>(kBlock)),
      index(2 * batch + 1, 0);
  for (int64_t b = 0; b < batch; ++b) index[b] = static_cast<int32_t>(b);
  index[2 * batch] = static_cast<int32_t>(context);
  DeviceArray dlast, dindex;
  RETURN_IF_ERROR(dlast.Upload(last.data(), batch * 4));
  RETURN_IF_ERROR(dindex.Upload(index.data(), index.size() * 4));
  FlashInferDecodeArgs f;
  f.q = qkv.as<uint16_t>();
  f.q_stride = width;
  f.rows = batch;
  f.q_heads = kQHeads;
  f.kv_heads = kKvHeads;
  f.head_dim = kHeadDim;
  f.page_size = kBlock;
  f.k_pages = k.as<uint16_t>();
  f.v_pages = v.as<uint16_t>();
  f.indptr = indptr.as<int32_t>();
  f.indices = indices.as<int32_t>();
  f.last_page_len = dlast.as<int32_t>();
  f.request_indices = dindex.as<int32_t>();
  f.tile_indices = dindex.as<int32_t>() + batch;
  f.chunk_size = dindex.as<int32_t>() + 2 * batch;
  f.out = out.as<uint16_t>();
  ASSIGN_OR_RETURN(theirs,
                   Time([&] { return LaunchFlashInferDecode(f, nullptr); }));
#endif
  const double bytes = 2.0 * batch * context * kv_width * 2;
  std::printf("%-8lld %-8lld %12.1f %12.1f %14.1f %16.1f %12.0f\n",
              static_cast<long long>(batch), static_cast<long long>(context),
              ours, bytes / ours / 1e3, theirs,
              theirs > 0 ? bytes / theirs / 1e3 : 0.0, bytes);
  return absl::OkStatus();
}

absl::StatusOr<std::vector<uint16_t>> Download(const DeviceArray& a, size_t n) {
  std::vector<uint16_t> host(n);
  RETURN_IF_ERROR(CUDA_STATUS(
      cudaMemcpy(host.data(), a.as<void>(), n * 2, cudaMemcpyDeviceToHost)));
  return host;
}

// B fresh prompts of P tokens each: every row attends to its prompt's rows
// up to itself.
absl::Status BenchPrefill(int64_t batch, int64_t prompt, std::mt19937& rng) {
  const int64_t kv_width = kKvHeads * kHeadDim;
  const int64_t width = (kQHeads + 2 * kKvHeads) * kHeadDim;
  const int64_t blocks_per = (prompt + kBlock - 1) / kBlock;
  const int64_t rows = batch * prompt;
  const int64_t slots = batch * blocks_per * kBlock;
  const int64_t out_n = rows * kQHeads * kHeadDim;
  DeviceArray k, v, qkv, out, out_fi, pos, seq, indptr, indices;
  RETURN_IF_ERROR(
      k.Upload(RandomBf16(slots * kv_width, rng).data(), slots * kv_width * 2));
  RETURN_IF_ERROR(
      v.Upload(RandomBf16(slots * kv_width, rng).data(), slots * kv_width * 2));
  RETURN_IF_ERROR(
      qkv.Upload(RandomBf16(rows * width, rng).data(), rows * width * 2));
  const std::vector<uint16_t> zeros(out_n);
  RETURN_IF_ERROR(out.Upload(zeros.data(), out_n * 2));
  RETURN_IF_ERROR(out_fi.Upload(zeros.data(), out_n * 2));
  std::vector<int32_t> hp(rows), hs(rows), hi(batch + 1, 0),
      hx(batch * blocks_per);
  for (int64_t r = 0; r < rows; ++r) {
    hp[r] = static_cast<int32_t>(r % prompt);
    hs[r] = static_cast<int32_t>(r / prompt);
  }
  for (int64_t b = 0; b < batch; ++b) {
    hi[b + 1] = static_cast<int32_t>((b + 1) * blocks_per);
  }
  for (size_t i = 0; i < hx.size(); ++i) hx[i] = static_cast<int32_t>(i);
  RETURN_IF_ERROR(pos.Upload(hp.data(), rows * 4));
  RETURN_IF_ERROR(seq.Upload(hs.data(), rows * 4));
  RETURN_IF_ERROR(indptr.Upload(hi.data(), (batch + 1) * 4));
  RETURN_IF_ERROR(indices.Upload(hx.data(), hx.size() * 4));

  PagedAttentionArgs a;
  a.qkv = qkv.as<uint16_t>();
  a.qkv_width = width;
  a.positions = pos.as<int32_t>();
  a.row_seq = seq.as<int32_t>();
  a.rows = rows;
  a.q_heads = kQHeads;
  a.kv_heads = kKvHeads;
  a.group = kQHeads / kKvHeads;
  a.head_dim = kHeadDim;
  a.k_pool = k.as<uint16_t>();
  a.v_pool = v.as<uint16_t>();
  a.kv_indptr = indptr.as<int32_t>();
  a.kv_indices = indices.as<int32_t>();
  a.block_tokens = kBlock;
  a.out = out.as<uint16_t>();
  RETURN_IF_ERROR(LaunchPagedAttention(a, nullptr));
  ASSIGN_OR_RETURN(double ours,
                   Time([&] { return LaunchPagedAttention(a, nullptr); }));
  double theirs = -1, diff = -1;
#ifdef DF11_HAVE_FLASHINFER
  const int64_t group = kQHeads / kKvHeads;
  std::vector<int32_t> qo(batch + 1), last(batch), request(rows * group),
      tile(rows * group);
  for (int64_t b = 0; b <= batch; ++b) qo[b] = static_cast<int32_t>(b * prompt);
  for (int64_t b = 0; b < batch; ++b) {
    last[b] = static_cast<int32_t>(prompt - (blocks_per - 1) * kBlock);
  }
  const int64_t work = FlashInferPrefillWork(qo.data(), batch, group,
                                             request.data(), tile.data());
  const std::vector<uint8_t> valid(work, 1);
  const std::vector<int32_t> index(work + 1, 0);
  DeviceArray dqo, dlast, drequest, dtile, dvalid, dindex;
  RETURN_IF_ERROR(dqo.Upload(qo.data(), qo.size() * 4));
  RETURN_IF_ERROR(dlast.Upload(last.data(), last.size() * 4));
  RETURN_IF_ERROR(drequest.Upload(request.data(), work * 4));
  RETURN_IF_ERROR(dtile.Upload(tile.data(), work * 4));
  RETURN_IF_ERROR(dvalid.Upload(valid.data(), work));
  RETURN_IF_ERROR(dindex.Upload(index.data(), index.size() * 4));
  FlashInferPrefillArgs f;
  f.q = qkv.as<uint16_t>();
  f.q_stride = width;
  f.sequences = batch;
  f.q_heads = kQHeads;
  f.kv_heads = kKvHeads;
  f.head_dim = kHeadDim;
  f.page_size = kBlock;
  f.k_pages = k.as<uint16_t>();
  f.v_pages = v.as<uint16_t>();
  f.qo_indptr = dqo.as<int32_t>();
  f.kv_indptr = indptr.as<int32_t>();
  f.kv_indices = indices.as<int32_t>();
  f.kv_last_page_len = dlast.as<int32_t>();
  f.work = work;
  f.request = drequest.as<int32_t>();
  f.tile = dtile.as<int32_t>();
  f.valid = dvalid.as<uint8_t>();
  f.kv_tiles = dindex.as<int32_t>();
  f.chunk_size = dindex.as<int32_t>() + work;
  f.out = out_fi.as<uint16_t>();
  RETURN_IF_ERROR(LaunchFlashInferPrefill(f, nullptr));
  ASSIGN_OR_RETURN(std::vector<uint16_t> mine, Download(out, out_n));
  ASSIGN_OR_RETURN(std::vector<uint16_t> fi, Download(out_fi, out_n));
  diff = 0;
  for (int64_t i = 0; i < out_n; ++i) {
    diff = std::max<double>(
        diff, std::abs(FloatFromBf16(mine[i]) - FloatFromBf16(fi[i])));
  }
  if (!(diff < 0.05)) {
    return absl::InternalError(absl::StrCat("prefill outputs differ: max abs ",
                                            diff, " (batch ", batch,
                                            ", prompt ", prompt, ")"));
  }
  ASSIGN_OR_RETURN(theirs,
                   Time([&] { return LaunchFlashInferPrefill(f, nullptr); }));
#endif
  // Causal: about half of the P x P scores, 2 FLOPs each for QK and PV.
  const double flops =
      4.0 * batch * kQHeads * kHeadDim * (prompt * (prompt + 1) / 2.0);
  std::printf("%-8lld %-8lld %12.1f %12.1f %14.1f %16.1f %12.4f\n",
              static_cast<long long>(batch), static_cast<long long>(prompt),
              ours, flops / ours / 1e6, theirs,
              theirs > 0 ? flops / theirs / 1e6 : 0.0, diff);
  return absl::OkStatus();
}

}  // namespace
}  // namespace df11

int main() {
  std::printf("%-8s %-8s %12s %12s %14s %16s %12s\n", "batch", "context",
              "ours us", "ours GB/s", "flashinfer us", "flashinfer GB/s",
              "KV bytes");
  std::mt19937 rng(7);
  for (int64_t context : {1024, 4096}) {
    for (int64_t batch : {1, 16, 64}) {
      const absl::Status s = df11::BenchOne(batch, context, rng);
      if (!s.ok()) {
        std::fprintf(stderr, "attention_bench: %s\n", s.ToString().c_str());
        return 1;
      }
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
    if (!s.ok()) {
      std::fprintf(stderr, "attention_bench: %s\n", s.ToString().c_str());
      return 1;
    }
  }
  return 0;
}
