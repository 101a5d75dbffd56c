// Every op of the CUDA backend against the CPU backend (the reference), on
// the same BF16-representable inputs, with awkward sizes. The CUDA backend
// rounds each output to BF16 once, so an output may differ from the CPU's
// FP32 by half a BF16 ulp (2^-8 relative) plus the FP32 rounding of another
// summation order (a small multiple of 2^-24 of the terms' magnitude).
// Until loader/backend/backend_conformance_test lands, this is the per-op
// suite. Tagged gpu: skipped (with a notice) where there is no GPU.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <random>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "loader/backend/backend_factory.h"
#include "loader/backend/cuda/cublaslt_gemm.h"
#include "loader/backend/cuda/cuda_backend.h"
#include "loader/backend/cuda/small_gemv.h"
#include "loader/codec/synthetic_weights.h"
#include "loader/engine/sampling.h"
#include "loader/gpu/gpu_test_util.h"

namespace df11 {
namespace {

constexpr double kHalfUlp = 1.0 / 256;    // BF16 rounding, relative
constexpr double kF32 = 1.0 / (1 << 16);  // FP32 order, relative to the terms

std::vector<uint16_t> RandomBf16(size_t n, std::mt19937& rng,
                                 float scale = 1.0f) {
  std::normal_distribution<float> d(0.0f, scale);
  std::vector<uint16_t> v(n);
  for (auto& x : v) x = Bf16FromFloat(d(rng));
  return v;
}
std::vector<float> Widened(const std::vector<uint16_t>& v) {
  std::vector<float> f(v.size());
  for (size_t i = 0; i < v.size(); ++i) f[i] = FloatFromBf16(v[i]);
  return f;
}

struct OpSetup {
  BackendModel model;
  BackendLimits limits;
};

OpSetup MakeSetup(int64_t hidden, int64_t head_dim, int64_t q_heads,
                  int64_t kv_heads, int64_t vocab) {
  OpSetup s;
  BackendModel& m = s.model;
  m.layers = 2;
  m.hidden = hidden;
  m.head_dim = head_dim;
  m.q_heads = q_heads;
  m.kv_heads = kv_heads;
  m.group = q_heads / kv_heads;
  m.ffn = 3 * hidden;
  m.vocab_shard = vocab;
  m.vocab_size = vocab;
  m.rms_norm_eps = 1e-5f;
  for (int64_t j = 0; j < head_dim / 2; ++j) {
    m.rope_inv_freq.push_back(std::pow(10000.0f, -2.0f * j / head_dim));
  }
  s.limits.max_batch_tokens = 256;
  s.limits.max_batch_sequences = 16;
  s.limits.max_logit_rows = 64;
  s.limits.max_context = 512;
  s.limits.kv_blocks = 128;
  s.limits.kv_block_tokens = 16;
  return s;
}

// The two backends, prepared alike, and their buffers.
class Pair {
 public:
  explicit Pair(const OpSetup& s) : setup_(s) {
    cpu_ =
        *MakeBackendFactory(BackendKind::kCpu, {.threads = 2})(WorldConfig{});
    CudaBackendOptions o;
    o.print_memory_plan = false;
    o.cuda_graphs = false;
    auto gpu = CudaBackend::Create(WorldConfig{}, o);
    EXPECT_TRUE(gpu.ok()) << gpu.status();
    gpu_ = *std::move(gpu);
    EXPECT_TRUE(cpu_->Prepare(s.model, s.limits).ok());
    const absl::Status p = gpu_->Prepare(s.model, s.limits);
    EXPECT_TRUE(p.ok()) << p;
  }

  void Begin(const StepBatch& b) {
    cpu_->BeginStep(b);
    gpu_shape_ = gpu_->BeginStep(b);
  }
  void End() {
    std::vector<SampledToken> unused;
    EXPECT_TRUE(cpu_->EndStep(&unused).ok());
    const absl::Status s = gpu_->EndStep(&gpu_sampled_);
    EXPECT_TRUE(s.ok()) << s;
  }

