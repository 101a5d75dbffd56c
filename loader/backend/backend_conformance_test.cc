#include "loader/backend/backend_conformance_test.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "loader/engine/backend.h"
#include "loader/engine/weight_source.h"
#include "loader/format/df11_compress.h"
#include "loader/format/synthetic_checkpoint.h"

namespace df11 {
namespace {

constexpr double kF32Unit = 0x1.0p-24;
constexpr int64_t kSizes[] = {1, 3, 7, 19, 733};
constexpr int64_t kRows[] = {1, 3, 7, 19};

uint16_t ToBf16(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, sizeof(bits));
  bits += 0x7FFF + ((bits >> 16) & 1);  // round to nearest even
  return static_cast<uint16_t>(bits >> 16);
}

float FromBf16(uint16_t h) {
  const uint32_t bits = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &bits, sizeof(f));
  return f;
}

// Moves values between the host (as double) and backend memory in a dtype,
// rounding on the way in so the reference sees exactly what the backend
// sees.
class Harness {
 public:
  explicit Harness(Backend& backend)
      : b_(backend), act_(backend.activation_dtype()) {}

  double unit() const { return act_ == Dtype::kBF16 ? 0x1.0p-8 : kF32Unit; }
  Dtype act() const { return act_; }

  // Random N(0, scale) values rounded to `dtype`.
  std::vector<double> Random(size_t n, double scale, Dtype dtype,
                             std::mt19937_64& rng) {
    std::normal_distribution<double> normal(0.0, scale);
    std::vector<double> v(n);
    for (double& x : v) x = Round(normal(rng), dtype);
    return v;
  }

  static double Round(double x, Dtype dtype) {
    const float f = static_cast<float>(x);
    return dtype == Dtype::kBF16 ? FromBf16(ToBf16(f)) : f;
  }

  Buffer Upload(const std::vector<double>& values, Dtype dtype) {
    std::vector<uint8_t> bytes(values.size() * DtypeSize(dtype));
    for (size_t i = 0; i < values.size(); ++i) {
      const float f = static_cast<float>(values[i]);
      if (dtype == Dtype::kBF16) {
        const uint16_t h = ToBf16(f);
        std::memcpy(&bytes[i * 2], &h, 2);
      } else {
        std::memcpy(&bytes[i * 4], &f, 4);
      }
    }
    Buffer buffer = Alloc(bytes.size());
    EXPECT_TRUE(
        b_.CopyFromHost(bytes.data(), bytes.size(), buffer.data()).ok());
    return buffer;
  }

  // A buffer of n values of `dtype`, poisoned with NaN so that an element
  // the op does not write fails every comparison.
  Buffer Poisoned(size_t n, Dtype dtype) {
    return Upload(std::vector<double>(n, NAN), dtype);
  }

  std::vector<double> Download(const Buffer& buffer, size_t n, Dtype dtype) {
    std::vector<uint8_t> bytes(n * DtypeSize(dtype));
    EXPECT_TRUE(b_.CopyToHost(buffer.data(), bytes.size(), bytes.data()).ok());
    std::vector<double> values(n);
    for (size_t i = 0; i < n; ++i) {
      if (dtype == Dtype::kBF16) {
        uint16_t h;
        std::memcpy(&h, &bytes[i * 2], 2);
        values[i] = FromBf16(h);
      } else {
        float f;
        std::memcpy(&f, &bytes[i * 4], 4);
        values[i] = f;
      }
    }
    return values;
  }

  Buffer Alloc(size_t bytes) {
    absl::StatusOr<Buffer> buffer = b_.Allocate(std::max<size_t>(bytes, 1));
    EXPECT_TRUE(buffer.ok()) << buffer.status();
    return buffer.ok() ? *std::move(buffer) : Buffer();
  }

 private:
  Backend& b_;
  Dtype act_;
};

// Fails on the first element outside its tolerance, naming it.
void ExpectWithin(const std::vector<double>& ours,
                  const std::vector<double>& ref,
                  const std::vector<double>& tolerance,
                  const std::string& what) {
  ASSERT_EQ(ours.size(), ref.size()) << what;
  for (size_t i = 0; i < ref.size(); ++i) {
    ASSERT_TRUE(std::abs(ours[i] - ref[i]) <= tolerance[i])
        << what << ": element " << i << " is " << ours[i] << ", reference "
        << ref[i] << ", tolerance " << tolerance[i];
  }
}

