#include "loader/format/block_writer.h"

#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <utility>

#include "absl/strings/str_cat.h"

namespace df11 {
namespace {

// Blocks being filled, queued or written: enough to keep kThreads writes in
// flight while the caller fills the next. Four writes at once took a
// virtual disk from 1.4 to 1.9 GB/s (docs/perf.md).
constexpr size_t kBlocks = 6;
constexpr int kThreads = 4;

}  // namespace

BlockWriter::BlockWriter(std::string path, int fd, int direct_fd)
    : path_(std::move(path)), fd_(fd), direct_fd_(direct_fd) {
  for (size_t i = 0; i < kBlocks; ++i) {
    blocks_.emplace_back(
        static_cast<uint8_t*>(std::aligned_alloc(kAlignment, kBlockBytes)),
        std::free);
    if (i != current_) free_.push_back(i);
  }
  direct_ = direct_fd_ >= 0;
  for (int i = 0; i < kThreads; ++i) threads_.emplace_back([this] { Work(); });
}

BlockWriter::~BlockWriter() {
  {
    std::unique_lock<std::mutex> lock(mutex_);
    changed_.wait(lock, [&] { return queue_.empty() && writing_ == 0; });
    stopping_ = true;
  }
  changed_.notify_all();
  for (std::thread& t : threads_) t.join();
}

absl::Status BlockWriter::Submit(uint64_t bytes) {
  std::unique_lock<std::mutex> lock(mutex_);
  queue_.push_back({current_, next_offset_, bytes});
  next_offset_ += bytes;
  changed_.notify_all();
  changed_.wait(lock, [&] { return !free_.empty(); });
  current_ = free_.back();
  free_.pop_back();
  return error_;
}

absl::Status BlockWriter::Drain() {
  std::unique_lock<std::mutex> lock(mutex_);
  changed_.wait(lock, [&] { return queue_.empty() && writing_ == 0; });
  return error_;
}

void BlockWriter::Work() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (true) {
    changed_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) return;
    const Job job = queue_.front();
    queue_.pop_front();
    ++writing_;
    const bool skip = !error_.ok();
    lock.unlock();
    const absl::Status s = skip ? absl::OkStatus() : Write(job);
    lock.lock();
    if (error_.ok()) error_ = s;
    --writing_;
    free_.push_back(job.block);
    changed_.notify_all();
  }
}

absl::Status BlockWriter::Write(const Job& job) {
  const uint8_t* data = blocks_[job.block].get();
  uint64_t offset = job.offset, left = job.bytes;
  bool direct;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    direct = direct_;
  }
  while (left > 0) {
    const ssize_t n = pwrite(direct ? direct_fd_ : fd_, data, left,
                             static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && direct && errno == EINVAL) {
      // The file system refuses O_DIRECT, or a short write left the rest
      // unaligned: the page cache from here on.
      direct = false;
      std::lock_guard<std::mutex> lock(mutex_);
      direct_ = false;
      continue;
    }
    if (n <= 0) {
      return absl::ErrnoToStatus(n < 0 ? errno : EIO,
                                 absl::StrCat(path_, ": write"));
    }
    // A short write (e.g. at a size limit) is retried for the rest, which
    // then reports the cause.
    data += n;
    offset += static_cast<uint64_t>(n);
    left -= static_cast<uint64_t>(n);
  }
  return absl::OkStatus();
}

}  // namespace df11
