// A BPE tokenizer read from a Hugging Face tokenizer.json, producing the
// same ids as HF `tokenizers` (0.23) for the supported families:
//   - byte-level BPE (GPT-2, Llama 3, Qwen 2): ByteLevel pre-tokenizer,
//     optionally after a Split with the GPT-2/Llama 3/Qwen 2 regex;
//   - SentencePiece-style BPE (Llama 2, Mistral): Prepend+Replace "▁"
//     normalizers or the Metaspace pre-tokenizer, byte_fallback <0xNN>.
// Anything else in the file is rejected at load with an error that names
// the file and the JSON path (docs/tokenizer.md lists what is supported).
//
//   ASSIGN_OR_RETURN(Tokenizer tok, Tokenizer::FromFile("tokenizer.json"));
//   ASSIGN_OR_RETURN(std::vector<int32_t> ids, tok.Encode("Hello world"));
//   ASSIGN_OR_RETURN(std::string text, tok.Decode(ids));
//
// Invalid UTF-8 input is rejected (InvalidArgument naming the byte offset);
// callers that want U+FFFD substitution call ReplaceInvalidUtf8 (utf8.h).
// Thread safety: all const methods may run concurrently.
#ifndef DF11_LOADER_TOKENIZER_TOKENIZER_H_
#define DF11_LOADER_TOKENIZER_TOKENIZER_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "loader/tokenizer/added_vocabulary.h"
#include "loader/tokenizer/bpe_model.h"
#include "loader/tokenizer/tokenizer_spec.h"

namespace df11::tokenizer {

struct EncodeOptions {
  // Run the post-processor (e.g. TemplateProcessing's BOS), as HF's
  // add_special_tokens=True.
  bool add_special_tokens = true;
  // Match special tokens in the text. False encodes their text as ordinary
  // text (HF's encode_special_tokens=True), e.g. for untrusted input.
  bool parse_special_tokens = true;
};

class Tokenizer {
 public:
  static absl::StatusOr<Tokenizer> FromFile(const std::string& path);
  // `source` names the text in error messages (usually its path).
  static absl::StatusOr<Tokenizer> FromJson(std::string_view json,
                                            std::string_view source);

  Tokenizer(Tokenizer&&) = default;
  Tokenizer& operator=(Tokenizer&&) = default;

  // InvalidArgument when `text` is not valid UTF-8.
  absl::StatusOr<std::vector<int32_t>> Encode(
      std::string_view text, const EncodeOptions& options = {}) const;

  // Text of `ids`, through the file's decoder. Special tokens are dropped
  // with `skip_special_tokens`. InvalidArgument for an id that is neither in
  // the vocabulary nor an added token (HF skips those silently).
  absl::StatusOr<std::string> Decode(absl::Span<const int32_t> ids,
                                     bool skip_special_tokens = false) const;

  std::optional<int32_t> TokenToId(std::string_view token) const;
  // nullptr for an unknown id.
  const std::string* IdToToken(int32_t id) const;
  bool IsSpecial(int32_t id) const;
  // One more than the largest id of the vocabulary and added tokens.
  int32_t id_limit() const { return id_limit_; }

 private:
  Tokenizer() = default;
  // Pre-tokenizes and encodes one run of normalized text.
  void EncodeText(std::string_view text, bool at_origin,
                  std::vector<int32_t>* ids) const;
  void EncodePieces(std::string_view text, bool at_origin,
                    std::vector<int32_t>* ids) const;

  std::vector<NormalizerStep> normalizer_;
  PreTokenizerSpec pre_tokenizer_;
  std::vector<std::vector<TemplateItem>> templates_;
  bool has_decoder_ = false;
  std::vector<DecoderStep> decoder_;
  std::unique_ptr<BpeModel> model_;
  std::unique_ptr<AddedVocabulary> added_;
  int32_t id_limit_ = 0;
};

}  // namespace df11::tokenizer

#endif  // DF11_LOADER_TOKENIZER_TOKENIZER_H_