double Tolerance(double unit, double ref, int64_t k, double sum_abs) {
  return 2 * (unit * std::abs(ref) + (k + 2) * kF32Unit * sum_abs) + 1e-30;
}

// A model of the given shape for Prepare, and limits that fit the tests.
BackendModel Model(int64_t hidden, int64_t q_heads, int64_t kv_heads,
                   int64_t head_dim, int64_t ffn, int64_t vocab_shard) {
  BackendModel m;
  m.layers = 2;
  m.hidden = hidden;
  m.head_dim = head_dim;
  m.q_heads = q_heads;
  m.kv_heads = kv_heads;
  m.group = q_heads / kv_heads;
  m.ffn = ffn;
  m.vocab_shard = vocab_shard;
  m.vocab_size = vocab_shard;
  m.rms_norm_eps = 1e-5f;
  for (int64_t j = 0; j < head_dim / 2; ++j) {
    m.rope_inv_freq.push_back(
        static_cast<float>(1.0 / std::pow(10000.0, 2.0 * j / head_dim)));
  }
  return m;
}

BackendLimits Limits() {
  BackendLimits l;
  l.max_batch_tokens = 64;
  l.max_batch_sequences = 8;
  l.max_logit_rows = 32;
  l.max_context = 256;
  l.kv_blocks = 32;
  l.kv_block_tokens = 4;
  return l;
}

// A step of `rows` rows of one sequence at positions 0..rows-1 in blocks
// 0.., logits for every row.
StepBatch OneSequence(int64_t rows, int64_t block_tokens) {
  StepBatch b;
  for (int64_t r = 0; r < rows; ++r) {
    b.tokens.push_back(static_cast<int32_t>(r % 3));
    b.positions.push_back(static_cast<int32_t>(r));
    b.kv_slots.push_back(static_cast<int32_t>(r));
  }
  b.qo_indptr = {0, static_cast<int32_t>(rows)};
  const int64_t pages = (rows + block_tokens - 1) / block_tokens;
  b.kv_indptr = {0, static_cast<int32_t>(pages)};
  for (int64_t p = 0; p < pages; ++p) b.kv_indices.push_back(p);
  b.kv_last_page_len = {
      static_cast<int32_t>(rows - (pages - 1) * block_tokens)};
  return b;
}

class Conformance {
 public:
  explicit Conformance(const ConformanceBackend& param) : param_(param) {}

  // A prepared backend, or a test failure.
  std::unique_ptr<Backend> Make(const BackendModel& model,
                                const BackendLimits& limits = Limits()) {
    absl::StatusOr<std::unique_ptr<Backend>> backend =
        param_.factory(WorldConfig{});
    EXPECT_TRUE(backend.ok()) << backend.status();
    if (!backend.ok()) return nullptr;
    const absl::Status prepared = (*backend)->Prepare(model, limits);
    EXPECT_TRUE(prepared.ok()) << prepared;
    return prepared.ok() ? *std::move(backend) : nullptr;
  }

 private:
  const ConformanceBackend& param_;
};

// Runs `ops` inside a step of `batch` and expects the step to succeed.
template <typename Ops>
void InStep(Backend& b, const StepBatch& batch, Ops ops) {
  const StepShape shape = b.BeginStep(batch);
  b.Run(shape, /*capturable=*/false, [&] { ops(); });
  std::vector<SampledToken> sampled;
  const absl::Status status = b.EndStep(&sampled);
  EXPECT_TRUE(status.ok()) << status;
}

TEST_P(BackendConformanceTest, EmbedIsAMaskedRowLookup) {
  for (int64_t hidden : kSizes) {
    // This rank holds vocabulary rows [7, 14); ids outside give zeros.
    BackendModel m = Model(hidden, 1, 1, 2, 1, 7);
    m.vocab_offset = 7;
    m.vocab_size = 21;
    auto b = Conformance(GetParam()).Make(m);
    ASSERT_NE(b, nullptr);
    Harness h(*b);
    std::mt19937_64 rng(hidden);
    const std::vector<double> table =
        h.Random(7 * hidden, 1, Dtype::kBF16, rng);
    Buffer t = h.Upload(table, Dtype::kBF16);
    StepBatch batch = OneSequence(21, 4);
    for (int32_t r = 0; r < 21; ++r) batch.tokens[r] = (r * 5) % 21;
    Buffer x = h.Poisoned(21 * hidden, h.act());
    InStep(*b, batch, [&] { b->Embed(t.as<uint16_t>(), 21, x.data()); });
    const std::vector<double> got = h.Download(x, 21 * hidden, h.act());
    for (int32_t r = 0; r < 21; ++r) {
      const int64_t row = batch.tokens[r] - 7;
      for (int64_t j = 0; j < hidden; ++j) {
        const double want = row >= 0 && row < 7 ? table[row * hidden + j] : 0.0;
        ASSERT_EQ(got[r * hidden + j], want)
            << "hidden " << hidden << " row " << r << " element " << j;
      }
    }
  }
}

