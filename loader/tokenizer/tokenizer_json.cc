#include "loader/tokenizer/tokenizer_json.h"

#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "loader/base/status_macros.h"
#include "loader/base/strict_json.h"
#include "loader/tokenizer/utf8.h"

namespace df11::tokenizer {
namespace {

using Json = nlohmann::json;

// Debian's abseil has its own string_view; StrCat needs it.
absl::string_view Sv(std::string_view s) { return {s.data(), s.size()}; }

constexpr int64_t kMaxInt32 = std::numeric_limits<int32_t>::max();

// The object's "type" string.
absl::StatusOr<std::string> TypeOf(const JsonNode& j) {
  RETURN_IF_ERROR(j.ExpectObject());
  return j.Field("type").String();
}

absl::Status Unsupported(const JsonNode& j, std::string_view what,
                         std::string_view type, std::string_view supported) {
  return j.Field("type").Error(absl::StrFormat(
      "unsupported %s \"%s\" (supported: %s)", what, type, supported));
}

// A {"String": "..."} pattern; {"Regex": ...} patterns are rejected.
absl::StatusOr<std::string> LiteralPattern(const JsonNode& j) {
  const JsonNode p = j.Field("pattern");
  if (!p.present() || !p.json().is_object() || p.json().size() != 1) {
    return p.Error("expected {\"String\": ...} or {\"Regex\": ...}");
  }
  const JsonNode literal = p.Field("String");
  if (literal.present() && literal.json().is_string()) return literal.String();
  return p.Error(absl::StrFormat(
      "unsupported pattern %s (only String patterns are supported here)",
      p.json().dump(-1, ' ', false, Json::error_handler_t::replace)));
}

// One Unicode character, e.g. Metaspace's replacement.
absl::StatusOr<std::string> Char(const JsonNode& j) {
  ASSIGN_OR_RETURN(std::string s, j.String());
  if (s.empty() || FindInvalidUtf8(s) != s.size() ||
      static_cast<size_t>(Utf8SequenceLength(s[0])) != s.size()) {
    return j.Error("expected exactly one character");
  }
  return s;
}

absl::Status ParseNormalizer(const JsonNode& j,
                             std::vector<NormalizerStep>* out) {
  if (j.absent_or_null()) return absl::OkStatus();
  ASSIGN_OR_RETURN(std::string type, TypeOf(j));
  using Kind = NormalizerStep::Kind;
  if (type == "Sequence") {
    RETURN_IF_ERROR(j.ExpectFields({"type", "normalizers"}));
    ASSIGN_OR_RETURN(std::vector<JsonNode> list,
                     j.Field("normalizers").Elements());
    for (const JsonNode& item : list) {
      RETURN_IF_ERROR(ParseNormalizer(item, out));
    }
    return absl::OkStatus();
  }
  if (type == "Prepend") {
    RETURN_IF_ERROR(j.ExpectFields({"type", "prepend"}));
    ASSIGN_OR_RETURN(std::string prepend, j.Field("prepend").String());
    out->push_back({Kind::kPrepend, "", std::move(prepend)});
    return absl::OkStatus();
  }
  if (type == "Replace") {
    RETURN_IF_ERROR(j.ExpectFields({"type", "pattern", "content"}));
    ASSIGN_OR_RETURN(std::string pattern, LiteralPattern(j));
    ASSIGN_OR_RETURN(std::string content, j.Field("content").String());
    if (pattern.empty()) return j.Field("pattern").Error("empty pattern");
    out->push_back({Kind::kReplace, std::move(pattern), std::move(content)});
    return absl::OkStatus();
  }
  const std::pair<const char*, Kind> kForms[] = {{"NFC", Kind::kNfc},
                                                 {"NFD", Kind::kNfd},
                                                 {"NFKC", Kind::kNfkc},
                                                 {"NFKD", Kind::kNfkd}};
  for (const auto& [name, kind] : kForms) {
    if (type != name) continue;
    RETURN_IF_ERROR(j.ExpectFields({"type"}));
    out->push_back({kind, "", ""});
    return absl::OkStatus();
  }
  return Unsupported(j, "normalizer", type,
                     "Sequence, Prepend, Replace (String), NFC, NFD, NFKC, "
                     "NFKD");
}

absl::StatusOr<PrependScheme> ParsePrependScheme(const JsonNode& j) {
  const JsonNode scheme = j.Field("prepend_scheme");
  if (scheme.present()) {
    ASSIGN_OR_RETURN(std::string s, scheme.String());
    if (s == "always") return PrependScheme::kAlways;
    if (s == "first") return PrependScheme::kFirst;
    if (s == "never") return PrependScheme::kNever;
    return scheme.Error(absl::StrFormat(
        "unknown scheme \"%s\" (known: always, first, never)", s));
  }
  // Files written before prepend_scheme existed carry add_prefix_space.
  ASSIGN_OR_RETURN(bool add, j.Field("add_prefix_space").BoolOr(true));
  return add ? PrependScheme::kAlways : PrependScheme::kNever;
}

absl::Status ParsePreTokenizer(const JsonNode& j, bool last,
                               PreTokenizerSpec* out) {
  if (j.absent_or_null()) return absl::OkStatus();
  ASSIGN_OR_RETURN(std::string type, TypeOf(j));
  using Final = PreTokenizerSpec::Final;
  if (out->final != Final::kNone) {
    return j.Error(
        "ByteLevel and Metaspace are supported only as the last "
        "pre-tokenizer");
  }
  if (type == "Sequence") {
    RETURN_IF_ERROR(j.ExpectFields({"type", "pretokenizers"}));
    ASSIGN_OR_RETURN(std::vector<JsonNode> list,
                     j.Field("pretokenizers").Elements());
    for (size_t i = 0; i < list.size(); ++i) {
      RETURN_IF_ERROR(
          ParsePreTokenizer(list[i], last && i + 1 == list.size(), out));
    }
    return absl::OkStatus();
  }
  if (type == "Split") {
    RETURN_IF_ERROR(j.ExpectFields({"type", "pattern", "behavior", "invert"}));
    const JsonNode regex = j.Field("pattern").Field("Regex");
    if (!regex.present() || !regex.json().is_string()) {
      return j.Field("pattern").Error(
          "only {\"Regex\": ...} patterns are supported");
    }
    ASSIGN_OR_RETURN(std::string text, regex.String());
    std::optional<SplitPattern> known = SplitPatternFromRegex(text);
    if (!known.has_value()) {
      return regex.Error(absl::StrFormat(
          "unsupported split regex \"%s\" (supported: the GPT-2, Llama 3 and "
          "Qwen 2 patterns)",
          text));
    }
    const JsonNode behavior_field = j.Field("behavior");
    ASSIGN_OR_RETURN(std::string behavior, behavior_field.String());
    if (behavior != "Isolated") {
      return behavior_field.Error(absl::StrFormat(
          "unsupported behavior \"%s\" (supported: Isolated)", behavior));
    }
    ASSIGN_OR_RETURN(bool invert, j.Field("invert").BoolOr(false));
    if (invert) return j.Field("invert").Error("unsupported");
    out->splits.push_back(*known);
    return absl::OkStatus();
  }
  if (type == "ByteLevel" || type == "Metaspace") {
    if (!last) {
      return j.Error(
          absl::StrCat(type, " is supported only as the last pre-tokenizer"));
    }
  }
  if (type == "ByteLevel") {
    RETURN_IF_ERROR(j.ExpectFields(
        {"type", "add_prefix_space", "trim_offsets", "use_regex"}));
    out->final = Final::kByteLevel;
    ASSIGN_OR_RETURN(out->add_prefix_space,
                     j.Field("add_prefix_space").BoolOr(true));
    ASSIGN_OR_RETURN(out->use_regex, j.Field("use_regex").BoolOr(true));
    return absl::OkStatus();
  }
  if (type == "Metaspace") {
    RETURN_IF_ERROR(j.ExpectFields({"type", "replacement", "prepend_scheme",
                                    "split", "add_prefix_space", "str_rep"}));
    out->final = Final::kMetaspace;
    ASSIGN_OR_RETURN(out->replacement, Char(j.Field("replacement")));
    ASSIGN_OR_RETURN(out->prepend_scheme, ParsePrependScheme(j));
    ASSIGN_OR_RETURN(out->split, j.Field("split").BoolOr(true));
    return absl::OkStatus();
  }
  return Unsupported(j, "pre-tokenizer", type,
                     "Sequence, Split (GPT-2/Llama 3/Qwen 2 regex), ByteLevel, "
                     "Metaspace");
}

absl::Status ParseDecoder(const JsonNode& j, std::vector<DecoderStep>* out) {
  ASSIGN_OR_RETURN(std::string type, TypeOf(j));
  using Kind = DecoderStep::Kind;
  DecoderStep step;
  if (type == "Sequence") {
    RETURN_IF_ERROR(j.ExpectFields({"type", "decoders"}));
    ASSIGN_OR_RETURN(std::vector<JsonNode> list,
                     j.Field("decoders").Elements());
    for (const JsonNode& item : list) RETURN_IF_ERROR(ParseDecoder(item, out));
    return absl::OkStatus();
  } else if (type == "ByteLevel") {
    RETURN_IF_ERROR(j.ExpectFields(
        {"type", "add_prefix_space", "trim_offsets", "use_regex"}));
    step.kind = Kind::kByteLevel;
  } else if (type == "Metaspace") {
    RETURN_IF_ERROR(j.ExpectFields({"type", "replacement", "prepend_scheme",
                                    "split", "add_prefix_space", "str_rep"}));
    step.kind = Kind::kMetaspace;
    ASSIGN_OR_RETURN(step.pattern, Char(j.Field("replacement")));
    ASSIGN_OR_RETURN(step.prepend_scheme, ParsePrependScheme(j));
  } else if (type == "Replace") {
    RETURN_IF_ERROR(j.ExpectFields({"type", "pattern", "content"}));
    step.kind = Kind::kReplace;
    ASSIGN_OR_RETURN(step.pattern, LiteralPattern(j));
    ASSIGN_OR_RETURN(step.content, j.Field("content").String());
    if (step.pattern.empty()) {
      return j.Field("pattern").Error("empty pattern");
    }
  } else if (type == "ByteFallback" || type == "Fuse") {
    RETURN_IF_ERROR(j.ExpectFields({"type"}));
    step.kind = type == "Fuse" ? Kind::kFuse : Kind::kByteFallback;
  } else if (type == "Strip") {
    RETURN_IF_ERROR(j.ExpectFields({"type", "content", "start", "stop"}));
    step.kind = Kind::kStrip;
    ASSIGN_OR_RETURN(step.pattern, Char(j.Field("content")));
    ASSIGN_OR_RETURN(int64_t start, j.Field("start").Int(0, kMaxInt32));
    ASSIGN_OR_RETURN(int64_t stop, j.Field("stop").Int(0, kMaxInt32));
    step.start = static_cast<int>(start);
    step.stop = static_cast<int>(stop);
  } else {
    return Unsupported(j, "decoder", type,
                       "Sequence, ByteLevel, Metaspace, Replace (String), "
                       "ByteFallback, Fuse, Strip");
  }
  out->push_back(std::move(step));
  return absl::OkStatus();
}

absl::Status ParsePostProcessor(const JsonNode& j, TokenizerSpec* out) {
  if (j.absent_or_null()) return absl::OkStatus();
  ASSIGN_OR_RETURN(std::string type, TypeOf(j));
  if (type == "Sequence") {
    RETURN_IF_ERROR(j.ExpectFields({"type", "processors"}));
    ASSIGN_OR_RETURN(std::vector<JsonNode> list,
                     j.Field("processors").Elements());
    for (const JsonNode& item : list) {
      RETURN_IF_ERROR(ParsePostProcessor(item, out));
    }
    return absl::OkStatus();
  }
  if (type == "ByteLevel") {
    // Only adjusts offsets, which df11 does not report.
    return j.ExpectFields(
        {"type", "add_prefix_space", "trim_offsets", "use_regex"});
  }
  if (type != "TemplateProcessing") {
    return Unsupported(j, "post-processor", type,
                       "TemplateProcessing, ByteLevel, Sequence");
  }
  RETURN_IF_ERROR(j.ExpectFields({"type", "single", "pair", "special_tokens"}));
  const JsonNode specials = j.Field("special_tokens");
  RETURN_IF_ERROR(specials.ExpectObject());
  ASSIGN_OR_RETURN(std::vector<JsonNode> single, j.Field("single").Elements());
  std::vector<TemplateItem> items;
  for (const JsonNode& item : single) {
    RETURN_IF_ERROR(item.ExpectObject());
    const JsonNode sequence = item.Field("Sequence");
    const JsonNode token = item.Field("SpecialToken");
    if (sequence.present()) {
      ASSIGN_OR_RETURN(std::string id, sequence.Field("id").String());
      if (id != "A") {
        return item.Error(absl::StrFormat(
            "sequence \"%s\" in the single template (only A is allowed)", id));
      }
      items.push_back({true, {}});
    } else if (token.present()) {
      ASSIGN_OR_RETURN(std::string id, token.Field("id").String());
      const JsonNode def = specials.Field(id);
      if (!def.present() || !def.json().is_object()) {
        return item.Error(absl::StrFormat("special token \"%s\" is not in %s",
                                          id, specials.path()));
      }
      ASSIGN_OR_RETURN(std::vector<JsonNode> ids, def.Field("ids").Elements());
      TemplateItem t;
      for (const JsonNode& v : ids) {
        ASSIGN_OR_RETURN(int64_t value, v.Int(0, kMaxInt32));
        t.ids.push_back(static_cast<int32_t>(value));
      }
      items.push_back(std::move(t));
    } else {
      return item.Error(
          "expected {\"Sequence\": ...} or {\"SpecialToken\": ...}");
    }
  }
  out->templates.push_back(std::move(items));
  return absl::OkStatus();
}

absl::Status ParseAddedTokens(const JsonNode& j, TokenizerSpec* out) {
  if (j.absent_or_null()) return absl::OkStatus();
  ASSIGN_OR_RETURN(std::vector<JsonNode> tokens, j.Elements());
  for (const JsonNode& t : tokens) {
    RETURN_IF_ERROR(t.ExpectFields({"id", "content", "single_word", "lstrip",
                                    "rstrip", "normalized", "special"}));
    AddedTokenSpec a;
    ASSIGN_OR_RETURN(int64_t id, t.Field("id").Int(0, kMaxInt32));
    a.id = static_cast<int32_t>(id);
    ASSIGN_OR_RETURN(a.content, t.Field("content").String());
    if (a.content.empty()) return t.Field("content").Error("empty token");
    ASSIGN_OR_RETURN(a.special, t.Field("special").BoolOr(false));
    ASSIGN_OR_RETURN(a.single_word, t.Field("single_word").BoolOr(false));
    ASSIGN_OR_RETURN(a.lstrip, t.Field("lstrip").BoolOr(false));
    ASSIGN_OR_RETURN(a.rstrip, t.Field("rstrip").BoolOr(false));
    ASSIGN_OR_RETURN(a.normalized, t.Field("normalized").BoolOr(!a.special));
    out->added_tokens.push_back(std::move(a));
  }
  return absl::OkStatus();
}

absl::Status ParseModel(const JsonNode& j, TokenizerSpec* out) {
  ASSIGN_OR_RETURN(std::string type, TypeOf(j));
  if (type != "BPE") return Unsupported(j, "model", type, "BPE");
  RETURN_IF_ERROR(j.ExpectFields(
      {"type", "dropout", "unk_token", "continuing_subword_prefix",
       "end_of_word_suffix", "fuse_unk", "byte_fallback", "ignore_merges",
       "vocab", "merges"}));
  if (const JsonNode d = j.Field("dropout");
      !d.absent_or_null() &&
      !(d.json().is_number() && d.json().get<double>() == 0.0)) {
    return d.Error("BPE dropout is random; only null or 0 is supported");
  }
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    const JsonNode v = j.Field(key);
    if (!v.absent_or_null() &&
        !(v.json().is_string() &&
          v.json().get_ref<const std::string&>().empty())) {
      return v.Error("unsupported (must be null)");
    }
  }
  if (!j.Field("unk_token").absent_or_null()) {
    ASSIGN_OR_RETURN(out->bpe.unk_token, j.Field("unk_token").String());
  }
  ASSIGN_OR_RETURN(out->bpe.fuse_unk, j.Field("fuse_unk").BoolOr(false));
  ASSIGN_OR_RETURN(out->bpe.byte_fallback,
                   j.Field("byte_fallback").BoolOr(false));
  ASSIGN_OR_RETURN(out->bpe.ignore_merges,
                   j.Field("ignore_merges").BoolOr(false));

