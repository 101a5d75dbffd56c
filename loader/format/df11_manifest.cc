#include "loader/format/df11_manifest.h"

#include <set>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "loader/base/status_macros.h"
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

// Typed, path-tracking access to one JSON object, rejecting unknown keys.
class Fields {
 public:
  Fields(const Json& object, std::string path, absl::string_view file)
      : object_(object), path_(std::move(path)), file_(file) {}

  absl::Status Error(absl::string_view key, absl::string_view what) const {
    return absl::InvalidArgumentError(absl::StrCat(
        file_, ": ", path_, key.empty() ? "" : ".", key, ": ", what));
  }

  absl::Status Expect(std::initializer_list<const char*> keys) const {
    if (!object_.is_object()) return Error("", "expected an object");
    for (const auto& item : object_.items()) {
      bool known = false;
      for (const char* k : keys) known |= item.key() == k;
      if (!known) return Error(item.key(), "unknown field");
    }
    return absl::OkStatus();
  }

  absl::StatusOr<const Json*> Get(const char* key) const {
    auto it = object_.find(key);
    if (it == object_.end()) return Error(key, "missing");
    return &*it;
  }
  bool Has(const char* key) const { return object_.contains(key); }

  absl::StatusOr<uint64_t> U64(const char* key) const {
    ASSIGN_OR_RETURN(const Json* v, Get(key));
    if (!v->is_number_unsigned()) {
      return Error(key, "expected a non-negative integer");
    }
    return v->get<uint64_t>();
  }
  absl::StatusOr<double> Number(const char* key) const {
    ASSIGN_OR_RETURN(const Json* v, Get(key));
    if (!v->is_number()) return Error(key, "expected a number");
    return v->get<double>();
  }
  absl::StatusOr<bool> Bool(const char* key) const {
    ASSIGN_OR_RETURN(const Json* v, Get(key));
    if (!v->is_boolean()) return Error(key, "expected true or false");
    return v->get<bool>();
  }
  absl::StatusOr<std::string> String(const char* key) const {
    ASSIGN_OR_RETURN(const Json* v, Get(key));
    if (!v->is_string()) return Error(key, "expected a string");
    return v->get<std::string>();
  }
  absl::StatusOr<uint64_t> Hex(const char* key) const {
    ASSIGN_OR_RETURN(std::string s, String(key));
    uint64_t value;
    if (s.size() != 16 || !absl::SimpleHexAtoi(s, &value)) {
      return Error(key, "expected 16 hex digits");
    }
    return value;
  }
  absl::StatusOr<std::vector<uint64_t>> Shape(const char* key) const {
    ASSIGN_OR_RETURN(const Json* v, Get(key));
    if (!v->is_array() || v->size() > 8) {
      return Error(key, "expected an array of at most 8 dimensions");
    }
    std::vector<uint64_t> shape;
    for (const Json& d : *v) {
      if (!d.is_number_unsigned() || d.get<uint64_t>() > (uint64_t{1} << 40)) {
        return Error(key, "expected dimensions in [0, 2^40]");
      }
      shape.push_back(d.get<uint64_t>());
    }
    return shape;
  }
  // Fields of the array element `key`[i].
  absl::StatusOr<std::vector<Fields>> Array(const char* key) const {
    ASSIGN_OR_RETURN(const Json* v, Get(key));
    if (!v->is_array()) return Error(key, "expected an array");
    std::vector<Fields> out;
    for (size_t i = 0; i < v->size(); ++i) {
      out.emplace_back((*v)[i], absl::StrCat(path_, ".", key, "[", i, "]"),
                       file_);
    }
    return out;
  }

 private:
  const Json& object_;
  std::string path_;
  absl::string_view file_;
};

