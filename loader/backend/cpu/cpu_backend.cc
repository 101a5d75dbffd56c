#include "loader/backend/cpu/cpu_backend.h"

#include <cblas.h>
#include <mpi.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "loader/backend/cpu/cpu_weight_store.h"
#include "loader/backend/step_batch_check.h"
#include "loader/base/parallel_for.h"
#include "loader/base/status_macros.h"
#include "loader/dist/mpi_status.h"

namespace df11 {
namespace {

inline float Widen(uint16_t bf16) {
  const uint32_t bits = static_cast<uint32_t>(bf16) << 16;
  float f;
  std::memcpy(&f, &bits, sizeof(f));
  return f;
}

float* F(void* p) { return static_cast<float*>(p); }
const float* F(const void* p) { return static_cast<const float*>(p); }

}  // namespace

CpuBackend::CpuBackend(const WorldConfig& world, int threads)
    : world_(world), threads_(std::max(1, threads)) {
  openblas_set_num_threads(threads_);
}

void CpuBackend::Fail(absl::Status status) {
  if (status_.ok()) status_ = std::move(status);
}

absl::Status CpuBackend::Prepare(const BackendModel& model,
                                 const BackendLimits& limits) {
  if (prepared_) return absl::FailedPreconditionError("Prepare called twice");
  if (model.head_dim % 2 != 0 ||
      static_cast<int64_t>(model.rope_inv_freq.size()) != model.head_dim / 2 ||
      limits.max_batch_tokens < 1 || limits.max_logit_rows < 1 ||
      limits.max_batch_sequences < 1 || limits.kv_blocks < 1 ||
      limits.kv_block_tokens < 1 || limits.max_context < 1) {
    return absl::InvalidArgumentError(
        "backend: head_dim must be even with head_dim/2 RoPE frequencies, "
        "and every limit positive");
  }
  model_ = model;
  limits_ = limits;
  const uint64_t slot_floats =
      limits.kv_blocks * limits.kv_block_tokens * model.kv_width();
  for (int64_t layer = 0; layer < model.layers; ++layer) {
    ASSIGN_OR_RETURN(Buffer k, Allocate(slot_floats * sizeof(float)));
    ASSIGN_OR_RETURN(Buffer v, Allocate(slot_floats * sizeof(float)));
    kv_k_.push_back(std::move(k));
    kv_v_.push_back(std::move(v));
  }
  const int64_t half = model.head_dim / 2;
  rope_cos_.resize(limits.max_context * half);
  rope_sin_.resize(limits.max_context * half);
  for (int64_t pos = 0; pos < limits.max_context; ++pos) {
    for (int64_t j = 0; j < half; ++j) {
      // Angles are FP32 products, as transformers computes them.
      const float angle = static_cast<float>(pos) * model.rope_inv_freq[j];
      rope_cos_[pos * half + j] = std::cos(angle);
      rope_sin_[pos * half + j] = std::sin(angle);
    }
  }
  const int64_t widest = std::max(
      {model.qkv_width() * model.hidden, model.q_width() * model.hidden,
       2 * model.ffn * model.hidden, model.vocab_shard * model.hidden});
  widened_.resize(widest);
  const int64_t rows = limits.max_batch_tokens;
  batch_.tokens.reserve(rows);
  batch_.positions.reserve(rows);
  batch_.kv_slots.reserve(rows);
  batch_.qo_indptr.reserve(limits.max_batch_sequences + 1);
  batch_.kv_indptr.reserve(limits.max_batch_sequences + 1);
  batch_.kv_indices.reserve(limits.kv_blocks);
  batch_.kv_last_page_len.reserve(limits.max_batch_sequences);
  batch_.logit_rows.reserve(rows);
  batch_.sampling.reserve(rows);
  row_sequence_.reserve(rows);
  sampled_.reserve(rows);
  sample_row_.resize(model.vocab_size);
  prepared_ = true;
  return absl::OkStatus();
}

BackendMemory CpuBackend::memory() const {
  BackendMemory m;
  for (const Buffer& b : kv_k_) m.kv_cache += b.bytes();
  for (const Buffer& b : kv_v_) m.kv_cache += b.bytes();
  m.workspace = (rope_cos_.size() + rope_sin_.size() + widened_.size() +
                 sample_row_.size()) *
                sizeof(float);
  return m;
}

absl::StatusOr<Buffer> CpuBackend::Allocate(size_t bytes) {
  const size_t rounded = std::max<size_t>(64, (bytes + 63) / 64 * 64);
  void* data = std::aligned_alloc(64, rounded);
  if (data == nullptr) {
    return absl::ResourceExhaustedError(
        absl::StrCat("cannot allocate ", bytes, " bytes of host memory"));
  }
  std::memset(data, 0, rounded);
  return Buffer(data, bytes, [](void* p) { std::free(p); });
}

absl::Status CpuBackend::CopyFromHost(const void* host, size_t bytes,
                                      void* dst) {
  std::memcpy(dst, host, bytes);
  return absl::OkStatus();
}

absl::Status CpuBackend::CopyToHost(const void* src, size_t bytes, void* host) {
  std::memcpy(host, src, bytes);
  return absl::OkStatus();
}

void CpuBackend::Copy(const void* src, size_t bytes, void* dst) {
  std::memcpy(dst, src, bytes);
}

absl::StatusOr<std::unique_ptr<WeightStore>> CpuBackend::LoadWeights(
    const WeightSource& source, const std::vector<WeightGroup>& groups) {
  return CpuWeightStore::Load(source, groups, threads_,
                              [this](absl::Status s) { Fail(std::move(s)); });
}

StepShape CpuBackend::BeginStep(const StepBatch& batch) {
  status_ = absl::OkStatus();
  sampled_.clear();
  if (!prepared_) {
    Fail(absl::FailedPreconditionError("BeginStep before Prepare"));
    return {batch.rows(), static_cast<int64_t>(batch.logit_rows.size())};
  }
  const absl::Status check = CheckStepBatch(batch, limits_);
  if (!check.ok()) {
    Fail(check);
    return {batch.rows(), static_cast<int64_t>(batch.logit_rows.size())};
  }
  // Assignments within the capacity Prepare reserved: no reallocation.
  batch_.tokens.assign(batch.tokens.begin(), batch.tokens.end());
  batch_.positions.assign(batch.positions.begin(), batch.positions.end());
  batch_.kv_slots.assign(batch.kv_slots.begin(), batch.kv_slots.end());
  batch_.qo_indptr.assign(batch.qo_indptr.begin(), batch.qo_indptr.end());
  batch_.kv_indptr.assign(batch.kv_indptr.begin(), batch.kv_indptr.end());
  batch_.kv_indices.assign(batch.kv_indices.begin(), batch.kv_indices.end());
  batch_.kv_last_page_len.assign(batch.kv_last_page_len.begin(),
                                 batch.kv_last_page_len.end());
  batch_.logit_rows.assign(batch.logit_rows.begin(), batch.logit_rows.end());
  batch_.sampling.assign(batch.sampling.begin(), batch.sampling.end());
  row_sequence_.resize(batch.rows());
  for (int64_t s = 0; s < batch.sequences(); ++s) {
    for (int32_t r = batch.qo_indptr[s]; r < batch.qo_indptr[s + 1]; ++r) {
      row_sequence_[r] = static_cast<int32_t>(s);
    }
  }
  sampled_.resize(batch.logit_rows.size());
  return {batch.rows(), static_cast<int64_t>(batch.logit_rows.size())};
}

absl::Status CpuBackend::EndStep(std::vector<SampledToken>* sampled) {
  sampled->clear();
  if (!status_.ok()) return status_;
  *sampled = sampled_;
  return absl::OkStatus();
}

void CpuBackend::Embed(const uint16_t* table, int64_t rows, void* x) {
  if (failed()) return;
  const int64_t dim = model_.hidden;
  for (int64_t i = 0; i < rows; ++i) {
    const int64_t row = batch_.tokens[i] - model_.vocab_offset;
    float* o = F(x) + i * dim;
    if (row < 0 || row >= model_.vocab_shard) {
      std::fill(o, o + dim, 0.0f);
      continue;
    }
    for (int64_t j = 0; j < dim; ++j) o[j] = Widen(table[row * dim + j]);
  }
}

void CpuBackend::RmsNorm(const void* x, const uint16_t* weight, int64_t n,
                         int64_t dim, void* out) {
  if (failed()) return;
  for (int64_t i = 0; i < n; ++i) {
    const float* xi = F(x) + i * dim;
    float sum = 0.0f;
    for (int64_t j = 0; j < dim; ++j) sum += xi[j] * xi[j];
    const float inv =
        1.0f / std::sqrt(sum / static_cast<float>(dim) + model_.rms_norm_eps);
    float* o = F(out) + i * dim;
    for (int64_t j = 0; j < dim; ++j) o[j] = Widen(weight[j]) * (xi[j] * inv);
  }
}

void CpuBackend::MatMul(const void* x, const uint16_t* w, int64_t n, int64_t in,
                        int64_t out, void* y) {
  MatMulToFloat(x, w, n, in, out, F(y));
}

void CpuBackend::MatMulToFloat(const void* x, const uint16_t* w, int64_t n,
                               int64_t in, int64_t out, float* y) {
  if (failed()) return;
  if (in * out > static_cast<int64_t>(widened_.size())) {
    Fail(absl::InvalidArgumentError(absl::StrCat(
        "MatMul of a [", out, ", ", in, "] weight: larger than the model's")));
    return;
  }
  for (int64_t i = 0; i < in * out; ++i) widened_[i] = Widen(w[i]);
  // One row at a time: a row's result never depends on the other rows of
  // the batch (a GEMM may change its summation order with the row count),
  // so a sequence gets the same bits alone and in any batch.
  for (int64_t r = 0; r < n; ++r) {
    cblas_sgemv(CblasRowMajor, CblasNoTrans, out, in, 1.0f, widened_.data(), in,
                F(x) + r * in, 1, 0.0f, y + r * out, 1);
  }
}

void CpuBackend::Rope(void* qkv, int64_t rows) {
  if (failed()) return;
  const int64_t hd = model_.head_dim;
  const int64_t half = hd / 2;
  const int64_t width = model_.qkv_width();
  // q heads then k heads: they are adjacent at the start of each row.
  const int64_t heads = model_.q_heads + model_.kv_heads;
  for (int64_t i = 0; i < rows; ++i) {
    const float* cos = &rope_cos_[batch_.positions[i] * half];
    const float* sin = &rope_sin_[batch_.positions[i] * half];
    for (int64_t head = 0; head < heads; ++head) {
      float* v = F(qkv) + i * width + head * hd;
      for (int64_t j = 0; j < half; ++j) {
        const float a = v[j];
        const float b = v[j + half];
        v[j] = a * cos[j] - b * sin[j];
        v[j + half] = b * cos[j] + a * sin[j];
      }
    }
  }
}

void CpuBackend::StoreKv(const void* qkv, int64_t layer, int64_t rows) {
  if (failed()) return;
  const int64_t kv_width = model_.kv_width();
  const int64_t width = model_.qkv_width();
  for (int64_t i = 0; i < rows; ++i) {
    const float* k = F(qkv) + i * width + model_.q_width();
    const float* v = k + kv_width;
    const int64_t slot = batch_.kv_slots[i];
    std::memcpy(kv_k_[layer].as<float>() + slot * kv_width, k,
                kv_width * sizeof(float));
    std::memcpy(kv_v_[layer].as<float>() + slot * kv_width, v,
                kv_width * sizeof(float));
  }
}

void CpuBackend::Attention(const void* qkv, int64_t layer, int64_t rows,
                           void* out) {
  if (failed()) return;
  const int64_t hd = model_.head_dim;
  const int64_t kv_width = model_.kv_width();
  const int64_t width = model_.qkv_width();
  const int64_t q_heads = model_.q_heads;
  const int64_t bs = limits_.kv_block_tokens;
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  const float* k_pool = kv_k_[layer].as<float>();
  const float* v_pool = kv_v_[layer].as<float>();
  // One work item per (row, local query head): independent outputs.
  ParallelFor(rows * q_heads, threads_, [&](size_t begin, size_t end) {
    std::vector<float> scores;
    for (size_t item = begin; item < end; ++item) {
      const int64_t r = item / q_heads;
      const int64_t head = item % q_heads;
      const int64_t kv_head =
          (model_.q_head_offset + head) / model_.group - model_.kv_head_offset;
      const int32_t* blocks =
          &batch_.kv_indices[batch_.kv_indptr[row_sequence_[r]]];
      const float* qv = F(qkv) + r * width + head * hd;
      const int64_t visible = batch_.positions[r] + 1;
      const auto slot = [&](int64_t p) { return blocks[p / bs] * bs + p % bs; };
      scores.resize(visible);
      float max = -INFINITY;
      for (int64_t p = 0; p < visible; ++p) {
        const float* k = k_pool + slot(p) * kv_width + kv_head * hd;
        float dot = 0.0f;
        for (int64_t d = 0; d < hd; ++d) dot += qv[d] * k[d];
        scores[p] = dot * scale;
        max = std::max(max, scores[p]);
      }
      float sum = 0.0f;
      for (int64_t p = 0; p < visible; ++p) {
        scores[p] = std::exp(scores[p] - max);
        sum += scores[p];
      }
      float* o = F(out) + (r * q_heads + head) * hd;
      std::fill(o, o + hd, 0.0f);
      for (int64_t p = 0; p < visible; ++p) {
        const float weight = scores[p] / sum;
        const float* v = v_pool + slot(p) * kv_width + kv_head * hd;
        for (int64_t d = 0; d < hd; ++d) o[d] += weight * v[d];
      }
    }
  });
}

void CpuBackend::SiluMul(const void* gate_up, int64_t n, int64_t width,
                         void* out) {
  if (failed()) return;
  for (int64_t i = 0; i < n; ++i) {
    const float* gate = F(gate_up) + i * 2 * width;
    const float* up = gate + width;
    float* o = F(out) + i * width;
    for (int64_t j = 0; j < width; ++j) {
      const float g = gate[j];
      o[j] = g / (1.0f + std::exp(-g)) * up[j];
    }
  }
}

void CpuBackend::Add(void* x, const void* y, int64_t count) {
  if (failed()) return;
  for (int64_t i = 0; i < count; ++i) F(x)[i] += F(y)[i];
}

void CpuBackend::GatherLogitRows(const void* x, int64_t first, int64_t n,
                                 int64_t dim, void* out) {
  if (failed()) return;
  for (int64_t i = 0; i < n; ++i) {
    // memmove: out may be x itself, and rows only move towards the front.
    std::memmove(F(out) + i * dim, F(x) + batch_.logit_rows[first + i] * dim,
                 dim * sizeof(float));
  }
}

void CpuBackend::Sample(const float* logits, int64_t first, int64_t n) {
  if (failed()) return;
  const int64_t shard = model_.vocab_shard;
  for (int64_t i = 0; i < n; ++i) {
    const SampleRequest& request = batch_.sampling[first + i];
    if (!request.sample) continue;
    // [rank, row, shard] -> one row over the real vocabulary.
    for (int64_t t = 0; t < model_.vocab_size; ++t) {
      sample_row_[t] = logits[((t / shard) * n + i) * shard + t % shard];
    }
    sampled_[first + i] = SampleRow(request, sample_row_);
  }
}

void CpuBackend::AllReduceSum(void* x, int64_t count) {
  if (world_.size == 1) return;
  const absl::Status s =
      MPI_STATUS(MPI_Allreduce(MPI_IN_PLACE, x, static_cast<int>(count),
                               MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD));
  if (!s.ok()) Fail(s);
}

void CpuBackend::AllGather(const float* in, int64_t count, float* out) {
  if (world_.size == 1) {
    std::memmove(out, in, count * sizeof(float));
    return;
  }
  const absl::Status s = MPI_STATUS(
      MPI_Allgather(in, static_cast<int>(count), MPI_FLOAT, out,
                    static_cast<int>(count), MPI_FLOAT, MPI_COMM_WORLD));
  if (!s.ok()) Fail(s);
}

}  // namespace df11
