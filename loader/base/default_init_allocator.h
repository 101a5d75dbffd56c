// An allocator whose value-initialization is default-initialization, so that
// `resize(n)` of a vector of bytes leaves them unwritten instead of zeroing
// them on the calling thread. For large buffers that parallel workers fill
// anyway (the first touch then happens on the workers, in parallel).
//
//   ByteVector buffer;
//   buffer.resize(n);  // contents indeterminate until written
#ifndef DF11_LOADER_BASE_DEFAULT_INIT_ALLOCATOR_H_
#define DF11_LOADER_BASE_DEFAULT_INIT_ALLOCATOR_H_

#include <cstdint>
#include <memory>
#include <new>
#include <utility>
#include <vector>

namespace df11 {

template <typename T>
class DefaultInitAllocator : public std::allocator<T> {
 public:
  template <typename U>
  struct rebind {
    using other = DefaultInitAllocator<U>;
  };
  using std::allocator<T>::allocator;

  template <typename U>
  void construct(U* p) noexcept(noexcept(::new (static_cast<void*>(p)) U)) {
    ::new (static_cast<void*>(p)) U;
  }
  template <typename U, typename... Args>
  void construct(U* p, Args&&... args) {
    ::new (static_cast<void*>(p)) U(std::forward<Args>(args)...);
  }
};

using ByteVector = std::vector<uint8_t, DefaultInitAllocator<uint8_t>>;

}  // namespace df11

#endif  // DF11_LOADER_BASE_DEFAULT_INIT_ALLOCATOR_H_
