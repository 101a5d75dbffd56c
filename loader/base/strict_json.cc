#include "loader/base/strict_json.h"

#include <memory>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace df11 {
namespace {

using Json = nlohmann::json;

std::string Dump(const Json& value) {
  std::string text = value.dump(-1, ' ', false, Json::error_handler_t::replace);
  constexpr size_t kMax = 40;
  if (text.size() > kMax) text = absl::StrCat(text.substr(0, kMax), "...");
  return text;
}

bool IsIdentifier(absl::string_view key) {
  if (key.empty() || absl::ascii_isdigit(key[0])) return false;
  for (char c : key) {
    if (!absl::ascii_isalnum(c) && c != '_') return false;
  }
  return true;
}

// The state of one open object or array while parsing.
struct Frame {
  bool array = false;
  size_t count = 0;  // keys (objects) or elements (arrays) read so far
  std::string key;   // objects, when naming: the last key read
  std::unordered_set<std::string> keys;  // objects, when naming: every key
};

// Follows a parse to find a key that repeats inside one object.
//
// Counting (the first pass) only compares each finished object's size with
// the number of keys read for it: nlohmann keeps one value per key, so a
// repeat leaves the object smaller. That costs a counter per key, where
// remembering every key costs a string and a hash insertion. Naming (a
// second pass, run only when counting found a repeat) remembers keys to say
// which one repeats and where.
class DuplicateKeyFinder {
 public:
  explicit DuplicateKeyFinder(bool naming) : naming_(naming) {}

  bool OnEvent(Json::parse_event_t event, const Json& parsed) {
    switch (event) {
      case Json::parse_event_t::object_start:
        frames_.push_back(Frame{});
        break;
      case Json::parse_event_t::array_start:
        frames_.push_back(Frame{true});
        break;
      case Json::parse_event_t::object_end:
        if (!frames_.empty()) {
          if (parsed.is_object() && parsed.size() != frames_.back().count) {
            found_ = true;
          }
          frames_.pop_back();
        }
        ElementDone();
        break;
      case Json::parse_event_t::array_end:
        if (!frames_.empty()) frames_.pop_back();
        ElementDone();
        break;
      case Json::parse_event_t::key:
        if (!frames_.empty()) {
          Frame& f = frames_.back();
          ++f.count;
          if (naming_ && parsed.is_string()) {
            f.key = parsed.get<std::string>();
            if (!f.keys.insert(f.key).second && duplicate_.empty()) {
              found_ = true;
              duplicate_ = f.key;
              path_ = Path();
            }
          }
        }
        break;
      case Json::parse_event_t::value:
        ElementDone();
        break;
    }
    return true;
  }

  bool found() const { return found_; }
  // When naming: the first repeated key, and the path of its object.
  const std::string& duplicate() const { return duplicate_; }
  const std::string& path() const { return path_; }

 private:
  void ElementDone() {
    if (!frames_.empty() && frames_.back().array) ++frames_.back().count;
  }

  // The path of the innermost open object.
  std::string Path() const {
    std::string path;
    for (size_t i = 1; i < frames_.size(); ++i) {
      const Frame& parent = frames_[i - 1];
      path = parent.array ? JsonPathIndex(path, parent.count)
                          : JsonPathJoin(path, parent.key);
    }
    return path;
  }

  const bool naming_;
  std::vector<Frame> frames_;
  bool found_ = false;
  std::string duplicate_;
  std::string path_;
};

// Parses `text`, following it with `finder`.
Json ParseWith(absl::string_view text, DuplicateKeyFinder& finder) {
  // std::function copies its target: keep the state outside and capture it.
  return Json::parse(
      text.begin(), text.end(),
      [&finder](int, Json::parse_event_t event, Json& parsed) {
        return finder.OnEvent(event, parsed);
      },
      /*allow_exceptions=*/false);
}

// Records the first syntax error of a SAX pass; nlohmann's message holds
// the line and column.
class ErrorRecorder : public nlohmann::json_sax<Json> {
 public:
  bool null() override { return true; }
  bool boolean(bool) override { return true; }
  bool number_integer(number_integer_t) override { return true; }
  bool number_unsigned(number_unsigned_t) override { return true; }
  bool number_float(number_float_t, const string_t&) override { return true; }
  bool string(string_t&) override { return true; }
  bool binary(binary_t&) override { return true; }
  bool start_object(std::size_t) override { return true; }
  bool key(string_t&) override { return true; }
  bool end_object() override { return true; }
  bool start_array(std::size_t) override { return true; }
  bool end_array() override { return true; }
  bool parse_error(std::size_t, const std::string&,
                   const nlohmann::detail::exception& ex) override {
    message = ex.what();
    return false;
  }
  std::string message;
};

}  // namespace

