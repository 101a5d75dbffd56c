// The GPU Backend (loader/engine/backend.h): BF16 activations and KV cache,
// FP32 accumulation, GEMMs through cuBLASLt, our kernels for the rest,
// collectives over NCCL, decode steps replayed as CUDA graphs, weights
// resident in DF11 form and decoded just in time (cuda_weight_store.h).
// docs/cuda_backend.md has the design, the numerics and the tolerances.
//
//   CudaBackendOptions options;
//   options.gpu_memory_gb = 80;  // stand in for an 80 GB card
//   ASSIGN_OR_RETURN(std::unique_ptr<Backend> backend,
//                    CudaBackend::Create(world, options));
//
// One compute stream carries every op and collective in issue order; the
// weight store decodes on a second stream joined by events. EndStep
// synchronizes and returns the step's first error: a CUDA, cuBLASLt or NCCL
// error, a decode error flag (DataLoss naming the weight group) or a bad
// batch. After an error the step's later ops do nothing except the
// collectives.
//
// CUDA graphs: Run(shape, capturable, body) captures body once per (rows,
// logit rows, sort needed) and replays it afterwards. BeginStep pads pure
// decode steps (one token per sequence) to a power-of-two bucket of rows,
// so a serving loop replays a handful of graphs; padding rows write their k
// and v to a spare block outside the pool and sample nothing.
//
// REQUIRES: world.device is a visible GPU; for world.size > 1, MPI
// initialized (the NCCL id is broadcast over MPI_COMM_WORLD) and one rank
// per GPU. Not thread-safe.
#ifndef DF11_LOADER_BACKEND_CUDA_CUDA_BACKEND_H_
#define DF11_LOADER_BACKEND_CUDA_CUDA_BACKEND_H_

#include <cuda_runtime.h>

#include <map>
#include <memory>
#include <tuple>
#include <vector>

#include "loader/backend/cuda/cublaslt_gemm.h"
#include "loader/backend/cuda/cuda_weight_store.h"
#include "loader/backend/cuda/device_memory.h"
#include "loader/backend/cuda/device_sampling.h"
#include "loader/engine/backend.h"

typedef struct ncclComm* ncclComm_t;

namespace df11 {

struct CudaBackendOptions {
  // The most device memory this rank may use, in GB (10^9 bytes); 0: what
  // is free.
  double gpu_memory_gb = 0;
  WeightResidency residency = WeightResidency::kDf11;
  bool cuda_graphs = true;
  // Print the memory plan to stderr after LoadWeights.
  bool print_memory_plan = true;
  // Decode steps use FlashInfer's paged decode kernel where this build has
  // it and the head shape is instantiated (docs/cuda_backend.md).
  bool flashinfer_decode = true;
  // Other steps (prefill, mixed) use FlashInfer's paged prefill kernel where
  // this build has it and the head shape is instantiated.
  bool flashinfer_prefill = true;
  // One-row products (decode at batch 1) use our GEMV (small_gemv.h)
  // instead of cuBLASLt: faster there, where a step is bound by reading the
  // weights (gemv_bench, docs/perf.md).
  bool small_gemv = true;
  // The compute stream gets the device's highest stream priority, the
  // decode stream the lowest.
  bool prioritize_compute = true;
};

// The number of CUDA devices this process sees (0 without a driver).
int VisibleCudaDevices();

class CudaBackend final : public Backend {
 public:
  // Errors: the CUDA error of selecting the device, ResourceExhausted for
  // a cap above the free memory, NCCL errors.
  static absl::StatusOr<std::unique_ptr<CudaBackend>> Create(
      const WorldConfig& world, const CudaBackendOptions& options);
  ~CudaBackend() override;

  const WorldConfig& world() const override { return world_; }
  Dtype activation_dtype() const override { return Dtype::kBF16; }
  Dtype kv_dtype() const override { return Dtype::kBF16; }

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
  void Run(const StepShape& shape, bool capturable,
           absl::FunctionRef<void()> body) override;
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

