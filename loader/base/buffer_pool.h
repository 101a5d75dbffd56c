// Byte arrays kept for reuse, so that a pipeline that allocates and frees
// many large arrays reuses memory it has already touched instead of taking
// fresh pages (a page fault and the kernel's zeroing per 4 KiB).
//
//   BufferPool pool;
//   ByteVector b = pool.Take(n);  // empty; capacity >= n if one was kept
//   b.resize(n);                  // no page faults when the capacity fits
//   ...
//   pool.Give(std::move(b));
//
// Thread-safe.
#ifndef DF11_LOADER_BASE_BUFFER_POOL_H_
#define DF11_LOADER_BASE_BUFFER_POOL_H_

#include <cstdint>
#include <map>
#include <mutex>

#include "loader/base/default_init_allocator.h"

namespace df11 {

class BufferPool {
 public:
  // An empty array: the kept one with the least capacity >= `bytes`, or a
  // new one if none is that large.
  ByteVector Take(uint64_t bytes);
  // Keeps `buffer`'s memory for a later Take.
  void Give(ByteVector buffer);
  // Frees kept arrays, the largest first, until at most `bytes` are kept.
  void TrimTo(uint64_t bytes);
  // The capacity kept.
  uint64_t bytes() const;

 private:
  mutable std::mutex mutex_;
  std::multimap<uint64_t, ByteVector> kept_;  // by capacity
  uint64_t bytes_ = 0;
};

}  // namespace df11

#endif  // DF11_LOADER_BASE_BUFFER_POOL_H_
