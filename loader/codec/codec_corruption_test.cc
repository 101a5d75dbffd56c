// Corrupted encodings give an error, never an out-of-bounds access. The test
// command also runs this file under AddressSanitizer, where every buffer is
// an exact-size heap allocation, so any read or write past one aborts.
#include <algorithm>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "loader/codec/decoder.h"
#include "loader/codec/encoder.h"
#include "loader/codec/synthetic_weights.h"

namespace df11 {
namespace {

using ::testing::HasSubstr;

EncodedTensor Encode(const std::vector<uint16_t>& values,
                     CodecLayout layout = {}) {
  EncodeOptions options;
  options.layout = layout;
  auto encoded = EncodeBf16(values, options);
  EXPECT_TRUE(encoded.ok()) << encoded.status();
  return *std::move(encoded);
}

absl::Status Decode(const EncodedTensor& t) {
  std::vector<uint16_t> out(t.num_elements);
  return DecodeBf16(t.view(), absl::MakeSpan(out), 2);
}

struct Corruption {
  std::string name;
  std::function<void(EncodedTensor&)> apply;
  absl::StatusCode code;
  std::string message;
};

class CorruptionTest : public ::testing::TestWithParam<Corruption> {};

TEST_P(CorruptionTest, ReportsExactError) {
  EncodedTensor t = Encode(GaussianBf16(100003, 0.01, 42));
  ASSERT_TRUE(Decode(t).ok());
  GetParam().apply(t);
  const absl::Status status = Decode(t);
  EXPECT_EQ(status.code(), GetParam().code) << status;
  EXPECT_THAT(std::string(status.message()), HasSubstr(GetParam().message));
}

INSTANTIATE_TEST_SUITE_P(
    Fields, CorruptionTest,
    ::testing::Values(
        Corruption{"TruncatedStream",
                   [](EncodedTensor& t) { t.exponent_stream.pop_back(); },
                   absl::StatusCode::kDataLoss, "exponent_stream has"},
        Corruption{"EmptyStream",
                   [](EncodedTensor& t) { t.exponent_stream.clear(); },
                   absl::StatusCode::kDataLoss, "exponent_stream has"},
        Corruption{"TruncatedSignMantissa",
                   [](EncodedTensor& t) { t.sign_mantissa.resize(7); },
                   absl::StatusCode::kDataLoss, "sign_mantissa has"},
        Corruption{"TruncatedGaps",
                   [](EncodedTensor& t) { t.chunk_gaps.pop_back(); },
                   absl::StatusCode::kDataLoss, "chunk_gaps has"},
        Corruption{"TruncatedBlockStarts",
                   [](EncodedTensor& t) { t.block_starts.pop_back(); },
                   absl::StatusCode::kDataLoss, "block_starts has"},
        Corruption{"LastBlockStartIsNotN",
                   [](EncodedTensor& t) { t.block_starts.back() -= 1; },
                   absl::StatusCode::kDataLoss, "must run from 0 to"},
        Corruption{"BlockStartsDecrease",
                   [](EncodedTensor& t) {
                     t.block_starts[1] = 5;
                     t.block_starts[2] = 4;
                   },
                   absl::StatusCode::kDataLoss, "decreases at block 2"},
        Corruption{"BlockStartShifted",
                   [](EncodedTensor& t) { t.block_starts[3] += 1; },
                   absl::StatusCode::kDataLoss, "block 2"},
        Corruption{"StreamBitsTooLarge",
                   [](EncodedTensor& t) { t.stream_bits += 4096; },
                   absl::StatusCode::kDataLoss, "exponent_stream has"},
        Corruption{"StreamBitsTooSmall",
                   [](EncodedTensor& t) { t.stream_bits = 5; },
                   absl::StatusCode::kDataLoss, "cannot hold"},
        Corruption{"StreamBitsOffByOne",
                   [](EncodedTensor& t) { t.stream_bits -= 1; },
                   absl::StatusCode::kDataLoss, ""},
        Corruption{"GapChanged",
                   [](EncodedTensor& t) { t.chunk_gaps[100] ^= 0x30; },
                   absl::StatusCode::kDataLoss, "block"},
        Corruption{"FirstGapOfBlockChanged",
                   [](EncodedTensor& t) { t.chunk_gaps[128] ^= 0x01; },
                   absl::StatusCode::kDataLoss, "block"},
        Corruption{"CodeLengthTooLong",
                   [](EncodedTensor& t) { t.code_lengths[0] = 13; },
                   absl::StatusCode::kInvalidArgument, "exceeds the maximum"},
        Corruption{"CodeNotComplete",
                   [](EncodedTensor& t) { t.code_lengths[0] = 12; },
                   absl::StatusCode::kInvalidArgument, "Kraft sum"},
        Corruption{"BadChunkBytes",
                   [](EncodedTensor& t) { t.layout.chunk_bytes = 12; },
                   absl::StatusCode::kInvalidArgument, "chunk_bytes"},
        Corruption{"BadChunksPerBlock",
                   [](EncodedTensor& t) { t.layout.chunks_per_block = 0; },
                   absl::StatusCode::kInvalidArgument, "chunks_per_block"},
        Corruption{"TooManyElements",
                   [](EncodedTensor& t) { t.num_elements = kMaxElements + 1; },
                   absl::StatusCode::kInvalidArgument, "at most"},
        Corruption{"NonzeroPadding",
                   [](EncodedTensor& t) { t.exponent_stream.back() = 1; },
                   absl::StatusCode::kDataLoss, "padding"}),
    [](const auto& info) { return info.param.name; });

TEST(CorruptionTest, SingleSymbolStreamWithInvalidBits) {
  EncodedTensor t = Encode(std::vector<uint16_t>(5000, 0x3F80));
  ASSERT_TRUE(Decode(t).ok());
  // With one symbol, "0" is the only code; a 1 bit is no code at all.
  t.exponent_stream[10] = 0x04;
  const absl::Status status = Decode(t);
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(status.message()), HasSubstr("no code"));
}

TEST(CorruptionTest, OutputOfWrongSize) {
  EncodedTensor t = Encode(GaussianBf16(100, 0.01, 1));
  std::vector<uint16_t> out(99);
  const absl::Status status = DecodeBf16(t.view(), absl::MakeSpan(out), 1);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
}

// Random byte flips anywhere in the encoding: each decode must end with OK
// or an error, never an out-of-bounds access, and stream flips must mostly
// be detected (the rest are same-length code swaps, which the model format's
// payload checksum catches).
class RandomFlipTest
    : public ::testing::TestWithParam<std::tuple<std::string, CodecLayout>> {};

TEST_P(RandomFlipTest, NeverOutOfBounds) {
  const auto& [kind, layout] = GetParam();
  std::vector<uint16_t> values;
  if (kind == "gaussian") values = GaussianBf16(20011, 0.02, 9);
  if (kind == "skewed") values = SkewedExponents(20011, 9);
  if (kind == "allpatterns") values = AllBf16Patterns(9);
  const EncodedTensor clean = Encode(values, layout);
  std::mt19937_64 rng(1234);
  int stream_flips = 0, stream_detected = 0;
  for (int iter = 0; iter < 600; ++iter) {
    EncodedTensor t = clean;
    const int field = iter % 4;
    ByteVector* bytes = field == 0   ? &t.exponent_stream
                        : field == 1 ? &t.chunk_gaps
                                     : nullptr;
    const uint8_t flip = static_cast<uint8_t>(1 + rng() % 255);
    if (bytes != nullptr) {
      (*bytes)[rng() % bytes->size()] ^= flip;
    } else if (field == 2) {
      t.block_starts[rng() % t.block_starts.size()] ^= uint32_t{flip}
                                                       << (8 * (rng() % 4));
    } else {
      t.code_lengths[rng() % 256] ^= flip & 0xF;
    }
    const absl::Status status = Decode(t);
    EXPECT_TRUE(status.ok() || status.code() == absl::StatusCode::kDataLoss ||
                status.code() == absl::StatusCode::kInvalidArgument)
        << status;
    if (field == 0) {
      ++stream_flips;
      stream_detected += !status.ok();
    }
  }
  // With codes of one length (all 256 exponents equally often) a flip only
  // swaps symbols, which no index can notice.
  const auto& lengths = clean.code_lengths;
  if (std::equal(lengths.begin() + 1, lengths.end(), lengths.begin())) return;
  EXPECT_GT(stream_detected, stream_flips / 2)
      << stream_detected << " of " << stream_flips << " stream flips detected";
}

INSTANTIATE_TEST_SUITE_P(
    Inputs, RandomFlipTest,
    ::testing::Combine(::testing::Values("gaussian", "skewed", "allpatterns"),
                       ::testing::Values(CodecLayout{16, 256},
                                         CodecLayout{8, 1},
                                         CodecLayout{64, 2})),
    [](const auto& info) {
      const CodecLayout& l = std::get<1>(info.param);
      return std::get<0>(info.param) + "_C" + std::to_string(l.chunk_bytes) +
             "B" + std::to_string(l.chunks_per_block);
    });

}  // namespace
}  // namespace df11
