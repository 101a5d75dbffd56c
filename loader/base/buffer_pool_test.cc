#include "loader/base/buffer_pool.h"

#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace df11 {
namespace {

ByteVector WithCapacity(size_t n) {
  ByteVector b;
  b.reserve(n);
  return b;
}

TEST(BufferPoolTest, TakeGivesTheSmallestKeptArrayThatFits) {
  BufferPool pool;
  pool.Give(WithCapacity(1000));
  pool.Give(WithCapacity(100));
  pool.Give(WithCapacity(500));
  EXPECT_EQ(pool.bytes(), 1600u);
  ByteVector b = pool.Take(200);
  EXPECT_EQ(b.capacity(), 500u);
  EXPECT_TRUE(b.empty());
  EXPECT_EQ(pool.bytes(), 1100u);
  EXPECT_EQ(pool.Take(1001).capacity(), 0u);  // none fits: a new array
  EXPECT_EQ(pool.Take(1000).capacity(), 1000u);
  EXPECT_EQ(pool.bytes(), 100u);
}

TEST(BufferPoolTest, TakenArrayKeepsItsMemory) {
  BufferPool pool;
  ByteVector a(4096, 7);
  const uint8_t* data = a.data();
  pool.Give(std::move(a));
  ByteVector b = pool.Take(4000);
  b.resize(4000);
  EXPECT_EQ(b.data(), data);
}

TEST(BufferPoolTest, TrimFreesTheLargestFirst) {
  BufferPool pool;
  for (size_t n : {10, 20, 30, 40}) pool.Give(WithCapacity(n));
  pool.TrimTo(35);
  EXPECT_EQ(pool.bytes(), 30u);  // 40 and 30 freed, 10 + 20 kept
  EXPECT_EQ(pool.Take(21).capacity(), 0u);
  EXPECT_EQ(pool.Take(15).capacity(), 20u);
  pool.TrimTo(0);
  EXPECT_EQ(pool.bytes(), 0u);
}

TEST(BufferPoolTest, ConcurrentTakeAndGiveKeepTheCount) {
  BufferPool pool;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 1000; ++i) {
        ByteVector b = pool.Take(64);
        if (b.capacity() == 0) b.reserve(64);
        pool.Give(std::move(b));
      }
    });
  }
  for (auto& t : threads) t.join();
  // Each thread holds at most one array at a time.
  EXPECT_GE(pool.bytes(), 64u);
  EXPECT_LE(pool.bytes(), 4 * 64u);
}

}  // namespace
}  // namespace df11