  // A BF16 activation as both see it.
  struct Act {
    Buffer cpu, gpu;
  };
  Act Upload(const std::vector<uint16_t>& v) {
    Act a;
    const std::vector<float> f = Widened(v);
    a.cpu = *cpu_->Allocate(f.size() * 4);
    std::memcpy(a.cpu.data(), f.data(), f.size() * 4);
    a.gpu = *gpu_->Allocate(v.size() * 2);
    EXPECT_TRUE(gpu_->CopyFromHost(v.data(), v.size() * 2, a.gpu.data()).ok());
    return a;
  }
  Act Empty(size_t n, size_t gpu_elem = 2) {
    Act a;
    a.cpu = *cpu_->Allocate(n * 4);
    a.gpu = *gpu_->Allocate(n * gpu_elem);
    return a;
  }
  // A BF16 weight on the device, and its bit patterns for the CPU.
  const uint16_t* Weight(const std::vector<uint16_t>& w) {
    weights_.push_back(*gpu_->Allocate(w.size() * 2));
    EXPECT_TRUE(
        gpu_->CopyFromHost(w.data(), w.size() * 2, weights_.back().data())
            .ok());
    return weights_.back().as<uint16_t>();
  }
  std::vector<float> CpuValues(const Act& a, size_t n) {
    std::vector<float> f(n);
    std::memcpy(f.data(), a.cpu.data(), n * 4);
    return f;
  }
  std::vector<float> GpuValues(const Act& a, size_t n) {
    std::vector<uint16_t> b(n);
    EXPECT_TRUE(gpu_->CopyToHost(a.gpu.data(), n * 2, b.data()).ok());
    return Widened(b);
  }
  std::vector<float> GpuFloats(const Act& a, size_t n) {
    std::vector<float> f(n);
    EXPECT_TRUE(gpu_->CopyToHost(a.gpu.data(), n * 4, f.data()).ok());
    return f;
  }

  Backend& cpu() { return *cpu_; }
  CudaBackend& gpu() { return *gpu_; }
  const StepShape& gpu_shape() const { return gpu_shape_; }
  const std::vector<SampledToken>& gpu_sampled() const { return gpu_sampled_; }

