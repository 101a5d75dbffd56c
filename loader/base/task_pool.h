// A fixed set of worker threads that run submitted tasks, the lowest
// priority value first and, among equal priorities, the first submitted
// first. For pipelines that keep many items in flight and want the oldest
// item finished first (df11 compress ranks its tasks by tensor).
//
//   TaskPool pool(HardwareThreads());
//   pool.Submit(/*priority=*/tensor_index, [&] { Count(segment); });
//   pool.Wait();
//
// Submit is thread-safe and may be called from inside a task. Tasks must not
// throw. The destructor waits for every task, queued or running.
#ifndef DF11_LOADER_BASE_TASK_POOL_H_
#define DF11_LOADER_BASE_TASK_POOL_H_

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <queue>
#include <thread>
#include <vector>

namespace df11 {

class TaskPool {
 public:
  explicit TaskPool(int threads);  // at least one worker
  ~TaskPool();
  TaskPool(const TaskPool&) = delete;
  TaskPool& operator=(const TaskPool&) = delete;

  void Submit(uint64_t priority, std::function<void()> task);
  // Returns once no task is queued or running.
  void Wait();

 private:
  struct Queued {
    uint64_t priority;
    uint64_t sequence;
    std::function<void()> task;
    // std::priority_queue pops the greatest.
    bool operator<(const Queued& other) const {
      return priority != other.priority ? priority > other.priority
                                        : sequence > other.sequence;
    }
  };
  void Work();

  std::mutex mutex_;
  std::condition_variable work_ready_;
  std::condition_variable idle_;
  std::priority_queue<Queued> queue_;
  uint64_t submitted_ = 0;
  int running_ = 0;
  bool stopping_ = false;
  std::vector<std::thread> workers_;
};

}  // namespace df11

#endif  // DF11_LOADER_BASE_TASK_POOL_H_
