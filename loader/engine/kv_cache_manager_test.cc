#include "loader/engine/kv_cache_manager.h"

#include <set>
#include <string>

#include "gtest/gtest.h"

namespace df11 {
namespace {

TEST(KvCacheManagerTest, ReservesAtAdmissionAndGrowsByBlocks) {
  KvCacheManager kv(8, 16);         // 128 tokens
  ASSERT_TRUE(kv.Add(1, 40).ok());  // 3 blocks reserved
  EXPECT_EQ(kv.usage().reserved, 3);
  EXPECT_EQ(kv.usage().used, 0);
  kv.Grow(1, 17);
  EXPECT_EQ(kv.Blocks(1).size(), 2u);
  EXPECT_EQ(kv.usage().used, 2);
  kv.SetLength(1, 17);
  EXPECT_EQ(kv.Length(1), 17);
  EXPECT_EQ(kv.Slot(1, 16), kv.Blocks(1)[1] * 16);
  EXPECT_EQ(kv.Slot(1, 5), kv.Blocks(1)[0] * 16 + 5);
  EXPECT_EQ(kv.usage().free_tokens(), 5 * 16);
}

TEST(KvCacheManagerTest, RefusesWhenFullAndChangesNothing) {
  KvCacheManager kv(4, 16);
  ASSERT_TRUE(kv.Add(1, 48).ok());
  const KvUsage before = kv.usage();
  const absl::Status s = kv.Add(2, 17);
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted) << s;
  EXPECT_NE(s.message().find("needs room for 17 tokens; 16 of 64 tokens are "
                             "free"),
            std::string::npos)
      << s;
  EXPECT_FALSE(kv.Contains(2));
  EXPECT_EQ(kv.usage().reserved, before.reserved);
  EXPECT_TRUE(kv.Add(2, 16).ok());
}

TEST(KvCacheManagerTest, RejectsDuplicateIdsAndEmptySequences) {
  KvCacheManager kv(4, 16);
  ASSERT_TRUE(kv.Add(7, 5).ok());
  EXPECT_EQ(kv.Add(7, 5).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(kv.Add(8, 0).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(kv.usage().sequences, 1);
}

TEST(KvCacheManagerTest, RemovedBlocksAreReusedAndNeverShared) {
  KvCacheManager kv(64, 4);
  // A long sequence and many short ones share the pool.
  ASSERT_TRUE(kv.Add(0, 128).ok());
  kv.Grow(0, 128);
  for (SequenceId id = 1; id <= 32; ++id) {
    ASSERT_TRUE(kv.Add(id, 4).ok()) << id;
    kv.Grow(id, 4);
  }
  EXPECT_EQ(kv.usage().used, 64);
  EXPECT_EQ(kv.Add(99, 1).code(), absl::StatusCode::kResourceExhausted);
  std::set<int32_t> seen;
  for (SequenceId id = 0; id <= 32; ++id) {
    for (int32_t b : kv.Blocks(id)) EXPECT_TRUE(seen.insert(b).second) << b;
  }
  EXPECT_TRUE(kv.Remove(0));
  EXPECT_FALSE(kv.Remove(0));
  EXPECT_EQ(kv.usage().used, 32);
  ASSERT_TRUE(kv.Add(100, 128).ok());
  kv.Grow(100, 128);
  EXPECT_EQ(kv.usage().used, 64);
  for (SequenceId id = 1; id <= 32; ++id) kv.Remove(id);
  kv.Remove(100);
  const KvUsage u = kv.usage();
  EXPECT_EQ(u.used, 0);
  EXPECT_EQ(u.reserved, 0);
  EXPECT_EQ(u.sequences, 0);
}

TEST(KvCacheManagerTest, StoppingEarlyGivesBackTheReservation) {
  KvCacheManager kv(10, 16);
  ASSERT_TRUE(kv.Add(1, 160).ok());
  EXPECT_EQ(kv.Add(2, 1).code(), absl::StatusCode::kResourceExhausted);
  kv.Grow(1, 20);
  kv.Remove(1);
  EXPECT_TRUE(kv.Add(2, 160).ok());
}

}  // namespace
}  // namespace df11