TEST_P(BackendConformanceTest, RmsNorm) {
  for (int64_t dim : kSizes) {
    for (int64_t n : kRows) {
      auto b = Conformance(GetParam()).Make(Model(dim, 1, 1, 2, 1, 4));
      ASSERT_NE(b, nullptr);
      Harness h(*b);
      std::mt19937_64 rng(dim * 100 + n);
      const std::vector<double> x = h.Random(n * dim, 2, h.act(), rng);
      std::vector<double> w = h.Random(dim, 0.3, Dtype::kBF16, rng);
      for (double& v : w) v = Harness::Round(1 + v, Dtype::kBF16);
      Buffer xb = h.Upload(x, h.act());
      Buffer wb = h.Upload(w, Dtype::kBF16);
      Buffer out = h.Poisoned(n * dim, h.act());
      InStep(*b, OneSequence(1, 4), [&] {
        b->RmsNorm(xb.data(), wb.as<uint16_t>(), n, dim, out.data());
      });
      std::vector<double> ref(n * dim), tol(n * dim);
      for (int64_t i = 0; i < n; ++i) {
        double ss = 0;
        for (int64_t j = 0; j < dim; ++j) ss += x[i * dim + j] * x[i * dim + j];
        const double inv = 1 / std::sqrt(ss / dim + 1e-5);
        for (int64_t j = 0; j < dim; ++j) {
          const double v = w[j] * x[i * dim + j] * inv;
          ref[i * dim + j] = v;
          tol[i * dim + j] = Tolerance(h.unit(), v, dim, std::abs(v));
        }
      }
      ExpectWithin(h.Download(out, n * dim, h.act()), ref, tol,
                   absl::StrCat("RmsNorm n=", n, " dim=", dim));
    }
  }
}

TEST_P(BackendConformanceTest, MatMulInActivationDtypeAndInFloat) {
  for (int64_t in : kSizes) {
    for (int64_t out : kSizes) {
      for (int64_t n : kRows) {
        auto b = Conformance(GetParam()).Make(Model(in, 1, 1, 2, out, out));
        ASSERT_NE(b, nullptr);
        Harness h(*b);
        std::mt19937_64 rng(in * 10000 + out * 10 + n);
        const std::vector<double> x = h.Random(n * in, 1, h.act(), rng);
        const std::vector<double> w =
            h.Random(out * in, 0.05, Dtype::kBF16, rng);
        Buffer xb = h.Upload(x, h.act());
        Buffer wb = h.Upload(w, Dtype::kBF16);
        Buffer y = h.Poisoned(n * out, h.act());
        Buffer yf = h.Poisoned(n * out, Dtype::kF32);
        InStep(*b, OneSequence(1, 4), [&] {
          b->MatMul(xb.data(), wb.as<uint16_t>(), n, in, out, y.data());
          b->MatMulToFloat(xb.data(), wb.as<uint16_t>(), n, in, out,
                           yf.as<float>());
        });
        std::vector<double> ref(n * out), tol(n * out), tol_f(n * out);
        for (int64_t i = 0; i < n; ++i) {
          for (int64_t o = 0; o < out; ++o) {
            double sum = 0, abs = 0;
            for (int64_t k = 0; k < in; ++k) {
              sum += x[i * in + k] * w[o * in + k];
              abs += std::abs(x[i * in + k] * w[o * in + k]);
            }
            ref[i * out + o] = sum;
            tol[i * out + o] = Tolerance(h.unit(), sum, in, abs);
            tol_f[i * out + o] = Tolerance(kF32Unit, sum, in, abs);
          }
        }
        const std::string what =
            absl::StrCat("MatMul n=", n, " in=", in, " out=", out);
        ExpectWithin(h.Download(y, n * out, h.act()), ref, tol, what);
        ExpectWithin(h.Download(yf, n * out, Dtype::kF32), ref, tol_f,
                     what + " (float)");
      }
    }
  }
}