 private:
  OpSetup setup_;
  std::unique_ptr<Backend> cpu_;
  std::unique_ptr<CudaBackend> gpu_;
  std::vector<Buffer> weights_;
  StepShape gpu_shape_;
  std::vector<SampledToken> gpu_sampled_;
};

// Per element: |gpu - cpu| <= half_ulp * |cpu| + f32 * magnitude[i].
void ExpectClose(const std::vector<float>& gpu, const std::vector<float>& cpu,
                 const std::vector<double>& magnitude, double rel = kHalfUlp,
                 double f32 = kF32) {
  ASSERT_EQ(gpu.size(), cpu.size());
  int bad = 0;
  for (size_t i = 0; i < cpu.size(); ++i) {
    const double tol = rel * std::abs(cpu[i]) + f32 * magnitude[i] + 1e-30;
    if (!(std::abs(double(gpu[i]) - cpu[i]) <= tol) && ++bad <= 5) {
      ADD_FAILURE() << "element " << i << ": gpu " << gpu[i] << ", cpu "
                    << cpu[i] << ", tolerance " << tol;
    }
  }
  EXPECT_EQ(bad, 0) << "elements outside tolerance";
}

// One sequence per entry of `lengths`, all tokens new in this step.
StepBatch PrefillBatch(const std::vector<int>& lengths, int64_t block_tokens,
                       std::mt19937& rng, int64_t vocab) {
  StepBatch b;
  b.qo_indptr.push_back(0);
  b.kv_indptr.push_back(0);
  int32_t next_block = 5;  // scattered, non-zero block ids
  for (int len : lengths) {
    const int pages = (len + block_tokens - 1) / block_tokens;
    std::vector<int32_t> blocks;
    for (int p = 0; p < pages; ++p) blocks.push_back((next_block += 3) % 120);
    for (int i = 0; i < len; ++i) {
      b.tokens.push_back(static_cast<int32_t>(rng() % vocab));
      b.positions.push_back(i);
      b.kv_slots.push_back(blocks[i / block_tokens] * block_tokens +
                           i % block_tokens);
    }
    b.qo_indptr.push_back(static_cast<int32_t>(b.tokens.size()));
    b.kv_indices.insert(b.kv_indices.end(), blocks.begin(), blocks.end());
    b.kv_indptr.push_back(static_cast<int32_t>(b.kv_indices.size()));
    b.kv_last_page_len.push_back(len - (pages - 1) * block_tokens);
  }
  return b;
}

class CudaOpsTest : public testing::Test {
 protected:
  void SetUp() override { SKIP_WITHOUT_GPU(); }
  std::mt19937 rng_{1234};
};

TEST_F(CudaOpsTest, RmsNormAwkwardSizes) {
  for (int64_t dim : {1, 3, 7, 19, 64, 733, 4096}) {
    SCOPED_TRACE(dim);
    Pair p(MakeSetup(dim, 2, 1, 1, 16));
    const int64_t n = 19;
    p.Begin(PrefillBatch({int(n)}, 16, rng_, 16));
    auto x = p.Upload(RandomBf16(n * dim, rng_, 3.0f));
    const std::vector<uint16_t> w = RandomBf16(dim, rng_);
    auto out = p.Empty(n * dim);
    p.cpu().RmsNorm(x.cpu.data(), w.data(), n, dim, out.cpu.data());
    p.gpu().RmsNorm(x.gpu.data(), p.Weight(w), n, dim, out.gpu.data());
    p.End();
    const auto cpu = p.CpuValues(out, n * dim);
    ExpectClose(p.GpuValues(out, n * dim), cpu,
                std::vector<double>(cpu.size(), 0.0), kHalfUlp * 1.01);
  }
}

TEST_F(CudaOpsTest, MatMulAwkwardSizes) {
  for (int64_t n : {1, 3, 19}) {
    for (int64_t in : {7, 64, 733}) {
      for (int64_t out : {1, 19, 256}) {
        SCOPED_TRACE(testing::Message() << n << "x" << in << "x" << out);
        // hidden 733: the CPU backend's scratch holds the largest matrix.
        Pair p(MakeSetup(733, 16, 4, 4, 16));
        p.Begin(PrefillBatch({int(n)}, 16, rng_, 16));
        const std::vector<uint16_t> xv = RandomBf16(n * in, rng_);
        const std::vector<uint16_t> w = RandomBf16(out * in, rng_, 0.1f);
        auto x = p.Upload(xv);
        auto y = p.Empty(n * out);
        auto yf = p.Empty(n * out, 4);
        p.cpu().MatMul(x.cpu.data(), w.data(), n, in, out, y.cpu.data());
        const uint16_t* wd = p.Weight(w);
        p.gpu().MatMul(x.gpu.data(), wd, n, in, out, y.gpu.data());
        p.gpu().MatMulToFloat(x.gpu.data(), wd, n, in, out, yf.gpu.as<float>());
        p.End();
        std::vector<double> l1(n * out, 0.0);
        for (int64_t r = 0; r < n; ++r) {
          for (int64_t o = 0; o < out; ++o) {
            for (int64_t k = 0; k < in; ++k) {
              l1[r * out + o] += std::abs(FloatFromBf16(xv[r * in + k]) *
                                          FloatFromBf16(w[o * in + k]));
            }
          }
        }
        const auto cpu = p.CpuValues(y, n * out);
        ExpectClose(p.GpuValues(y, n * out), cpu, l1);
        ExpectClose(p.GpuFloats(yf, n * out), cpu, l1, 0.0);
      }
    }
  }
}

TEST_F(CudaOpsTest, EmbedGatherSiluAddRope) {
  const int64_t hidden = 96, vocab = 50, n = 7;
  OpSetup s = MakeSetup(hidden, 32, 2, 1, vocab);
  s.model.vocab_shard = 20;  // rows [10, 30) of the vocabulary
  s.model.vocab_offset = 10;
  Pair p(s);
  StepBatch b = PrefillBatch({3, 4}, 16, rng_, vocab);
  b.tokens = {0, 10, 29, 30, 49, 15, 11};
  b.logit_rows = {1, 4, 6};
  b.sampling.resize(3);
  p.Begin(b);
  const std::vector<uint16_t> table = RandomBf16(20 * hidden, rng_);
  auto x = p.Empty(n * hidden);
  p.cpu().Embed(table.data(), n, x.cpu.data());
  p.gpu().Embed(p.Weight(table), n, x.gpu.data());
  auto g = p.Empty(3 * hidden);
  p.cpu().GatherLogitRows(x.cpu.data(), 1, 2, hidden, g.cpu.data());
  p.gpu().GatherLogitRows(x.gpu.data(), 1, 2, hidden, g.gpu.data());

  const int64_t width = 5;
  const std::vector<uint16_t> gu = RandomBf16(n * 2 * width, rng_, 2.0f);
  auto gua = p.Upload(gu);
  auto act = p.Empty(n * width);
  p.cpu().SiluMul(gua.cpu.data(), n, width, act.cpu.data());
  p.gpu().SiluMul(gua.gpu.data(), n, width, act.gpu.data());

  const std::vector<uint16_t> yv = RandomBf16(n * hidden, rng_);
  auto y = p.Upload(yv);
  auto sum = p.Upload(RandomBf16(n * hidden, rng_));
  p.cpu().Add(sum.cpu.data(), y.cpu.data(), n * hidden);
  p.gpu().Add(sum.gpu.data(), y.gpu.data(), n * hidden);

  const int64_t qkv_width = s.model.qkv_width();  // (2 + 2) * 32
  auto qkv = p.Upload(RandomBf16(n * qkv_width, rng_));
  p.cpu().Rope(qkv.cpu.data(), n);
  p.gpu().Rope(qkv.gpu.data(), n);
  p.End();

  const auto ex = p.CpuValues(x, n * hidden);
  EXPECT_EQ(p.GpuValues(x, n * hidden), ex);
  EXPECT_EQ(p.GpuValues(g, 2 * hidden), p.CpuValues(g, 2 * hidden));
  const std::vector<double> none(n * hidden, 0.0);
  ExpectClose(p.GpuValues(act, n * width), p.CpuValues(act, n * width),
              std::vector<double>(n * width, 0.0), kHalfUlp * 1.01, 0);
  ExpectClose(p.GpuValues(sum, n * hidden), p.CpuValues(sum, n * hidden), none,
              kHalfUlp, 0);
  const auto rq = p.CpuValues(qkv, n * qkv_width);
  std::vector<double> mag(rq.size());
  for (size_t i = 0; i < mag.size(); ++i) mag[i] = 4 * std::abs(rq[i]) + 4;
  ExpectClose(p.GpuValues(qkv, n * qkv_width), rq, mag);
}

// StoreKv then Attention: a prefill of several sequences in one step, then
// a decode step of one row each over the cached positions.
TEST_F(CudaOpsTest, PagedAttentionPrefillThenDecode) {
  struct Case {
    int64_t head_dim, q_heads, kv_heads;
  };
  for (const Case c : {Case{16, 4, 4}, Case{32, 4, 2}, Case{64, 8, 1},
                       Case{128, 4, 2}, Case{80, 2, 2}}) {
    SCOPED_TRACE(testing::Message() << "head_dim " << c.head_dim << " q "
                                    << c.q_heads << " kv " << c.kv_heads);
    OpSetup s = MakeSetup(64, c.head_dim, c.q_heads, c.kv_heads, 16);
    Pair p(s);
    const std::vector<int> lengths = {1, 17, 40, 3};
    StepBatch b = PrefillBatch(lengths, 16, rng_, 16);
    const int64_t rows = b.rows();
    const int64_t width = s.model.qkv_width();
    const int64_t qw = s.model.q_width();
    p.Begin(b);
    const std::vector<uint16_t> qkv_host = RandomBf16(rows * width, rng_, 2.0f);
    auto qkv = p.Upload(qkv_host);
    auto out = p.Empty(rows * qw);
    for (int64_t layer : {0, 1}) {
      p.cpu().StoreKv(qkv.cpu.data(), layer, rows);
      p.gpu().StoreKv(qkv.gpu.data(), layer, rows);
    }
    p.cpu().Attention(qkv.cpu.data(), 1, rows, out.cpu.data());
    p.gpu().Attention(qkv.gpu.data(), 1, rows, out.gpu.data());
    p.End();
    // FlashInfer's prefill kernel (where built, head_dim 64 and 128) rounds
    // the softmax probabilities to BF16 before P·V: up to 2^-9 of the
    // largest |v| more than one rounding of the output.
    double v_abs = 0;
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t j = s.model.q_width() + s.model.kv_width(); j < width; ++j) {
        v_abs = std::max<double>(
            v_abs, std::abs(FloatFromBf16(qkv_host[r * width + j])));
      }
    }
    const bool bf16_probabilities = c.head_dim == 64 || c.head_dim == 128;
    ExpectClose(
        p.GpuValues(out, rows * qw), p.CpuValues(out, rows * qw),
        std::vector<double>(rows * qw, bf16_probabilities ? v_abs : 4.0),
        kHalfUlp, bf16_probabilities ? 1.0 / 512 + kF32 : 1e-5);

