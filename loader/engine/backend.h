// The device the Llama engine runs on: memory, the step's metadata, the ops,
// the collectives, sampling, and resident weights (weight_store.h). The
// engine holds no device logic of its own; every tensor it touches lives in
// memory a Backend allocated. The CPU backend (loader/backend/cpu) is the
// reference; the CUDA backend implements the same contract.
//
// A step, as the engine runs it (docs/engine.md has the whole contract):
//
//   RETURN_IF_ERROR(backend.Prepare(model, limits));       // once, at load
//   ...
//   StepShape shape = backend.BeginStep(batch);
//   backend.Run(shape, capturable, [&] {
//     backend.Embed(...); backend.AllReduceSum(...); ...  // ops, in order
//     backend.Sample(...);
//   });
//   absl::Status status = backend.EndStep(&sampled);      // the step's errors
//
// Conventions for every op:
//   - Ops are stream-ordered: a backend may run them asynchronously, in
//     issue order. They return void; a failure (a launch error, a collective
//     error, a decode error flag) is kept as the step's first error and
//     returned by EndStep. Ops issued after a failure must still run the
//     collectives, so that the ranks never wait on each other forever.
//   - Ops take no host containers: per-step metadata (tokens, positions, KV
//     block tables, logit rows, sampling parameters) is uploaded once by
//     BeginStep into buffers sized by Prepare, and ops read it there.
//   - Activations are `activation_dtype()` (FP32 on the CPU, BF16 on CUDA),
//     row-major, passed as void*. Weights are BF16 bit patterns (uint16_t),
//     [out, in] as Hugging Face stores them. Logits are FP32.
//   - The KV cache belongs to the backend: per layer, a pool of
//     `kv_blocks` blocks of `kv_block_tokens` tokens each, for k and for v,
//     in `kv_dtype()`. Block b, offset o of a pool holds the token whose
//     KV slot is b * kv_block_tokens + o. Which blocks a sequence owns is the
//     engine's business (kv_cache_manager.h); the backend sees block tables.
//   - Calls come from one thread. Collectives are called by every rank of
//     the world in the same order with the same sizes.
#ifndef DF11_LOADER_ENGINE_BACKEND_H_
#define DF11_LOADER_ENGINE_BACKEND_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <utility>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "loader/base/dtype.h"
#include "loader/dist/world_config.h"
#include "loader/engine/sampling.h"
#include "loader/engine/weight_store.h"

namespace df11 {

class WeightSource;

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
  void* data() const { return data_; }
  template <typename T>
  T* as() const {
    return static_cast<T*>(data_);
  }

 private:
  void* data_ = nullptr;
  size_t bytes_ = 0;
  std::function<void(void*)> free_;
};

// What the ops need to know of the model, for this rank's shard. Head and
// vocabulary offsets count globally across ranks.
struct BackendModel {
  int64_t layers = 0;
  int64_t hidden = 0;
  int64_t head_dim = 0;
  int64_t q_heads = 0;  // local
  int64_t q_head_offset = 0;
  int64_t kv_heads = 0;  // local (all of them when replicated)
  int64_t kv_head_offset = 0;
  int64_t group = 1;  // query heads per kv head
  int64_t ffn = 0;    // local intermediate size
  // This rank's rows of the embedding and LM head: ids [vocab_offset,
  // vocab_offset + vocab_shard), padded past vocab_size with zero rows.
  int64_t vocab_shard = 0;
  int64_t vocab_offset = 0;
  int64_t vocab_size = 0;  // the real vocabulary; ids >= it never appear
  float rms_norm_eps = 1e-6f;
  std::vector<float> rope_inv_freq;  // head_dim / 2 entries (rope.h)

  int64_t q_width() const { return q_heads * head_dim; }
  int64_t kv_width() const { return kv_heads * head_dim; }
  // Columns of the fused q|k|v activation: [rows, q_width + 2 kv_width].
  int64_t qkv_width() const { return q_width() + 2 * kv_width(); }
};

// Sizes fixed at start-up. Every buffer an op touches is sized from these
// once and never reallocated (CUDA graphs capture addresses).
struct BackendLimits {
  int64_t max_batch_tokens = 0;     // rows of a step
  int64_t max_batch_sequences = 0;  // sequences in a step
  int64_t max_logit_rows = 0;       // rows of one logits chunk (Sample)
  int64_t max_context = 0;          // positions < max_context (RoPE table)
  int64_t kv_blocks = 0;            // blocks in each layer's pool
  int64_t kv_block_tokens = 16;
};