TEST_P(BackendConformanceTest, SiluMulAndAdd) {
  for (int64_t width : kSizes) {
    for (int64_t n : kRows) {
      auto b = Conformance(GetParam()).Make(Model(4, 1, 1, 2, width, 4));
      ASSERT_NE(b, nullptr);
      Harness h(*b);
      std::mt19937_64 rng(width * 7 + n);
      const std::vector<double> gu = h.Random(n * 2 * width, 3, h.act(), rng);
      const std::vector<double> y = h.Random(n * width, 1, h.act(), rng);
      Buffer gub = h.Upload(gu, h.act());
      Buffer yb = h.Upload(y, h.act());
      Buffer out = h.Poisoned(n * width, h.act());
      Buffer sum = h.Poisoned(n * width, h.act());
      InStep(*b, OneSequence(1, 4), [&] {
        b->SiluMul(gub.data(), n, width, out.data());
        b->SiluMul(gub.data(), n, width, sum.data());
        b->Add(sum.data(), yb.data(), n * width);
      });
      std::vector<double> act(n * width), tol(n * width), added(n * width),
          tol_add(n * width);
      for (int64_t i = 0; i < n; ++i) {
        for (int64_t j = 0; j < width; ++j) {
          const double g = gu[i * 2 * width + j];
          const double u = gu[i * 2 * width + width + j];
          const double v = g / (1 + std::exp(-g)) * u;
          act[i * width + j] = v;
          tol[i * width + j] = Tolerance(h.unit(), v, 4, std::abs(v));
          // The sum adds the rounded activation to y.
          const double rounded = Harness::Round(v, h.act());
          added[i * width + j] = rounded + y[i * width + j];
          tol_add[i * width + j] =
              Tolerance(h.unit(), added[i * width + j], 4,
                        std::abs(v) + std::abs(y[i * width + j])) +
              tol[i * width + j];
        }
      }
      const std::string what = absl::StrCat("width=", width, " n=", n);
      ExpectWithin(h.Download(out, n * width, h.act()), act, tol,
                   "SiluMul " + what);
      ExpectWithin(h.Download(sum, n * width, h.act()), added, tol_add,
                   "Add " + what);
    }
  }
}

TEST_P(BackendConformanceTest, GatherLogitRows) {
  for (int64_t dim : kSizes) {
    auto b = Conformance(GetParam()).Make(Model(dim, 1, 1, 2, 1, 4));
    ASSERT_NE(b, nullptr);
    Harness h(*b);
    std::mt19937_64 rng(dim);
    const std::vector<double> x = h.Random(19 * dim, 1, h.act(), rng);
    Buffer xb = h.Upload(x, h.act());
    Buffer out = h.Poisoned(3 * dim, h.act());
    StepBatch batch = OneSequence(19, 4);
    batch.logit_rows = {0, 4, 7, 18};
    batch.sampling.resize(4);
    // Logit rows [1, 4) of the step.
    InStep(*b, batch,
           [&] { b->GatherLogitRows(xb.data(), 1, 3, dim, out.data()); });
    std::vector<double> ref;
    for (int32_t row : {4, 7, 18}) {
      ref.insert(ref.end(), x.begin() + row * dim, x.begin() + (row + 1) * dim);
    }
    EXPECT_EQ(h.Download(out, 3 * dim, h.act()), ref) << "dim " << dim;
  }
}

struct AttentionShape {
  int64_t q_heads, kv_heads, head_dim;
  int64_t q_head_offset, kv_head_offset, group;
};

