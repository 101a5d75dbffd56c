// The reference Backend: plain C++ on the CPU, GEMMs through OpenBLAS,
// collectives over MPI_COMM_WORLD.
//
//   ASSIGN_OR_RETURN(auto session, MpiSession::Start(&argc, &argv));
//   auto backend = std::make_unique<CpuBackend>(session->world(), threads);
//
// Numerics (docs/engine.md): activations, the KV cache and every
// accumulation are FP32; BF16 weights are widened to FP32 exactly. MatMul
// widens the whole BF16 matrix into an FP32 scratch buffer and calls
// cblas_sgemv once per row. Reductions (RMSNorm's sum of squares, q.k,
// softmax's sum, p.v) run in FP32 in index order. Deterministic and batch
// invariant: the same inputs and thread count give the same bits, and every
// op computes each row on its own, so a sequence's logits do not depend on
// what else is in its step (at TP <= 2, where an all-reduce adds two
// values and so has one order). Ops run synchronously, as they are issued;
// after an op fails, the step's later ops do nothing but the collectives.
//
// Weights (cpu_weight_store.h) are copied into host memory at load and
// decoded with the codec's CPU decoder into one of two buffers per group.
//
// REQUIRES: for world.size > 1, MPI initialized (MpiSession) with
// world.rank/size those of MPI_COMM_WORLD. Memory is host memory; Allocate
// returns zeroed, 64-byte aligned blocks. Not thread-safe.
#ifndef DF11_LOADER_BACKEND_CPU_CPU_BACKEND_H_
#define DF11_LOADER_BACKEND_CPU_CPU_BACKEND_H_

#include <vector>

#include "loader/engine/backend.h"

namespace df11 {

class CpuBackend final : public Backend {
 public:
  // `threads` run OpenBLAS, attention and weight decoding.
  CpuBackend(const WorldConfig& world, int threads);

  const WorldConfig& world() const override { return world_; }
  Dtype activation_dtype() const override { return Dtype::kF32; }
  Dtype kv_dtype() const override { return Dtype::kF32; }

  absl::Status Prepare(const BackendModel& model,
                       const BackendLimits& limits) override;
  BackendMemory memory() const override;

  absl::StatusOr<Buffer> Allocate(size_t bytes) override;
  absl::Status CopyFromHost(const void* host, size_t bytes, void* dst) override;
  absl::Status CopyToHost(const void* src, size_t bytes, void* host) override;
  void Copy(const void* src, size_t bytes, void* dst) override;

  absl::StatusOr<std::unique_ptr<WeightStore>> LoadWeights(
      const WeightSource& source,
      const std::vector<WeightGroup>& groups) override;

  StepShape BeginStep(const StepBatch& batch) override;
  absl::Status EndStep(std::vector<SampledToken>* sampled) override;

  void Embed(const uint16_t* table, int64_t rows, void* x) override;
  void RmsNorm(const void* x, const uint16_t* weight, int64_t n, int64_t dim,
               void* out) override;
  void MatMul(const void* x, const uint16_t* w, int64_t n, int64_t in,
              int64_t out, void* y) override;
  void MatMulToFloat(const void* x, const uint16_t* w, int64_t n, int64_t in,
                     int64_t out, float* y) override;
  void Rope(void* qkv, int64_t rows) override;
  void StoreKv(const void* qkv, int64_t layer, int64_t rows) override;
  void Attention(const void* qkv, int64_t layer, int64_t rows,
                 void* out) override;
  void SiluMul(const void* gate_up, int64_t n, int64_t width,
               void* out) override;
  void Add(void* x, const void* y, int64_t count) override;
  void GatherLogitRows(const void* x, int64_t first, int64_t n, int64_t dim,
                       void* out) override;
  void Sample(const float* logits, int64_t first, int64_t n) override;

  void AllReduceSum(void* x, int64_t count) override;
  void AllGather(const float* in, int64_t count, float* out) override;

 private:
  // Records the step's first error.
  void Fail(absl::Status status);
  bool failed() const { return !status_.ok(); }

  WorldConfig world_;
  int threads_;
  BackendModel model_;
  BackendLimits limits_;
  bool prepared_ = false;

  // KV pools: per layer, k and v, each [kv_blocks * block_tokens, kv_width].
  std::vector<Buffer> kv_k_, kv_v_;
  std::vector<float> rope_cos_, rope_sin_;  // [max_context, head_dim / 2]
  std::vector<float> widened_;              // MatMul's FP32 copy of the weight

  // The step. Capacities are reserved by Prepare; BeginStep only assigns.
  absl::Status status_;
  StepBatch batch_;
  std::vector<int32_t> row_sequence_;  // [rows] the sequence of each row
  std::vector<SampledToken> sampled_;  // [logit rows]
  std::vector<float> sample_row_;      // [vocab_size] one row of logits
};

}  // namespace df11

#endif  // DF11_LOADER_BACKEND_CPU_CPU_BACKEND_H_