    // Decode: one new token per sequence, at the end of each.
    StepBatch d;
    d.qo_indptr.push_back(0);
    d.kv_indptr.push_back(0);
    for (size_t q = 0; q < lengths.size(); ++q) {
      const int len = lengths[q];
      std::vector<int32_t> blocks(b.kv_indices.begin() + b.kv_indptr[q],
                                  b.kv_indices.begin() + b.kv_indptr[q + 1]);
      if (len % 16 == 0) blocks.push_back(126);
      d.tokens.push_back(1);
      d.positions.push_back(len);
      d.kv_slots.push_back(blocks[len / 16] * 16 + len % 16);
      d.qo_indptr.push_back(static_cast<int32_t>(d.tokens.size()));
      d.kv_indices.insert(d.kv_indices.end(), blocks.begin(), blocks.end());
      d.kv_indptr.push_back(static_cast<int32_t>(d.kv_indices.size()));
      d.kv_last_page_len.push_back(len % 16 + 1);
    }
    const int64_t n = d.rows();
    p.Begin(d);
    auto q2 = p.Upload(RandomBf16(n * width, rng_, 2.0f));
    auto o2 = p.Empty(std::max<int64_t>(n, p.gpu_shape().rows) * qw);
    p.cpu().StoreKv(q2.cpu.data(), 1, n);
    p.cpu().Attention(q2.cpu.data(), 1, n, o2.cpu.data());
    p.gpu().StoreKv(q2.gpu.data(), 1, n);
    p.gpu().Attention(q2.gpu.data(), 1, n, o2.gpu.data());
    p.End();
    ExpectClose(p.GpuValues(o2, n * qw), p.CpuValues(o2, n * qw),
                std::vector<double>(n * qw, 4.0), kHalfUlp, 1e-5);
  }
}

