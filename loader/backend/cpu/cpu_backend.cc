#include "loader/backend/cpu/cpu_backend.h"

#include <cblas.h>
#include <mpi.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "loader/base/parallel_for.h"
#include "loader/dist/mpi_status.h"

namespace df11 {
namespace {

inline float Widen(uint16_t bf16) {
  const uint32_t bits = static_cast<uint32_t>(bf16) << 16;
  float f;
  std::memcpy(&f, &bits, sizeof(f));
  return f;
}

}  // namespace

CpuBackend::CpuBackend(const WorldConfig& world, int threads)
    : world_(world), threads_(std::max(1, threads)) {
  openblas_set_num_threads(threads_);
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

void CpuBackend::CopyFromHost(const void* host, size_t bytes, void* dst) {
  std::memcpy(dst, host, bytes);
}

void CpuBackend::CopyToHost(const void* src, size_t bytes, void* host) {
  std::memcpy(host, src, bytes);
}

void CpuBackend::Embed(const int32_t* tokens, int64_t n, const uint16_t* table,
                       int64_t first_row, int64_t table_rows, int64_t dim,
                       float* out) {
  for (int64_t i = 0; i < n; ++i) {
    const int64_t row = tokens[i] - first_row;
    float* o = out + i * dim;
    if (row < 0 || row >= table_rows) {
      std::fill(o, o + dim, 0.0f);
      continue;
    }
    for (int64_t j = 0; j < dim; ++j) o[j] = Widen(table[row * dim + j]);
  }
}

void CpuBackend::RmsNorm(const float* x, const uint16_t* weight, int64_t n,
                         int64_t dim, float eps, float* out) {
  for (int64_t i = 0; i < n; ++i) {
    const float* xi = x + i * dim;
    float sum = 0.0f;
    for (int64_t j = 0; j < dim; ++j) sum += xi[j] * xi[j];
    const float inv = 1.0f / std::sqrt(sum / static_cast<float>(dim) + eps);
    float* o = out + i * dim;
    for (int64_t j = 0; j < dim; ++j) o[j] = Widen(weight[j]) * (xi[j] * inv);
  }
}

void CpuBackend::MatMul(const float* x, const uint16_t* w, int64_t n,
                        int64_t in, int64_t out, float* y) {
  widened_.resize(static_cast<size_t>(in * out));
  for (int64_t i = 0; i < in * out; ++i) widened_[i] = Widen(w[i]);
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, out, in, 1.0f, x, in,
              widened_.data(), in, 0.0f, y, out);
}

void CpuBackend::Rope(float* x, int64_t n, int64_t heads, int64_t head_dim,
                      const int32_t* positions, const float* inv_freq) {
  const int64_t half = head_dim / 2;
  std::vector<float> cos(half), sin(half);
  for (int64_t i = 0; i < n; ++i) {
    // Angles are FP32 products, as transformers computes them.
    const float position = static_cast<float>(positions[i]);
    for (int64_t j = 0; j < half; ++j) {
      const float angle = position * inv_freq[j];
      cos[j] = std::cos(angle);
      sin[j] = std::sin(angle);
    }
    for (int64_t head = 0; head < heads; ++head) {
      float* v = x + (i * heads + head) * head_dim;
      for (int64_t j = 0; j < half; ++j) {
        const float a = v[j];
        const float b = v[j + half];
        v[j] = a * cos[j] - b * sin[j];
        v[j + half] = b * cos[j] + a * sin[j];
      }
    }
  }
}

void CpuBackend::StoreKv(const float* k, const float* v,
                         const std::vector<AttentionSpan>& spans,
                         const KvLayer& cache) {
  const int64_t width = cache.kv_heads * cache.head_dim;
  for (const AttentionSpan& s : spans) {
    const int64_t base = (s.slot * cache.context + s.past) * width;
    std::memcpy(cache.k + base, k + s.row * width,
                s.tokens * width * sizeof(float));
    std::memcpy(cache.v + base, v + s.row * width,
                s.tokens * width * sizeof(float));
  }
}

void CpuBackend::Attention(const float* q,
                           const std::vector<AttentionSpan>& spans,
                           const KvLayer& cache, int64_t q_heads,
                           int64_t q_head_offset, int64_t group,
                           int64_t kv_offset, float scale, float* out) {
  const int64_t hd = cache.head_dim;
  const int64_t kv_width = cache.kv_heads * hd;
  // One work item per (new row, local query head): independent outputs.
  std::vector<std::pair<const AttentionSpan*, int64_t>> rows;
  for (const AttentionSpan& s : spans) {
    for (int64_t r = 0; r < s.tokens; ++r) rows.push_back({&s, r});
  }
  ParallelFor(rows.size() * q_heads, threads_, [&](size_t begin, size_t end) {
    std::vector<float> scores;
    for (size_t item = begin; item < end; ++item) {
      const AttentionSpan& s = *rows[item / q_heads].first;
      const int64_t r = rows[item / q_heads].second;
      const int64_t head = item % q_heads;
      const int64_t kv_head = (q_head_offset + head) / group - kv_offset;
      const float* qv = q + ((s.row + r) * q_heads + head) * hd;
      const int64_t visible = s.past + r + 1;
      const float* k =
          cache.k + s.slot * cache.context * kv_width + kv_head * hd;
      const float* v =
          cache.v + s.slot * cache.context * kv_width + kv_head * hd;
      scores.resize(visible);
      float max = -INFINITY;
      for (int64_t p = 0; p < visible; ++p) {
        float dot = 0.0f;
        for (int64_t d = 0; d < hd; ++d) dot += qv[d] * k[p * kv_width + d];
        scores[p] = dot * scale;
        max = std::max(max, scores[p]);
      }
      float sum = 0.0f;
      for (int64_t p = 0; p < visible; ++p) {
        scores[p] = std::exp(scores[p] - max);
        sum += scores[p];
      }
      float* o = out + ((s.row + r) * q_heads + head) * hd;
      std::fill(o, o + hd, 0.0f);
      for (int64_t p = 0; p < visible; ++p) {
        const float weight = scores[p] / sum;
        for (int64_t d = 0; d < hd; ++d) o[d] += weight * v[p * kv_width + d];
      }
    }
  });
}

void CpuBackend::SiluMul(const float* gate, const float* up, int64_t n,
                         float* out) {
  for (int64_t i = 0; i < n; ++i) {
    const float g = gate[i];
    out[i] = g / (1.0f + std::exp(-g)) * up[i];
  }
}

void CpuBackend::GatherRows(const float* x, const std::vector<int64_t>& rows,
                            int64_t dim, float* out) {
  for (size_t i = 0; i < rows.size(); ++i) {
    std::memmove(out + i * dim, x + rows[i] * dim, dim * sizeof(float));
  }
}

void CpuBackend::Add(float* x, const float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] += y[i];
}

absl::Status CpuBackend::AllReduceSum(float* x, int64_t n) {
  if (world_.size == 1) return absl::OkStatus();
  return MPI_STATUS(MPI_Allreduce(MPI_IN_PLACE, x, static_cast<int>(n),
                                  MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD));
}

absl::Status CpuBackend::AllGather(const float* in, int64_t n, float* out) {
  if (world_.size == 1) {
    std::memmove(out, in, n * sizeof(float));
    return absl::OkStatus();
  }
  return MPI_STATUS(MPI_Allgather(in, static_cast<int>(n), MPI_FLOAT, out,
                                  static_cast<int>(n), MPI_FLOAT,
                                  MPI_COMM_WORLD));
}

}  // namespace df11
