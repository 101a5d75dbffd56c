#include "loader/base/parallel_for.h"

#include <algorithm>
#include <atomic>
#include <thread>
#include <vector>

namespace df11 {

int HardwareThreads() {
  return std::max(1u, std::thread::hardware_concurrency());
}

void ParallelFor(size_t n, int threads,
                 const std::function<void(size_t, size_t)>& fn) {
  if (n == 0) return;
  if (threads <= 1 || n == 1) {
    fn(0, n);
    return;
  }
  const size_t workers = std::min<size_t>(threads, n);
  const size_t pieces = std::min<size_t>(n, workers * 4);
  const size_t piece_size = (n + pieces - 1) / pieces;
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t p; (p = next.fetch_add(1)) < pieces;) {
      const size_t begin = p * piece_size;
      if (begin >= n) break;
      fn(begin, std::min(n, begin + piece_size));
    }
  };
  std::vector<std::thread> pool;
  pool.reserve(workers - 1);
  for (size_t i = 1; i < workers; ++i) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
}

}  // namespace df11
