// GPU tests of the DF11 decode kernel against the CPU decoder: bit-exact on
// every element, with poisoned outputs and guard regions around them. Skipped
// with a notice where no GPU is present.
#include "kernels/decode_df11.h"

#include <cuda_runtime.h>

#include <cstdio>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/device_encoded_tensor.h"
#include "loader/codec/decoder.h"
#include "loader/codec/encoder.h"
#include "loader/codec/synthetic_weights.h"
#include "loader/gpu/gpu_test_util.h"

namespace df11 {
namespace {

constexpr size_t kGuard = 64;  // poisoned elements on each side of an output

// A zeroed device word for the kernel's error flags.
class ErrorFlags {
 public:
  ErrorFlags() {
    EXPECT_EQ(cudaMalloc(&flags_, 4), cudaSuccess);
    EXPECT_EQ(cudaMemset(flags_, 0, 4), cudaSuccess);
  }
  ~ErrorFlags() { cudaFree(flags_); }
  uint32_t* device() const { return flags_; }
  // Waits for the device, then returns the flags.
  uint32_t Read() const {
    uint32_t host = 0xFFFFFFFFu;
    EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    EXPECT_EQ(cudaMemcpy(&host, flags_, 4, cudaMemcpyDeviceToHost),
              cudaSuccess);
    return host;
  }

 private:
  uint32_t* flags_ = nullptr;
};

std::vector<uint16_t> OneExponent(size_t n, uint64_t seed) {
  std::vector<uint16_t> v = RandomBits(n, seed);
  for (uint16_t& x : v) x = (x & 0x807F) | (127 << 7);
  return v;
}

EncodedTensor Encode(const std::vector<uint16_t>& values,
                     CodecLayout layout = {}) {
  EncodeOptions options;
  options.layout = layout;
  options.threads = 4;
  absl::StatusOr<EncodedTensor> t = EncodeBf16(values, options);
  EXPECT_TRUE(t.ok()) << t.status();
  return *std::move(t);
}

// One device buffer holding several outputs, each surrounded by guards.
class PoisonedOutputs {
 public:
  PoisonedOutputs(const std::vector<size_t>& sizes, size_t offset,
                  uint8_t poison)
      : poison_(poison * 0x0101u) {
    size_t total = kGuard;
    for (size_t n : sizes) {
      begin_.push_back(total + offset);
      total += offset + n + kGuard;
    }
    sizes_ = sizes;
    total_ = total;
    EXPECT_EQ(cudaMalloc(&base_, total * 2), cudaSuccess);
    EXPECT_EQ(cudaMemset(base_, poison, total * 2), cudaSuccess);
  }
  ~PoisonedOutputs() { cudaFree(base_); }

  uint16_t* out(size_t i) const { return base_ + begin_[i]; }

  // Checks output i against `expected` and that every element outside the
  // outputs still holds the poison.
  void Check(const std::vector<std::vector<uint16_t>>& expected) const {
    std::vector<uint16_t> host(total_);
    ASSERT_EQ(
        cudaMemcpy(host.data(), base_, total_ * 2, cudaMemcpyDeviceToHost),
        cudaSuccess);
    std::vector<bool> inside(total_, false);
    for (size_t t = 0; t < sizes_.size(); ++t) {
      size_t mismatches = 0;
      for (size_t j = 0; j < sizes_[t]; ++j) {
        inside[begin_[t] + j] = true;
        if (host[begin_[t] + j] != expected[t][j] && mismatches++ < 5) {
          ADD_FAILURE() << "tensor " << t << " element " << j << ": got 0x"
                        << std::hex << host[begin_[t] + j] << ", want 0x"
                        << expected[t][j];
        }
      }
      EXPECT_EQ(mismatches, 0u) << "tensor " << t;
    }
    CheckGuards(host, inside);
  }

  void CheckGuardsOnly() const {
    std::vector<uint16_t> host(total_);
    ASSERT_EQ(
        cudaMemcpy(host.data(), base_, total_ * 2, cudaMemcpyDeviceToHost),
        cudaSuccess);
    std::vector<bool> inside(total_, false);
    for (size_t t = 0; t < sizes_.size(); ++t) {
      for (size_t j = 0; j < sizes_[t]; ++j) inside[begin_[t] + j] = true;
    }
    CheckGuards(host, inside);
  }

