// GPU tests of the DF11 decode kernel against the CPU decoder: bit-exact on
// every element, with poisoned outputs and guard regions around them. Skipped
// with a notice where no GPU is present.
#include "kernels/decode_df11.h"

#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <functional>
#include <iterator>
#include <random>
#include <string>
#include <tuple>
#include <utility>
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

  // Output i as it is now.
  std::vector<uint16_t> Read(size_t i) const {
    std::vector<uint16_t> host(sizes_[i]);
    EXPECT_EQ(
        cudaMemcpy(host.data(), out(i), sizes_[i] * 2, cudaMemcpyDeviceToHost),
        cudaSuccess);
    return host;
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

// Row lookups (DecodeDf11Rows) -------------------------------------------

template <typename T>
void Poke(T* device, size_t index, T value) {
  ASSERT_EQ(
      cudaMemcpy(device + index, &value, sizeof(T), cudaMemcpyHostToDevice),
      cudaSuccess);
}

// The most blocks one row meets, counted block by block over the element
// ranges the index gives them: the check of Df11BlocksPerRow.
uint32_t BlocksPerRowBySweep(const EncodedTensor& t, uint64_t row_elements) {
  const uint64_t rows = t.num_elements / row_elements;
  std::vector<uint32_t> met(rows, 0);
  for (size_t b = 0; b + 1 < t.block_starts.size(); ++b) {
    const uint64_t lo = t.block_starts[b];
    const uint64_t hi = t.block_starts[b + 1];
    if (lo == hi) continue;
    for (uint64_t r = lo / row_elements; r <= (hi - 1) / row_elements; ++r) {
      ++met[r];
    }
  }
  return rows == 0 ? 0 : *std::max_element(met.begin(), met.end());
}

// Decodes the rows that `ids` select (after subtracting `id_offset`) into a
// poisoned output at `offset` elements past a 16-byte boundary and checks
// every element of every selected row, the error flags and the guards.
void CheckRowLookup(const std::vector<uint16_t>& values, uint64_t row_elements,
                    const std::vector<int32_t>& ids, int64_t id_offset,
                    size_t offset) {
  const EncodedTensor t = Encode(values);
  const uint32_t per_row =
      Df11BlocksPerRow(t.block_starts, t.num_elements, row_elements);
  ASSERT_EQ(per_row, BlocksPerRowBySweep(t, row_elements));
  absl::StatusOr<DeviceEncodedTensor> d = DeviceEncodedTensor::Upload(t);
  ASSERT_TRUE(d.ok()) << d.status();
  int32_t* device_ids = nullptr;
  ASSERT_EQ(cudaMalloc(&device_ids, 4 * ids.size() + 4), cudaSuccess);
  ASSERT_EQ(cudaMemcpy(device_ids, ids.data(), 4 * ids.size(),
                       cudaMemcpyHostToDevice),
            cudaSuccess);
  const int64_t rows = static_cast<int64_t>(values.size() / row_elements);
  PoisonedOutputs outputs({values.size()}, offset, 0xA5);
  ErrorFlags flags;
  const Df11RowLookup lookup{device_ids, static_cast<int64_t>(ids.size()),
                             id_offset, row_elements, per_row};
  const absl::Status s = DecodeDf11Rows(d->view(), lookup, outputs.out(0),
                                        flags.device(), nullptr);
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(flags.Read(), 0u);
  const std::vector<uint16_t> got = outputs.Read(0);
  size_t checked = 0;
  for (int32_t id : ids) {
    const int64_t row = int64_t{id} - id_offset;
    if (row < 0 || row >= rows) continue;
    for (uint64_t j = 0; j < row_elements; ++j) {
      const uint64_t i = row * row_elements + j;
      ASSERT_EQ(got[i], values[i]) << "row " << row << " element " << j;
    }
    ++checked;
  }
  std::printf("%zu ids, %zu rows checked, %u blocks per row\n", ids.size(),
              checked, per_row);
  outputs.CheckGuardsOnly();
  cudaFree(device_ids);
}

// Ids for a table of `rows`: the first and last rows, repeats, random rows,
// and ids just outside the table on both sides.
std::vector<int32_t> LookupIds(int64_t rows, int64_t id_offset, int count,
                               uint64_t seed) {
  std::mt19937_64 rng(seed);
  const auto at = [&](int64_t row) {
    return static_cast<int32_t>(row + id_offset);
  };
  std::vector<int32_t> ids = {at(0),  at(rows - 1), at(rows / 2), at(rows / 2),
                              at(-1), at(rows),     at(rows + 7)};
  if (id_offset > 0) ids.push_back(0);
  while (static_cast<int>(ids.size()) < count) {
    ids.push_back(at(static_cast<int64_t>(rng() % rows)));
  }
  return ids;
}

struct RowCase {
  int distribution;  // index into kCases
  uint64_t rows;
  uint64_t row_elements;
};

// Rows narrower than a block (one-bit codes: 32768 elements per block) to
// rows over several blocks (12-bit codes: about 2730), at odd widths.
const RowCase kRowCases[] = {
    {0, 300, 4096}, {1, 200, 4096}, {2, 150, 4099}, {3, 100, 4096},
    {3, 64, 10007}, {4, 2000, 576}, {1, 5000, 1},   {0, 3, 200003},
};

class DecodeDf11RowsTest : public ::testing::TestWithParam<int> {};

TEST_P(DecodeDf11RowsTest, SelectedRowsAreBitExact) {
  SKIP_WITHOUT_GPU();
  const RowCase& c = kRowCases[GetParam()];
  const std::vector<uint16_t> values =
      kCases[c.distribution].make(c.rows * c.row_elements, 77 + GetParam());
  const int64_t rows = static_cast<int64_t>(c.rows);
  for (const auto& [id_offset, count, offset] :
       {std::tuple<int64_t, int, size_t>{0, 1, 0},
        {0, 8, 3},
        {0, 64, 0},
        {1000, 40, 5}}) {
    SCOPED_TRACE(testing::Message()
                 << "offset " << id_offset << ", " << count << " ids");
    std::vector<int32_t> ids = LookupIds(rows, id_offset, count, 5 + count);
    if (count == 1) ids = {static_cast<int32_t>(rows / 3 + id_offset)};
    CheckRowLookup(values, c.row_elements, ids, id_offset, offset);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Tables, DecodeDf11RowsTest,
    ::testing::Range(0, static_cast<int>(std::size(kRowCases))),
    [](const auto& info) {
      const RowCase& c = kRowCases[info.param];
      return kCases[c.distribution].name + "_rows" + std::to_string(c.rows) +
             "x" + std::to_string(c.row_elements);
    });

TEST(DecodeDf11RowsTest, EveryRowAtOnceEqualsTheWholeTensor) {
  SKIP_WITHOUT_GPU();
  const std::vector<uint16_t> values = GaussianBf16(97 * 1031, 0.02, 8);
  std::vector<int32_t> ids(97);
  for (int i = 0; i < 97; ++i) ids[i] = 96 - i;
  CheckRowLookup(values, 1031, ids, 0, 1);
}

TEST(DecodeDf11RowsTest, RejectsBadArguments) {
  SKIP_WITHOUT_GPU();
  const EncodedTensor t = Encode(GaussianBf16(4096 * 4, 0.01, 1));
  absl::StatusOr<DeviceEncodedTensor> d = DeviceEncodedTensor::Upload(t);
  ASSERT_TRUE(d.ok()) << d.status();
  uint16_t* out = nullptr;
  int32_t* ids = nullptr;
  ASSERT_EQ(cudaMalloc(&out, 2 * 4096 * 4), cudaSuccess);
  ASSERT_EQ(cudaMalloc(&ids, 16), cudaSuccess);
  ASSERT_EQ(cudaMemset(ids, 0, 16), cudaSuccess);
  const Df11RowLookup good{ids, 4, 0, 4096, 2};
  const auto decode = [&](Df11RowLookup rows) {
    return DecodeDf11Rows(d->view(), rows, out, nullptr, nullptr).code();
  };
  EXPECT_EQ(decode(good), absl::StatusCode::kOk);
  Df11RowLookup r = good;
  r.row_elements = 4095;  // does not divide the tensor
  EXPECT_EQ(decode(r), absl::StatusCode::kInvalidArgument);
  r = good;
  r.row_elements = 0;
  EXPECT_EQ(decode(r), absl::StatusCode::kInvalidArgument);
  r = good;
  r.blocks_per_row = 0;
  EXPECT_EQ(decode(r), absl::StatusCode::kInvalidArgument);
  r = good;
  r.ids = nullptr;
  EXPECT_EQ(decode(r), absl::StatusCode::kInvalidArgument);
  r = good;
  r.count = -1;
  EXPECT_EQ(decode(r), absl::StatusCode::kInvalidArgument);
  r = good;
  r.count = 0;
  r.ids = nullptr;
  EXPECT_EQ(decode(r), absl::StatusCode::kOk);  // nothing to do
  EXPECT_EQ(Df11BlocksPerRow({}, 0, 4096), 0u);
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  cudaFree(ids);
  cudaFree(out);
}

// A corrupted index under a lookup: flagged, and nothing written outside
// the output. With every row selected, every block is decoded.
TEST(DecodeDf11RowsTest, CorruptedIndexIsFlagged) {
  SKIP_WITHOUT_GPU();
  const uint64_t row_elements = 4096;
  const std::vector<uint16_t> values = GaussianBf16(80 * row_elements, 0.02, 4);
  const EncodedTensor t = Encode(values);
  const uint32_t per_row =
      Df11BlocksPerRow(t.block_starts, t.num_elements, row_elements);
  const size_t blocks = t.block_starts.size() - 1;
  ASSERT_GE(blocks, 3u);
  std::vector<int32_t> ids(80);
  for (int i = 0; i < 80; ++i) ids[i] = i;
  int32_t* device_ids = nullptr;
  ASSERT_EQ(cudaMalloc(&device_ids, 4 * ids.size()), cudaSuccess);
  ASSERT_EQ(cudaMemcpy(device_ids, ids.data(), 4 * ids.size(),
                       cudaMemcpyHostToDevice),
            cudaSuccess);
  const std::vector<std::pair<size_t, uint32_t>> pokes = {
      {1, 0xFFFFFFF0u},
      {1, t.block_starts[2] + 5},
      {blocks / 2, 0},
      {blocks, 0},
  };
  for (const auto& [index, value] : pokes) {
    SCOPED_TRACE(testing::Message()
                 << "block_starts[" << index << "] = " << value);
    absl::StatusOr<DeviceEncodedTensor> d = DeviceEncodedTensor::Upload(t);
    ASSERT_TRUE(d.ok()) << d.status();
    Poke<uint32_t>(d->block_starts(), index, value);
    PoisonedOutputs outputs({values.size()}, 2, 0x5A);
    ErrorFlags flags;
    const Df11RowLookup lookup{device_ids, 80, 0, row_elements, per_row};
    ASSERT_TRUE(DecodeDf11Rows(d->view(), lookup, outputs.out(0),
                               flags.device(), nullptr)
                    .ok());
    EXPECT_NE(flags.Read(), 0u);
    outputs.CheckGuardsOnly();
  }
  cudaFree(device_ids);
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
