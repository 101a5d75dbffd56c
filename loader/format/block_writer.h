// Writes a file front to back in fixed-size blocks, in the background: the
// caller fills one block while writer threads put earlier ones on disk, so
// copying overlaps the device and several writes are in flight at once.
// Blocks go through O_DIRECT where the file system allows it (a buffered
// write's copy into the page cache costs more CPU than encoding does) and
// through the page cache otherwise.
//
//   BlockWriter w(path, fd, direct_fd);     // direct_fd may be -1
//   std::memcpy(w.block(), data, BlockWriter::kBlockBytes);
//   RETURN_IF_ERROR(w.Submit(BlockWriter::kBlockBytes));
//   ...
//   RETURN_IF_ERROR(w.Submit(last_bytes_padded_to_kAlignment));
//   RETURN_IF_ERROR(w.Drain());
//
// Not thread-safe: one caller fills and submits. The file descriptors stay
// the caller's.
#ifndef DF11_LOADER_FORMAT_BLOCK_WRITER_H_
#define DF11_LOADER_FORMAT_BLOCK_WRITER_H_

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"

namespace df11 {

class BlockWriter {
 public:
  // O_DIRECT needs offsets, sizes and buffers aligned to the device's
  // logical block; 4096 covers every common device.
  static constexpr uint64_t kAlignment = 4096;
  static constexpr uint64_t kBlockBytes = uint64_t{4} << 20;

  // Blocks are written from file offset 0 on.
  BlockWriter(std::string path, int fd, int direct_fd);
  ~BlockWriter();  // waits for the writes in flight
  BlockWriter(const BlockWriter&) = delete;
  BlockWriter& operator=(const BlockWriter&) = delete;

  // The block to fill, kBlockBytes long.
  uint8_t* block() { return blocks_[current_].get(); }
  // Queues the first `bytes` of block() (a multiple of kAlignment, at most
  // kBlockBytes; only the last block may be short) and waits for a free
  // block. Returns the first write error so far, naming the file.
  absl::Status Submit(uint64_t bytes);
  // Waits until every submitted block is written; the first error.
  absl::Status Drain();

 private:
  struct Job {
    size_t block;
    uint64_t offset, bytes;
  };
  void Work();
  absl::Status Write(const Job& job);

  const std::string path_;
  const int fd_;
  const int direct_fd_;
  std::vector<std::unique_ptr<uint8_t, void (*)(void*)>> blocks_;
  size_t current_ = 0;
  uint64_t next_offset_ = 0;

  std::mutex mutex_;
  std::condition_variable changed_;
  // Guarded by mutex_:
  std::deque<Job> queue_;
  std::vector<size_t> free_;
  int writing_ = 0;
  bool direct_ = true;  // until the file system rejects an O_DIRECT write
  bool stopping_ = false;
  absl::Status error_;
  std::vector<std::thread> threads_;
};

}  // namespace df11

#endif  // DF11_LOADER_FORMAT_BLOCK_WRITER_H_