std::string JsonPathJoin(absl::string_view path, absl::string_view key) {
  if (IsIdentifier(key)) {
    return path.empty() ? std::string(key) : absl::StrCat(path, ".", key);
  }
  return absl::StrCat(path, "[",
                      Json(std::string(key))
                          .dump(-1, ' ', false, Json::error_handler_t::replace),
                      "]");
}

std::string JsonPathIndex(absl::string_view path, size_t index) {
  return absl::StrCat(path, "[", index, "]");
}

absl::StatusOr<Json> ParseStrictJson(absl::string_view text,
                                     absl::string_view where) {
  DuplicateKeyFinder counting(/*naming=*/false);
  Json json = ParseWith(text, counting);
  if (json.is_discarded()) {
    ErrorRecorder recorder;
    Json::sax_parse(text.begin(), text.end(), &recorder);
    std::string message = recorder.message;
    const size_t tag = message.find("] ");
    if (tag != std::string::npos) message = message.substr(tag + 2);
    return absl::InvalidArgumentError(absl::StrCat(
        where, ": not valid JSON", message.empty() ? "" : ": ", message));
  }
  if (counting.found()) {
    DuplicateKeyFinder naming(/*naming=*/true);
    ParseWith(text, naming);
    return JsonNode(json, where, naming.path())
        .Error(absl::StrCat("duplicate key ", Dump(Json(naming.duplicate()))));
  }
  return json;
}

JsonNode JsonNode::Child(const Json* value, absl::string_view where,
                         std::shared_ptr<const std::string> parent) {
  JsonNode child;
  child.value_ = value;
  child.where_ = where;
  child.parent_ = std::move(parent);
  return child;
}

std::shared_ptr<const std::string> JsonNode::SharedPath() const {
  if (step_ == Step::kNone) return parent_;
  return std::make_shared<const std::string>(path());
}

std::string JsonNode::path() const {
  const absl::string_view parent =
      parent_ == nullptr ? absl::string_view() : absl::string_view(*parent_);
  switch (step_) {
    case Step::kNone:
      return std::string(parent);
    case Step::kKey:
      return JsonPathJoin(parent, key_ != nullptr ? *key_ : owned_key_);
    case Step::kIndex:
      return JsonPathIndex(parent, index_);
  }
  return std::string(parent);
}

JsonNode JsonNode::Field(absl::string_view key) const {
  JsonNode node = Child(nullptr, where_, SharedPath());
  node.step_ = Step::kKey;
  if (value_ != nullptr && value_->is_object()) {
    auto it = value_->find(std::string(key));
    if (it != value_->end()) {
      node.value_ = &it.value();
      node.key_ = &it.key();
      return node;
    }
  }
  node.owned_key_ = std::string(key);
  return node;
}

absl::Status JsonNode::Error(absl::string_view what) const {
  const std::string path = this->path();
  return absl::InvalidArgumentError(
      absl::StrCat(where_, ": ", path, path.empty() ? "" : ": ", what));
}

absl::Status JsonNode::TypeError(absl::string_view what) const {
  if (value_ == nullptr) return Error("missing");
  return Error(absl::StrCat("expected ", what, ", got ", Dump(*value_)));
}

absl::Status JsonNode::ExpectObject() const {
  if (value_ == nullptr || !value_->is_object()) {
    return TypeError("an object");
  }
  return absl::OkStatus();
}