absl::StatusOr<ShardEntry> ParseShard(const Fields& f, Encoding encoding) {
  ShardEntry s;
  if (encoding == Encoding::kRaw) {
    RETURN_IF_ERROR(f.Expect({"shape", "original_xxh3", "payload_xxh3"}));
  } else {
    RETURN_IF_ERROR(f.Expect({"shape", "original_xxh3", "payload_xxh3",
                              "stream_bits", "chunk_bytes", "chunks_per_block",
                              "code_lengths", "exponent_entropy"}));
  }
  ASSIGN_OR_RETURN(s.shape, f.Shape("shape"));
  ASSIGN_OR_RETURN(s.original_xxh3, f.Hex("original_xxh3"));
  ASSIGN_OR_RETURN(s.payload_xxh3, f.Hex("payload_xxh3"));
  if (encoding == Encoding::kRaw) return s;

  ASSIGN_OR_RETURN(s.stream_bits, f.U64("stream_bits"));
  ASSIGN_OR_RETURN(uint64_t chunk_bytes, f.U64("chunk_bytes"));
  ASSIGN_OR_RETURN(uint64_t chunks_per_block, f.U64("chunks_per_block"));
  if (chunk_bytes > 4096 || chunks_per_block > 4096) {
    return f.Error("chunk_bytes", "layout out of range");
  }
  s.layout = {static_cast<uint32_t>(chunk_bytes),
              static_cast<uint32_t>(chunks_per_block)};
  if (absl::Status st = ValidateLayout(s.layout); !st.ok()) {
    return f.Error("chunk_bytes", st.message());
  }
  ASSIGN_OR_RETURN(std::string hex, f.String("code_lengths"));
  if (hex.size() != 512)
    return f.Error("code_lengths", "expected 512 hex digits");
  for (int i = 0; i < 256; ++i) {
    int value;
    if (!absl::SimpleHexAtoi(hex.substr(2 * i, 2), &value)) {
      return f.Error("code_lengths", "expected 512 hex digits");
    }
    s.code_lengths[i] = static_cast<uint8_t>(value);
  }
  if (absl::Status st = ValidateCodeLengths(s.code_lengths); !st.ok()) {
    return f.Error("code_lengths", st.message());
  }
  ASSIGN_OR_RETURN(s.exponent_entropy, f.Number("exponent_entropy"));
  const uint64_t n = NumElements(s.shape);
  if (n > kMaxElements || s.stream_bits < n ||
      s.stream_bits > n * kMaxCodeLength) {
    return f.Error("stream_bits", "does not fit the shard's element count");
  }
  return s;
}

absl::StatusOr<ManifestTensor> ParseTensor(const Fields& f, int tp) {
  ManifestTensor t;
  RETURN_IF_ERROR(f.Expect({"name", "dtype", "shape", "split", "encoding",
                            "source_file", "shards"}));
  ASSIGN_OR_RETURN(t.name, f.String("name"));
  ASSIGN_OR_RETURN(std::string dtype, f.String("dtype"));
  absl::StatusOr<Dtype> parsed_dtype = ParseDtype(dtype);
  if (!parsed_dtype.ok())
    return f.Error("dtype", parsed_dtype.status().message());
  t.dtype = *parsed_dtype;
  ASSIGN_OR_RETURN(t.shape, f.Shape("shape"));
  ASSIGN_OR_RETURN(std::string split, f.String("split"));
  absl::StatusOr<SplitKind> kind = ParseSplitKind(split);
  if (!kind.ok()) return f.Error("split", kind.status().message());
  t.split = *kind;
  ASSIGN_OR_RETURN(std::string encoding, f.String("encoding"));
  if (encoding != "df11" && encoding != "raw") {
    return f.Error("encoding", "expected \"df11\" or \"raw\"");
  }
  t.encoding = encoding == "df11" ? Encoding::kDf11 : Encoding::kRaw;
  if (t.encoding == Encoding::kDf11 && t.dtype != Dtype::kBF16) {
    return f.Error("encoding", "only BF16 tensors are DF11-encoded");
  }
  ASSIGN_OR_RETURN(t.source_file, f.String("source_file"));

  absl::StatusOr<SplitPlan> plan =
      MakeSplitPlan(t.split, DtypeSize(t.dtype), t.shape, tp);
  if (!plan.ok()) return f.Error("split", plan.status().message());
  ASSIGN_OR_RETURN(std::vector<Fields> shards, f.Array("shards"));
  if (shards.size() != static_cast<size_t>(tp)) {
    return f.Error("shards", absl::StrCat("expected one per rank (", tp,
                                          "), found ", shards.size()));
  }
  for (const Fields& s : shards) {
    ASSIGN_OR_RETURN(ShardEntry entry, ParseShard(s, t.encoding));
    if (entry.shape != plan->shard_shape) {
      return s.Error("shape", "does not match the tensor's split");
    }
    t.shards.push_back(std::move(entry));
  }
  return t;
}

