// Encode -> decode is bit-exact on every element, for every distribution,
// size, layout and thread count below.
#include <functional>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "loader/codec/decoder.h"
#include "loader/codec/encoder.h"
#include "loader/codec/synthetic_weights.h"

namespace df11 {
namespace {

struct Distribution {
  std::string name;
  std::function<std::vector<uint16_t>(size_t n)> make;
};

std::vector<uint16_t> Repeat(const std::vector<uint16_t>& pattern, size_t n) {
  std::vector<uint16_t> out(n);
  for (size_t i = 0; i < n; ++i) out[i] = pattern[i % pattern.size()];
  return out;
}

const Distribution kDistributions[] = {
    {"Gaussian0002", [](size_t n) { return GaussianBf16(n, 0.002, 1); }},
    {"Gaussian0006", [](size_t n) { return GaussianBf16(n, 0.006, 2); }},
    {"Gaussian002", [](size_t n) { return GaussianBf16(n, 0.02, 3); }},
    {"Gaussian005", [](size_t n) { return GaussianBf16(n, 0.05, 4); }},
    {"AllPatterns", [](size_t n) { return Repeat(AllBf16Patterns(5), n); }},
    {"RandomBits", [](size_t n) { return RandomBits(n, 6); }},
    {"OneValue", [](size_t n) { return std::vector<uint16_t>(n, 0x3C01); }},
    {"NegativeZero", [](size_t n) { return std::vector<uint16_t>(n, 0x8000); }},
    {"Skewed", [](size_t n) { return SkewedExponents(n, 7); }},
};

const size_t kSizes[] = {0,    1,    2,     3,     7,     19,     733,
                         4095, 4097, 12289, 65536, 70001, 1000003};

struct Layout {
  std::string name;
  CodecLayout layout;
};

const Layout kLayouts[] = {
    {"C16B256", {16, 256}},
    {"C8B1", {8, 1}},
    {"C64B4", {64, 4}},
};

using Param = std::tuple<Distribution, size_t, Layout, int>;

// Encoding with `threads` threads gives the same bytes as with one.
void ExpectThreadIndependent(const std::vector<uint16_t>& values,
                             EncodeOptions options, int threads) {
  options.threads = 1;
  auto one = EncodeBf16(values, options);
  options.threads = threads;
  auto many = EncodeBf16(values, options);
  ASSERT_TRUE(one.ok() && many.ok());
  EXPECT_EQ(one->stream_bits, many->stream_bits);
  EXPECT_EQ(one->exponent_stream, many->exponent_stream);
  EXPECT_EQ(one->chunk_gaps, many->chunk_gaps);
  EXPECT_EQ(one->block_starts, many->block_starts);
  EXPECT_EQ(one->sign_mantissa, many->sign_mantissa);
}

class RoundTripTest : public ::testing::TestWithParam<Param> {};

TEST_P(RoundTripTest, BitExact) {
  const auto& [dist, n, layout, threads] = GetParam();
  const std::vector<uint16_t> values = dist.make(n);
  EncodeOptions options;
  options.layout = layout.layout;
  options.threads = threads;
  auto encoded = EncodeBf16(values, options);
  ASSERT_TRUE(encoded.ok()) << encoded.status();
  ASSERT_TRUE(ValidateEncodedTensor(encoded->view()).ok());

  // Poison the output so an unwritten element cannot pass.
  std::vector<uint16_t> decoded(n, 0x7FC1);
  const absl::Status status =
      DecodeBf16(encoded->view(), absl::MakeSpan(decoded), threads);
  ASSERT_TRUE(status.ok()) << status;
  for (size_t i = 0; i < n; ++i) {
    ASSERT_EQ(decoded[i], values[i]) << "element " << i << " of " << n;
  }
}

// Same distributions and sizes, encoded with 1 and with 3 threads.
class ThreadDeterminismTest : public ::testing::TestWithParam<Param> {};

TEST_P(ThreadDeterminismTest, ThreadCountDoesNotChangeBytes) {
  const auto& [dist, n, layout, threads] = GetParam();
  const std::vector<uint16_t> values = dist.make(n);
  EncodeOptions options;
  options.layout = layout.layout;
  ExpectThreadIndependent(values, options, threads);
}

std::string ParamName(const ::testing::TestParamInfo<Param>& info) {
  const auto& [dist, n, layout, threads] = info.param;
  return dist.name + "_n" + std::to_string(n) + "_" + layout.name + "_t" +
         std::to_string(threads);
}

INSTANTIATE_TEST_SUITE_P(All, RoundTripTest,
                         ::testing::Combine(::testing::ValuesIn(kDistributions),
                                            ::testing::ValuesIn(kSizes),
                                            ::testing::ValuesIn(kLayouts),
                                            ::testing::Values(1, 3)),
                         ParamName);

INSTANTIATE_TEST_SUITE_P(All, ThreadDeterminismTest,
                         ::testing::Combine(::testing::ValuesIn(kDistributions),
                                            ::testing::ValuesIn(kSizes),
                                            ::testing::ValuesIn(kLayouts),
                                            ::testing::Values(3)),
                         ParamName);

// Tensors of a million elements and more take the encoder's two-codes-per-
// lookup path; an odd size leaves a single code at the end of segments.
class LargeRoundTripTest
    : public ::testing::TestWithParam<std::tuple<Distribution, size_t, int>> {};

TEST_P(LargeRoundTripTest, BitExactAndThreadIndependent) {
  const auto& [dist, n, threads] = GetParam();
  const std::vector<uint16_t> values = dist.make(n);
  EncodeOptions options;
  ExpectThreadIndependent(values, options, threads);
  options.threads = threads;
  auto encoded = EncodeBf16(values, options);
  ASSERT_TRUE(encoded.ok()) << encoded.status();
  std::vector<uint16_t> decoded(n, 0x7FC1);
  ASSERT_TRUE(
      DecodeBf16(encoded->view(), absl::MakeSpan(decoded), threads).ok());
  for (size_t i = 0; i < n; ++i) {
    ASSERT_EQ(decoded[i], values[i]) << "element " << i << " of " << n;
  }
}

INSTANTIATE_TEST_SUITE_P(All, LargeRoundTripTest,
                         ::testing::Combine(::testing::ValuesIn(kDistributions),
                                            ::testing::Values(1048577, 2100001),
                                            ::testing::Values(3)),
                         [](const auto& info) {
                           return std::get<0>(info.param).name + "_n" +
                                  std::to_string(std::get<1>(info.param));
                         });

TEST(RoundTripTest, LargeTensorManyThreads) {
  // Large enough that the encoder splits it into many parallel segments.
  const std::vector<uint16_t> values = GaussianBf16(9000001, 0.01, 11);
  EncodeOptions options;
  options.threads = 8;
  auto encoded = EncodeBf16(values, options);
  ASSERT_TRUE(encoded.ok()) << encoded.status();
  std::vector<uint16_t> decoded(values.size(), 0xFFFF);
  ASSERT_TRUE(DecodeBf16(encoded->view(), absl::MakeSpan(decoded), 8).ok());
  EXPECT_TRUE(decoded == values);
}

// The segmented steps, run in reverse order with segments of any size and
// output arrays that held other data, give EncodeBf16's bytes, and those
// decode bit-exact.
class SegmentedEncoderTest
    : public ::testing::TestWithParam<std::tuple<Distribution, size_t>> {};

TEST_P(SegmentedEncoderTest, AnySegmentSizeGivesTheSameBytes) {
  const auto& [dist, n] = GetParam();
  const std::vector<uint16_t> values = dist.make(n);
  const auto whole = EncodeBf16(values, EncodeOptions{});
  ASSERT_TRUE(whole.ok()) << whole.status();
  for (size_t segment :
       {size_t{1}, size_t{7}, size_t{4096}, size_t{100003}, size_t{1} << 20}) {
    if (n / segment > 20000) continue;  // each segment holds a histogram
    SCOPED_TRACE("segment elements " + std::to_string(segment));
    // Output arrays reused from an earlier tensor hold stale bytes.
    EncodeOptions options;
    options.take_buffer = [](uint64_t bytes) {
      ByteVector stale(bytes + 100, 0xA5);
      stale.clear();
      return stale;
    };
    auto e = SegmentedEncoder::Create(values, options, segment);
    ASSERT_TRUE(e.ok()) << e.status();
    for (size_t i = e->segments(); i-- > 0;) e->Count(i);
    ASSERT_TRUE(e->BuildCode().ok());
    EXPECT_EQ(e->histogram(), CountExponents(values));
    for (size_t i = e->segments(); i-- > 0;) e->Encode(i);
    const EncodedTensor t = e->Finish();
    EXPECT_EQ(t.stream_bits, whole->stream_bits);
    EXPECT_EQ(t.code_lengths, whole->code_lengths);
    EXPECT_EQ(t.exponent_stream, whole->exponent_stream);
    EXPECT_EQ(t.chunk_gaps, whole->chunk_gaps);
    EXPECT_EQ(t.block_starts, whole->block_starts);
    EXPECT_EQ(t.sign_mantissa, whole->sign_mantissa);
    std::vector<uint16_t> decoded(n, 0x7FC1);
    ASSERT_TRUE(DecodeBf16(t.view(), absl::MakeSpan(decoded), 2).ok());
    ASSERT_TRUE(decoded == values);
  }
}

INSTANTIATE_TEST_SUITE_P(All, SegmentedEncoderTest,
                         ::testing::Combine(::testing::ValuesIn(kDistributions),
                                            ::testing::Values(0, 1, 4097, 70001,
                                                              1048577)),
                         [](const auto& info) {
                           return std::get<0>(info.param).name + "_n" +
                                  std::to_string(std::get<1>(info.param));
                         });

TEST(RoundTripTest, SkewedHistogramUsesTheMaximumCodeLength) {
  const std::vector<uint16_t> values = SkewedExponents(200000, 3);
  auto encoded = EncodeBf16(values, EncodeOptions{});
  ASSERT_TRUE(encoded.ok());
  int longest = 0;
  for (uint8_t l : encoded->code_lengths) longest = std::max<int>(longest, l);
  EXPECT_EQ(longest, kMaxCodeLength);
}

TEST(RoundTripTest, SharedCodeAcrossTensors) {
  const std::vector<uint16_t> a = GaussianBf16(50000, 0.01, 1);
  const std::vector<uint16_t> b = GaussianBf16(30000, 0.02, 2);
  ExponentHistogram h = CountExponents(a);
  AddHistogram(CountExponents(b), h);
  auto code = BuildCodeLengths(h, kMaxCodeLength);
  ASSERT_TRUE(code.ok());
  for (const auto* v : {&a, &b}) {
    auto encoded = EncodeBf16WithCode(*v, *code, EncodeOptions{});
    ASSERT_TRUE(encoded.ok()) << encoded.status();
    EXPECT_EQ(encoded->code_lengths, *code);
    std::vector<uint16_t> decoded(v->size());
    ASSERT_TRUE(DecodeBf16(encoded->view(), absl::MakeSpan(decoded), 2).ok());
    EXPECT_TRUE(decoded == *v);
  }
}

TEST(RoundTripTest, SharedCodeMissingAnExponentIsRejected) {
  const std::vector<uint16_t> a = GaussianBf16(1000, 0.01, 1);
  auto code = BuildCodeLengths(CountExponents(a), kMaxCodeLength);
  ASSERT_TRUE(code.ok());
  const std::vector<uint16_t> inf = {0x7F80};
  auto encoded = EncodeBf16WithCode(inf, *code, EncodeOptions{});
  EXPECT_EQ(encoded.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(encoded.status().message().find("exponent 255"), std::string::npos);
}

TEST(EncodeOptionsTest, BadLayoutIsRejected) {
  EncodeOptions options;
  options.layout.chunk_bytes = 12;
  EXPECT_EQ(EncodeBf16({}, options).status().code(),
            absl::StatusCode::kInvalidArgument);
  options.layout = {16, 3};
  EXPECT_EQ(EncodeBf16({}, options).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace df11