 private:
  void CheckGuards(const std::vector<uint16_t>& host,
                   const std::vector<bool>& inside) const {
    size_t touched = 0;
    for (size_t j = 0; j < total_; ++j) {
      touched += !inside[j] && host[j] != poison_;
    }
    EXPECT_EQ(touched, 0u) << "elements written outside the outputs";
  }

  uint16_t poison_;
  std::vector<size_t> begin_;
  std::vector<size_t> sizes_;
  size_t total_ = 0;
  uint16_t* base_ = nullptr;
};

std::vector<uint16_t> CpuDecode(const EncodedTensor& t) {
  std::vector<uint16_t> out(t.num_elements);
  const absl::Status s = DecodeBf16(t.view(), absl::MakeSpan(out), 2);
  EXPECT_TRUE(s.ok()) << s;
  return out;
}

// Decodes `tensors` in one batched call into outputs at `offset` elements
// past a 16-byte boundary, under two poisons, and checks every element.
void CheckGpuDecode(const std::vector<std::vector<uint16_t>>& values,
                    size_t offset) {
  std::vector<EncodedTensor> encoded;
  std::vector<DeviceEncodedTensor> device;
  std::vector<Df11DeviceTensor> views;
  std::vector<std::vector<uint16_t>> expected;
  std::vector<size_t> sizes;
  for (const std::vector<uint16_t>& v : values) {
    encoded.push_back(Encode(v));
    expected.push_back(CpuDecode(encoded.back()));
    ASSERT_EQ(expected.back(), v);  // the CPU decoder is the reference
    absl::StatusOr<DeviceEncodedTensor> d =
        DeviceEncodedTensor::Upload(encoded.back());
    ASSERT_TRUE(d.ok()) << d.status();
    device.push_back(*std::move(d));
    views.push_back(device.back().view());
    sizes.push_back(v.size());
  }
  for (uint8_t poison : {0xA5, 0x5A}) {
    PoisonedOutputs outputs(sizes, offset, poison);
    std::vector<uint16_t*> outs;
    for (size_t i = 0; i < sizes.size(); ++i) outs.push_back(outputs.out(i));
    ErrorFlags flags;
    const absl::Status s = DecodeDf11Batched(views.data(), outs.data(),
                                             static_cast<int>(views.size()),
                                             flags.device(), nullptr);
    ASSERT_TRUE(s.ok()) << s;
    EXPECT_EQ(flags.Read(), 0u);
    outputs.Check(expected);
  }
}

struct Case {
  std::string name;
  std::function<std::vector<uint16_t>(size_t, uint64_t)> make;
};

const Case kCases[] = {
    {"Gaussian006",
     [](size_t n, uint64_t s) { return GaussianBf16(n, 0.006, s); }},
    {"Gaussian02",
     [](size_t n, uint64_t s) { return GaussianBf16(n, 0.02, s); }},
    {"RandomBits", RandomBits},
    {"MaxCodeLength", SkewedExponents},
    {"OneExponent", OneExponent},
};

const size_t kSizes[] = {0, 1, 3, 7, 19, 733, 4099, 300007};

class DecodeDf11SweepTest
    : public ::testing::TestWithParam<std::tuple<int, size_t, size_t>> {};

TEST_P(DecodeDf11SweepTest, BitExact) {
  SKIP_WITHOUT_GPU();
  const auto [c, n, offset] = GetParam();
  CheckGpuDecode({kCases[c].make(n, 1234 + n)}, offset);
}

INSTANTIATE_TEST_SUITE_P(
    AllDistributions, DecodeDf11SweepTest,
    ::testing::Combine(::testing::Range(0, 5), ::testing::ValuesIn(kSizes),
                       ::testing::Values(size_t{0}, size_t{3})),
    [](const auto& info) {
      return kCases[std::get<0>(info.param)].name + "_n" +
             std::to_string(std::get<1>(info.param)) + "_off" +
             std::to_string(std::get<2>(info.param));
    });

TEST(DecodeDf11Test, AllBf16PatternsAtEveryAlignment) {
  SKIP_WITHOUT_GPU();
  // Offsets 0-15 elements from a 32-byte boundary: the kernel's 16-, 8-
  // and 1-byte sign/mantissa loads.
  for (size_t offset = 0; offset < 16; ++offset) {
    SCOPED_TRACE(offset);
    CheckGpuDecode({AllBf16Patterns(7)}, offset);
  }
}

// Runs of 300 elements of one exponent (a 1-bit code) between runs of
// random exponents: chunks inside the runs hold 128 codes, more than a
// thread keeps when it decodes once, while whole blocks still fit the
// kernel's exponent buffer (about 5 bits per code on average).
TEST(DecodeDf11Test, DenseChunksInSparseBlocks) {
  SKIP_WITHOUT_GPU();
  std::vector<uint16_t> v = RandomBits(200003, 21);
  for (size_t i = 0; i < v.size(); ++i) {
    if (i / 300 % 2 == 0) v[i] = (v[i] & 0x807F) | (120 << 7);
  }
  for (size_t offset : {0, 11}) CheckGpuDecode({v}, offset);
}

TEST(DecodeDf11Test, MaxCodeLengthIsReached) {
  const EncodedTensor t = Encode(SkewedExponents(300007, 3));
  int longest = 0;
  for (uint8_t len : t.code_lengths) longest = std::max<int>(longest, len);
  EXPECT_EQ(longest, kMaxCodeLength);
}

// One-bit codes fill a block with 32768 elements, the most it can hold.
TEST(DecodeDf11Test, FullestBlocks) {
  SKIP_WITHOUT_GPU();
  CheckGpuDecode({OneExponent(3 * 32768 + 5, 9)}, 1);
}

TEST(DecodeDf11Test, BatchedLayerOfMixedTensors) {
  SKIP_WITHOUT_GPU();
  std::vector<std::vector<uint16_t>> values;
  for (int i = 0; i < 21; ++i) {  // more than one launch's worth
    const size_t n = i % 7 == 3 ? 0 : 1000 * i * i + 17 * i + 1;
    values.push_back(kCases[i % 5].make(n, 100 + i));
  }
  for (size_t offset : {0, 5}) CheckGpuDecode(values, offset);
}

TEST(DecodeDf11Test, RejectsOtherLayouts) {
  const std::vector<uint16_t> v = GaussianBf16(5000, 0.01, 1);
  for (CodecLayout layout :
       {CodecLayout{8, 256}, CodecLayout{16, 128}, CodecLayout{32, 256}}) {
    const EncodedTensor t = Encode(v, layout);
    Df11DeviceTensor view;  // host pointers suffice: nothing is launched
    view.exponent_stream = t.exponent_stream.data();
    view.num_elements = t.num_elements;
    view.stream_bits = t.stream_bits;
    view.chunk_bytes = layout.chunk_bytes;
    view.chunks_per_block = layout.chunks_per_block;
    uint16_t out[8];
    EXPECT_EQ(DecodeDf11(view, out, nullptr, nullptr).code(),
              absl::StatusCode::kInvalidArgument);
  }
}

TEST(DecodeDf11Test, RejectsBadArguments) {
  SKIP_WITHOUT_GPU();
  const EncodedTensor t = Encode(GaussianBf16(5000, 0.01, 1));
  absl::StatusOr<DeviceEncodedTensor> d = DeviceEncodedTensor::Upload(t);
  ASSERT_TRUE(d.ok()) << d.status();
  uint16_t* out = nullptr;
  ASSERT_EQ(cudaMalloc(&out, 2 * 5000 + 16), cudaSuccess);
  const auto decode = [&](Df11DeviceTensor v, void* o) {
    return DecodeDf11(v, static_cast<uint16_t*>(o), nullptr, nullptr).code();
  };
  const Df11DeviceTensor good = d->view();
  EXPECT_EQ(decode(good, out), absl::StatusCode::kOk);
  EXPECT_EQ(decode(good, reinterpret_cast<char*>(out) + 1),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(decode(good, nullptr), absl::StatusCode::kInvalidArgument);
  Df11DeviceTensor v = good;
  v.exponent_stream += 4;
  EXPECT_EQ(decode(v, out), absl::StatusCode::kInvalidArgument);
  v = good;
  v.kernel_table = nullptr;
  EXPECT_EQ(decode(v, out), absl::StatusCode::kInvalidArgument);
  v = good;
  v.stream_bits = v.num_elements * 12 + 1;
  EXPECT_EQ(decode(v, out), absl::StatusCode::kInvalidArgument);
  v = good;
  v.num_elements = uint64_t{1} << 32;
  v.stream_bits = v.num_elements * 2;
  EXPECT_EQ(decode(v, out), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(DecodeDf11Batched(&good, nullptr, 1, nullptr, nullptr).code(),
            absl::StatusCode::kInvalidArgument);
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  cudaFree(out);
}

// Corrupted index or stream: the kernel must report it and never write
// outside the output. Run under compute-sanitizer memcheck on the GPU
// machine (kernels/run_on_gpu.sh) to check reads as well.
struct Corruption {
  std::string name;
  bool detectable;  // a flipped stream byte may swap equal-length codes
  std::function<void(const DeviceEncodedTensor&, const EncodedTensor&)> apply;
};

template <typename T>
void Poke(T* device, size_t index, T value) {
  ASSERT_EQ(
      cudaMemcpy(device + index, &value, sizeof(T), cudaMemcpyHostToDevice),
      cudaSuccess);
}

TEST(DecodeDf11Test, CorruptionStaysInsideTheOutput) {
  SKIP_WITHOUT_GPU();
  const std::vector<uint16_t> values = GaussianBf16(300007, 0.01, 5);
  const EncodedTensor t = Encode(values);
  const size_t blocks = t.block_starts.size() - 1;
  ASSERT_GE(blocks, 3u);
  std::mt19937_64 rng(11);
  const std::vector<Corruption> corruptions = {
      {"block start huge", true,
       [](const DeviceEncodedTensor& d, const EncodedTensor&) {
         Poke<uint32_t>(d.block_starts(), 1, 0xFFFFFFF0u);
       }},
      {"block start past next", true,
       [](const DeviceEncodedTensor& d, const EncodedTensor& t) {
         Poke<uint32_t>(d.block_starts(), 1, t.block_starts[2] + 5);
       }},
      {"last block start zero", true,
       [&](const DeviceEncodedTensor& d, const EncodedTensor&) {
         Poke<uint32_t>(d.block_starts(), blocks, 0);
       }},
      {"all gaps 15", true,
       [](const DeviceEncodedTensor& d, const EncodedTensor& t) {
         ASSERT_EQ(cudaMemset(d.chunk_gaps(), 0xFF, t.chunk_gaps.size()),
                   cudaSuccess);
       }},
      {"stream all ones", true,
       [](const DeviceEncodedTensor& d, const EncodedTensor& t) {
         ASSERT_EQ(
             cudaMemset(d.exponent_stream(), 0xFF, t.exponent_stream.size()),
             cudaSuccess);
       }},
      {"stream byte flips", false,
       [&](const DeviceEncodedTensor& d, const EncodedTensor& t) {
         for (int i = 0; i < 50; ++i) {
           const size_t at = rng() % t.exponent_stream.size();
           Poke<uint8_t>(d.exponent_stream(), at,
                         t.exponent_stream[at] ^ (1 + rng() % 255));
         }
       }},
  };
  for (const Corruption& c : corruptions) {
    SCOPED_TRACE(c.name);
    absl::StatusOr<DeviceEncodedTensor> d = DeviceEncodedTensor::Upload(t);
    ASSERT_TRUE(d.ok()) << d.status();
    c.apply(*d, t);
    PoisonedOutputs outputs({values.size()}, 1, 0xA5);
    ErrorFlags flags;
    ASSERT_TRUE(
        DecodeDf11(d->view(), outputs.out(0), flags.device(), nullptr).ok());
    const uint32_t read = flags.Read();
    if (c.detectable) {
      EXPECT_NE(read, 0u);
    }
    std::printf("%s: error flags %u\n", c.name.c_str(), read);
    outputs.CheckGuardsOnly();
  }
}

}  // namespace
}  // namespace df11