// RoPE, StoreKv and Attention over a paged cache: three sequences with
// scattered blocks, a prefill chunk after earlier tokens, decode rows, GQA,
// and a tensor-parallel shard's head offsets.
TEST_P(BackendConformanceTest, RopeStoreKvAndPagedAttention) {
  const AttentionShape shapes[] = {
      {1, 1, 2, 0, 0, 1},  {4, 2, 8, 0, 0, 2}, {6, 2, 64, 0, 0, 3},
      {2, 1, 32, 2, 1, 2},  // rank 1 of 2: heads 2-3, kv head 1
      {3, 1, 16, 3, 0, 6},  // kv head replicated, group 6, heads 3-5
  };
  for (const AttentionShape& s : shapes) {
    BackendModel m = Model(8, s.q_heads, s.kv_heads, s.head_dim, 4, 4);
    m.q_head_offset = s.q_head_offset;
    m.kv_head_offset = s.kv_head_offset;
    m.group = s.group;
    auto b = Conformance(GetParam()).Make(m);
    ASSERT_NE(b, nullptr);
    Harness h(*b);
    const int64_t bs = Limits().kv_block_tokens;
    const int64_t hd = s.head_dim;
    const int64_t qw = s.q_heads * hd, kvw = s.kv_heads * hd;
    const int64_t width = qw + 2 * kvw;
    std::mt19937_64 rng(hd * 31 + s.q_heads);

    // Sequences: (tokens already cached, new rows) = (0, 7), (19, 1), (5, 3).
    const int64_t past[] = {0, 19, 5}, fresh[] = {7, 1, 3};
    std::vector<int32_t> free_blocks(Limits().kv_blocks);
    std::iota(free_blocks.begin(), free_blocks.end(), 0);
    std::shuffle(free_blocks.begin(), free_blocks.end(), rng);
    std::vector<std::vector<int32_t>> blocks(3);
    size_t next_block = 0;
    for (int seq = 0; seq < 3; ++seq) {
      const int64_t pages = (past[seq] + fresh[seq] + bs - 1) / bs;
      for (int64_t p = 0; p < pages; ++p) {
        blocks[seq].push_back(free_blocks[next_block++]);
      }
    }
    const auto slot = [&](int seq, int64_t pos) {
      return static_cast<int32_t>(blocks[seq][pos / bs] * bs + pos % bs);
    };
    // Reference cache (rotated k, v) by (sequence, position), and the rows.
    std::vector<std::vector<std::vector<double>>> ref_k(3), ref_v(3);
    // Rotates one head in place; the tolerance of each rotated value is its
    // pair's rounding in the backend's dtype (cos and sin are FP32).
    const auto rope = [&](std::vector<double>& v, std::vector<double>& tol,
                          size_t at, int64_t pos) {
      for (int64_t j = 0; j < hd / 2; ++j) {
        const float angle = static_cast<float>(pos) * m.rope_inv_freq[j];
        const double c = std::cos(angle), sn = std::sin(angle);
        const double a = v[at + j], bb = v[at + j + hd / 2];
        v[at + j] = a * c - bb * sn;
        v[at + j + hd / 2] = bb * c + a * sn;
        tol[at + j] = tol[at + j + hd / 2] =
            4 * (h.unit() + 2 * kF32Unit) * (std::abs(a) + std::abs(bb));
      }
    };
    // Earlier tokens go in through the backend too, in a first step.
    for (int step = 0; step < 2; ++step) {
      StepBatch batch;
      batch.qo_indptr = {0};
      batch.kv_indptr = {0};
      std::vector<double> qkv;
      std::vector<std::pair<int, int64_t>> row_of;  // (seq, position)
      for (int seq = 0; seq < 3; ++seq) {
        const int64_t begin = step == 0 ? 0 : past[seq];
        const int64_t end = step == 0 ? past[seq] : past[seq] + fresh[seq];
        if (begin == end) continue;
        for (int64_t pos = begin; pos < end; ++pos) {
          batch.tokens.push_back(1);
          batch.positions.push_back(static_cast<int32_t>(pos));
          batch.kv_slots.push_back(slot(seq, pos));
          row_of.push_back({seq, pos});
        }
        batch.qo_indptr.push_back(static_cast<int32_t>(batch.tokens.size()));
        const int64_t pages = (end + bs - 1) / bs;
        batch.kv_indices.insert(batch.kv_indices.end(), blocks[seq].begin(),
                                blocks[seq].begin() + pages);
        batch.kv_indptr.push_back(
            static_cast<int32_t>(batch.kv_indices.size()));
        batch.kv_last_page_len.push_back(
            static_cast<int32_t>(end - (pages - 1) * bs));
      }
      const int64_t rows = batch.rows();
      qkv = h.Random(rows * width, 0.5, h.act(), rng);
      Buffer qkv_b = h.Upload(qkv, h.act());
      Buffer out = h.Poisoned(rows * qw, h.act());
      InStep(*b, batch, [&] {
        b->Rope(qkv_b.data(), rows);
        b->StoreKv(qkv_b.data(), /*layer=*/1, rows);
        b->Attention(qkv_b.data(), 1, rows, out.data());
      });
      // The reference: rotate q and k in double, cache k and v.
      std::vector<double> rotated = qkv;
      std::vector<double> rope_tol(qkv.size(), 1e-30);
      for (int64_t r = 0; r < rows; ++r) {
        for (int64_t head = 0; head < s.q_heads + s.kv_heads; ++head) {
          rope(rotated, rope_tol, r * width + head * hd, batch.positions[r]);
        }
        auto [seq, pos] = row_of[r];
        ref_k[seq].resize(past[seq] + fresh[seq]);
        ref_v[seq].resize(past[seq] + fresh[seq]);
        ref_k[seq][pos].assign(rotated.begin() + r * width + qw,
                               rotated.begin() + r * width + qw + kvw);
        ref_v[seq][pos].assign(rotated.begin() + r * width + qw + kvw,
                               rotated.begin() + (r + 1) * width);
      }
      // The rotated rows as the backend left them (RoPE in place).
      ExpectWithin(h.Download(qkv_b, rows * width, h.act()), rotated, rope_tol,
                   absl::StrCat("Rope hd=", hd, " step ", step));
      const std::vector<double> got = h.Download(out, rows * qw, h.act());
      const double scale = 1 / std::sqrt(static_cast<double>(hd));
      std::vector<double> ref(rows * qw), tol(rows * qw);
      for (int64_t r = 0; r < rows; ++r) {
        auto [seq, pos] = row_of[r];
        for (int64_t head = 0; head < s.q_heads; ++head) {
          const int64_t kvh =
              (s.q_head_offset + head) / s.group - s.kv_head_offset;
          std::vector<double> score(pos + 1);
          double max = -INFINITY, sum = 0, vmax = 0, spread = 0;
          for (int64_t p = 0; p <= pos; ++p) {
            double dot = 0, abs = 0;
            for (int64_t d = 0; d < hd; ++d) {
              const double t = rotated[r * width + head * hd + d] *
                               ref_k[seq][p][kvh * hd + d];
              dot += t;
              abs += std::abs(t);
            }
            score[p] = dot * scale;
            spread = std::max(spread, abs * scale);
            max = std::max(max, score[p]);
          }
          for (double& x : score) sum += (x = std::exp(x - max));
          for (int64_t d = 0; d < hd; ++d) {
            double o = 0;
            for (int64_t p = 0; p <= pos; ++p) {
              o += score[p] / sum * ref_v[seq][p][kvh * hd + d];
              vmax = std::max(vmax, std::abs(ref_v[seq][p][kvh * hd + d]));
            }
            ref[r * qw + head * hd + d] = o;
            // A score carries the roundings of q and k in the backend's
            // dtype (2u of sum |q_d k_d| * scale) into the softmax; the
            // output adds its own rounding.
            tol[r * qw + head * hd + d] =
                8 *
                    (h.unit() * (1 + 2 * spread) +
                     (hd + pos + 2) * kF32Unit * (1 + spread)) *
                    vmax +
                1e-30;
          }
        }
      }
      ExpectWithin(got, ref, tol,
                   absl::StrCat("Attention q_heads=", s.q_heads, " kv_heads=",
                                s.kv_heads, " hd=", hd, " step ", step));
    }
  }
}

