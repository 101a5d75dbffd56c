// Strict reading of JSON documents: a duplicate key, an unknown field, a
// missing field or a value of the wrong type or range is an error whose
// message names the document and the JSON path of the value.
//
//   ASSIGN_OR_RETURN(nlohmann::json root, ParseStrictJson(text, "df11.json"));
//   const JsonNode doc(root, "df11.json");
//   RETURN_IF_ERROR(doc.ExpectFields({"format", "tp", "tensors"}));
//   ASSIGN_OR_RETURN(uint64_t tp, doc.Field("tp").U64(1, 1024));
//   ASSIGN_OR_RETURN(std::vector<JsonNode> tensors,
//                    doc.Field("tensors").Elements());
//   // An error reads, e.g.,
//   // "df11.json: tensors[3].shards[1].stream_bits: expected an unsigned
//   // integer, got -1".
//
// Paths: a field whose key is an identifier ([A-Za-z_][A-Za-z0-9_]*) is
// joined with a dot ("model.vocab.h"), any other key is quoted in brackets
// ("weight_map[\"model.norm.weight\"]"), an array element is "[i]". The
// root's path is empty, and its errors read "WHERE: what".
//
// Every error is InvalidArgument. Nothing here throws: values are
// type-checked before they are read.
#ifndef DF11_LOADER_BASE_STRICT_JSON_H_
#define DF11_LOADER_BASE_STRICT_JSON_H_

#include <cstdint>
#include <initializer_list>
#include <limits>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "nlohmann/json.hpp"

namespace df11 {

// Parses `text`, rejecting a key that repeats within one object at any depth
// (nlohmann keeps the last one silently). `where` (usually the file) starts
// every message:
//   "WHERE: not valid JSON: parse error at line 3, column 19: ..."
//   "WHERE: tensors[2]: duplicate key \"shape\""
absl::StatusOr<nlohmann::json> ParseStrictJson(absl::string_view text,
                                               absl::string_view where);

// `path` extended by a key or an array index, as described above.
std::string JsonPathJoin(absl::string_view path, absl::string_view key);
std::string JsonPathIndex(absl::string_view path, size_t index);

// A value inside a parsed document, or the absence of one (a field the
// document does not have), with its path for messages. A cheap value type:
// the path is built only when asked for (an error), so walking the elements
// of a large array or object costs no string building.
// REQUIRES: the document and the `where` text outlive the node and every
// node made from it.
class JsonNode {
 public:
  // The root of a document (path "").
  JsonNode(const nlohmann::json& value, absl::string_view where)
      : value_(&value), where_(where) {}
  // A value at `path` of a document.
  JsonNode(const nlohmann::json& value, absl::string_view where,
           std::string path)
      : value_(&value),
        where_(where),
        parent_(std::make_shared<const std::string>(std::move(path))) {}

  // The field `key` of this object; absent if this is not an object or has
  // no such key (the typed reads below then say what was expected).
  JsonNode Field(absl::string_view key) const;

  // False for a field the document does not have. A null value is present.
  bool present() const { return value_ != nullptr; }
  // Absent, or null: how optional fields say "use the default".
  bool absent_or_null() const { return value_ == nullptr || value_->is_null(); }
  // REQUIRES: present().
  const nlohmann::json& json() const { return *value_; }
  std::string path() const;
  absl::string_view where() const { return where_; }

  // InvalidArgument "WHERE: PATH: what", or "WHERE: what" at the root.
  absl::Status Error(absl::string_view what) const;

  // Present and an object: "expected an object, got ..." otherwise.
  absl::Status ExpectObject() const;
  // ExpectObject, and every key is one of `known`:
  //   "WHERE: PATH: unknown field \"k\" (known: a, b, c)".
  absl::Status ExpectFields(
      std::initializer_list<absl::string_view> known) const;
  // The elements of this array, with their paths.
  absl::StatusOr<std::vector<JsonNode>> Elements() const;
  // The fields of this object in key order (nlohmann sorts them), with their
  // paths. The keys point into the document.
  absl::StatusOr<std::vector<std::pair<absl::string_view, JsonNode>>> Members()
      const;

  // Typed reads of a required value: "missing" when absent, and a message
  // naming the expected type and the value found when it does not fit.
  absl::StatusOr<bool> Bool() const;
  absl::StatusOr<std::string> String() const;
  // An integer in [lo, hi]. U64 rejects negative numbers by type ("expected
  // an unsigned integer"); both reject 1.0 (a float).
  absl::StatusOr<uint64_t> U64(
      uint64_t lo = 0,
      uint64_t hi = std::numeric_limits<uint64_t>::max()) const;
  absl::StatusOr<int64_t> Int(
      int64_t lo = std::numeric_limits<int64_t>::min(),
      int64_t hi = std::numeric_limits<int64_t>::max()) const;
  // Any number (integers are converted), greater than `above`.
  absl::StatusOr<double> Double(
      double above = -std::numeric_limits<double>::infinity()) const;

  // Optional values: `fallback` when absent or null, else as above.
  absl::StatusOr<bool> BoolOr(bool fallback) const;
  absl::StatusOr<std::string> StringOr(std::string fallback) const;
  absl::StatusOr<int64_t> IntOr(
      int64_t fallback, int64_t lo = std::numeric_limits<int64_t>::min(),
      int64_t hi = std::numeric_limits<int64_t>::max()) const;
  absl::StatusOr<double> DoubleOr(
      double fallback,
      double above = -std::numeric_limits<double>::infinity()) const;

 private:
  JsonNode() = default;
  // A child of a node whose path is `parent`.
  static JsonNode Child(const nlohmann::json* value, absl::string_view where,
                        std::shared_ptr<const std::string> parent);
  std::shared_ptr<const std::string> SharedPath() const;
  // "missing", or "expected <what>, got <the value>".
  absl::Status TypeError(absl::string_view what) const;

  const nlohmann::json* value_ = nullptr;  // null when absent
  absl::string_view where_;
  // The path is *parent_ (empty when null) followed by the key or the index.
  std::shared_ptr<const std::string> parent_;
  enum class Step { kNone, kKey, kIndex } step_ = Step::kNone;
  // kKey: the key, in the document when it has it (no copy while walking a
  // large object), else in owned_key_.
  const std::string* key_ = nullptr;
  std::string owned_key_;
  size_t index_ = 0;  // kIndex
};

}  // namespace df11

#endif  // DF11_LOADER_BASE_STRICT_JSON_H_
