// Where the engine's weights come from: one rank's shard of each tensor, in
// its stored form. Two sources exist and must give the same BF16 bytes:
//
//   - a DF11 model directory (loader/format/df11_model.h): the rank file is
//     mapped and each shard is a DF11 payload (or raw bytes for tensors
//     stored raw);
//   - a BF16 Hugging Face checkpoint (loader/format/hf_checkpoint.h), split
//     on the fly with the same rules `df11 compress` uses. This is "the
//     original BF16 model" that DF11 output is compared against bit for bit.
//
//   ASSIGN_OR_RETURN(auto source, OpenDf11WeightSource(dir, rank));
//   ASSIGN_OR_RETURN(WeightInfo info, source->Find("model.norm.weight"));
//   ASSIGN_OR_RETURN(StoredTensor t, source->Payload("model.norm.weight"));
//   std::vector<uint16_t> bf16(info.shard_elements());
//   RETURN_IF_ERROR(DecodeStored(t, absl::MakeSpan(bf16), threads));
//
// A backend loads the payloads once (Backend::LoadWeights) and decodes them
// itself; the source is not needed after that.
//
// Thread safety: Find and Payload may be called concurrently.
#ifndef DF11_LOADER_ENGINE_WEIGHT_SOURCE_H_
#define DF11_LOADER_ENGINE_WEIGHT_SOURCE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "loader/base/dtype.h"
#include "loader/codec/encoded_tensor.h"
#include "loader/format/llama_config.h"
#include "loader/shard/llama_schema.h"
#include "loader/shard/llama_split.h"

namespace df11 {

struct WeightInfo {
  Dtype dtype = Dtype::kBF16;
  std::vector<uint64_t> shape;  // the whole tensor
  SplitKind split = SplitKind::kReplicated;
  std::vector<uint64_t> shard_shape;  // this rank's part
  uint64_t shard_elements() const { return NumElements(shard_shape); }
  uint64_t shard_bytes() const;
};

// This rank's shard of one tensor as stored. Views point into the source's
// memory (or into `gathered`), valid while the source lives.
struct StoredTensor {
  std::string name;
  WeightInfo info;
  bool df11 = false;
  EncodedTensorView encoded;  // df11: the encoded arrays
  // !df11: the shard's bytes, in the source or, for a shard that had to be
  // gathered (a column split of a checkpoint), in `gathered`.
  absl::Span<const uint8_t> raw_view;
  std::vector<uint8_t> gathered;

  absl::Span<const uint8_t> raw() const {
    return gathered.empty() ? raw_view : absl::MakeConstSpan(gathered);
  }
  // Bytes of the stored form (all arrays of a DF11 payload).
  uint64_t stored_bytes() const;
};

class WeightSource {
 public:
  virtual ~WeightSource() = default;

  // The number of ranks the weights are split for, this source's rank, and
  // where the weights come from (for messages).
  int tp() const { return tp_; }
  int rank() const { return rank_; }
  const std::string& path() const { return path_; }

  // NotFound (naming the tensor and path()) if there is no such tensor.
  virtual absl::StatusOr<WeightInfo> Find(absl::string_view name) const = 0;
  // The tensor's stored shard, its payload checksum checked. Errors:
  // NotFound as Find; DataLoss naming the file and the tensor when the
  // stored bytes do not match the manifest's checksum.
  virtual absl::StatusOr<StoredTensor> Payload(
      absl::string_view name) const = 0;
  // Every tensor the source holds, sorted by name.
  virtual std::vector<std::string> TensorNames() const = 0;

 protected:
  WeightSource(std::string path, int tp, int rank)
      : path_(std::move(path)), tp_(tp), rank_(rank) {}

 private:
  std::string path_;
  int tp_;
  int rank_;
};

// Decodes (DF11) or copies (raw) `stored` into `out` as BF16 bit patterns.
// Errors: InvalidArgument if out does not hold the shard or the tensor is
// not BF16; DataLoss naming the tensor for a stream the decoder rejects.
absl::Status DecodeStored(const StoredTensor& stored, absl::Span<uint16_t> out,
                          int threads);

// Opens rank `rank` of a DF11 model directory (only that rank's file).
// Errors: Df11Model::Open's, and InvalidArgument if rank >= the
// directory's tp.
absl::StatusOr<std::unique_ptr<WeightSource>> OpenDf11WeightSource(
    const std::string& dir, int rank);

// Opens a BF16 Hugging Face checkpoint as if split for `tp` ranks with the
// rules of the Llama schema (loader/shard/llama_schema.h) for `config`,
// padded vocabulary included. Find and Read of a tensor the schema rejects
// (unknown, or the wrong shape) return its InvalidArgument.
absl::StatusOr<std::unique_ptr<WeightSource>> OpenHfWeightSource(
    const std::string& dir, const LlamaConfig& config, int tp, int rank);

}  // namespace df11

#endif  // DF11_LOADER_ENGINE_WEIGHT_SOURCE_H_
