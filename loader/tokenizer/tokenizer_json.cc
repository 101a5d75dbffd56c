#include "loader/tokenizer/tokenizer_json.h"

#include <cstdint>
#include <initializer_list>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "loader/base/status_macros.h"
#include "loader/tokenizer/utf8.h"

namespace df11::tokenizer {
namespace {

using Json = nlohmann::json;

// Debian's abseil has its own string_view; StrCat needs it.
absl::string_view Sv(std::string_view s) { return {s.data(), s.size()}; }

// Records the first syntax error of a SAX pass; nlohmann's message already
// holds the line and column.
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

// Builds errors that name the file and the JSON path.
class Reader {
 public:
  explicit Reader(std::string_view source) : source_(source) {}

  absl::Status Error(std::string_view path, std::string_view message) const {
    return absl::InvalidArgumentError(
        absl::StrCat(Sv(source_), ": ", Sv(path), ": ", Sv(message)));
  }

  absl::Status ExpectObject(const Json& j, std::string_view path) const {
    if (!j.is_object()) return Error(path, "expected an object");
    return absl::OkStatus();
  }

  // Rejects keys outside `allowed`: an unknown option could change what the
  // encoding should be.
  absl::Status CheckKeys(
      const Json& j, std::string_view path,
      std::initializer_list<std::string_view> allowed) const {
    RETURN_IF_ERROR(ExpectObject(j, path));
    for (auto it = j.begin(); it != j.end(); ++it) {
      bool known = false;
      std::string list;
      for (std::string_view a : allowed) {
        known |= it.key() == a;
        absl::StrAppend(&list, list.empty() ? "" : ", ", Sv(a));
      }
      if (!known) {
        return Error(path, absl::StrFormat("unknown field \"%s\" (known: %s)",
                                           it.key(), list));
      }
    }
    return absl::OkStatus();
  }

  // nullptr when absent.
  const Json* Find(const Json& j, std::string_view key) const {
    auto it = j.find(std::string(key));
    return it == j.end() ? nullptr : &*it;
  }

  absl::StatusOr<std::string> String(const Json& j, std::string_view path,
                                     std::string_view key) const {
    const Json* v = Find(j, key);
    const std::string p = Join(path, key);
    if (v == nullptr) return Error(p, "missing required string");
    if (!v->is_string()) return Error(p, "expected a string");
    return v->get_ref<const std::string&>();
  }

  absl::StatusOr<bool> Bool(const Json& j, std::string_view path,
                            std::string_view key, bool fallback) const {
    const Json* v = Find(j, key);
    if (v == nullptr || v->is_null()) return fallback;
    if (!v->is_boolean())
      return Error(Join(path, key), "expected true or false");
    return v->get<bool>();
  }

  absl::StatusOr<int64_t> Int(const Json& j, std::string_view path, int64_t lo,
                              int64_t hi) const {
    if (!j.is_number_integer()) return Error(path, "expected an integer");
    if (j.is_number_unsigned() &&
        j.get<uint64_t>() > static_cast<uint64_t>(hi)) {
      return Error(path, absl::StrFormat("%d is out of range [%d, %d]",
                                         j.get<uint64_t>(), lo, hi));
    }
    const int64_t v = j.get<int64_t>();
    if (v < lo || v > hi) {
      return Error(path,
                   absl::StrFormat("%d is out of range [%d, %d]", v, lo, hi));
    }
    return v;
  }

  // A {"String": "..."} pattern; {"Regex": ...} patterns are rejected.
  absl::StatusOr<std::string> LiteralPattern(const Json& j,
                                             std::string_view path) const {
    const std::string p = Join(path, "pattern");
    const Json* v = Find(j, "pattern");
    if (v == nullptr || !v->is_object() || v->size() != 1) {
      return Error(p, "expected {\"String\": ...} or {\"Regex\": ...}");
    }
    if (const Json* s = Find(*v, "String"); s != nullptr && s->is_string()) {
      return s->get<std::string>();
    }
    return Error(p, absl::StrFormat("unsupported pattern %s (only String "
                                    "patterns are supported here)",
                                    v->dump()));
  }

