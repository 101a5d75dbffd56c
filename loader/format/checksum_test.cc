#include "loader/format/checksum.h"

#include <cstdint>
#include <vector>

#include "gtest/gtest.h"
#include "xxhash.h"  // the shared library, as the reference

namespace df11 {
namespace {

// The reference: Debian's libxxhash, called through its own symbols.
TEST(ChecksumTest, MatchesTheSharedLibraryOnEverySize) {
  EXPECT_EQ(Xxh3({}), 0x2D06800538D394C2u);  // XXH3-64 of nothing, seed 0
  std::vector<uint8_t> data(5000);
  uint32_t x = 7;
  for (uint8_t& b : data) b = (x = x * 1664525 + 1013904223) >> 24;
  // Every size up to 300 crosses each of XXH3's short-input paths.
  for (size_t n = 0; n < data.size(); n += n < 300 ? 1 : 97) {
    ASSERT_EQ(Xxh3(absl::MakeConstSpan(data).first(n)),
              XXH3_64bits(data.data(), n))
        << n << " bytes";
  }
}

TEST(ChecksumTest, StreamEqualsOneShotForAnySplit) {
  std::vector<uint8_t> data(100000);
  uint32_t x = 1;
  for (uint8_t& b : data) b = (x = x * 1664525 + 1013904223) >> 24;
  const uint64_t whole = Xxh3(data);
  for (size_t split : {0, 1, 63, 240, 1024, 65537, 100000}) {
    Xxh3Stream s;
    s.Update(absl::MakeConstSpan(data).first(split));
    s.Update(absl::MakeConstSpan(data).subspan(split));
    EXPECT_EQ(s.Digest(), whole) << "split at " << split;
  }
}

}  // namespace
}  // namespace df11