  ASSIGN_OR_RETURN(auto vocab, j.Field("vocab").Members());
  out->vocab.reserve(vocab.size());
  for (const auto& [token, id_field] : vocab) {
    ASSIGN_OR_RETURN(int64_t id, id_field.Int(0, kMaxInt32 - 1));
    out->vocab.emplace_back(std::string(token), static_cast<int32_t>(id));
  }

  ASSIGN_OR_RETURN(std::vector<JsonNode> merges, j.Field("merges").Elements());
  out->merges.reserve(merges.size());
  for (const JsonNode& m : merges) {
    const Json& v = m.json();
    if (v.is_string()) {
      // The older format: "left right", exactly one space.
      const std::string& s = v.get_ref<const std::string&>();
      const size_t space = s.find(' ');
      if (space == std::string::npos ||
          s.find(' ', space + 1) != std::string::npos) {
        return m.Error(absl::StrFormat(
            "merge \"%s\" is not two tokens separated by one space", s));
      }
      out->merges.emplace_back(s.substr(0, space), s.substr(space + 1));
    } else if (v.is_array() && v.size() == 2 && v[0].is_string() &&
               v[1].is_string()) {
      out->merges.emplace_back(v[0].get<std::string>(),
                               v[1].get<std::string>());
    } else {
      return m.Error("expected \"left right\" or [\"left\", \"right\"]");
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<TokenizerSpec> ParseTokenizerJson(std::string_view text,
                                                 std::string_view source) {
  ASSIGN_OR_RETURN(Json json, ParseStrictJson(Sv(text), Sv(source)));
  const JsonNode root(json, Sv(source));
  RETURN_IF_ERROR(root.ExpectFields(
      {"version", "truncation", "padding", "added_tokens", "normalizer",
       "pre_tokenizer", "post_processor", "decoder", "model"}));
  for (const char* key : {"truncation", "padding"}) {
    if (!root.Field(key).absent_or_null()) {
      return root.Field(key).Error(
          "unsupported (must be null): df11 never truncates or pads");
    }
  }
  TokenizerSpec spec;
  RETURN_IF_ERROR(ParseModel(root.Field("model"), &spec));
  RETURN_IF_ERROR(ParseAddedTokens(root.Field("added_tokens"), &spec));
  RETURN_IF_ERROR(ParseNormalizer(root.Field("normalizer"), &spec.normalizer));
  RETURN_IF_ERROR(ParsePreTokenizer(root.Field("pre_tokenizer"),
                                    /*last=*/true, &spec.pre_tokenizer));
  spec.bpe.byte_level =
      spec.pre_tokenizer.final == PreTokenizerSpec::Final::kByteLevel;
  RETURN_IF_ERROR(ParsePostProcessor(root.Field("post_processor"), &spec));
  if (!root.Field("decoder").absent_or_null()) {
    spec.has_decoder = true;
    RETURN_IF_ERROR(ParseDecoder(root.Field("decoder"), &spec.decoder));
  }
  return spec;
}

}  // namespace df11::tokenizer