// Device sampling draws what SampleRow draws, row by row.
TEST_F(CudaOpsTest, SampleMatchesSampleRow) {
  for (int64_t vocab : {1, 7, 733, 5000}) {
    SCOPED_TRACE(vocab);
    OpSetup s = MakeSetup(64, 16, 4, 4, vocab);
    Pair p(s);
    const int64_t n = 24;
    StepBatch b = PrefillBatch({int(n)}, 16, rng_, vocab);
    std::vector<float> logits(n * vocab);
    std::normal_distribution<float> d(0.0f, 2.0f);
    for (auto& x : logits) x = d(rng_);
    // Ties: equal maxima and equal logits across the top.
    for (int64_t t = 0; t < vocab; t += 3) logits[t] = 5.0f;
    for (int64_t i = 0; i < n; ++i) {
      SampleRequest r;
      r.sample = i % 5 != 4;
      r.params.temperature = i % 3 == 0 ? 0.0f : 0.3f + 0.2f * (i % 4);
      r.params.top_k = (i % 4 == 1) ? 0 : int(1 + i * 7 % 60);
      r.params.top_p = (i % 2 == 0) ? 1.0f : 0.5f + 0.02f * i;
      r.params.seed = 77 + i;
      r.stream = i * 13;
      r.position = 100 + i;
      r.logprobs = i % 6 == 0 ? -1 : int(i % kMaxLogprobs);
      b.logit_rows.push_back(static_cast<int32_t>(i));
      b.sampling.push_back(r);
    }
    p.Begin(b);
    Buffer l = *p.gpu().Allocate(logits.size() * 4);
    ASSERT_TRUE(
        p.gpu().CopyFromHost(logits.data(), logits.size() * 4, l.data()).ok());
    p.gpu().Sample(l.as<float>(), 0, 16);
    p.gpu().Sample(l.as<float>() + 16 * vocab, 16, n - 16);
    p.End();
    const std::vector<SampledToken>& got = p.gpu_sampled();
    ASSERT_EQ(got.size(), static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) {
      SCOPED_TRACE(i);
      const SampledToken want = SampleRow(
          b.sampling[i], absl::MakeConstSpan(logits.data() + i * vocab, vocab));
      EXPECT_EQ(got[i].token, want.token);
      EXPECT_NEAR(got[i].logprob, want.logprob, 1e-5);
      ASSERT_EQ(got[i].top.size(), want.top.size());
      for (size_t j = 0; j < want.top.size(); ++j) {
        EXPECT_EQ(got[i].top[j].token, want.top[j].token);
        EXPECT_NEAR(got[i].top[j].logprob, want.top[j].logprob, 1e-5);
      }
    }
  }
}