// One step's metadata, host side; BeginStep uploads it. Rows are the new
// tokens of every sequence of the step, sequences in order. Index arrays
// follow flashinfer's paged-KV layout.
struct StepBatch {
  std::vector<int32_t> tokens;            // [rows]
  std::vector<int32_t> positions;         // [rows] position of each row's token
  std::vector<int32_t> kv_slots;          // [rows] where its k and v are stored
  std::vector<int32_t> qo_indptr;         // [seqs + 1] rows of sequence s
  std::vector<int32_t> kv_indptr;         // [seqs + 1] its blocks in kv_indices
  std::vector<int32_t> kv_indices;        // block ids, in sequence order
  std::vector<int32_t> kv_last_page_len;  // [seqs] tokens in its last block
  // Rows whose logits are wanted, in increasing order, and what to do with
  // each: sample a token, or only hand the logits back.
  std::vector<int32_t> logit_rows;      // [logit rows]
  std::vector<SampleRequest> sampling;  // [logit rows]

  int64_t rows() const { return static_cast<int64_t>(tokens.size()); }
  int64_t sequences() const {
    return qo_indptr.empty() ? 0 : static_cast<int64_t>(qo_indptr.size()) - 1;
  }
};

// What the step's ops run over: at least the batch's rows and logit rows.
// A backend may pad (to replay a CUDA graph of a bucket size); padding rows
// compute garbage that no real row reads, and padding logit rows sample
// nothing that is returned.
struct StepShape {
  int64_t rows = 0;
  int64_t logit_rows = 0;
};

// Bytes the backend holds besides what Allocate handed out.
struct BackendMemory {
  uint64_t kv_cache = 0;
  uint64_t workspace = 0;  // step metadata, RoPE table, sampling, GEMM
};

class Backend {
 public:
  virtual ~Backend() = default;

  virtual const WorldConfig& world() const = 0;
  // The dtypes this backend computes activations in and keeps the KV cache
  // in. Fixed for the backend's life.
  virtual Dtype activation_dtype() const = 0;
  virtual Dtype kv_dtype() const = 0;
  // Bytes of KV cache one token takes on this rank, over all layers (k and
  // v), for a model with `layers` layers of `kv_heads` heads of `head_dim`.
  uint64_t KvBytesPerToken(int64_t layers, int64_t kv_heads,
                           int64_t head_dim) const {
    return 2ull * layers * kv_heads * head_dim * DtypeSize(kv_dtype());
  }

  // Allocates the KV pools, the step metadata buffers, the RoPE cos/sin
  // table (positions [0, max_context)) and the sampling workspace. Once,
  // before any step. Errors: InvalidArgument for impossible sizes,
  // ResourceExhausted when memory runs out.
  virtual absl::Status Prepare(const BackendModel& model,
                               const BackendLimits& limits) = 0;
  virtual BackendMemory memory() const = 0;

  // Memory. Allocate returns zero-filled memory or ResourceExhausted. The
  // copies are synchronous: they return when the bytes have arrived, with
  // every op issued before them complete.
  virtual absl::StatusOr<Buffer> Allocate(size_t bytes) = 0;
  virtual absl::Status CopyFromHost(const void* host, size_t bytes,
                                    void* dst) = 0;
  virtual absl::Status CopyToHost(const void* src, size_t bytes,
                                  void* host) = 0;
  // dst = src over `bytes` of backend memory, stream-ordered like the ops (a
  // device-to-device copy on a GPU); the regions must not overlap.
  virtual void Copy(const void* src, size_t bytes, void* dst) = 0;

  // Puts every tensor of `groups` (names in `source`) in backend memory in
  // its stored form, checking each payload's checksum, and returns the store
  // that decodes a group for use (weight_store.h). Decode errors during a
  // step are that step's errors (EndStep). Errors: the source's (DataLoss
  // naming the file and tensor for a corrupted payload), ResourceExhausted.
  virtual absl::StatusOr<std::unique_ptr<WeightStore>> LoadWeights(
      const WeightSource& source, const std::vector<WeightGroup>& groups) = 0;

  // --- A step ---

  // Clears the step's error and uploads the step's metadata. Failures are
  // the step's errors (EndStep), and then the ops of the step compute
  // nothing but still run the collectives: InvalidArgument for a batch
  // beyond the limits of Prepare, inconsistent index arrays, a position >=
  // max_context or a block id >= kv_blocks (the engine never sends one), a
  // failed upload.
  virtual StepShape BeginStep(const StepBatch& batch) = 0;

