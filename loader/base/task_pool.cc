#include "loader/base/task_pool.h"

#include <algorithm>
#include <utility>

namespace df11 {

TaskPool::TaskPool(int threads) {
  const int n = std::max(1, threads);
  workers_.reserve(n);
  for (int i = 0; i < n; ++i) workers_.emplace_back([this] { Work(); });
}

TaskPool::~TaskPool() {
  Wait();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  work_ready_.notify_all();
  for (std::thread& t : workers_) t.join();
}

void TaskPool::Submit(uint64_t priority, std::function<void()> task) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    queue_.push({priority, submitted_++, std::move(task)});
  }
  work_ready_.notify_one();
}

void TaskPool::Wait() {
  std::unique_lock<std::mutex> lock(mutex_);
  idle_.wait(lock, [this] { return queue_.empty() && running_ == 0; });
}

void TaskPool::Work() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (true) {
    work_ready_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stopping, and nothing left
    // top() is const; moving the task out is safe as the entry is popped
    // at once.
    std::function<void()> task =
        std::move(const_cast<Queued&>(queue_.top()).task);
    queue_.pop();
    ++running_;
    lock.unlock();
    task();
    lock.lock();
    --running_;
    if (queue_.empty() && running_ == 0) idle_.notify_all();
  }
}

}  // namespace df11