TEST_F(CudaOpsTest, BadBatchIsTheStepsError) {
  Pair p(MakeSetup(64, 16, 4, 4, 16));
  StepBatch b = PrefillBatch({3}, 16, rng_, 16);
  b.kv_indices[0] = 100000;
  p.gpu().BeginStep(b);
  std::vector<SampledToken> s;
  const absl::Status status = p.gpu().EndStep(&s);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
}

TEST_F(CudaOpsTest, MemoryCapIsEnforced) {
  CudaBackendOptions o;
  o.gpu_memory_gb = 0.05;  // 50 MB: the GEMM workspace fits, a KV pool not
  auto gpu = CudaBackend::Create(WorldConfig{}, o);
  ASSERT_TRUE(gpu.ok()) << gpu.status();
  OpSetup s = MakeSetup(4096, 128, 32, 8, 1000);
  s.limits.kv_blocks = 4096;
  const absl::Status status = (*gpu)->Prepare(s.model, s.limits);
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted) << status;
  EXPECT_LE((*gpu)->device_memory().peak(), (*gpu)->device_memory().cap());
}

// Device memory for the tests that call a kernel directly, freed on scope
// exit.
class DeviceBytes {
 public:
  explicit DeviceBytes(size_t bytes) {
    EXPECT_EQ(cudaMalloc(&data_, bytes), cudaSuccess);
  }
  DeviceBytes(DeviceBytes&& other) noexcept
      : data_(std::exchange(other.data_, nullptr)) {}
  DeviceBytes& operator=(DeviceBytes&&) = delete;
  ~DeviceBytes() { cudaFree(data_); }
  template <typename T>
  T* as() const {
    return static_cast<T*>(data_);
  }

 private:
  void* data_ = nullptr;
};

template <typename T>
DeviceBytes ToDevice(const std::vector<T>& v) {
  DeviceBytes d(v.size() * sizeof(T));
  EXPECT_EQ(cudaMemcpy(d.as<void>(), v.data(), v.size() * sizeof(T),
                       cudaMemcpyHostToDevice),
            cudaSuccess);
  return d;
}

template <typename T>
std::vector<T> ToHost(const DeviceBytes& d, size_t count) {
  std::vector<T> v(count);
  EXPECT_EQ(cudaMemcpy(v.data(), d.as<void>(), count * sizeof(T),
                       cudaMemcpyDeviceToHost),
            cudaSuccess);
  return v;
}

// y[r, o] = sum_k x[r, k] w[o, k] in FP64 over the BF16 values (exact up to
// 2^-53), and the error bound of any FP32 summation of the same terms. The
// products of two BF16 values (8-bit significands) are exact in FP32, so
// only the in - 1 additions round, each by at most 2^-24 relative to the
// partial sum; whatever the order, the error is at most (in - 1) 2^-24
// sum_k |x w| to first order. `in` instead of in - 1 covers the second-order
// term.
struct GemvReference {
  std::vector<double> y;
  std::vector<double> bound;
};

GemvReference ReferenceGemv(const std::vector<uint16_t>& x,
                            const std::vector<uint16_t>& w, int64_t n,
                            int64_t in, int64_t out) {
  const std::vector<float> xf = Widened(x), wf = Widened(w);
  GemvReference ref{std::vector<double>(n * out), std::vector<double>(n * out)};
  for (int64_t r = 0; r < n; ++r) {
    for (int64_t o = 0; o < out; ++o) {
      double sum = 0, abs = 0;
      for (int64_t k = 0; k < in; ++k) {
        const double p = double(xf[r * in + k]) * wf[o * in + k];
        sum += p;
        abs += std::abs(p);
      }
      ref.y[r * out + o] = sum;
      ref.bound[r * out + o] = std::ldexp(double(in), -24) * abs;
    }
  }
  return ref;
}