// Parses, rejecting duplicate keys in any object (nlohmann keeps the last).
absl::StatusOr<Json> ParseStrictJson(absl::string_view text,
                                     absl::string_view file) {
  std::vector<std::set<std::string>> keys;
  bool duplicate = false;
  std::string duplicate_key;
  Json::parser_callback_t callback = [&](int, Json::parse_event_t event,
                                         Json& parsed) {
    if (event == Json::parse_event_t::object_start) {
      keys.emplace_back();
    } else if (event == Json::parse_event_t::object_end) {
      if (!keys.empty()) keys.pop_back();
    } else if (event == Json::parse_event_t::key && !keys.empty() &&
               parsed.is_string()) {
      if (!keys.back().insert(parsed.get<std::string>()).second) {
        duplicate = true;
        duplicate_key = parsed.get<std::string>();
      }
    }
    return true;
  };
  Json json = Json::parse(text.begin(), text.end(), callback,
                          /*allow_exceptions=*/false);
  if (json.is_discarded()) {
    return absl::InvalidArgumentError(absl::StrCat(file, ": not valid JSON"));
  }
  if (duplicate) {
    return absl::InvalidArgumentError(
        absl::StrCat(file, ": duplicate key \"", duplicate_key, "\""));
  }
  return json;
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
  const Fields f(json, "manifest", file);
  RETURN_IF_ERROR(f.Expect({"format", "format_version", "tp",
                            "source_has_index", "side_files", "tensors"}));
  ASSIGN_OR_RETURN(std::string format, f.String("format"));
  if (format != "df11-model") return f.Error("format", "not a DF11 model");
  Manifest m;
  ASSIGN_OR_RETURN(uint64_t version, f.U64("format_version"));
  if (version != kDf11FormatVersion) {
    return f.Error("format_version", absl::StrCat("version ", version,
                                                  " is not supported (this "
                                                  "build reads version ",
                                                  kDf11FormatVersion, ")"));
  }
  ASSIGN_OR_RETURN(uint64_t tp, f.U64("tp"));
  if (tp < 1 || tp > 1024) return f.Error("tp", "expected 1..1024");
  m.tp = static_cast<int>(tp);
  ASSIGN_OR_RETURN(m.source_has_index, f.Bool("source_has_index"));
  ASSIGN_OR_RETURN(const Json* side, f.Get("side_files"));
  if (!side->is_array()) return f.Error("side_files", "expected an array");
  for (const Json& name : *side) {
    if (!name.is_string()) return f.Error("side_files", "expected strings");
    const std::string s = name.get<std::string>();
    // Plain file names only: the model directory is never left.
    if (s.empty() || s.find('/') != std::string::npos || s == "." ||
        s == "..") {
      return f.Error("side_files", absl::StrCat("bad file name \"", s, "\""));
    }
    m.side_files.push_back(s);
  }
  ASSIGN_OR_RETURN(std::vector<Fields> tensors, f.Array("tensors"));
  std::set<std::string> names;
  for (const Fields& t : tensors) {
    ASSIGN_OR_RETURN(ManifestTensor tensor, ParseTensor(t, m.tp));
    if (!names.insert(tensor.name).second) {
      return t.Error("name", absl::StrCat("duplicate tensor ", tensor.name));
    }
    m.tensors.push_back(std::move(tensor));
  }
  return m;
}

}  // namespace df11
