// The reference Backend: plain C++ on the CPU, GEMMs through OpenBLAS,
// collectives over MPI_COMM_WORLD.
//
//   ASSIGN_OR_RETURN(auto session, MpiSession::Start(&argc, &argv));
//   auto backend = std::make_unique<CpuBackend>(session->world(), threads);
//
// Numerics (docs/engine.md): BF16 weights are widened to FP32 exactly; every
// activation, accumulation and the KV cache is FP32. MatMul widens the whole
// BF16 matrix into an FP32 scratch buffer and calls cblas_sgemm. Reductions
// (RMSNorm's sum of squares, q.k, softmax's sum, p.v) run in FP32 in index
// order. Deterministic: the same inputs and thread count give the same bits.
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
  // `threads` run OpenBLAS and the attention loop.
  CpuBackend(const WorldConfig& world, int threads);

  const WorldConfig& world() const override { return world_; }

  absl::StatusOr<Buffer> Allocate(size_t bytes) override;
  void CopyFromHost(const void* host, size_t bytes, void* dst) override;
  void CopyToHost(const void* src, size_t bytes, void* host) override;

  void Embed(const int32_t* tokens, int64_t n, const uint16_t* table,
             int64_t first_row, int64_t table_rows, int64_t dim,
             float* out) override;
  void RmsNorm(const float* x, const uint16_t* weight, int64_t n, int64_t dim,
               float eps, float* out) override;
  void MatMul(const float* x, const uint16_t* w, int64_t n, int64_t in,
              int64_t out, float* y) override;
  void Rope(float* x, int64_t n, int64_t heads, int64_t head_dim,
            const int32_t* positions, const float* inv_freq) override;
  void StoreKv(const float* k, const float* v,
               const std::vector<AttentionSpan>& spans,
               const KvLayer& cache) override;
  void Attention(const float* q, const std::vector<AttentionSpan>& spans,
                 const KvLayer& cache, int64_t q_heads, int64_t q_head_offset,
                 int64_t group, int64_t kv_offset, float scale,
                 float* out) override;
  void SiluMul(const float* gate, const float* up, int64_t n,
               float* out) override;
  void GatherRows(const float* x, const std::vector<int64_t>& rows, int64_t dim,
                  float* out) override;
  void Add(float* x, const float* y, int64_t n) override;

  absl::Status AllReduceSum(float* x, int64_t n) override;
  absl::Status AllGather(const float* in, int64_t n, float* out) override;

 private:
  WorldConfig world_;
  int threads_;
  std::vector<float> widened_;  // MatMul's FP32 copy of the weight
};

}  // namespace df11

#endif  // DF11_LOADER_BACKEND_CPU_CPU_BACKEND_H_
