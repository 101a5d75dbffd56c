#include "loader/tokenizer/tokenizer.h"

#include <algorithm>
#include <fstream>
#include <sstream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "loader/base/status_macros.h"
#include "loader/tokenizer/decoder.h"
#include "loader/tokenizer/normalizer.h"
#include "loader/tokenizer/split_pattern.h"
#include "loader/tokenizer/tokenizer_json.h"
#include "loader/tokenizer/utf8.h"

namespace df11::tokenizer {

absl::StatusOr<Tokenizer> Tokenizer::FromFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(absl::StrCat(path, ": cannot open file"));
  }
  std::ostringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) {
    return absl::DataLossError(absl::StrCat(path, ": read failed"));
  }
  return FromJson(buffer.str(), path);
}

absl::StatusOr<Tokenizer> Tokenizer::FromJson(std::string_view json,
                                              std::string_view source) {
  ASSIGN_OR_RETURN(TokenizerSpec spec, ParseTokenizerJson(json, source));
  auto error = [&](const absl::Status& s) {
    return Annotate(s, std::string(source));
  };
  RETURN_IF_ERROR(CheckNormalizers(spec.normalizer));
  Tokenizer t;
  auto model = BpeModel::Create(std::move(spec.vocab), spec.merges, spec.bpe);
  if (!model.ok()) return error(model.status());
  t.model_ = std::move(model).value();
  t.id_limit_ = t.model_->id_limit();
  for (size_t i = 0; i < spec.added_tokens.size(); ++i) {
    const AddedTokenSpec& a = spec.added_tokens[i];
    const std::optional<int32_t> in_vocab = t.model_->TokenToId(a.content);
    if (in_vocab.has_value() && *in_vocab != a.id) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s: added_tokens[%d]: \"%s\" has id %d but model.vocab gives it "
          "id %d",
          std::string(source), i, a.content, a.id, *in_vocab));
    }
    if (!in_vocab.has_value() && t.model_->IdToToken(a.id) != nullptr) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s: added_tokens[%d]: id %d of \"%s\" belongs to model.vocab "
          "token \"%s\"",
          std::string(source), i, a.id, a.content, *t.model_->IdToToken(a.id)));
    }
    t.id_limit_ = std::max(t.id_limit_, a.id + 1);
  }
  t.added_ = std::make_unique<AddedVocabulary>(std::move(spec.added_tokens),
                                               spec.normalizer);
  t.normalizer_ = std::move(spec.normalizer);
  t.pre_tokenizer_ = std::move(spec.pre_tokenizer);
  t.templates_ = std::move(spec.templates);
  t.has_decoder_ = spec.has_decoder;
  t.decoder_ = std::move(spec.decoder);
  return t;
}

void Tokenizer::EncodePieces(std::string_view text, bool at_origin,
                             std::vector<int32_t>* ids) const {
  using Final = PreTokenizerSpec::Final;
  const PreTokenizerSpec& pt = pre_tokenizer_;
  std::vector<Piece> pieces = {{0, static_cast<uint32_t>(text.size())}};
  std::vector<Piece> next;
  for (SplitPattern pattern : pt.splits) {
    next.clear();
    for (const Piece& p : pieces) {
      SplitWithPattern(pattern, text.substr(p.begin, p.end - p.begin), p.begin,
                       &next);
    }
    std::swap(pieces, next);
  }
  if (pt.final == Final::kNone || (pt.final == Final::kByteLevel &&
                                   !pt.add_prefix_space && !pt.use_regex)) {
    for (const Piece& p : pieces) {
      model_->Encode(text.substr(p.begin, p.end - p.begin), ids);
    }
    return;
  }
  std::string buf;
  std::vector<Piece> sub;
  for (const Piece& p : pieces) {
    std::string_view piece = text.substr(p.begin, p.end - p.begin);
    if (piece.empty()) continue;
    sub.clear();
    if (pt.final == Final::kByteLevel) {
      if (pt.add_prefix_space && piece[0] != ' ') {
        buf.assign(" ").append(piece);
        piece = buf;
      }
      if (pt.use_regex) {
        SplitWithPattern(SplitPattern::kGpt2, piece, 0, &sub);
      } else {
        sub.push_back({0, static_cast<uint32_t>(piece.size())});
      }
    } else {  // Metaspace
      const std::string& rep = pt.replacement;
      buf.clear();
      for (char c : piece) {
        if (c == ' ') {
          buf.append(rep);
        } else {
          buf.push_back(c);
        }
      }
      const bool starts = buf.compare(0, rep.size(), rep) == 0;
      if (!starts && (pt.prepend_scheme == PrependScheme::kAlways ||
                      (pt.prepend_scheme == PrependScheme::kFirst &&
                       at_origin && p.begin == 0))) {
        buf.insert(0, rep);
      }
      piece = buf;
      if (pt.split) {
        // Each replacement character starts a new piece (MergedWithNext).
        uint32_t begin = 0;
        for (size_t at = piece.find(rep, 1); at != std::string_view::npos;
             at = piece.find(rep, at + rep.size())) {
          sub.push_back({begin, static_cast<uint32_t>(at)});
          begin = static_cast<uint32_t>(at);
        }
        sub.push_back({begin, static_cast<uint32_t>(piece.size())});
      } else {
        sub.push_back({0, static_cast<uint32_t>(piece.size())});
      }
    }
    for (const Piece& s : sub) {
      model_->Encode(piece.substr(s.begin, s.end - s.begin), ids);
    }
  }
}