// `got` (n * out values) against the reference's first n rows: within the
// FP32 summation bound, plus for BF16 output one rounding to nearest, at most
// 2^-8 of the FP32 sum: |bf16(s) - y| <= 2^-8 (|y| + bound) + bound.
void ExpectGemvClose(const std::vector<double>& got, const GemvReference& ref,
                     bool float_out, double scale = 1.0) {
  int bad = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const double e = ref.bound[i];
    const double tol =
        scale * (float_out ? e : kHalfUlp * (std::abs(ref.y[i]) + e) + e);
    if (!(std::abs(got[i] - ref.y[i]) <= tol) && ++bad <= 5) {
      ADD_FAILURE() << "element " << i << ": got " << got[i] << ", want "
                    << ref.y[i] << ", tolerance " << tol;
    }
  }
  EXPECT_EQ(bad, 0) << "elements outside tolerance";
}

// The output of a GEMV as doubles, and its bit patterns.
struct GemvOutput {
  std::vector<double> values;
  std::vector<uint32_t> bits;
};

GemvOutput ReadOutput(const DeviceBytes& y, size_t count, bool float_out) {
  GemvOutput r;
  if (float_out) {
    const std::vector<float> f = ToHost<float>(y, count);
    r.values.assign(f.begin(), f.end());
    r.bits.resize(count);
    std::memcpy(r.bits.data(), f.data(), count * 4);
  } else {
    const std::vector<uint16_t> b = ToHost<uint16_t>(y, count);
    r.bits.assign(b.begin(), b.end());
    for (uint16_t h : b) r.values.push_back(FloatFromBf16(h));
  }
  return r;
}

// Poisons y (NaN in both output types), runs the GEMV and reads back n * out
// values plus the poisoned guard behind them.
GemvOutput RunSmallGemv(const DeviceBytes& x, const DeviceBytes& w, int64_t n,
                        int64_t in, int64_t out, const DeviceBytes& y,
                        size_t y_bytes, bool float_out) {
  EXPECT_EQ(cudaMemset(y.as<void>(), 0xFF, y_bytes), cudaSuccess);
  const absl::Status s =
      LaunchSmallGemv(x.as<uint16_t>(), w.as<uint16_t>(), n, in, out,
                      y.as<void>(), float_out, nullptr);
  EXPECT_TRUE(s.ok()) << s;
  EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  const size_t elem = float_out ? 4 : 2;
  GemvOutput all = ReadOutput(y, y_bytes / elem, float_out);
  const uint32_t poison = float_out ? 0xFFFFFFFFu : 0xFFFFu;
  for (size_t i = n * out; i < all.bits.size(); ++i) {
    if (all.bits[i] != poison) {
      ADD_FAILURE() << "wrote past the output, element " << i;
      break;
    }
  }
  all.values.resize(n * out);
  all.bits.resize(n * out);
  return all;
}

TEST_F(CudaOpsTest, SmallGemvMatchesReference) {
  struct Shape {
    int64_t in, out;
  };
  for (const Shape s :
       {Shape{8, 1}, Shape{64, 3}, Shape{4096, 4096}, Shape{4104, 33},
        Shape{14336, 130}, Shape{576, 49152}}) {
    SCOPED_TRACE(testing::Message() << "in " << s.in << ", out " << s.out);
    const int64_t rows = kSmallGemvMaxRows;
    const std::vector<uint16_t> xv = RandomBf16(rows * s.in, rng_);
    const std::vector<uint16_t> wv = RandomBf16(s.out * s.in, rng_, 0.02f);
    const GemvReference ref = ReferenceGemv(xv, wv, rows, s.in, s.out);
    const DeviceBytes x = ToDevice(xv), w = ToDevice(wv);
    const size_t y_bytes = (rows * s.out + 64) * 4;  // 64 guard elements
    const DeviceBytes y(y_bytes);
    for (bool float_out : {false, true}) {
      // Row r of y must not depend on n: compared with the n = 4 rows.
      std::vector<uint32_t> all_rows;
      for (int64_t n = rows; n >= 1; --n) {
        SCOPED_TRACE(testing::Message()
                     << "n " << n << ", float_out " << float_out);
        ASSERT_TRUE(SmallGemvSupports(x.as<uint16_t>(), w.as<uint16_t>(), n,
                                      s.in, s.out, y.as<void>()));
        const GemvOutput a =
            RunSmallGemv(x, w, n, s.in, s.out, y, y_bytes, float_out);
        ExpectGemvClose(a.values, ref, float_out);
        const GemvOutput b =
            RunSmallGemv(x, w, n, s.in, s.out, y, y_bytes, float_out);
        EXPECT_EQ(a.bits, b.bits) << "two calls differ";
        if (n == rows) all_rows = a.bits;
        EXPECT_TRUE(std::equal(a.bits.begin(), a.bits.end(), all_rows.begin()))
            << "rows differ from the same rows computed with n = " << rows;
      }
    }
  }
}

