// Where the engine's weights come from: one rank's BF16 shard of each tensor,
// produced on demand. Two sources exist and must give the same bytes:
//
//   - a DF11 model directory (loader/format/df11_model.h): the weights stay
//     compressed in the mmapped rank file and each read decodes one tensor,
//     checking its checksums;
//   - a BF16 Hugging Face checkpoint (loader/format/hf_checkpoint.h), split on
//     the fly with the same rules `df11 compress` uses. This is "the original
//     BF16 model" that DF11 output is compared against bit for bit.
//
//   ASSIGN_OR_RETURN(auto source, OpenDf11WeightSource(dir, rank));
//   ASSIGN_OR_RETURN(WeightInfo info, source->Find("model.norm.weight"));
//   std::vector<uint8_t> bytes(info.shard_bytes());
//   RETURN_IF_ERROR(source->Read("model.norm.weight", absl::MakeSpan(bytes)));
//
// Thread safety: Find and Read may be called concurrently.
#ifndef DF11_LOADER_ENGINE_WEIGHT_SOURCE_H_
#define DF11_LOADER_ENGINE_WEIGHT_SOURCE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "loader/base/dtype.h"
#include "loader/format/llama_config.h"
#include "loader/shard/llama_schema.h"
#include "loader/shard/llama_split.h"

namespace df11 {

struct WeightInfo {
  Dtype dtype = Dtype::kBF16;
  std::vector<uint64_t> shape;  // the whole tensor
  SplitKind split = SplitKind::kReplicated;
  std::vector<uint64_t> shard_shape;  // this rank's part
  uint64_t shard_bytes() const;
};

class WeightSource {
 public:
  virtual ~WeightSource() = default;

  // The number of ranks the weights are split for, and this source's rank.
  virtual int tp() const = 0;
  virtual int rank() const = 0;
  // Where the weights come from, for messages.
  virtual const std::string& path() const = 0;
  // Every tensor the source holds, sorted by name.
  virtual std::vector<std::string> TensorNames() const = 0;
  // NotFound (naming the tensor and path()) if there is no such tensor.
  virtual absl::StatusOr<WeightInfo> Find(absl::string_view name) const = 0;
  // Writes this rank's shard of `name` in its stored dtype.
  // REQUIRES: out.size() == Find(name)->shard_bytes().
  virtual absl::Status Read(absl::string_view name,
                            absl::Span<uint8_t> out) const = 0;
  // Bytes this source keeps in memory (mapped) for this rank's weights.
  virtual uint64_t StoredBytes() const = 0;
};

// Opens rank `rank` of a DF11 model directory; `threads` decode each tensor.
// Errors: Df11Model::Open's, and InvalidArgument if rank >= the directory's tp.
absl::StatusOr<std::unique_ptr<WeightSource>> OpenDf11WeightSource(
    const std::string& dir, int rank, int threads);

// Opens a BF16 Hugging Face checkpoint as if split for `tp` ranks with the
// rules of the Llama schema (loader/shard/llama_schema.h) for `config`,
// padded vocabulary included. Find and Read of a tensor the schema rejects
// (unknown, or the wrong shape) return its InvalidArgument.
absl::StatusOr<std::unique_ptr<WeightSource>> OpenHfWeightSource(
    const std::string& dir, const LlamaConfig& config, int tp, int rank);

}  // namespace df11

#endif  // DF11_LOADER_ENGINE_WEIGHT_SOURCE_H_
