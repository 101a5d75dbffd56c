// `df11 compress`: a BF16 Hugging Face checkpoint in, a DF11 model directory
// out, already split for tensor parallelism.
//
//   CompressOptions options;
//   options.tp = 8;
//   options.threads = HardwareThreads();
//   ASSIGN_OR_RETURN(CompressSummary s,
//                    CompressCheckpoint("/ckpt/llama", "/ckpt/llama-df11",
//                                       options));
//
// Streams from the mmapped checkpoint, largest tensors first: every shard's
// encoding is cut into segment-sized tasks that all threads share, shards
// are in flight within a memory budget, and one thread per rank file writes
// each shard as soon as it is encoded. Source pages are returned once
// encoded, so peak memory is bounded by max(budget, largest shard's working
// set), not by the model (docs/format.md).
// Every BF16 tensor of two or more dimensions is DF11-encoded; the rest
// (norms, other dtypes) is stored raw. A vocabulary that tp does not divide
// is split into equal parts ending in zero rows ("rows_padded").
//
// Atomic: everything is written to a sibling temporary directory that is
// renamed to `out_dir` only when complete. An interrupted run leaves at most
// that temporary directory, never a directory named `out_dir`.
#ifndef DF11_LOADER_FORMAT_DF11_COMPRESS_H_
#define DF11_LOADER_FORMAT_DF11_COMPRESS_H_

#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "loader/codec/encoded_tensor.h"

namespace df11 {

struct CompressProgress {
  uint64_t bytes_done = 0;  // source tensor bytes processed
  uint64_t bytes_total = 0;
  size_t tensors_done = 0;
  size_t tensors_total = 0;
  std::string tensor;  // the one just finished
};

struct CompressOptions {
  int tp = 1;
  int threads = 1;
  CodecLayout layout;
  // Shards in flight (being encoded, or encoded and waiting to be written)
  // are admitted while their estimated working set fits half of this many
  // bytes; arrays kept for reuse take the other half. A shard larger than
  // half runs alone. 0: DefaultCompressMemoryBudget().
  uint64_t memory_budget = 0;
  // Called on the calling thread after each tensor is written.
  std::function<void(const CompressProgress&)> on_progress;
};

struct CompressSummary {
  uint64_t original_bytes = 0;  // the checkpoint's tensor bytes
  uint64_t stored_bytes = 0;    // all arrays of all rank files
  // Over DF11-encoded shards only (each rank's copy counted).
  uint64_t df11_elements = 0;
  uint64_t df11_stored_bytes = 0;
  double df11_entropy_bits = 0;  // sum over elements of 8 + H(exponent)
  size_t tensors = 0;
  size_t df11_tensors = 0;
  double seconds = 0;
};

// A quarter of the physical memory, at least 2 GiB and at most 16 GiB.
uint64_t DefaultCompressMemoryBudget();

// The checkpoint must match its config.json under the Llama schema
// (loader/shard/llama_schema.h): every tensor known (a bias, or any name the
// schema does not know, is an error, not ignored), with the shape the config
// implies, and every tensor the config implies present.
//
// Errors: InvalidArgument for a checkpoint or config that does not match or
// cannot be split (naming the tensor and its file), AlreadyExists if out_dir
// exists, and the reader's errors for bad input files. On error nothing is
// left at out_dir.
absl::StatusOr<CompressSummary> CompressCheckpoint(
    const std::string& hf_dir, const std::string& out_dir,
    const CompressOptions& options);

}  // namespace df11

#endif  // DF11_LOADER_FORMAT_DF11_COMPRESS_H_