void Tokenizer::EncodeText(std::string_view text, bool at_origin,
                           std::vector<int32_t>* ids) const {
  if (text.empty()) return;
  if (normalizer_.empty() && !added_->HasTokens(/*normalized_set=*/true)) {
    EncodePieces(text, at_origin, ids);
    return;
  }
  const std::string normalized = Normalize(normalizer_, text);
  std::vector<AddedVocabulary::Segment> segments;
  added_->Split(normalized, /*normalized_set=*/true, /*skip_special=*/false,
                &segments);
  for (const auto& s : segments) {
    if (s.id >= 0) {
      ids->push_back(s.id);
    } else if (s.end > s.begin) {
      EncodePieces(
          std::string_view(normalized).substr(s.begin, s.end - s.begin),
          at_origin && s.begin == 0, ids);
    }
  }
}

absl::StatusOr<std::vector<int32_t>> Tokenizer::Encode(
    std::string_view text, const EncodeOptions& options) const {
  RETURN_IF_ERROR(ValidateUtf8(text));
  std::vector<int32_t> ids;
  ids.reserve(text.size() / 3 + 4);
  if (!added_->HasTokens(/*normalized_set=*/false)) {
    EncodeText(text, /*at_origin=*/true, &ids);
  } else {
    std::vector<AddedVocabulary::Segment> segments;
    added_->Split(text, /*normalized_set=*/false,
                  /*skip_special=*/!options.parse_special_tokens, &segments);
    for (const auto& s : segments) {
      if (s.id >= 0) {
        ids.push_back(s.id);
      } else {
        EncodeText(text.substr(s.begin, s.end - s.begin), s.begin == 0, &ids);
      }
    }
  }
  if (options.add_special_tokens) {
    for (const auto& items : templates_) {
      std::vector<int32_t> out;
      out.reserve(ids.size() + items.size());
      for (const TemplateItem& item : items) {
        if (item.is_sequence) {
          out.insert(out.end(), ids.begin(), ids.end());
        } else {
          out.insert(out.end(), item.ids.begin(), item.ids.end());
        }
      }
      ids = std::move(out);
    }
  }
  return ids;
}

absl::StatusOr<std::string> Tokenizer::Decode(absl::Span<const int32_t> ids,
                                              bool skip_special_tokens) const {
  std::vector<std::string> tokens;
  tokens.reserve(ids.size());
  for (size_t i = 0; i < ids.size(); ++i) {
    const int32_t id = ids[i];
    if (const AddedTokenSpec* a = added_->FindById(id); a != nullptr) {
      if (!(skip_special_tokens && a->special)) {
        tokens.push_back(*added_->TextById(id));
      }
      continue;
    }
    const std::string* token = model_->IdToToken(id);
    if (token == nullptr) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "id %d at position %d is not in the vocabulary (ids are below %d)",
          id, i, id_limit_));
    }
    tokens.push_back(*token);
  }
  if (!has_decoder_) return absl::StrJoin(tokens, " ");
  return RunDecoder(decoder_, std::move(tokens));
}

std::optional<int32_t> Tokenizer::TokenToId(std::string_view token) const {
  for (const AddedTokenSpec& a : added_->tokens()) {
    if (a.content == token) return a.id;
  }
  return model_->TokenToId(token);
}

const std::string* Tokenizer::IdToToken(int32_t id) const {
  if (const std::string* text = added_->TextById(id); text != nullptr) {
    return text;
  }
  return model_->IdToToken(id);
}

bool Tokenizer::IsSpecial(int32_t id) const {
  const AddedTokenSpec* a = added_->FindById(id);
  return a != nullptr && a->special;
}

}  // namespace df11::tokenizer
