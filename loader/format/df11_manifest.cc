#include "loader/format/df11_manifest.h"

#include <set>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "loader/base/status_macros.h"
#include "loader/base/strict_json.h"
#include "nlohmann/json.hpp"

namespace df11 {
namespace {

using Json = nlohmann::json;

absl::string_view EncodingName(Encoding e) {
  return e == Encoding::kDf11 ? "df11" : "raw";
}

std::string Hex64(uint64_t v) { return absl::StrFormat("%016x", v); }

std::string HexBytes(const CodeLengths& lengths) {
  std::string out;
  for (uint8_t l : lengths) absl::StrAppendFormat(&out, "%02x", l);
  return out;
}

// 16 lowercase hex digits.
absl::StatusOr<uint64_t> Hex64Field(const JsonNode& node) {
  ASSIGN_OR_RETURN(std::string s, node.String());
  uint64_t value;
  if (s.size() != 16 || !absl::SimpleHexAtoi(s, &value)) {
    return node.Error("expected 16 hex digits");
  }
  return value;
}

absl::StatusOr<std::vector<uint64_t>> ShapeField(const JsonNode& node) {
  ASSIGN_OR_RETURN(std::vector<JsonNode> dims, node.Elements());
  if (dims.size() > 8) {
    return node.Error("expected an array of at most 8 dimensions");
  }
  std::vector<uint64_t> shape;
  for (const JsonNode& d : dims) {
    ASSIGN_OR_RETURN(uint64_t value, d.U64(0, uint64_t{1} << 40));
    shape.push_back(value);
  }
  return shape;
}

absl::StatusOr<ShardEntry> ParseShard(const JsonNode& f, Encoding encoding) {
  ShardEntry s;
  if (encoding == Encoding::kRaw) {
    RETURN_IF_ERROR(f.ExpectFields({"shape", "original_xxh3", "payload_xxh3"}));
  } else {
    RETURN_IF_ERROR(f.ExpectFields(
        {"shape", "original_xxh3", "payload_xxh3", "stream_bits", "chunk_bytes",
         "chunks_per_block", "code_lengths", "exponent_entropy"}));
  }
  ASSIGN_OR_RETURN(s.shape, ShapeField(f.Field("shape")));
  ASSIGN_OR_RETURN(s.original_xxh3, Hex64Field(f.Field("original_xxh3")));
  ASSIGN_OR_RETURN(s.payload_xxh3, Hex64Field(f.Field("payload_xxh3")));
  if (encoding == Encoding::kRaw) return s;

  ASSIGN_OR_RETURN(s.stream_bits, f.Field("stream_bits").U64());
  const JsonNode chunk_bytes = f.Field("chunk_bytes");
  ASSIGN_OR_RETURN(uint64_t bytes, chunk_bytes.U64(0, 4096));
  ASSIGN_OR_RETURN(uint64_t per_block,
                   f.Field("chunks_per_block").U64(0, 4096));
  s.layout = {static_cast<uint32_t>(bytes), static_cast<uint32_t>(per_block)};
  if (absl::Status st = ValidateLayout(s.layout); !st.ok()) {
    return chunk_bytes.Error(st.message());
  }
  const JsonNode lengths = f.Field("code_lengths");
  ASSIGN_OR_RETURN(std::string hex, lengths.String());
  if (hex.size() != 512) return lengths.Error("expected 512 hex digits");
  for (int i = 0; i < 256; ++i) {
    int value;
    if (!absl::SimpleHexAtoi(hex.substr(2 * i, 2), &value)) {
      return lengths.Error("expected 512 hex digits");
    }
    s.code_lengths[i] = static_cast<uint8_t>(value);
  }
  if (absl::Status st = ValidateCodeLengths(s.code_lengths); !st.ok()) {
    return lengths.Error(st.message());
  }
  ASSIGN_OR_RETURN(s.exponent_entropy, f.Field("exponent_entropy").Double());
  const uint64_t n = NumElements(s.shape);
  if (n > kMaxElements || s.stream_bits < n ||
      s.stream_bits > n * kMaxCodeLength) {
    return f.Field("stream_bits")
        .Error("does not fit the shard's element count");
  }
  return s;
}

absl::StatusOr<ManifestTensor> ParseTensor(const JsonNode& f, int tp) {
  ManifestTensor t;
  RETURN_IF_ERROR(f.ExpectFields({"name", "dtype", "shape", "split", "encoding",
                                  "source_file", "shards"}));
  ASSIGN_OR_RETURN(t.name, f.Field("name").String());
  const JsonNode dtype_field = f.Field("dtype");
  ASSIGN_OR_RETURN(std::string dtype, dtype_field.String());
  absl::StatusOr<Dtype> parsed_dtype = ParseDtype(dtype);
  if (!parsed_dtype.ok()) {
    return dtype_field.Error(parsed_dtype.status().message());
  }
  t.dtype = *parsed_dtype;
  ASSIGN_OR_RETURN(t.shape, ShapeField(f.Field("shape")));
  const JsonNode split_field = f.Field("split");
  ASSIGN_OR_RETURN(std::string split, split_field.String());
  absl::StatusOr<SplitKind> kind = ParseSplitKind(split);
  if (!kind.ok()) return split_field.Error(kind.status().message());
  t.split = *kind;
  const JsonNode encoding_field = f.Field("encoding");
  ASSIGN_OR_RETURN(std::string encoding, encoding_field.String());
  if (encoding != "df11" && encoding != "raw") {
    return encoding_field.Error("expected \"df11\" or \"raw\"");
  }
  t.encoding = encoding == "df11" ? Encoding::kDf11 : Encoding::kRaw;
  if (t.encoding == Encoding::kDf11 && t.dtype != Dtype::kBF16) {
    return encoding_field.Error("only BF16 tensors are DF11-encoded");
  }
  ASSIGN_OR_RETURN(t.source_file, f.Field("source_file").String());

  absl::StatusOr<SplitPlan> plan =
      MakeSplitPlan(t.split, DtypeSize(t.dtype), t.shape, tp);
  if (!plan.ok()) return split_field.Error(plan.status().message());
  const JsonNode shards_field = f.Field("shards");
  ASSIGN_OR_RETURN(std::vector<JsonNode> shards, shards_field.Elements());
  if (shards.size() != static_cast<size_t>(tp)) {
    return shards_field.Error(absl::StrCat("expected one per rank (", tp,
                                           "), found ", shards.size()));
  }
  for (const JsonNode& s : shards) {
    ASSIGN_OR_RETURN(ShardEntry entry, ParseShard(s, t.encoding));
    if (entry.shape != plan->shard_shape) {
      return s.Field("shape").Error("does not match the tensor's split");
    }
    t.shards.push_back(std::move(entry));
  }
  return t;
}

}  // namespace

std::string RankFileName(int rank) {
  return absl::StrFormat("rank-%02d.safetensors", rank);
}

std::vector<std::string> Df11ArrayNames(absl::string_view tensor) {
  return {absl::StrCat(tensor, ".df11.stream"),
          absl::StrCat(tensor, ".df11.sign_mantissa"),
          absl::StrCat(tensor, ".df11.gaps"),
          absl::StrCat(tensor, ".df11.block_starts")};
}

std::string SerializeManifest(const Manifest& m) {
  Json tensors = Json::array();
  for (const ManifestTensor& t : m.tensors) {
    Json shards = Json::array();
    for (const ShardEntry& s : t.shards) {
      Json shard = {{"shape", s.shape},
                    {"original_xxh3", Hex64(s.original_xxh3)},
                    {"payload_xxh3", Hex64(s.payload_xxh3)}};
      if (t.encoding == Encoding::kDf11) {
        shard["stream_bits"] = s.stream_bits;
        shard["chunk_bytes"] = s.layout.chunk_bytes;
        shard["chunks_per_block"] = s.layout.chunks_per_block;
        shard["code_lengths"] = HexBytes(s.code_lengths);
        shard["exponent_entropy"] = s.exponent_entropy;
      }
      shards.push_back(std::move(shard));
    }
    tensors.push_back({{"name", t.name},
                       {"dtype", std::string(DtypeName(t.dtype))},
                       {"shape", t.shape},
                       {"split", std::string(SplitKindName(t.split))},
                       {"encoding", std::string(EncodingName(t.encoding))},
                       {"source_file", t.source_file},
                       {"shards", std::move(shards)}});
  }
  const Json manifest = {{"format", "df11-model"},
                         {"format_version", m.format_version},
                         {"tp", m.tp},
                         {"source_has_index", m.source_has_index},
                         {"side_files", m.side_files},
                         {"tensors", std::move(tensors)}};
  return manifest.dump(1, ' ', false, Json::error_handler_t::replace) + "\n";
}

absl::StatusOr<Manifest> ParseManifest(absl::string_view text,
                                       absl::string_view file) {
  ASSIGN_OR_RETURN(Json json, ParseStrictJson(text, file));
  const JsonNode f(json, file);
  RETURN_IF_ERROR(
      f.ExpectFields({"format", "format_version", "tp", "source_has_index",
                      "side_files", "tensors"}));
  ASSIGN_OR_RETURN(std::string format, f.Field("format").String());
  if (format != "df11-model") {
    return f.Field("format").Error("not a DF11 model");
  }
  Manifest m;
  ASSIGN_OR_RETURN(uint64_t version, f.Field("format_version").U64());
  if (version != kDf11FormatVersion) {
    return f.Field("format_version")
        .Error(absl::StrCat("version ", version,
                            " is not supported (this build reads version ",
                            kDf11FormatVersion, ")"));
  }
  ASSIGN_OR_RETURN(uint64_t tp, f.Field("tp").U64(1, 1024));
  m.tp = static_cast<int>(tp);
  ASSIGN_OR_RETURN(m.source_has_index, f.Field("source_has_index").Bool());
  ASSIGN_OR_RETURN(std::vector<JsonNode> side,
                   f.Field("side_files").Elements());
  for (const JsonNode& name : side) {
    ASSIGN_OR_RETURN(std::string s, name.String());
    // Plain file names only: the model directory is never left.
    if (s.empty() || s.find('/') != std::string::npos || s == "." ||
        s == "..") {
      return name.Error(absl::StrCat("bad file name \"", s, "\""));
    }
    m.side_files.push_back(s);
  }
  ASSIGN_OR_RETURN(std::vector<JsonNode> tensors,
                   f.Field("tensors").Elements());
  std::set<std::string> names;
  for (const JsonNode& t : tensors) {
    ASSIGN_OR_RETURN(ManifestTensor tensor, ParseTensor(t, m.tp));
    if (!names.insert(tensor.name).second) {
      return t.Field("name").Error(
          absl::StrCat("duplicate tensor ", tensor.name));
    }
    m.tensors.push_back(std::move(tensor));
  }
  return m;
}

}  // namespace df11
