// Reading a whole DF11 model directory back: `df11 verify` and
// `df11 decompress`.
//
//   VerifyOptions v;
//   v.threads = 8;
//   v.against = "/ckpt/llama";   // optional: compare with the original
//   ASSIGN_OR_RETURN(VerifyReport r, VerifyModel("/ckpt/llama-df11", v));
//
//   RETURN_IF_ERROR(DecompressModel("/ckpt/llama-df11", "/ckpt/back", 8));
#ifndef DF11_LOADER_FORMAT_DF11_RESTORE_H_
#define DF11_LOADER_FORMAT_DF11_RESTORE_H_

#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace df11 {

struct RestoreProgress {
  size_t tensors_done = 0;
  size_t tensors_total = 0;
  uint64_t bytes_done = 0;  // original bytes restored
  uint64_t bytes_total = 0;
  std::string tensor;
};
using RestoreCallback = std::function<void(const RestoreProgress&)>;

struct VerifyOptions {
  int threads = 1;
  std::string against;  // an HF checkpoint directory, or empty
  RestoreCallback on_progress;
};

struct VerifyReport {
  size_t tensors = 0;
  size_t shards = 0;
  uint64_t original_bytes = 0;  // per rank, replicas counted
  double seconds = 0;
};

// Decodes every shard of every rank on the CPU and checks both checksums of
// each; with `against`, also compares every byte with the original tensor.
// Stops at the first bad
// tensor: DataLoss naming the tensor and the file.
absl::StatusOr<VerifyReport> VerifyModel(const std::string& dir,
                                         const VerifyOptions& options);

// Writes a BF16 Hugging Face checkpoint to `out_dir` (which must not exist)
// whose tensors are byte-identical to the original's, in the original's
// shard files (with model.safetensors.index.json if it had one), plus the
// side files. Every shard is checked against its checksums on the way.
// Atomic like CompressCheckpoint.
absl::Status DecompressModel(const std::string& dir, const std::string& out_dir,
                             int threads,
                             const RestoreCallback& on_progress = nullptr);

}  // namespace df11

#endif  // DF11_LOADER_FORMAT_DF11_RESTORE_H_
