// Where a step's time goes: decoding weights, GEMMs, attention,
// communication, the rest. For `df11 bench`, to set against the memory plan
// and the weight-read limit.
//
//   auto profiling = std::make_unique<ProfilingBackend>(*factory(world));
//   ProfilingBackend* profiler = profiling.get();
//   ASSIGN_OR_RETURN(auto engine, LlamaEngine::Create(config, source,
//                                                     std::move(profiling),
//                                                     o));
//   profiler->set_profiling(true);
//   RETURN_IF_ERROR(engine->Step(plan).status());
//   StepProfile p = profiler->TakeProfile();  // p.gemm_ms, ...
//
// ProfilingBackend forwards every call to the backend it wraps (and wraps
// the WeightStore that LoadWeights returns). While profiling is off it only
// forwards. While it is on, it times each op on the host and then waits for
// it (a 4-byte CopyToHost, which returns when every op issued before it is
// complete), so each op's time is its own even on an asynchronous backend.
// That serializes the step: the next group's decode no longer overlaps this
// group's compute (decode_ms is then the decode time not hidden behind the
// compute), and Run is not capturable (no CUDA graph). Profiled steps are
// therefore slower than timed ones; time them separately. A backend that
// records its own per-category times (CUDA events) can fill StepProfile
// itself; this is the fallback that works on every backend.
//
// Not thread-safe, like Backend.
#ifndef DF11_LOADER_PLAN_PROFILING_BACKEND_H_
#define DF11_LOADER_PLAN_PROFILING_BACKEND_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "loader/engine/backend.h"

namespace df11 {

// Milliseconds by category, summed over `steps` steps.
struct StepProfile {
  double decode_ms = 0;         // WeightStore Prefetch / Acquire; the
                                // store's own measure when it has one
                                // (weight_store.h DecodeStats: the decode
                                // kernels' device time on CUDA, which
                                // overlaps the other categories)
  double gemm_ms = 0;           // MatMul, MatMulToFloat
  double attention_ms = 0;      // Rope, StoreKv, Attention
  double communication_ms = 0;  // AllReduceSum, AllGather
  double other_ms = 0;          // Embed, RmsNorm, SiluMul, Add, logit rows,
                                // Sample, BeginStep, EndStep
  int64_t steps = 0;

  double total_ms() const {
    return decode_ms + gemm_ms + attention_ms + communication_ms + other_ms;
  }
  // The same per step (all zero when steps == 0).
  StepProfile PerStep() const;
};

class ProfilingBackend final : public Backend {
 public:
  explicit ProfilingBackend(std::unique_ptr<Backend> inner);
  ~ProfilingBackend() override;

  void set_profiling(bool on) { profiling_ = on; }
  bool profiling() const { return profiling_; }
  // The profile since the last call (steps: EndStep calls while profiling).
  StepProfile TakeProfile();
  Backend& inner() { return *inner_; }

  const WorldConfig& world() const override { return inner_->world(); }
  Dtype activation_dtype() const override { return inner_->activation_dtype(); }
  Dtype kv_dtype() const override { return inner_->kv_dtype(); }
  absl::Status Prepare(const BackendModel& model,
                       const BackendLimits& limits) override;
  BackendMemory memory() const override { return inner_->memory(); }
  absl::StatusOr<Buffer> Allocate(size_t bytes) override {
    return inner_->Allocate(bytes);
  }
  absl::Status CopyFromHost(const void* host, size_t bytes,
                            void* dst) override {
    return inner_->CopyFromHost(host, bytes, dst);
  }
  absl::Status CopyToHost(const void* src, size_t bytes, void* host) override {
    return inner_->CopyToHost(src, bytes, host);
  }
  void Copy(const void* src, size_t bytes, void* dst) override {
    inner_->Copy(src, bytes, dst);
  }
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

 private:
  class Store;
  // Runs `op` and, while profiling, waits for it and adds its time to
  // *category.
  template <typename Op>
  void Timed(double* category, Op&& op);

  std::unique_ptr<Backend> inner_;
  bool profiling_ = false;
  Buffer sync_;  // read back to wait for the backend's queue
  StepProfile profile_;
  const WeightStore* store_ = nullptr;  // the inner store, once loaded
  DecodeStats decode_at_take_;          // its decode stats at TakeProfile
};

}  // namespace df11

#endif  // DF11_LOADER_PLAN_PROFILING_BACKEND_H_
