// Decode attention alone: our paged-attention kernel against FlashInfer's
// paged decode kernel, on B sequences of C cached tokens with one new row
// each (Llama 3.1 8B heads: 32 query, 8 KV, head_dim 128; blocks of 16), in
// microseconds and in GB/s of KV read. The measurement behind the choice of
// kernel for decode steps (docs/cuda_backend.md); model speed is `df11
// bench`'s.
//
//   attention_bench
//
// Inputs are random BF16 values, the same for both kernels; each is timed
// over 20 launches after a warm-up, with CUDA events.
#include <cuda_runtime.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "loader/backend/cuda/paged_attention.h"
#include "loader/base/status_macros.h"
#include "loader/gpu/cuda_status.h"
#ifdef DF11_HAVE_FLASHINFER
#include "loader/backend/cuda/flashinfer_decode.h"
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
  return 0;
}
