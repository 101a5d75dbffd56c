#include "loader/base/task_pool.h"

#include <atomic>
#include <chrono>
#include <mutex>
#include <vector>

#include "gtest/gtest.h"

namespace df11 {
namespace {

TEST(TaskPoolTest, RunsEveryTaskIncludingOnesSubmittedByTasks) {
  std::atomic<int> done{0};
  TaskPool pool(3);
  for (int i = 0; i < 100; ++i) {
    pool.Submit(i % 7, [&] {
      ++done;
      pool.Submit(0, [&] { ++done; });
    });
  }
  pool.Wait();
  EXPECT_EQ(done.load(), 200);
}

TEST(TaskPoolTest, OneWorkerRunsLowestPriorityFirstThenInSubmissionOrder) {
  std::vector<int> order;
  std::mutex mutex;
  TaskPool pool(1);
  std::atomic<bool> release{false};
  // Hold the only worker so that every later task is queued before any runs.
  pool.Submit(0, [&] {
    while (!release) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  });
  const int priorities[] = {5, 1, 5, 0, 1, 9};
  for (int i = 0; i < 6; ++i) {
    pool.Submit(priorities[i], [&, i] {
      std::lock_guard<std::mutex> lock(mutex);
      order.push_back(i);
    });
  }
  release = true;
  pool.Wait();
  EXPECT_EQ(order, (std::vector<int>{3, 1, 4, 0, 2, 5}));
}

TEST(TaskPoolTest, DestructorWaitsForQueuedTasks) {
  std::atomic<int> done{0};
  {
    TaskPool pool(2);
    for (int i = 0; i < 50; ++i) pool.Submit(0, [&] { ++done; });
  }
  EXPECT_EQ(done.load(), 50);
}

}  // namespace
}  // namespace df11
