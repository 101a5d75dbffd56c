// Added and special tokens: finds them in text before pre-tokenization, the
// way HF tokenizers' AddedVocabulary does (leftmost-longest matching, then
// the single_word, lstrip and rstrip rules).
//
//   AddedVocabulary added(spec.added_tokens, spec.normalizer);
//   std::vector<AddedVocabulary::Segment> segments;
//   added.Split(text, /*normalized_set=*/false, /*skip_special=*/false,
//               &segments);
//
// Tokens with normalized=false are matched on the raw text; tokens with
// normalized=true are matched, in their normalized form, on the normalized
// text of the pieces between the first ones.
// Thread safety: immutable after construction.
#ifndef DF11_LOADER_TOKENIZER_ADDED_VOCABULARY_H_
#define DF11_LOADER_TOKENIZER_ADDED_VOCABULARY_H_

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "loader/tokenizer/tokenizer_spec.h"

namespace df11::tokenizer {

class AddedVocabulary {
 public:
  AddedVocabulary(std::vector<AddedTokenSpec> tokens,
                  const std::vector<NormalizerStep>& normalizer);

  // A run of text ([begin, end), id < 0) or an added token (id >= 0).
  struct Segment {
    uint32_t begin;
    uint32_t end;
    int32_t id;
  };

  // Appends the segments of `text`, which cover it in order; empty text gives
  // one empty text segment. `normalized_set` picks the normalized=true
  // tokens. With `skip_special`, special tokens are left in the text (HF's
  // encode_special_tokens).
  void Split(std::string_view text, bool normalized_set, bool skip_special,
             std::vector<Segment>* out) const;

  bool HasTokens(bool normalized_set) const {
    return tries_[normalized_set].size() > 1;
  }
  // nullptr when `id` is not an added token.
  const AddedTokenSpec* FindById(int32_t id) const;
  // The token's text as HF reports and decodes it: the content, normalized
  // for normalized=true tokens (e.g. "new york" -> "▁new▁york").
  const std::string* TextById(int32_t id) const;
  const std::vector<AddedTokenSpec>& tokens() const { return tokens_; }

 private:
  struct Node {
    std::vector<std::pair<uint8_t, int32_t>> children;
    int32_t token = -1;  // index into tokens_
  };
  using Trie = std::vector<Node>;
  void Insert(Trie* trie, std::string_view pattern, int32_t token);
  // Longest token starting at text[pos]: returns its end, or 0 if none.
  size_t LongestMatch(const Trie& trie, std::string_view text, size_t pos,
                      int32_t* token) const;

  std::vector<AddedTokenSpec> tokens_;
  std::vector<std::string> text_;  // parallel to tokens_
  std::array<Trie, 2> tries_;
  std::array<std::array<bool, 256>, 2> first_byte_{};
  absl::flat_hash_map<int32_t, int32_t> by_id_;
};

}  // namespace df11::tokenizer

#endif  // DF11_LOADER_TOKENIZER_ADDED_VOCABULARY_H_