absl::Status JsonNode::ExpectFields(
    std::initializer_list<absl::string_view> known) const {
  if (absl::Status s = ExpectObject(); !s.ok()) return s;
  for (auto it = value_->begin(); it != value_->end(); ++it) {
    bool found = false;
    for (absl::string_view k : known) found |= it.key() == k;
    if (found) continue;
    std::string list;
    for (absl::string_view k : known) {
      absl::StrAppend(&list, list.empty() ? "" : ", ", k);
    }
    return Error(absl::StrCat("unknown field ", Dump(Json(it.key())),
                              " (known: ", list, ")"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<JsonNode>> JsonNode::Elements() const {
  if (value_ == nullptr || !value_->is_array()) return TypeError("an array");
  const std::shared_ptr<const std::string> path = SharedPath();
  std::vector<JsonNode> out;
  out.reserve(value_->size());
  for (size_t i = 0; i < value_->size(); ++i) {
    out.push_back(Child(&(*value_)[i], where_, path));
    out.back().step_ = Step::kIndex;
    out.back().index_ = i;
  }
  return out;
}

absl::StatusOr<std::vector<std::pair<absl::string_view, JsonNode>>>
JsonNode::Members() const {
  if (absl::Status s = ExpectObject(); !s.ok()) return s;
  const std::shared_ptr<const std::string> path = SharedPath();
  std::vector<std::pair<absl::string_view, JsonNode>> out;
  out.reserve(value_->size());
  for (auto it = value_->begin(); it != value_->end(); ++it) {
    JsonNode child = Child(&it.value(), where_, path);
    child.step_ = Step::kKey;
    child.key_ = &it.key();
    out.emplace_back(it.key(), std::move(child));
  }
  return out;
}

absl::StatusOr<bool> JsonNode::Bool() const {
  if (value_ == nullptr || !value_->is_boolean()) {
    return TypeError("true or false");
  }
  return value_->get<bool>();
}

absl::StatusOr<std::string> JsonNode::String() const {
  if (value_ == nullptr || !value_->is_string()) return TypeError("a string");
  return value_->get<std::string>();
}

absl::StatusOr<uint64_t> JsonNode::U64(uint64_t lo, uint64_t hi) const {
  if (value_ == nullptr || !value_->is_number_unsigned()) {
    return TypeError("an unsigned integer");
  }
  const uint64_t v = value_->get<uint64_t>();
  if (v < lo || v > hi) {
    return Error(hi == std::numeric_limits<uint64_t>::max()
                     ? absl::StrCat("expected an integer >= ", lo, ", got ", v)
                     : absl::StrCat("expected an integer in [", lo, ", ", hi,
                                    "], got ", v));
  }
  return v;
}

absl::StatusOr<int64_t> JsonNode::Int(int64_t lo, int64_t hi) const {
  if (value_ == nullptr || !value_->is_number_integer()) {
    return TypeError("an integer");
  }
  const bool too_big =
      value_->is_number_unsigned() &&
      value_->get<uint64_t>() >
          static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
  if (too_big || value_->get<int64_t>() < lo || value_->get<int64_t>() > hi) {
    const std::string got = Dump(*value_);
    return Error(
        hi == std::numeric_limits<int64_t>::max()
            ? absl::StrCat("expected an integer >= ", lo, ", got ", got)
            : absl::StrCat("expected an integer in [", lo, ", ", hi, "], got ",
                           got));
  }
  return value_->get<int64_t>();
}

absl::StatusOr<double> JsonNode::Double(double above) const {
  if (value_ == nullptr || !value_->is_number()) return TypeError("a number");
  const double v = value_->get<double>();
  if (!(v > above)) {
    return Error(
        absl::StrCat("expected a number > ", above, ", got ", Dump(*value_)));
  }
  return v;
}

absl::StatusOr<bool> JsonNode::BoolOr(bool fallback) const {
  if (absent_or_null()) return fallback;
  return Bool();
}

absl::StatusOr<std::string> JsonNode::StringOr(std::string fallback) const {
  if (absent_or_null()) return fallback;
  return String();
}

absl::StatusOr<int64_t> JsonNode::IntOr(int64_t fallback, int64_t lo,
                                        int64_t hi) const {
  if (absent_or_null()) return fallback;
  return Int(lo, hi);
}

absl::StatusOr<double> JsonNode::DoubleOr(double fallback, double above) const {
  if (absent_or_null()) return fallback;
  return Double(above);
}

}  // namespace df11
