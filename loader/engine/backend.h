// The operations and collectives the Llama engine runs on. The engine holds
// no device logic of its own: every tensor it touches lives in memory a
// Backend allocated, and every computation is one of the calls below. The CPU
// backend (loader/backend/cpu) is the reference; a CUDA backend implements the
// same interface.
//
// Conventions for every call:
//   - Activations are FP32, weights BF16 (uint16_t bit patterns), both
//     row-major, in memory from Allocate() unless a parameter says "host".
//   - Weight matrices are [out, in] as Hugging Face stores them.
//   - Calls are issued from one thread; a backend may run them
//     asynchronously, but CopyToHost and the collectives return with their
//     results complete.
//   - Collectives are called by every rank of the group in the same order.
#ifndef DF11_LOADER_ENGINE_BACKEND_H_
#define DF11_LOADER_ENGINE_BACKEND_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "loader/dist/world_config.h"

namespace df11 {

// Backend memory. Move-only; frees itself.
class Buffer {
 public:
  Buffer() = default;
  Buffer(void* data, size_t bytes, std::function<void(void*)> free)
      : data_(data), bytes_(bytes), free_(std::move(free)) {}
  Buffer(Buffer&& other) noexcept { *this = std::move(other); }
  Buffer& operator=(Buffer&& other) noexcept {
    std::swap(data_, other.data_);
    std::swap(bytes_, other.bytes_);
    std::swap(free_, other.free_);
    return *this;
  }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  ~Buffer() {
    if (data_ != nullptr && free_) free_(data_);
  }

  size_t bytes() const { return bytes_; }
  template <typename T>
  T* as() const {
    return static_cast<T*>(data_);
  }

 private:
  void* data_ = nullptr;
  size_t bytes_ = 0;
  std::function<void(void*)> free_;
};

// The new tokens of one sequence within a batch of rows, for attention.
// Rows [row, row + tokens) of the batch are positions [past, past + tokens)
// of the sequence whose KV cache is `slot`.
struct AttentionSpan {
  int64_t row = 0;
  int64_t tokens = 0;
  int64_t slot = 0;
  int64_t past = 0;
};

// The KV cache of one layer: k and v, each [slots, context, kv_heads,
// head_dim] FP32.
struct KvLayer {
  float* k = nullptr;
  float* v = nullptr;
  int64_t context = 0;
  int64_t kv_heads = 0;
  int64_t head_dim = 0;
};

class Backend {
 public:
  virtual ~Backend() = default;

  virtual const WorldConfig& world() const = 0;

  // Memory. Allocate returns zero-filled memory or ResourceExhausted.
  virtual absl::StatusOr<Buffer> Allocate(size_t bytes) = 0;
  virtual void CopyFromHost(const void* host, size_t bytes, void* dst) = 0;
  virtual void CopyToHost(const void* src, size_t bytes, void* host) = 0;

  // out[i, :] = table[tokens[i] - first_row, :] as FP32 where
  // first_row <= tokens[i] < first_row + table_rows, else zeros (the masked
  // lookup of a vocabulary-split embedding). tokens: host, n ids.
  // table: [table_rows, dim] BF16. out: [n, dim].
  virtual void Embed(const int32_t* tokens, int64_t n, const uint16_t* table,
                     int64_t first_row, int64_t table_rows, int64_t dim,
                     float* out) = 0;

  // out = x / sqrt(mean(x^2) + eps) * weight, per row. x, out: [n, dim]
  // (may alias); weight: [dim] BF16.
  virtual void RmsNorm(const float* x, const uint16_t* weight, int64_t n,
                       int64_t dim, float eps, float* out) = 0;

  // y[n, out] = x[n, in] * w[out, in]^T.
  virtual void MatMul(const float* x, const uint16_t* w, int64_t n, int64_t in,
                      int64_t out, float* y) = 0;

  // Rotates each head of x [n, heads, head_dim] in place by the angles
  // positions[i] * inv_freq[j] (rotate-half pairing: element j pairs with
  // j + head_dim/2). positions: host, n entries. inv_freq: host, head_dim/2.
  virtual void Rope(float* x, int64_t n, int64_t heads, int64_t head_dim,
                    const int32_t* positions, const float* inv_freq) = 0;

  // Writes the new rows' k, v ([rows, kv_heads, head_dim]) into the cache at
  // each span's positions.
  virtual void StoreKv(const float* k, const float* v,
                       const std::vector<AttentionSpan>& spans,
                       const KvLayer& cache) = 0;

  // Causal attention of q [rows, q_heads, head_dim] over the cache (which
  // already holds the new rows): for each span, row r attends to positions
  // [0, past + r - row]. Query head h reads kv head h / group - kv_offset,
  // counting heads globally across ranks: h = q_head_offset + local head.
  // out: [rows, q_heads, head_dim]. scale multiplies q.k.
  virtual void Attention(const float* q,
                         const std::vector<AttentionSpan>& spans,
                         const KvLayer& cache, int64_t q_heads,
                         int64_t q_head_offset, int64_t group,
                         int64_t kv_offset, float scale, float* out) = 0;

  // out = silu(gate) * up, elementwise over n values (out may alias).
  virtual void SiluMul(const float* gate, const float* up, int64_t n,
                       float* out) = 0;

  // out[i, :] = x[rows[i], :] for each of the rows (host) of x [*, dim].
  virtual void GatherRows(const float* x, const std::vector<int64_t>& rows,
                          int64_t dim, float* out) = 0;

  // x += y over n values.
  virtual void Add(float* x, const float* y, int64_t n) = 0;

  // Sums x over the ranks, in place. A no-op at size 1.
  virtual absl::Status AllReduceSum(float* x, int64_t n) = 0;
  // out = the ranks' `in` (n values each) in rank order: [size, n].
  virtual absl::Status AllGather(const float* in, int64_t n, float* out) = 0;
};

}  // namespace df11

#endif  // DF11_LOADER_ENGINE_BACKEND_H_
