#include "loader/format/block_writer.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace df11 {
namespace {

using ::testing::HasSubstr;

std::string TestPath(const std::string& name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  return std::string(dir != nullptr ? dir : "/tmp") + "/" + name;
}

std::vector<uint8_t> ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

// Writes `blocks` full blocks and a last one of `tail` bytes, each filled
// with its own pattern, and returns what the file should hold.
std::vector<uint8_t> WriteBlocks(BlockWriter& w, int blocks, uint64_t tail) {
  std::vector<uint8_t> expected;
  for (int b = 0; b <= blocks; ++b) {
    const uint64_t bytes = b < blocks ? BlockWriter::kBlockBytes : tail;
    for (uint64_t i = 0; i < bytes; ++i) {
      w.block()[i] = static_cast<uint8_t>(i * 7 + b * 13);
    }
    expected.insert(expected.end(), w.block(), w.block() + bytes);
    EXPECT_TRUE(w.Submit(bytes).ok());
  }
  EXPECT_TRUE(w.Drain().ok());
  return expected;
}

TEST(BlockWriterTest, BlocksLandInOrderThroughThePageCache) {
  const std::string path = TestPath("buffered");
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  ASSERT_GE(fd, 0);
  std::vector<uint8_t> expected;
  {
    BlockWriter w(path, fd, /*direct_fd=*/-1);
    expected = WriteBlocks(w, 9, 12345);  // a short last block
  }
  close(fd);
  EXPECT_TRUE(ReadAll(path) == expected);
}

TEST(BlockWriterTest, DirectWritesFallBackWhereRefused) {
  const std::string path = TestPath("direct");
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  ASSERT_GE(fd, 0);
  const int direct_fd = open(path.c_str(), O_WRONLY | O_DIRECT);
  if (direct_fd < 0) GTEST_SKIP() << "no O_DIRECT on this file system";
  std::vector<uint8_t> expected;
  {
    BlockWriter w(path, fd, direct_fd);
    // The last block's length is not a multiple of the alignment: O_DIRECT
    // refuses it with EINVAL and the writer goes through the page cache.
    expected = WriteBlocks(w, 5, 1000);
  }
  close(direct_fd);
  close(fd);
  EXPECT_TRUE(ReadAll(path) == expected);
}

TEST(BlockWriterTest, AWriteErrorNamesTheFile) {
  BlockWriter w("/no/such/file", /*fd=*/-1, /*direct_fd=*/-1);
  std::memset(w.block(), 1, BlockWriter::kAlignment);
  (void)w.Submit(BlockWriter::kAlignment);
  const absl::Status s = w.Drain();
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);  // EBADF
  EXPECT_THAT(std::string(s.message()), HasSubstr("/no/such/file: write"));
}

}  // namespace
}  // namespace df11