  // For the bench and tests.
  cudaStream_t stream() const { return stream_; }
  const DeviceMemory& device_memory() const { return *memory_; }
  int graphs_captured() const { return static_cast<int>(graphs_.size()); }
  const WeightLoadStats* load_stats() const {
    return store_ != nullptr ? &store_->load_stats() : nullptr;
  }

 private:
  // Device (and pinned host) views of the step metadata, one region each.
  struct Meta {
    int32_t* tokens;
    int32_t* positions;
    int32_t* kv_slots;
    int32_t* row_seq;
    int32_t* logit_rows;
    int32_t* kv_indptr;
    int32_t* kv_indices;
    int32_t* kv_last_page_len;
    DeviceSampleRequest* requests;
    // FlashInfer prefill: sequence row ranges and its work list
    // (flashinfer_prefill.h), padded to a length fixed by the row count,
    // with the padding entries marked invalid.
    int32_t* qo_indptr;
    int32_t* prefill_request;
    int32_t* prefill_tile;
    uint8_t* prefill_valid;
  };
  static constexpr int kMetaRegions = 13;
  // (rows, logit rows, sort, sample, decode step): what the issued ops depend
  // on.
  using GraphKey = std::tuple<int64_t, int64_t, bool, bool, bool>;

  CudaBackend(const WorldConfig& world, const CudaBackendOptions& options)
      : world_(world), options_(options) {}
  void Fail(absl::Status status);
  // MatMul and MatMulToFloat: our GEMV for a few rows, else cuBLASLt.
  void Gemm(const uint16_t* x, const uint16_t* w, int64_t n, int64_t in,
            int64_t out, void* y, bool float_out);
  bool failed() const { return !status_.ok(); }
  Meta Views(uint8_t* base) const;
  // The head layout FlashInfer's kernels take: local query head h reads kv
  // head h / group.
  bool FlashInferHeads() const;
  uint16_t* KvPool(bool v, int64_t layer) const;

  WorldConfig world_;
  CudaBackendOptions options_;
  std::shared_ptr<DeviceMemory> memory_;
  cudaStream_t stream_ = nullptr;
  ncclComm_t nccl_ = nullptr;
  Buffer gemm_workspace_;
  std::unique_ptr<CublasLtGemm> gemm_;
  CudaWeightStore* store_ = nullptr;  // owned by the engine

  BackendModel model_;
  BackendLimits limits_;
  bool prepared_ = false;
  Buffer kv_[2];  // k and v: [layers][(kv_blocks + 1) * block_tokens][kv_width]
  int64_t layer_slots_ = 0;
  Buffer rope_cos_, rope_sin_;
  Buffer meta_device_, meta_host_;
  uint64_t meta_offsets_[kMetaRegions + 1] = {};
  // FlashInfer's fixed inputs: 0..rows-1, zeros (as many as the longer of
  // rows and the prefill work list), a chunk size.
  Buffer flashinfer_index_;
  int64_t flashinfer_zeros_ = 0;
  // This step's FlashInfer prefill launch size (0: not used).
  int64_t prefill_work_ = 0;
  Buffer logit_rows_f32_;  // [max_logit_rows, vocab_size]
  Buffer sort_buffers_[5];
  SortWorkspace sort_;
  Buffer sampled_device_, sampled_host_;  // DeviceSampled [max_batch_tokens]

  // The step.
  absl::Status status_;
  int64_t real_logit_rows_ = 0;
  bool needs_sort_ = false;
  bool any_sample_ = false;
  // Every row is the last token of its own sequence (a decode step): the
  // FlashInfer decode kernel applies.
  bool decode_step_ = false;
  std::map<GraphKey, cudaGraphExec_t> graphs_;
};

}  // namespace df11

#endif  // DF11_LOADER_BACKEND_CUDA_CUDA_BACKEND_H_
