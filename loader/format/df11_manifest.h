// The manifest of a DF11 model directory (df11.json): everything needed to
// find, check and decode each rank's tensors. docs/format.md specifies it.
//
//   ASSIGN_OR_RETURN(Manifest m, ParseManifest(text, "out/df11.json"));
//   std::string text = SerializeManifest(m);
#ifndef DF11_LOADER_FORMAT_DF11_MANIFEST_H_
#define DF11_LOADER_FORMAT_DF11_MANIFEST_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "loader/codec/encoded_tensor.h"
#include "loader/codec/huffman_code.h"
#include "loader/format/safetensors.h"
#include "loader/shard/llama_split.h"

namespace df11 {

inline constexpr int kDf11FormatVersion = 1;
inline constexpr char kManifestFileName[] = "df11.json";

// "rank-03.safetensors"
std::string RankFileName(int rank);

enum class Encoding { kDf11, kRaw };

// One rank's part of a tensor.
struct ShardEntry {
  std::vector<uint64_t> shape;
  uint64_t original_xxh3 = 0;  // XXH3-64 of the shard's original bytes
  uint64_t payload_xxh3 = 0;   // XXH3-64 of the stored arrays, in order
  // DF11 only.
  uint64_t stream_bits = 0;
  CodecLayout layout;
  CodeLengths code_lengths{};
  double exponent_entropy = 0;  // bits per element, for `df11 inspect`
};

struct ManifestTensor {
  std::string name;
  Dtype dtype = Dtype::kBF16;
  std::vector<uint64_t> shape;
  SplitKind split = SplitKind::kReplicated;
  Encoding encoding = Encoding::kRaw;
  std::string source_file;         // the HF shard it came from
  std::vector<ShardEntry> shards;  // one per rank, rank order
};

struct Manifest {
  int format_version = kDf11FormatVersion;
  int tp = 1;
  // The HF layout to restore on decompress.
  bool source_has_index = false;
  std::vector<std::string> side_files;
  std::vector<ManifestTensor> tensors;
};

// The safetensors entry names of a DF11 tensor's four arrays in a rank file,
// in payload order: exponent stream, sign/mantissa, chunk gaps, block starts.
std::vector<std::string> Df11ArrayNames(absl::string_view tensor);

std::string SerializeManifest(const Manifest& manifest);

// Strict: unknown keys, wrong types, a version other than
// kDf11FormatVersion, a shard count other than tp, a DF11 tensor that is not
// BF16 or has an invalid code, duplicate names — all InvalidArgument, with
// `file` and the JSON path (e.g. "tensors[3].shards[1].stream_bits") in the
// message.
absl::StatusOr<Manifest> ParseManifest(absl::string_view json,
                                       absl::string_view file);

}  // namespace df11

#endif  // DF11_LOADER_FORMAT_DF11_MANIFEST_H_
