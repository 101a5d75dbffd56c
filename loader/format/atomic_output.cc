#include "loader/format/atomic_output.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "loader/base/status_macros.h"
#include "loader/format/file_contents.h"

namespace df11 {
namespace {

namespace fs = std::filesystem;

absl::Status Errno(const std::string& path, absl::string_view what) {
  return absl::InternalError(
      absl::StrCat(path, ": ", what, ": ", std::strerror(errno)));
}

absl::Status WriteAll(int fd, const std::string& path, const char* data,
                      size_t size) {
  while (size > 0) {
    const ssize_t n = ::write(fd, data, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Errno(path, "write failed");
    }
    data += n;
    size -= n;
  }
  return absl::OkStatus();
}

absl::Status SyncDir(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd < 0) return Errno(dir, "cannot open directory");
  const int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) return Errno(dir, "fsync failed");
  return absl::OkStatus();
}

}  // namespace

absl::Status WriteFileDurably(const std::string& path,
                              absl::string_view contents) {
  const std::string temp = path + ".tmp";
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) return Errno(temp, "cannot create");
  absl::Status status = WriteAll(fd, temp, contents.data(), contents.size());
  if (status.ok() && ::fsync(fd) != 0) status = Errno(temp, "fsync failed");
  ::close(fd);
  if (status.ok() && std::rename(temp.c_str(), path.c_str()) != 0) {
    status = Errno(path, "rename failed");
  }
  if (!status.ok()) ::unlink(temp.c_str());
  return status;
}

absl::Status CopyFile(const std::string& from, const std::string& to) {
  ASSIGN_OR_RETURN(std::string contents, ReadFileContents(from));
  return WriteFileDurably(to, contents);
}

absl::StatusOr<TempDir> TempDir::CreateBeside(const std::string& final_path) {
  static std::atomic<int> counter{0};
  const std::string path =
      absl::StrCat(final_path, ".tmp-", ::getpid(), "-", counter.fetch_add(1));
  const fs::path parent = fs::path(final_path).parent_path();
  std::error_code ec;
  if (!parent.empty()) fs::create_directories(parent, ec);
  if (::mkdir(path.c_str(), 0755) != 0) {
    return Errno(path, "cannot create directory");
  }
  return TempDir(path);
}

TempDir::TempDir(TempDir&& other) noexcept : path_(std::move(other.path_)) {
  other.path_.clear();
}

TempDir::~TempDir() {
  if (path_.empty()) return;
  std::error_code ec;
  fs::remove_all(path_, ec);
}

absl::Status TempDir::CommitTo(const std::string& final_path) {
  RETURN_IF_ERROR(SyncDir(path_));
  std::error_code ec;
  if (fs::exists(final_path, ec)) {
    return absl::AlreadyExistsError(
        absl::StrCat(final_path, ": already exists"));
  }
  if (std::rename(path_.c_str(), final_path.c_str()) != 0) {
    return Errno(final_path, "rename failed");
  }
  path_.clear();
  const fs::path parent = fs::path(final_path).parent_path();
  return SyncDir(parent.empty() ? "." : parent.string());
}

}  // namespace df11
