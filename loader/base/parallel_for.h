// Runs a function over [0, n) on several threads.
//
//   ParallelFor(num_blocks, threads, [&](size_t begin, size_t end) {
//     for (size_t b = begin; b < end; ++b) DecodeBlock(b);
//   });
//
// The range is cut into contiguous pieces, about four per thread so uneven
// pieces balance out, and handed to `threads` workers (the calling thread is
// one of them). `fn(begin, end)` must be safe to call concurrently on disjoint
// ranges. Returns when every piece is done. threads <= 1 runs inline.
#ifndef DF11_LOADER_BASE_PARALLEL_FOR_H_
#define DF11_LOADER_BASE_PARALLEL_FOR_H_

#include <cstddef>
#include <functional>

namespace df11 {

// The number of hardware threads, at least 1.
int HardwareThreads();

void ParallelFor(size_t n, int threads,
                 const std::function<void(size_t begin, size_t end)>& fn);

}  // namespace df11

#endif  // DF11_LOADER_BASE_PARALLEL_FOR_H_