// Sampling from gathered shards: greedy is the argmax (lowest id among
// ties); seeded draws follow the reference sampler; logprobs are the
// model's log-softmax; ids in the padding past vocab_size are never drawn.
TEST_P(BackendConformanceTest, SampleFollowsTheReferenceSampler) {
  for (int64_t vocab : {3, 19, 733}) {
    BackendModel m = Model(4, 1, 1, 2, 4, vocab + 2);  // 2 padding ids
    m.vocab_size = vocab;
    auto b = Conformance(GetParam()).Make(m);
    ASSERT_NE(b, nullptr);
    Harness h(*b);
    std::mt19937_64 rng(vocab);
    const int64_t n = 7;
    std::vector<double> logits = h.Random(n * (vocab + 2), 2, Dtype::kF32, rng);
    // The padding columns hold the largest logits: they must be ignored.
    for (int64_t i = 0; i < n; ++i) {
      logits[i * (vocab + 2) + vocab] = 100;
      logits[i * (vocab + 2) + vocab + 1] = 100;
    }
    logits[2 * (vocab + 2) + 1] = logits[2 * (vocab + 2) + 0] = 50;  // a tie
    Buffer lb = h.Upload(logits, Dtype::kF32);
    StepBatch batch = OneSequence(n, 4);
    for (int64_t i = 0; i < n; ++i) {
      batch.logit_rows.push_back(static_cast<int32_t>(i));
      SampleRequest r;
      r.sample = i != 5;  // row 5 only hands logits back
      r.stream = 100 + i;
      r.position = 40 + i;
      r.logprobs = i % 3 == 0 ? std::min<int32_t>(4, vocab) : -1;
      if (i >= 3) r.params = {0.8f, i == 4 ? 5 : 0, i == 6 ? 0.9f : 1.0f, 7};
      batch.sampling.push_back(r);
    }
    const StepShape shape = b->BeginStep(batch);
    b->Run(shape, false, [&] {
      b->Sample(lb.as<float>(), 0, 4);
      b->Sample(lb.as<float>() + 4 * (vocab + 2), 4, 3);
    });
    std::vector<SampledToken> sampled;
    ASSERT_TRUE(b->EndStep(&sampled).ok());
    ASSERT_EQ(sampled.size(), static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) {
      std::vector<float> row(logits.begin() + i * (vocab + 2),
                             logits.begin() + i * (vocab + 2) + vocab);
      const SampledToken want = SampleRow(batch.sampling[i], row);
      const SampledToken& got = sampled[i];
      if (!batch.sampling[i].sample) {
        EXPECT_EQ(got.token, -1);
        continue;
      }
      ASSERT_LT(got.token, vocab) << "a padding id was drawn";
      if (batch.sampling[i].params.temperature == 0 ||
          GetParam().exact_sampling) {
        EXPECT_EQ(got.token, want.token) << "vocab " << vocab << " row " << i;
      }
      ASSERT_EQ(got.top.size(), want.top.size());
      for (size_t t = 0; t < want.top.size(); ++t) {
        EXPECT_EQ(got.top[t].token, want.top[t].token);
        EXPECT_NEAR(got.top[t].logprob, want.top[t].logprob, 1e-5);
      }
      if (batch.sampling[i].logprobs >= 0) {
        EXPECT_NEAR(got.logprob, want.logprob, 1e-5);
      }
    }
  }
}

