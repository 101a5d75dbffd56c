// The BPE model of HF tokenizers: a vocabulary, merges applied by rank, and
// the fallbacks for characters missing from the vocabulary (byte_fallback's
// <0xNN> tokens, then unk_token, fused or not).
//
//   ASSIGN_OR_RETURN(std::unique_ptr<BpeModel> bpe,
//                    BpeModel::Create(vocab, merges, options));
//   std::vector<int32_t> ids;
//   bpe->Encode("hello", &ids);
//
// Thread safety: Encode may be called from many threads at once; it shares
// a bounded cache of encoded pieces guarded by a mutex.
#ifndef DF11_LOADER_TOKENIZER_BPE_MODEL_H_
#define DF11_LOADER_TOKENIZER_BPE_MODEL_H_

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/inlined_vector.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace df11::tokenizer {

struct BpeOptions {
  bool byte_fallback = false;
  bool fuse_unk = false;
  // When the whole piece is a vocabulary token, emit it without merging.
  bool ignore_merges = false;
  std::optional<std::string> unk_token;
  // Pieces passed to Encode are raw bytes; each byte stands for its
  // ByteLevel character (byte_level.h), as after the ByteLevel pre-tokenizer.
  bool byte_level = false;
};

class BpeModel {
 public:
  // `vocab` maps tokens to ids (ids unique, >= 0); `merges` are in rank
  // order. Errors are InvalidArgument with messages that start with the
  // JSON path, e.g. "model.merges[12]: ...".
  static absl::StatusOr<std::unique_ptr<BpeModel>> Create(
      std::vector<std::pair<std::string, int32_t>> vocab,
      const std::vector<std::pair<std::string, std::string>>& merges,
      const BpeOptions& options);

  BpeModel(const BpeModel&) = delete;
  BpeModel& operator=(const BpeModel&) = delete;

  // Appends the ids of one pre-tokenized piece. REQUIRES: `piece` is valid
  // UTF-8 unless options.byte_level.
  void Encode(std::string_view piece, std::vector<int32_t>* ids) const;

  std::optional<int32_t> TokenToId(std::string_view token) const;
  // nullptr when no vocabulary token has this id.
  const std::string* IdToToken(int32_t id) const;
  // One more than the largest id.
  int32_t id_limit() const { return static_cast<int32_t>(id_to_token_.size()); }

 private:
  struct MergeValue {
    uint32_t rank;
    int32_t new_id;
  };
  using Ids = absl::InlinedVector<int32_t, 6>;

  BpeModel() = default;
  static uint64_t PairKey(int32_t a, int32_t b) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) |
           static_cast<uint32_t>(b);
  }
  // Initial symbols of `piece` (HF's BPE::merge_word before merging).
  void InitialSymbols(std::string_view piece, std::vector<int32_t>* out) const;
  // Adds the symbols for one character missing from the vocabulary.
  void AddMissing(std::string_view ch, std::vector<int32_t>* out,
                  int32_t* pending_unk) const;
  void Merge(std::vector<int32_t>* symbols) const;
  void EncodeUncached(std::string_view piece, Ids* ids) const;

  BpeOptions options_;
  absl::flat_hash_map<std::string, int32_t> token_to_id_;
  std::vector<std::string> id_to_token_;
  std::vector<bool> has_id_;
  absl::flat_hash_map<uint64_t, MergeValue> merges_;
  int32_t unk_id_ = -1;
  // Id of the token for each single byte: the ByteLevel character when
  // options_.byte_level, else the ASCII character (bytes >= 0x80: -1).
  std::array<int32_t, 256> byte_ids_;
  // <0xNN> tokens, -1 where missing.
  std::array<int32_t, 256> fallback_ids_;

  static constexpr size_t kMaxCachedPieceBytes = 64;
  static constexpr size_t kMaxCacheEntries = 1 << 16;
  mutable absl::Mutex cache_mu_;
  mutable absl::flat_hash_map<std::string, Ids> cache_
      ABSL_GUARDED_BY(cache_mu_);
};

}  // namespace df11::tokenizer

#endif  // DF11_LOADER_TOKENIZER_BPE_MODEL_H_
