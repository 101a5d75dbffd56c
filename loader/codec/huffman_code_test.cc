#include "loader/codec/huffman_code.h"

#include <functional>
#include <queue>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace df11 {
namespace {

// Cost in bits of an unlimited (textbook) Huffman code, for comparison.
uint64_t UnlimitedHuffmanBits(const ExponentHistogram& h) {
  std::priority_queue<uint64_t, std::vector<uint64_t>, std::greater<>> heap;
  for (uint64_t c : h) {
    if (c) heap.push(c);
  }
  if (heap.size() == 1) return heap.top();
  uint64_t bits = 0;
  while (heap.size() > 1) {
    const uint64_t a = heap.top();
    heap.pop();
    const uint64_t b = heap.top();
    heap.pop();
    bits += a + b;
    heap.push(a + b);
  }
  return bits;
}

struct HistogramCase {
  std::string name;
  std::function<ExponentHistogram()> make;
  int max_length;
};

ExponentHistogram Uniform256() {
  ExponentHistogram h;
  h.fill(1000);
  return h;
}

ExponentHistogram Geometric(int symbols) {
  // Counts 2^40, 2^39, ...: unlimited Huffman gives lengths 1, 2, 3, ...
  ExponentHistogram h{};
  for (int s = 0; s < symbols; ++s) h[100 + s] = uint64_t{1} << (40 - s);
  return h;
}

ExponentHistogram Fibonacci(int symbols) {
  ExponentHistogram h{};
  uint64_t a = 1, b = 1;
  for (int s = 0; s < symbols; ++s) {
    h[s * 5] = a;
    const uint64_t next = a + b;
    a = b;
    b = next;
  }
  return h;
}

ExponentHistogram LlmLike() {
  // Shape of a trained weight matrix: ~40 exponents around 2^-7.
  ExponentHistogram h{};
  for (int e = 90; e < 125; ++e) {
    const int d = e - 118;
    h[e] = uint64_t(1e9) >> std::min(40, d * d / 2);
  }
  h[0] = 3;  // a few zeros and subnormals
  return h;
}

class CodeLengthsTest : public ::testing::TestWithParam<HistogramCase> {};

TEST_P(CodeLengthsTest, LengthsAreLimitedAndComplete) {
  const HistogramCase& c = GetParam();
  const ExponentHistogram h = c.make();
  auto lengths = BuildCodeLengths(h, c.max_length);
  ASSERT_TRUE(lengths.ok()) << lengths.status();
  int used = 0;
  for (int s = 0; s < 256; ++s) {
    EXPECT_EQ((*lengths)[s] == 0, h[s] == 0) << "symbol " << s;
    EXPECT_LE((*lengths)[s], c.max_length) << "symbol " << s;
    used += h[s] != 0;
  }
  // Kraft sum, exactly: 1 for two or more symbols, 1/2 for one.
  uint64_t kraft = 0;
  for (int s = 0; s < 256; ++s) {
    if ((*lengths)[s]) kraft += uint64_t{1} << (40 - (*lengths)[s]);
  }
  EXPECT_EQ(kraft, used == 1 ? uint64_t{1} << 39 : uint64_t{1} << 40);
  EXPECT_TRUE(ValidateCodeLengths(*lengths, c.max_length).ok());
  // Limiting the length never beats unlimited Huffman, which is optimal.
  EXPECT_GE(CodedBits(h, *lengths), UnlimitedHuffmanBits(h));
}

TEST_P(CodeLengthsTest, MatchesHuffmanWhenTheLimitDoesNotBind) {
  const ExponentHistogram h = GetParam().make();
  auto lengths = BuildCodeLengths(h, 40);
  ASSERT_TRUE(lengths.ok()) << lengths.status();
  EXPECT_EQ(CodedBits(h, *lengths), UnlimitedHuffmanBits(h));
}

TEST_P(CodeLengthsTest, DecodeTableInvertsEncodeTable) {
  const HistogramCase& c = GetParam();
  ASSERT_LE(c.max_length, kDecodeTableBits);
  auto lengths = BuildCodeLengths(c.make(), c.max_length);
  ASSERT_TRUE(lengths.ok());
  const EncodeTable enc = BuildEncodeTable(*lengths);
  const DecodeTable dec = BuildDecodeTable(*lengths);
  for (int s = 0; s < 256; ++s) {
    const int len = (*lengths)[s];
    if (len == 0) continue;
    // Any bits after the code must not change the decoded symbol.
    for (uint32_t tail : {0u, 0xFFFu, 0xA5Au}) {
      const uint32_t window = (enc.reversed_code[s] | (tail << len)) &
                              ((1u << kDecodeTableBits) - 1);
      EXPECT_EQ(dec[window] & 0xFF, s);
      EXPECT_EQ(dec[window] >> 8, len);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    Histograms, CodeLengthsTest,
    ::testing::Values(
        HistogramCase{"Uniform256", Uniform256, 12},
        HistogramCase{"Uniform256Limit8", Uniform256, 8},
        HistogramCase{"Geometric40Limit12", [] { return Geometric(40); }, 12},
        HistogramCase{"Geometric13Limit12", [] { return Geometric(13); }, 12},
        HistogramCase{"Fibonacci30Limit12", [] { return Fibonacci(30); }, 12},
        HistogramCase{"Fibonacci30Limit5", [] { return Fibonacci(30); }, 5},
        HistogramCase{"LlmLike", LlmLike, 12},
        HistogramCase{"TwoSymbols",
                      [] {
                        ExponentHistogram h{};
                        h[3] = 1;
                        h[200] = 1000000;
                        return h;
                      },
                      12},
        HistogramCase{"OneSymbol",
                      [] {
                        ExponentHistogram h{};
                        h[127] = 42;
                        return h;
                      },
                      12}),
    [](const auto& info) { return info.param.name; });

TEST(CodeLengthsTest, LimitBindsOnGeometricHistogram) {
  auto lengths = BuildCodeLengths(Geometric(40), kMaxCodeLength);
  ASSERT_TRUE(lengths.ok());
  int longest = 0;
  for (uint8_t l : *lengths) longest = std::max<int>(longest, l);
  EXPECT_EQ(longest, kMaxCodeLength);
}

TEST(CodeLengthsTest, EmptyHistogramHasNoCodes) {
  auto lengths = BuildCodeLengths(ExponentHistogram{}, kMaxCodeLength);
  ASSERT_TRUE(lengths.ok());
  for (uint8_t l : *lengths) EXPECT_EQ(l, 0);
  EXPECT_TRUE(ValidateCodeLengths(*lengths).ok());
}

TEST(CodeLengthsTest, TooManySymbolsForTheLimit) {
  auto lengths = BuildCodeLengths(Uniform256(), 7);
  EXPECT_EQ(lengths.status().code(), absl::StatusCode::kInvalidArgument);
}

struct BadLengths {
  std::string name;
  std::vector<std::pair<int, int>> symbol_lengths;
  std::string message;
};

class ValidateCodeLengthsTest : public ::testing::TestWithParam<BadLengths> {};

TEST_P(ValidateCodeLengthsTest, RejectsWithReason) {
  CodeLengths lengths{};
  for (auto [s, l] : GetParam().symbol_lengths) lengths[s] = l;
  const absl::Status status = ValidateCodeLengths(lengths);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()),
              ::testing::HasSubstr(GetParam().message));
}

INSTANTIATE_TEST_SUITE_P(
    Bad, ValidateCodeLengthsTest,
    ::testing::Values(
        BadLengths{"TooLong", {{1, 1}, {2, 13}}, "exceeds the maximum 12"},
        BadLengths{"Incomplete", {{1, 1}, {2, 2}}, "Kraft sum"},
        BadLengths{"OverFull", {{1, 1}, {2, 1}, {3, 1}}, "Kraft sum"},
        BadLengths{"OneSymbolLength2", {{9, 2}}, "one symbol"}),
    [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace df11