// cuBLASLt (another summation order) lies within the same bound of the
// reference, and so the two lie within twice that bound of each other (2.02:
// the BF16 term is taken of cuBLASLt's value, not the exact one, which
// costs a second-order 2^-15 |y| + 2^-7 bound).
TEST_F(CudaOpsTest, SmallGemvAgreesWithCublasLt) {
  const int64_t n = 1, in = 4096, out = 4096;
  const std::vector<uint16_t> xv = RandomBf16(n * in, rng_);
  const std::vector<uint16_t> wv = RandomBf16(out * in, rng_, 0.02f);
  const GemvReference ref = ReferenceGemv(xv, wv, n, in, out);
  const DeviceBytes x = ToDevice(xv), w = ToDevice(wv), y(n * out * 4);
  const size_t workspace_bytes = 32 << 20;
  const DeviceBytes workspace(workspace_bytes);
  auto gemm = CublasLtGemm::Create(workspace.as<void>(), workspace_bytes);
  ASSERT_TRUE(gemm.ok()) << gemm.status();
  for (bool float_out : {false, true}) {
    SCOPED_TRACE(float_out);
    const absl::Status s =
        (*gemm)->MatMul(x.as<uint16_t>(), w.as<uint16_t>(), n, in, out,
                        y.as<void>(), float_out, nullptr);
    ASSERT_TRUE(s.ok()) << s;
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    const GemvOutput lt = ReadOutput(y, n * out, float_out);
    ExpectGemvClose(lt.values, ref, float_out);
    const GemvOutput ours =
        RunSmallGemv(x, w, n, in, out, y, n * out * 4, float_out);
    ExpectGemvClose(ours.values, ref, float_out);
    GemvReference against_lt = ref;
    against_lt.y = lt.values;
    ExpectGemvClose(ours.values, against_lt, float_out, 2.02);
  }
}

TEST_F(CudaOpsTest, SmallGemvRejectsWhatItDoesNotSupport) {
  // Buffers large enough for every case below, were one launched by mistake.
  const DeviceBytes x(1 << 16), w(1 << 16), y(1 << 16);
  const uint16_t* xp = x.as<uint16_t>();
  const uint16_t* wp = w.as<uint16_t>();
  struct Case {
    const char* what;
    const uint16_t *x, *w;
    int64_t n, in, out;
    void* y;
    bool float_out;
  };
  void* yp = y.as<void>();
  void* y_odd = y.as<uint16_t>() + 1;
  const Case cases[] = {
      {"n = 0", xp, wp, 0, 64, 8, yp, false},
      {"n = 5", xp, wp, 5, 64, 8, yp, false},
      {"in % 8 != 0", xp, wp, 1, 60, 8, yp, false},
      {"in = 0", xp, wp, 1, 0, 8, yp, false},
      {"out = 0", xp, wp, 1, 64, 0, yp, false},
      {"in past int32", xp, wp, 1, int64_t{1} << 31, 8, yp, false},
      {"x misaligned", xp + 1, wp, 1, 64, 8, yp, false},
      {"w misaligned", xp, wp + 4, 1, 64, 8, yp, false},
      {"null y", xp, wp, 1, 64, 8, nullptr, false},
      {"odd y", xp, wp, 1, 64, 8, static_cast<char*>(yp) + 1, false},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    ASSERT_FALSE(SmallGemvSupports(c.x, c.w, c.n, c.in, c.out, c.y));
    EXPECT_EQ(
        LaunchSmallGemv(c.x, c.w, c.n, c.in, c.out, c.y, c.float_out, nullptr)
            .code(),
        absl::StatusCode::kInvalidArgument);
  }
  // 2-byte aligned y: enough for BF16 output, not for FP32.
  ASSERT_TRUE(SmallGemvSupports(xp, wp, 1, 64, 8, y_odd));
  EXPECT_EQ(
      LaunchSmallGemv(xp, wp, 1, 64, 8, y_odd, /*float_out=*/true, nullptr)
          .code(),
      absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
}

}  // namespace
}  // namespace df11
