// The parts of a tokenizer.json that df11 supports, as plain values.
// tokenizer_json.h fills them in; tokenizer.h runs them.
#ifndef DF11_LOADER_TOKENIZER_TOKENIZER_SPEC_H_
#define DF11_LOADER_TOKENIZER_TOKENIZER_SPEC_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "loader/tokenizer/bpe_model.h"
#include "loader/tokenizer/split_pattern.h"

namespace df11::tokenizer {

struct NormalizerStep {
  enum class Kind { kPrepend, kReplace, kNfc, kNfd, kNfkc, kNfkd };
  Kind kind;
  std::string pattern;  // kReplace: the literal to replace.
  std::string content;  // kPrepend: the prefix; kReplace: the replacement.
};

enum class PrependScheme { kAlways, kFirst, kNever };

struct PreTokenizerSpec {
  // Split steps (tokenizer.json "Split" with a known regex), in order.
  std::vector<SplitPattern> splits;
  // The last step, which may rewrite the text.
  enum class Final { kNone, kByteLevel, kMetaspace };
  Final final = Final::kNone;
  // kByteLevel
  bool add_prefix_space = false;
  bool use_regex = true;
  // kMetaspace
  std::string replacement;  // UTF-8 of one character, usually "▁".
  PrependScheme prepend_scheme = PrependScheme::kAlways;
  bool split = true;
};

struct DecoderStep {
  enum class Kind {
    kByteLevel,
    kMetaspace,
    kReplace,
    kByteFallback,
    kFuse,
    kStrip
  };
  Kind kind;
  std::string pattern;  // kReplace: the literal; kMetaspace/kStrip: the char.
  std::string content;  // kReplace: the replacement.
  PrependScheme prepend_scheme = PrependScheme::kAlways;  // kMetaspace
  int start = 0;                                          // kStrip
  int stop = 0;                                           // kStrip
};

struct AddedTokenSpec {
  int32_t id = 0;
  std::string content;
  bool single_word = false;
  bool lstrip = false;
  bool rstrip = false;
  bool normalized = false;
  bool special = false;
};

// One element of a TemplateProcessing "single" template.
struct TemplateItem {
  bool is_sequence = false;  // $A
  std::vector<int32_t> ids;  // a special token's ids
};

struct TokenizerSpec {
  std::vector<AddedTokenSpec> added_tokens;
  std::vector<NormalizerStep> normalizer;
  PreTokenizerSpec pre_tokenizer;
  // TemplateProcessing templates, applied in order when special tokens are
  // added. Empty: the post-processor adds nothing.
  std::vector<std::vector<TemplateItem>> templates;
  // Null decoder: HF joins the tokens with spaces.
  bool has_decoder = false;
  std::vector<DecoderStep> decoder;

  std::vector<std::pair<std::string, int32_t>> vocab;
  std::vector<std::pair<std::string, std::string>> merges;
  BpeOptions bpe;
};

}  // namespace df11::tokenizer

#endif  // DF11_LOADER_TOKENIZER_TOKENIZER_SPEC_H_
