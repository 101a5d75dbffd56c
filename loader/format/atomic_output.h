// Writing files and directories so that a crash never leaves a partial one
// under the final name.
#ifndef DF11_LOADER_FORMAT_ATOMIC_OUTPUT_H_
#define DF11_LOADER_FORMAT_ATOMIC_OUTPUT_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace df11 {

// Writes `contents` to `path` through a temporary file, fsync and rename.
absl::Status WriteFileDurably(const std::string& path,
                              absl::string_view contents);

// Copies a regular file (contents only), durably.
absl::Status CopyFile(const std::string& from, const std::string& to);

// A directory created next to its final name (so that the final rename is
// atomic) and removed with its contents unless committed.
class TempDir {
 public:
  // Creates "<final>.tmp-<pid>-<n>", and the parent of `final_path` if
  // missing.
  static absl::StatusOr<TempDir> CreateBeside(const std::string& final_path);
  TempDir(TempDir&& other) noexcept;
  TempDir& operator=(TempDir&&) = delete;
  ~TempDir();

  const std::string& path() const { return path_; }
  // fsyncs the directory and renames it to `final_path`. AlreadyExists if
  // something appeared there meanwhile.
  absl::Status CommitTo(const std::string& final_path);

 private:
  explicit TempDir(std::string path) : path_(std::move(path)) {}
  std::string path_;
};

}  // namespace df11

#endif  // DF11_LOADER_FORMAT_ATOMIC_OUTPUT_H_
