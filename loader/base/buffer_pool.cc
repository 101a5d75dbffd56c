#include "loader/base/buffer_pool.h"

#include <iterator>
#include <utility>

namespace df11 {

ByteVector BufferPool::Take(uint64_t bytes) {
  ByteVector buffer;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = kept_.lower_bound(bytes);
    if (it == kept_.end()) return buffer;
    buffer = std::move(it->second);
    bytes_ -= it->first;
    kept_.erase(it);
  }
  buffer.clear();
  return buffer;
}

void BufferPool::Give(ByteVector buffer) {
  const uint64_t capacity = buffer.capacity();
  if (capacity == 0) return;
  std::lock_guard<std::mutex> lock(mutex_);
  bytes_ += capacity;
  kept_.emplace(capacity, std::move(buffer));
}

void BufferPool::TrimTo(uint64_t bytes) {
  ByteVector freed;  // freed outside the lock
  while (true) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (bytes_ <= bytes || kept_.empty()) return;
      auto largest = std::prev(kept_.end());
      bytes_ -= largest->first;
      freed = std::move(largest->second);
      kept_.erase(largest);
    }
    freed = ByteVector();
  }
}

uint64_t BufferPool::bytes() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return bytes_;
}

}  // namespace df11