  // One Unicode character, e.g. Metaspace's replacement.
  absl::StatusOr<std::string> Char(const Json& j, std::string_view path,
                                   std::string_view key) const {
    ASSIGN_OR_RETURN(std::string s, String(j, path, key));
    if (s.empty() || FindInvalidUtf8(s) != s.size() ||
        static_cast<size_t>(Utf8SequenceLength(s[0])) != s.size()) {
      return Error(Join(path, key), "expected exactly one character");
    }
    return s;
  }

  static std::string Join(std::string_view path, std::string_view key) {
    return path.empty() ? std::string(key)
                        : absl::StrCat(Sv(path), ".", Sv(key));
  }
  static std::string Index(std::string_view path, size_t i) {
    return absl::StrCat(Sv(path), "[", i, "]");
  }

 private:
  std::string_view source_;
};

absl::StatusOr<std::string> TypeOf(const Reader& r, const Json& j,
                                   std::string_view path) {
  RETURN_IF_ERROR(r.ExpectObject(j, path));
  return r.String(j, path, "type");
}

absl::Status Unsupported(const Reader& r, std::string_view path,
                         std::string_view what, std::string_view type,
                         std::string_view supported) {
  return r.Error(Reader::Join(path, "type"),
                 absl::StrFormat("unsupported %s \"%s\" (supported: %s)", what,
                                 type, supported));
}

absl::Status ParseNormalizer(const Reader& r, const Json& j,
                             const std::string& path,
                             std::vector<NormalizerStep>* out) {
  if (j.is_null()) return absl::OkStatus();
  ASSIGN_OR_RETURN(std::string type, TypeOf(r, j, path));
  using Kind = NormalizerStep::Kind;
  if (type == "Sequence") {
    RETURN_IF_ERROR(r.CheckKeys(j, path, {"type", "normalizers"}));
    const Json* list = r.Find(j, "normalizers");
    const std::string p = Reader::Join(path, "normalizers");
    if (list == nullptr || !list->is_array()) {
      return r.Error(p, "expected an array");
    }
    for (size_t i = 0; i < list->size(); ++i) {
      RETURN_IF_ERROR(ParseNormalizer(r, (*list)[i], Reader::Index(p, i), out));
    }
    return absl::OkStatus();
  }
  if (type == "Prepend") {
    RETURN_IF_ERROR(r.CheckKeys(j, path, {"type", "prepend"}));
    ASSIGN_OR_RETURN(std::string prepend, r.String(j, path, "prepend"));
    out->push_back({Kind::kPrepend, "", std::move(prepend)});
    return absl::OkStatus();
  }
  if (type == "Replace") {
    RETURN_IF_ERROR(r.CheckKeys(j, path, {"type", "pattern", "content"}));
    ASSIGN_OR_RETURN(std::string pattern, r.LiteralPattern(j, path));
    ASSIGN_OR_RETURN(std::string content, r.String(j, path, "content"));
    if (pattern.empty()) {
      return r.Error(Reader::Join(path, "pattern"), "empty pattern");
    }
    out->push_back({Kind::kReplace, std::move(pattern), std::move(content)});
    return absl::OkStatus();
  }
  const std::pair<const char*, Kind> kForms[] = {{"NFC", Kind::kNfc},
                                                 {"NFD", Kind::kNfd},
                                                 {"NFKC", Kind::kNfkc},
                                                 {"NFKD", Kind::kNfkd}};
  for (const auto& [name, kind] : kForms) {
    if (type != name) continue;
    RETURN_IF_ERROR(r.CheckKeys(j, path, {"type"}));
    out->push_back({kind, "", ""});
    return absl::OkStatus();
  }
  return Unsupported(r, path, "normalizer", type,
                     "Sequence, Prepend, Replace (String), NFC, NFD, NFKC, "
                     "NFKD");
}

absl::StatusOr<PrependScheme> ParsePrependScheme(const Reader& r, const Json& j,
                                                 const std::string& path) {
  if (const Json* v = r.Find(j, "prepend_scheme"); v != nullptr) {
    ASSIGN_OR_RETURN(std::string s, r.String(j, path, "prepend_scheme"));
    if (s == "always") return PrependScheme::kAlways;
    if (s == "first") return PrependScheme::kFirst;
    if (s == "never") return PrependScheme::kNever;
    return r.Error(Reader::Join(path, "prepend_scheme"),
                   absl::StrFormat("unknown scheme \"%s\" (known: always, "
                                   "first, never)",
                                   s));
  }
  // Files written before prepend_scheme existed carry add_prefix_space.
  ASSIGN_OR_RETURN(bool add, r.Bool(j, path, "add_prefix_space", true));
  return add ? PrependScheme::kAlways : PrependScheme::kNever;
}

absl::Status ParsePreTokenizer(const Reader& r, const Json& j,
                               const std::string& path, bool last,
                               PreTokenizerSpec* out) {
  if (j.is_null()) return absl::OkStatus();
  ASSIGN_OR_RETURN(std::string type, TypeOf(r, j, path));
  using Final = PreTokenizerSpec::Final;
  if (out->final != Final::kNone) {
    return r.Error(path,
                   "ByteLevel and Metaspace are supported only as the "
                   "last pre-tokenizer");
  }
  if (type == "Sequence") {
    RETURN_IF_ERROR(r.CheckKeys(j, path, {"type", "pretokenizers"}));
    const Json* list = r.Find(j, "pretokenizers");
    const std::string p = Reader::Join(path, "pretokenizers");
    if (list == nullptr || !list->is_array()) {
      return r.Error(p, "expected an array");
    }
    for (size_t i = 0; i < list->size(); ++i) {
      RETURN_IF_ERROR(ParsePreTokenizer(r, (*list)[i], Reader::Index(p, i),
                                        last && i + 1 == list->size(), out));
    }
    return absl::OkStatus();
  }
  if (type == "Split") {
    RETURN_IF_ERROR(
        r.CheckKeys(j, path, {"type", "pattern", "behavior", "invert"}));
    const Json* pattern = r.Find(j, "pattern");
    const Json* regex = pattern != nullptr && pattern->is_object()
                            ? r.Find(*pattern, "Regex")
                            : nullptr;
    if (regex == nullptr || !regex->is_string()) {
      return r.Error(Reader::Join(path, "pattern"),
                     "only {\"Regex\": ...} patterns are supported");
    }
    std::optional<SplitPattern> known =
        SplitPatternFromRegex(regex->get_ref<const std::string&>());
    if (!known.has_value()) {
      return r.Error(
          Reader::Join(path, "pattern.Regex"),
          absl::StrFormat("unsupported split regex \"%s\" (supported: the "
                          "GPT-2, Llama 3 and Qwen 2 patterns)",
                          regex->get<std::string>()));
    }
    ASSIGN_OR_RETURN(std::string behavior, r.String(j, path, "behavior"));
    if (behavior != "Isolated") {
      return r.Error(Reader::Join(path, "behavior"),
                     absl::StrFormat("unsupported behavior \"%s\" (supported: "
                                     "Isolated)",
                                     behavior));
    }
    ASSIGN_OR_RETURN(bool invert, r.Bool(j, path, "invert", false));
    if (invert) return r.Error(Reader::Join(path, "invert"), "unsupported");
    out->splits.push_back(*known);
    return absl::OkStatus();
  }
  if (type == "ByteLevel" || type == "Metaspace") {
    if (!last) {
      return r.Error(path, absl::StrCat(type,
                                        " is supported only as the "
                                        "last pre-tokenizer"));
    }
  }
  if (type == "ByteLevel") {
    RETURN_IF_ERROR(r.CheckKeys(
        j, path, {"type", "add_prefix_space", "trim_offsets", "use_regex"}));
    out->final = Final::kByteLevel;
    ASSIGN_OR_RETURN(out->add_prefix_space,
                     r.Bool(j, path, "add_prefix_space", true));
    ASSIGN_OR_RETURN(out->use_regex, r.Bool(j, path, "use_regex", true));
    return absl::OkStatus();
  }
  if (type == "Metaspace") {
    RETURN_IF_ERROR(r.CheckKeys(j, path,
                                {"type", "replacement", "prepend_scheme",
                                 "split", "add_prefix_space", "str_rep"}));
    out->final = Final::kMetaspace;
    ASSIGN_OR_RETURN(out->replacement, r.Char(j, path, "replacement"));
    ASSIGN_OR_RETURN(out->prepend_scheme, ParsePrependScheme(r, j, path));
    ASSIGN_OR_RETURN(out->split, r.Bool(j, path, "split", true));
    return absl::OkStatus();
  }
  return Unsupported(r, path, "pre-tokenizer", type,
                     "Sequence, Split (GPT-2/Llama 3/Qwen 2 regex), ByteLevel, "
                     "Metaspace");
}

absl::Status ParseDecoder(const Reader& r, const Json& j,
                          const std::string& path,
                          std::vector<DecoderStep>* out) {
  ASSIGN_OR_RETURN(std::string type, TypeOf(r, j, path));
  using Kind = DecoderStep::Kind;
  DecoderStep step;
  if (type == "Sequence") {
    RETURN_IF_ERROR(r.CheckKeys(j, path, {"type", "decoders"}));
    const Json* list = r.Find(j, "decoders");
    const std::string p = Reader::Join(path, "decoders");
    if (list == nullptr || !list->is_array()) {
      return r.Error(p, "expected an array");
    }
    for (size_t i = 0; i < list->size(); ++i) {
      RETURN_IF_ERROR(ParseDecoder(r, (*list)[i], Reader::Index(p, i), out));
    }
    return absl::OkStatus();
  } else if (type == "ByteLevel") {
    RETURN_IF_ERROR(r.CheckKeys(
        j, path, {"type", "add_prefix_space", "trim_offsets", "use_regex"}));
    step.kind = Kind::kByteLevel;
  } else if (type == "Metaspace") {
    RETURN_IF_ERROR(r.CheckKeys(j, path,
                                {"type", "replacement", "prepend_scheme",
                                 "split", "add_prefix_space", "str_rep"}));
    step.kind = Kind::kMetaspace;
    ASSIGN_OR_RETURN(step.pattern, r.Char(j, path, "replacement"));
    ASSIGN_OR_RETURN(step.prepend_scheme, ParsePrependScheme(r, j, path));
  } else if (type == "Replace") {
    RETURN_IF_ERROR(r.CheckKeys(j, path, {"type", "pattern", "content"}));
    step.kind = Kind::kReplace;
    ASSIGN_OR_RETURN(step.pattern, r.LiteralPattern(j, path));
    ASSIGN_OR_RETURN(step.content, r.String(j, path, "content"));
    if (step.pattern.empty()) {
      return r.Error(Reader::Join(path, "pattern"), "empty pattern");
    }
  } else if (type == "ByteFallback" || type == "Fuse") {
    RETURN_IF_ERROR(r.CheckKeys(j, path, {"type"}));
    step.kind = type == "Fuse" ? Kind::kFuse : Kind::kByteFallback;
  } else if (type == "Strip") {
    RETURN_IF_ERROR(r.CheckKeys(j, path, {"type", "content", "start", "stop"}));
    step.kind = Kind::kStrip;
    ASSIGN_OR_RETURN(step.pattern, r.Char(j, path, "content"));
    for (auto [key, dst] :
         {std::pair{"start", &step.start}, std::pair{"stop", &step.stop}}) {
      const Json* v = r.Find(j, key);
      if (v == nullptr) return r.Error(Reader::Join(path, key), "missing");
      ASSIGN_OR_RETURN(int64_t n, r.Int(*v, Reader::Join(path, key), 0,
                                        std::numeric_limits<int32_t>::max()));
      *dst = static_cast<int>(n);
    }
  } else {
    return Unsupported(r, path, "decoder", type,
                       "Sequence, ByteLevel, Metaspace, Replace (String), "
                       "ByteFallback, Fuse, Strip");
  }
  out->push_back(std::move(step));
  return absl::OkStatus();
}

absl::Status ParsePostProcessor(const Reader& r, const Json& j,
                                const std::string& path, TokenizerSpec* out) {
  if (j.is_null()) return absl::OkStatus();
  ASSIGN_OR_RETURN(std::string type, TypeOf(r, j, path));
  if (type == "Sequence") {
    RETURN_IF_ERROR(r.CheckKeys(j, path, {"type", "processors"}));
    const Json* list = r.Find(j, "processors");
    const std::string p = Reader::Join(path, "processors");
    if (list == nullptr || !list->is_array()) {
      return r.Error(p, "expected an array");
    }
    for (size_t i = 0; i < list->size(); ++i) {
      RETURN_IF_ERROR(
          ParsePostProcessor(r, (*list)[i], Reader::Index(p, i), out));
    }
    return absl::OkStatus();
  }
  if (type == "ByteLevel") {
    // Only adjusts offsets, which df11 does not report.
    return r.CheckKeys(
        j, path, {"type", "add_prefix_space", "trim_offsets", "use_regex"});
  }
  if (type != "TemplateProcessing") {
    return Unsupported(r, path, "post-processor", type,
                       "TemplateProcessing, ByteLevel, Sequence");
  }
  RETURN_IF_ERROR(
      r.CheckKeys(j, path, {"type", "single", "pair", "special_tokens"}));
  const Json* specials = r.Find(j, "special_tokens");
  const std::string sp = Reader::Join(path, "special_tokens");
  if (specials == nullptr || !specials->is_object()) {
    return r.Error(sp, "expected an object");
  }
  const Json* single = r.Find(j, "single");
  const std::string p = Reader::Join(path, "single");
  if (single == nullptr || !single->is_array()) {
    return r.Error(p, "expected an array");
  }
  std::vector<TemplateItem> items;
  for (size_t i = 0; i < single->size(); ++i) {
    const Json& item = (*single)[i];
    const std::string ip = Reader::Index(p, i);
    RETURN_IF_ERROR(r.ExpectObject(item, ip));
    if (const Json* seq = r.Find(item, "Sequence"); seq != nullptr) {
      ASSIGN_OR_RETURN(std::string id, r.String(*seq, ip + ".Sequence", "id"));
      if (id != "A") {
        return r.Error(ip, absl::StrFormat("sequence \"%s\" in the single "
                                           "template (only A is allowed)",
                                           id));
      }
      items.push_back({true, {}});
    } else if (const Json* tok = r.Find(item, "SpecialToken"); tok != nullptr) {
      ASSIGN_OR_RETURN(std::string id,
                       r.String(*tok, ip + ".SpecialToken", "id"));
      const Json* def = r.Find(*specials, id);
      const std::string dp = absl::StrCat(sp, "[\"", id, "\"]");
      if (def == nullptr || !def->is_object()) {
        return r.Error(
            ip, absl::StrFormat("special token \"%s\" is not in %s", id, sp));
      }
      const Json* ids = r.Find(*def, "ids");
      if (ids == nullptr || !ids->is_array()) {
        return r.Error(Reader::Join(dp, "ids"), "expected an array");
      }
      TemplateItem t;
      for (size_t k = 0; k < ids->size(); ++k) {
        ASSIGN_OR_RETURN(int64_t v,
                         r.Int((*ids)[k], Reader::Index(dp + ".ids", k), 0,
                               std::numeric_limits<int32_t>::max()));
        t.ids.push_back(static_cast<int32_t>(v));
      }
      items.push_back(std::move(t));
    } else {
      return r.Error(ip,
                     "expected {\"Sequence\": ...} or "
                     "{\"SpecialToken\": ...}");
    }
  }
  out->templates.push_back(std::move(items));
  return absl::OkStatus();
}

absl::Status ParseAddedTokens(const Reader& r, const Json* j,
                              TokenizerSpec* out) {
  if (j == nullptr || j->is_null()) return absl::OkStatus();
  if (!j->is_array()) return r.Error("added_tokens", "expected an array");
  for (size_t i = 0; i < j->size(); ++i) {
    const Json& t = (*j)[i];
    const std::string p = Reader::Index("added_tokens", i);
    RETURN_IF_ERROR(r.CheckKeys(t, p,
                                {"id", "content", "single_word", "lstrip",
                                 "rstrip", "normalized", "special"}));
    AddedTokenSpec a;
    const Json* id = r.Find(t, "id");
    if (id == nullptr) return r.Error(p + ".id", "missing");
    ASSIGN_OR_RETURN(int64_t v, r.Int(*id, p + ".id", 0,
                                      std::numeric_limits<int32_t>::max()));
    a.id = static_cast<int32_t>(v);
    ASSIGN_OR_RETURN(a.content, r.String(t, p, "content"));
    if (a.content.empty()) return r.Error(p + ".content", "empty token");
    ASSIGN_OR_RETURN(a.special, r.Bool(t, p, "special", false));
    ASSIGN_OR_RETURN(a.single_word, r.Bool(t, p, "single_word", false));
    ASSIGN_OR_RETURN(a.lstrip, r.Bool(t, p, "lstrip", false));
    ASSIGN_OR_RETURN(a.rstrip, r.Bool(t, p, "rstrip", false));
    ASSIGN_OR_RETURN(a.normalized, r.Bool(t, p, "normalized", !a.special));
    out->added_tokens.push_back(std::move(a));
  }
  return absl::OkStatus();
}

absl::Status ParseModel(const Reader& r, const Json* j, TokenizerSpec* out) {
  if (j == nullptr) return r.Error("model", "missing");
  ASSIGN_OR_RETURN(std::string type, TypeOf(r, *j, "model"));
  if (type != "BPE") {
    return Unsupported(r, "model", "model", type, "BPE");
  }
  RETURN_IF_ERROR(
      r.CheckKeys(*j, "model",
                  {"type", "dropout", "unk_token", "continuing_subword_prefix",
                   "end_of_word_suffix", "fuse_unk", "byte_fallback",
                   "ignore_merges", "vocab", "merges"}));
  if (const Json* d = r.Find(*j, "dropout");
      d != nullptr && !d->is_null() &&
      !(d->is_number() && d->get<double>() == 0.0)) {
    return r.Error("model.dropout",
                   "BPE dropout is random; only null or 0 is supported");
  }
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    const Json* v = r.Find(*j, key);
    if (v != nullptr && !v->is_null() &&
        !(v->is_string() && v->get_ref<const std::string&>().empty())) {
      return r.Error(Reader::Join("model", key), "unsupported (must be null)");
    }
  }
  if (const Json* unk = r.Find(*j, "unk_token");
      unk != nullptr && !unk->is_null()) {
    ASSIGN_OR_RETURN(out->bpe.unk_token, r.String(*j, "model", "unk_token"));
  }
  ASSIGN_OR_RETURN(out->bpe.fuse_unk, r.Bool(*j, "model", "fuse_unk", false));
  ASSIGN_OR_RETURN(out->bpe.byte_fallback,
                   r.Bool(*j, "model", "byte_fallback", false));
  ASSIGN_OR_RETURN(out->bpe.ignore_merges,
                   r.Bool(*j, "model", "ignore_merges", false));

