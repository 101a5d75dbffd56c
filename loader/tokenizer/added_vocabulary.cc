#include "loader/tokenizer/added_vocabulary.h"

#include <algorithm>
#include <string>

#include "loader/tokenizer/normalizer.h"
#include "loader/tokenizer/unicode_classes.h"
#include "loader/tokenizer/utf8.h"

namespace df11::tokenizer {
namespace {

// Start of the character that ends just before `end`.
size_t PrevCharStart(std::string_view s, size_t end) {
  size_t i = end - 1;
  while (i > 0 && (static_cast<unsigned char>(s[i]) & 0xC0) == 0x80) --i;
  return i;
}

uint8_t ClassAt(std::string_view s, size_t pos) {
  char32_t cp;
  DecodeUtf8(s.data() + pos, &cp);
  return CharClassOf(cp);
}

}  // namespace

AddedVocabulary::AddedVocabulary(std::vector<AddedTokenSpec> tokens,
                                 const std::vector<NormalizerStep>& normalizer)
    : tokens_(std::move(tokens)) {
  tries_[0].emplace_back();
  tries_[1].emplace_back();
  // HF orders special tokens before the others.
  std::vector<int32_t> order;
  for (int pass = 0; pass < 2; ++pass) {
    for (size_t i = 0; i < tokens_.size(); ++i) {
      if (tokens_[i].special == (pass == 0))
        order.push_back(static_cast<int32_t>(i));
    }
  }
  for (const AddedTokenSpec& t : tokens_) {
    text_.push_back(t.normalized ? Normalize(normalizer, t.content)
                                 : t.content);
  }
  for (int32_t i : order) {
    const AddedTokenSpec& t = tokens_[i];
    by_id_.emplace(t.id, i);
    if (t.normalized) {
      const std::string& pattern = text_[i];
      if (!pattern.empty()) Insert(&tries_[1], pattern, i);
      if (!pattern.empty())
        first_byte_[1][static_cast<uint8_t>(pattern[0])] = true;
    } else {
      Insert(&tries_[0], t.content, i);
      first_byte_[0][static_cast<uint8_t>(t.content[0])] = true;
    }
  }
}

void AddedVocabulary::Insert(Trie* trie, std::string_view pattern,
                             int32_t token) {
  int32_t node = 0;
  for (char c : pattern) {
    const auto b = static_cast<uint8_t>(c);
    int32_t next = -1;
    for (const auto& [byte, child] : (*trie)[node].children) {
      if (byte == b) next = child;
    }
    if (next < 0) {
      next = static_cast<int32_t>(trie->size());
      (*trie)[node].children.emplace_back(b, next);
      trie->emplace_back();
    }
    node = next;
  }
  // The first token with a given pattern wins.
  if ((*trie)[node].token < 0) (*trie)[node].token = token;
}

size_t AddedVocabulary::LongestMatch(const Trie& trie, std::string_view text,
                                     size_t pos, int32_t* token) const {
  size_t best = 0;
  int32_t node = 0;
  for (size_t i = pos; i < text.size(); ++i) {
    const auto b = static_cast<uint8_t>(text[i]);
    int32_t next = -1;
    for (const auto& [byte, child] : trie[node].children) {
      if (byte == b) {
        next = child;
        break;
      }
    }
    if (next < 0) break;
    node = next;
    if (trie[node].token >= 0) {
      best = i + 1;
      *token = trie[node].token;
    }
  }
  return best;
}

void AddedVocabulary::Split(std::string_view text, bool normalized_set,
                            bool skip_special,
                            std::vector<Segment>* out) const {
  const Trie& trie = tries_[normalized_set];
  const auto& first = first_byte_[normalized_set];
  const uint32_t n = static_cast<uint32_t>(text.size());
  if (n == 0) {
    out->push_back({0, 0, -1});
    return;
  }
  size_t start_offset = 0;
  size_t pos = 0;
  while (pos < n) {
    if (!first[static_cast<uint8_t>(text[pos])]) {
      ++pos;
      continue;
    }
    int32_t index = -1;
    const size_t match_end = LongestMatch(trie, text, pos, &index);
    if (match_end == 0) {
      ++pos;
      continue;
    }
    const AddedTokenSpec& t = tokens_[index];
    size_t start = pos;
    size_t stop = match_end;
    pos = match_end;  // HF's matcher resumes after the match itself.
    if (skip_special && t.special) continue;
    if (t.single_word) {
      const bool start_space =
          start == 0 || !(ClassAt(text, PrevCharStart(text, start)) & kWord);
      const bool stop_space = stop == n || !(ClassAt(text, stop) & kWord);
      if (!start_space || !stop_space) continue;
    }
    if (t.lstrip) {
      size_t s = start;
      while (s > 0) {
        const size_t prev = PrevCharStart(text, s);
        if (!(ClassAt(text, prev) & kWhitespace)) break;
        s = prev;
      }
      start = std::max(s, start_offset);
    }
    if (t.rstrip) {
      while (stop < n) {
        if (!(ClassAt(text, stop) & kWhitespace)) break;
        stop += Utf8SequenceLength(static_cast<unsigned char>(text[stop]));
      }
    }
    start = std::max(start, start_offset);
    if (start_offset < start) {
      out->push_back({static_cast<uint32_t>(start_offset),
                      static_cast<uint32_t>(start), -1});
    }
    out->push_back(
        {static_cast<uint32_t>(start), static_cast<uint32_t>(stop), t.id});
    start_offset = stop;
    pos = std::max(pos, stop);
  }
  if (start_offset != n) {
    out->push_back({static_cast<uint32_t>(start_offset), n, -1});
  }
}

const AddedTokenSpec* AddedVocabulary::FindById(int32_t id) const {
  auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : &tokens_[it->second];
}

const std::string* AddedVocabulary::TextById(int32_t id) const {
  auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : &text_[it->second];
}

}  // namespace df11::tokenizer