TEST_P(BackendConformanceTest, CopyAndCollectivesOfOneRank) {
  auto b = Conformance(GetParam()).Make(Model(4, 1, 1, 2, 4, 4));
  ASSERT_NE(b, nullptr);
  Harness h(*b);
  std::mt19937_64 rng(3);
  const std::vector<double> x = h.Random(733, 1, h.act(), rng);
  const std::vector<double> f = h.Random(19, 1, Dtype::kF32, rng);
  Buffer xb = h.Upload(x, h.act());
  Buffer fb = h.Upload(f, Dtype::kF32);
  Buffer copied = h.Poisoned(733, h.act());
  Buffer gathered = h.Poisoned(19, Dtype::kF32);
  InStep(*b, OneSequence(1, 4), [&] {
    b->AllReduceSum(xb.data(), 733);
    b->AllGather(fb.as<float>(), 19, gathered.as<float>());
    b->Copy(xb.data(), 733 * DtypeSize(h.act()), copied.data());
  });
  EXPECT_EQ(h.Download(xb, 733, h.act()), x);
  EXPECT_EQ(h.Download(copied, 733, h.act()), x);
  EXPECT_EQ(h.Download(gathered, 19, Dtype::kF32), f);
}

// A batch the backend cannot trust fails the step with InvalidArgument;
// the next good step works.
TEST_P(BackendConformanceTest, BadBatchesFailTheStep) {
  auto b = Conformance(GetParam()).Make(Model(4, 1, 1, 2, 4, 4));
  ASSERT_NE(b, nullptr);
  const auto with = [](auto change) {
    StepBatch batch = OneSequence(5, 4);
    change(batch);
    return batch;
  };
  const StepBatch bad[] = {
      with([](StepBatch& x) { x.kv_indices[1] = 32; }),       // past the pool
      with([](StepBatch& x) { x.kv_slots[0] = 4 * 32; }),     // past the pool
      with([](StepBatch& x) { x.positions[4] = 256; }),       // past context
      with([](StepBatch& x) { x.positions[4] = 8; }),         // past its blocks
      with([](StepBatch& x) { x.qo_indptr[1] = 4; }),         // rows disagree
      with([](StepBatch& x) { x.kv_last_page_len[0] = 5; }),  // > block
      with([](StepBatch& x) {
        x.logit_rows = {6};
        x.sampling.resize(1);
      }),
      with([](StepBatch& x) { x.positions.pop_back(); }),
      OneSequence(65, 4),  // more rows than max_batch_tokens
  };
  for (size_t i = 0; i < std::size(bad); ++i) {
    const StepShape shape = b->BeginStep(bad[i]);
    b->Run(shape, false, [] {});
    std::vector<SampledToken> sampled;
    const absl::Status status = b->EndStep(&sampled);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument)
        << "case " << i << ": " << status;
  }
  InStep(*b, OneSequence(5, 4), [] {});
}