  // Calls `body`, which issues the step's ops. With `capturable`, body
  // issues the same ops for the same shape and reads nothing per step from
  // the host, so a backend may capture it once (a CUDA graph per shape) and
  // replay it on later steps of that shape instead of calling it.
  virtual void Run(const StepShape& shape, bool capturable,
                   absl::FunctionRef<void()> body) {
    (void)shape;
    (void)capturable;
    body();
  }

  // Waits for the step's ops and returns the first error any of them met
  // (OK if none). On success fills `sampled` with one entry per logit row of
  // the batch (padding rows excluded); every rank draws the same tokens from
  // the same gathered logits. Local: agreeing with the other ranks is the
  // engine's job (loader/dist/agreement.h).
  virtual absl::Status EndStep(std::vector<SampledToken>* sampled) = 0;

  // --- Ops. n is a row count, dims are element counts. ---

  // x[r, :] = table[tokens[r] - vocab_offset, :] for the step's rows, or
  // zeros where the token is not in this rank's rows (the masked lookup of
  // a vocabulary-split embedding). table: [vocab_shard, hidden].
  virtual void Embed(const uint16_t* table, int64_t rows, void* x) = 0;

  // out = x / sqrt(mean(x^2) + eps) * weight, per row. x, out: [n, dim]
  // (may alias); weight: [dim].
  virtual void RmsNorm(const void* x, const uint16_t* weight, int64_t n,
                       int64_t dim, void* out) = 0;

  // y[n, out] = x[n, in] * w[out, in]^T, in the activation dtype.
  virtual void MatMul(const void* x, const uint16_t* w, int64_t n, int64_t in,
                      int64_t out, void* y) = 0;
  // The same with FP32 output (the LM head).
  virtual void MatMulToFloat(const void* x, const uint16_t* w, int64_t n,
                             int64_t in, int64_t out, float* y) = 0;

  // Rotates, in place, the q heads and k heads of the step's rows of qkv
  // [rows, qkv_width] (q | k | v per row) by their positions, rotate-half
  // pairing (element j with j + head_dim/2), with the cos/sin table.
  virtual void Rope(void* qkv, int64_t rows) = 0;

  // Writes the k and v of each row of qkv into layer `layer`'s pools at the
  // row's KV slot.
  virtual void StoreKv(const void* qkv, int64_t layer, int64_t rows) = 0;

  // Causal attention of each row's q heads over its sequence's cached
  // positions [0, position] of layer `layer` (StoreKv ran first). Local
  // query head h reads local kv head (q_head_offset + h) / group -
  // kv_head_offset. Scale head_dim^-0.5. out: [rows, q_width].
  virtual void Attention(const void* qkv, int64_t layer, int64_t rows,
                         void* out) = 0;

  // out[r, :] = silu(gate_up[r, :width]) * gate_up[r, width:], for
  // gate_up [n, 2 * width] and out [n, width].
  virtual void SiluMul(const void* gate_up, int64_t n, int64_t width,
                       void* out) = 0;

  // x += y over `count` values.
  virtual void Add(void* x, const void* y, int64_t count) = 0;

  // out[i, :] = x[logit_rows[first + i], :] for i < n; x [rows, dim].
  virtual void GatherLogitRows(const void* x, int64_t first, int64_t n,
                               int64_t dim, void* out) = 0;

  // Samples the logit rows [first, first + n) of the step from `logits`,
  // this rank's gathered shards [world.size, n, vocab_shard] (AllGather of
  // each rank's [n, vocab_shard]): token t is logits[t / vocab_shard][i][t %
  // vocab_shard]; ids >= vocab_size are never drawn. Each row follows its
  // SampleRequest (sampling.h); the results come out of EndStep.
  virtual void Sample(const float* logits, int64_t first, int64_t n) = 0;

  // --- Collectives, stream-ordered like the ops ---

  // Sums x [count] over the ranks, in place, in the activation dtype. A
  // no-op at size 1.
  virtual void AllReduceSum(void* x, int64_t count) = 0;
  // out = the ranks' `in` ([count] FP32 each) in rank order: [size, count].
  virtual void AllGather(const float* in, int64_t count, float* out) = 0;
};

}  // namespace df11

#endif  // DF11_LOADER_ENGINE_BACKEND_H_