  const Json* vocab = r.Find(*j, "vocab");
  if (vocab == nullptr || !vocab->is_object()) {
    return r.Error("model.vocab", "expected an object of token: id");
  }
  out->vocab.reserve(vocab->size());
  for (auto it = vocab->begin(); it != vocab->end(); ++it) {
    ASSIGN_OR_RETURN(
        int64_t id,
        r.Int(it.value(), absl::StrCat("model.vocab[\"", it.key(), "\"]"), 0,
              std::numeric_limits<int32_t>::max() - 1));
    out->vocab.emplace_back(it.key(), static_cast<int32_t>(id));
  }

  const Json* merges = r.Find(*j, "merges");
  if (merges == nullptr || !merges->is_array()) {
    return r.Error("model.merges", "expected an array");
  }
  out->merges.reserve(merges->size());
  for (size_t i = 0; i < merges->size(); ++i) {
    const Json& m = (*merges)[i];
    const std::string p = Reader::Index("model.merges", i);
    if (m.is_string()) {
      // The older format: "left right", exactly one space.
      const std::string& s = m.get_ref<const std::string&>();
      const size_t space = s.find(' ');
      if (space == std::string::npos ||
          s.find(' ', space + 1) != std::string::npos) {
        return r.Error(p, absl::StrFormat("merge \"%s\" is not two tokens "
                                          "separated by one space",
                                          s));
      }
      out->merges.emplace_back(s.substr(0, space), s.substr(space + 1));
    } else if (m.is_array() && m.size() == 2 && m[0].is_string() &&
               m[1].is_string()) {
      out->merges.emplace_back(m[0].get<std::string>(),
                               m[1].get<std::string>());
    } else {
      return r.Error(p, "expected \"left right\" or [\"left\", \"right\"]");
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<TokenizerSpec> ParseTokenizerJson(std::string_view text,
                                                 std::string_view source) {
  const Reader r(source);
  Json root = Json::parse(text.begin(), text.end(), nullptr,
                          /*allow_exceptions=*/false);
  if (root.is_discarded()) {
    ErrorRecorder recorder;
    Json::sax_parse(text.begin(), text.end(), &recorder);
    std::string message = recorder.message;
    const size_t tag = message.find("] ");
    if (tag != std::string::npos) message = message.substr(tag + 2);
    return absl::InvalidArgumentError(
        absl::StrCat(Sv(source), ": JSON ", message));
  }
  if (!root.is_object()) {
    return r.Error("(root)", "expected a JSON object");
  }
  RETURN_IF_ERROR(r.CheckKeys(
      root, "(root)",
      {"version", "truncation", "padding", "added_tokens", "normalizer",
       "pre_tokenizer", "post_processor", "decoder", "model"}));
  for (const char* key : {"truncation", "padding"}) {
    const Json* v = r.Find(root, key);
    if (v != nullptr && !v->is_null()) {
      return r.Error(key,
                     "unsupported (must be null): df11 never truncates "
                     "or pads");
    }
  }
  TokenizerSpec spec;
  RETURN_IF_ERROR(ParseModel(r, r.Find(root, "model"), &spec));
  RETURN_IF_ERROR(ParseAddedTokens(r, r.Find(root, "added_tokens"), &spec));
  if (const Json* v = r.Find(root, "normalizer"); v != nullptr) {
    RETURN_IF_ERROR(ParseNormalizer(r, *v, "normalizer", &spec.normalizer));
  }
  if (const Json* v = r.Find(root, "pre_tokenizer"); v != nullptr) {
    RETURN_IF_ERROR(ParsePreTokenizer(r, *v, "pre_tokenizer", /*last=*/true,
                                      &spec.pre_tokenizer));
  }
  spec.bpe.byte_level =
      spec.pre_tokenizer.final == PreTokenizerSpec::Final::kByteLevel;
  if (const Json* v = r.Find(root, "post_processor"); v != nullptr) {
    RETURN_IF_ERROR(ParsePostProcessor(r, *v, "post_processor", &spec));
  }
  if (const Json* v = r.Find(root, "decoder"); v != nullptr && !v->is_null()) {
    spec.has_decoder = true;
    RETURN_IF_ERROR(ParseDecoder(r, *v, "decoder", &spec.decoder));
  }
  return spec;
}

}  // namespace df11::tokenizer
