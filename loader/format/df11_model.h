// A DF11 model directory opened for reading: the manifest plus the rank files
// it describes, cross-checked against each other.
//
//   ASSIGN_OR_RETURN(auto model, Df11Model::Open("/models/llama-df11"));
//   for (size_t t = 0; t < model->manifest().tensors.size(); ++t) {
//     std::vector<uint8_t> shard(model->ShardBytes(t));
//     RETURN_IF_ERROR(model->ReadShard(t, rank, absl::MakeSpan(shard), 8));
//   }
//
// Directory layout (docs/format.md): df11.json, rank-NN.safetensors for each
// rank, and the checkpoint's config.json and tokenizer files.
//
// Errors name the file and the tensor. Thread-safe for concurrent reads.
#ifndef DF11_LOADER_FORMAT_DF11_MODEL_H_
#define DF11_LOADER_FORMAT_DF11_MODEL_H_

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "loader/codec/encoded_tensor.h"
#include "loader/format/df11_manifest.h"
#include "loader/format/safetensors.h"

namespace df11 {

class Df11Model {
 public:
  // Parses the manifest and maps the rank files (all of them, or only
  // `only_rank`). Checks that every tensor's arrays are in its rank file with
  // the dtypes and sizes the manifest implies, and that the file holds
  // nothing else. Does not read the payloads: see CheckPayload / ReadShard.
  static absl::StatusOr<std::unique_ptr<Df11Model>> Open(
      const std::string& dir, std::optional<int> only_rank = std::nullopt);

  const std::string& dir() const { return dir_; }
  const Manifest& manifest() const { return manifest_; }
  std::string RankPath(int rank) const;

  // Bytes of one rank's shard of tensor `t` in its original dtype.
  uint64_t ShardBytes(size_t t) const;
  // Bytes stored for one rank's shard of tensor `t` (all arrays).
  uint64_t StoredBytes(size_t t, int rank) const;

  // The encoded shard, pointing into the mapping. REQUIRES: tensor `t` is
  // DF11-encoded and `rank` was opened.
  EncodedTensorView Df11View(size_t t, int rank) const;
  // The stored bytes of a raw tensor's shard. REQUIRES: encoding is raw.
  absl::Span<const uint8_t> RawBytes(size_t t, int rank) const;

  // DataLoss if the stored arrays do not hash to the manifest's payload_xxh3.
  absl::Status CheckPayload(size_t t, int rank) const;
  // Decodes (DF11) or copies (raw) the shard into `out`, checking the payload
  // checksum first and the original-bytes checksum after, and that the
  // padding rows of a "rows_padded" shard are zero (DataLoss otherwise).
  // REQUIRES: out.size() == ShardBytes(t).
  absl::Status ReadShard(size_t t, int rank, absl::Span<uint8_t> out,
                         int threads) const;

 private:
  struct Arrays {
    // DF11: stream, sign_mantissa, gaps, block_starts. Raw: the tensor.
    std::vector<const TensorInfo*> entries;
    // block_starts, copied when the file has it at an unaligned offset.
    std::vector<uint32_t> aligned_block_starts;
  };

  Df11Model() = default;
  absl::Status Bind(int rank);
  absl::Status Error(size_t t, int rank, absl::string_view what) const;

  std::string dir_;
  Manifest manifest_;
  std::vector<std::unique_ptr<SafetensorsFile>> files_;  // by rank, may be null
  std::vector<std::vector<Arrays>> arrays_;              // [rank][tensor]
};

}  // namespace df11

#endif  // DF11_LOADER_FORMAT_DF11_MODEL_H_
