#include "loader/plan/profiling_backend.h"

#include <chrono>
#include <utility>

#include "loader/base/status_macros.h"

namespace df11 {

StepProfile StepProfile::PerStep() const {
  StepProfile p;
  if (steps == 0) return p;
  const double n = static_cast<double>(steps);
  p.decode_ms = decode_ms / n;
  p.gemm_ms = gemm_ms / n;
  p.attention_ms = attention_ms / n;
  p.communication_ms = communication_ms / n;
  p.other_ms = other_ms / n;
  p.steps = 1;
  return p;
}

// The inner backend's store, its Prefetch and Acquire timed as decode.
class ProfilingBackend::Store final : public WeightStore {
 public:
  Store(ProfilingBackend& backend, std::unique_ptr<WeightStore> inner)
      : backend_(backend), inner_(std::move(inner)) {}

  void Prefetch(int group) override {
    backend_.Timed(&backend_.profile_.decode_ms,
                   [&] { inner_->Prefetch(group); });
  }
  absl::Span<const uint16_t* const> Acquire(int group) override {
    absl::Span<const uint16_t* const> out;
    backend_.Timed(&backend_.profile_.decode_ms,
                   [&] { out = inner_->Acquire(group); });
    return out;
  }
  WeightStoreMemory memory() const override { return inner_->memory(); }
  DecodeStats decode_stats() const override { return inner_->decode_stats(); }

 private:
  ProfilingBackend& backend_;
  std::unique_ptr<WeightStore> inner_;
};

ProfilingBackend::ProfilingBackend(std::unique_ptr<Backend> inner)
    : inner_(std::move(inner)) {}

ProfilingBackend::~ProfilingBackend() = default;

StepProfile ProfilingBackend::TakeProfile() {
  // A store that measures its decodes knows better than host timing, which
  // sees a decode on another stream only where compute waits for it.
  if (store_ != nullptr) {
    const DecodeStats now = store_->decode_stats();
    if (profile_.steps > 0 && now.groups > decode_at_take_.groups) {
      profile_.decode_ms = 1e3 * (now.seconds - decode_at_take_.seconds);
    }
    decode_at_take_ = now;
  }
  return std::exchange(profile_, StepProfile{});
}

template <typename Op>
void ProfilingBackend::Timed(double* category, Op&& op) {
  if (!profiling_) {
    op();
    return;
  }
  const auto start = std::chrono::steady_clock::now();
  op();
  // A synchronous copy returns once every op issued before it is done. Its
  // failure would also be the step's (the backend keeps it), so it is not
  // reported twice here.
  uint32_t word = 0;
  if (sync_.data() != nullptr) {
    (void)inner_->CopyToHost(sync_.data(), sizeof(word), &word);
  }
  *category += std::chrono::duration<double, std::milli>(
                   std::chrono::steady_clock::now() - start)
                   .count();
}

absl::Status ProfilingBackend::Prepare(const BackendModel& model,
                                       const BackendLimits& limits) {
  RETURN_IF_ERROR(inner_->Prepare(model, limits));
  ASSIGN_OR_RETURN(sync_, inner_->Allocate(256));
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<WeightStore>> ProfilingBackend::LoadWeights(
    const WeightSource& source, const std::vector<WeightGroup>& groups) {
  ASSIGN_OR_RETURN(std::unique_ptr<WeightStore> inner,
                   inner_->LoadWeights(source, groups));
  store_ = inner.get();
  return std::unique_ptr<WeightStore>(new Store(*this, std::move(inner)));
}

StepShape ProfilingBackend::BeginStep(const StepBatch& batch) {
  StepShape shape;
  Timed(&profile_.other_ms, [&] { shape = inner_->BeginStep(batch); });
  return shape;
}

void ProfilingBackend::Run(const StepShape& shape, bool capturable,
                           absl::FunctionRef<void()> body) {
  // A captured graph would replay without calling the ops through here.
  inner_->Run(shape, capturable && !profiling_, body);
}

absl::Status ProfilingBackend::EndStep(std::vector<SampledToken>* sampled) {
  absl::Status status;
  Timed(&profile_.other_ms, [&] { status = inner_->EndStep(sampled); });
  if (profiling_) ++profile_.steps;
  return status;
}

void ProfilingBackend::Embed(const uint16_t* table, int64_t rows, void* x) {
  Timed(&profile_.other_ms, [&] { inner_->Embed(table, rows, x); });
}

void ProfilingBackend::RmsNorm(const void* x, const uint16_t* weight, int64_t n,
                               int64_t dim, void* out) {
  Timed(&profile_.other_ms, [&] { inner_->RmsNorm(x, weight, n, dim, out); });
}

void ProfilingBackend::MatMul(const void* x, const uint16_t* w, int64_t n,
                              int64_t in, int64_t out, void* y) {
  Timed(&profile_.gemm_ms, [&] { inner_->MatMul(x, w, n, in, out, y); });
}

void ProfilingBackend::MatMulToFloat(const void* x, const uint16_t* w,
                                     int64_t n, int64_t in, int64_t out,
                                     float* y) {
  Timed(&profile_.gemm_ms, [&] { inner_->MatMulToFloat(x, w, n, in, out, y); });
}

void ProfilingBackend::Rope(void* qkv, int64_t rows) {
  Timed(&profile_.attention_ms, [&] { inner_->Rope(qkv, rows); });
}

void ProfilingBackend::StoreKv(const void* qkv, int64_t layer, int64_t rows) {
  Timed(&profile_.attention_ms, [&] { inner_->StoreKv(qkv, layer, rows); });
}

void ProfilingBackend::Attention(const void* qkv, int64_t layer, int64_t rows,
                                 void* out) {
  Timed(&profile_.attention_ms,
        [&] { inner_->Attention(qkv, layer, rows, out); });
}

void ProfilingBackend::SiluMul(const void* gate_up, int64_t n, int64_t width,
                               void* out) {
  Timed(&profile_.other_ms, [&] { inner_->SiluMul(gate_up, n, width, out); });
}

void ProfilingBackend::Add(void* x, const void* y, int64_t count) {
  Timed(&profile_.other_ms, [&] { inner_->Add(x, y, count); });
}

void ProfilingBackend::GatherLogitRows(const void* x, int64_t first, int64_t n,
                                       int64_t dim, void* out) {
  Timed(&profile_.other_ms,
        [&] { inner_->GatherLogitRows(x, first, n, dim, out); });
}

void ProfilingBackend::Sample(const float* logits, int64_t first, int64_t n) {
  Timed(&profile_.other_ms, [&] { inner_->Sample(logits, first, n); });
}

void ProfilingBackend::AllReduceSum(void* x, int64_t count) {
  Timed(&profile_.communication_ms, [&] { inner_->AllReduceSum(x, count); });
}

void ProfilingBackend::AllGather(const float* in, int64_t count, float* out) {
  Timed(&profile_.communication_ms, [&] { inner_->AllGather(in, count, out); });
}

}  // namespace df11