TEST_P(BackendConformanceTest, PrepareRejectsImpossibleShapes) {
  absl::StatusOr<std::unique_ptr<Backend>> b =
      GetParam().factory(WorldConfig{});
  ASSERT_TRUE(b.ok()) << b.status();
  BackendModel odd = Model(4, 1, 1, 2, 4, 4);
  odd.head_dim = 3;
  EXPECT_EQ((*b)->Prepare(odd, Limits()).code(),
            absl::StatusCode::kInvalidArgument);
  BackendLimits none = Limits();
  none.kv_blocks = 0;
  EXPECT_EQ((*b)->Prepare(Model(4, 1, 1, 2, 4, 4), none).code(),
            absl::StatusCode::kInvalidArgument);
}

// The weight store: each slot holds its tensors back to back, exactly the
// bytes DecodeStored gives; groups alternate between two buffers; raw slots
// are used in place.
TEST_P(BackendConformanceTest, WeightStoreDecodesGroupsIntoSlots) {
  const std::string root =
      absl::StrCat(std::getenv("TEST_TMPDIR"), "/store_", GetParam().name);
  std::filesystem::remove_all(root);
  SyntheticSpec spec;
  spec.num_layers = 3;
  ASSERT_TRUE(WriteSyntheticCheckpoint(root + "/hf", spec, 2).ok());
  CompressOptions compress;
  compress.tp = 1;
  ASSERT_TRUE(CompressCheckpoint(root + "/hf", root + "/df11", compress).ok());
  auto source = OpenDf11WeightSource(root + "/df11", 0);
  ASSERT_TRUE(source.ok()) << source.status();

  std::vector<WeightGroup> groups;
  for (int layer = 0; layer < 3; ++layer) {
    const auto name = [&](const char* suffix) {
      return absl::StrCat("model.layers.", layer, ".", suffix);
    };
    groups.push_back(
        {{{name("input_layernorm.weight")},
          {name("self_attn.q_proj.weight"), name("self_attn.k_proj.weight"),
           name("self_attn.v_proj.weight")},
          {name("mlp.gate_proj.weight"), name("mlp.up_proj.weight")}}});
  }
  auto b = Conformance(GetParam()).Make(Model(64, 4, 2, 16, 192, 256));
  ASSERT_NE(b, nullptr);
  auto store = b->LoadWeights(**source, groups);
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_GT((*store)->memory().resident, 0u);
  EXPECT_LT((*store)->memory().resident, (*store)->memory().original);

  InStep(*b, OneSequence(1, 4), [&] {
    (*store)->Prefetch(0);
    for (int g = 0; g < 3; ++g) {
      absl::Span<const uint16_t* const> w = (*store)->Acquire(g);
      ASSERT_EQ(w.size(), groups[g].slots.size());
      if (g + 1 < 3) (*store)->Prefetch(g + 1);
      for (size_t s = 0; s < w.size(); ++s) {
        std::vector<uint16_t> want;
        for (const std::string& name : groups[g].slots[s]) {
          auto t = (*source)->Payload(name);
          ASSERT_TRUE(t.ok()) << t.status();
          std::vector<uint16_t> one(t->info.shard_elements());
          ASSERT_TRUE(DecodeStored(*t, absl::MakeSpan(one), 1).ok());
          want.insert(want.end(), one.begin(), one.end());
        }
        std::vector<uint16_t> got(want.size());
        ASSERT_TRUE(b->CopyToHost(w[s], got.size() * 2, got.data()).ok());
        EXPECT_EQ(got, want) << "group " << g << " slot " << s;
      }
    }
  });
}

}  // namespace
}  // namespace df11
