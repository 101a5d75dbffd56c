#include "loader/tokenizer/bpe_model.h"

#include <algorithm>

#include "absl/strings/str_format.h"
#include "loader/tokenizer/byte_level.h"
#include "loader/tokenizer/utf8.h"

namespace df11::tokenizer {
namespace {

// Debian's abseil has its own string_view, which heterogeneous lookup needs.
absl::string_view Sv(std::string_view s) { return {s.data(), s.size()}; }

}  // namespace

absl::StatusOr<std::unique_ptr<BpeModel>> BpeModel::Create(
    std::vector<std::pair<std::string, int32_t>> vocab,
    const std::vector<std::pair<std::string, std::string>>& merges,
    const BpeOptions& options) {
  std::unique_ptr<BpeModel> m(new BpeModel);
  m->options_ = options;
  int32_t max_id = -1;
  for (const auto& [token, id] : vocab) {
    if (id < 0) {
      return absl::InvalidArgumentError(
          absl::StrFormat("model.vocab[\"%s\"]: id %d is negative", token, id));
    }
    max_id = std::max(max_id, id);
  }
  m->id_to_token_.resize(static_cast<size_t>(max_id) + 1);
  m->has_id_.assign(m->id_to_token_.size(), false);
  m->token_to_id_.reserve(vocab.size());
  for (auto& [token, id] : vocab) {
    if (m->has_id_[id]) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "model.vocab: id %d is used by both \"%s\" and \"%s\"", id,
          m->id_to_token_[id], token));
    }
    m->has_id_[id] = true;
    m->token_to_id_[token] = id;
    m->id_to_token_[id] = std::move(token);
  }

  m->merges_.reserve(merges.size());
  for (size_t rank = 0; rank < merges.size(); ++rank) {
    const auto& [a, b] = merges[rank];
    auto ia = m->token_to_id_.find(a);
    auto ib = m->token_to_id_.find(b);
    auto iab = m->token_to_id_.find(a + b);
    const char* missing = ia == m->token_to_id_.end()    ? "left"
                          : ib == m->token_to_id_.end()  ? "right"
                          : iab == m->token_to_id_.end() ? "merged"
                                                         : nullptr;
    if (missing != nullptr) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "model.merges[%d]: %s token of merge (\"%s\", \"%s\") is not in "
          "model.vocab",
          rank, missing, a, b));
    }
    // A repeated pair keeps its last rank, as HF's HashMap collect does.
    m->merges_[PairKey(ia->second, ib->second)] = {static_cast<uint32_t>(rank),
                                                   iab->second};
  }

  if (options.unk_token.has_value()) {
    auto it = m->token_to_id_.find(*options.unk_token);
    if (it == m->token_to_id_.end()) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "model.unk_token: \"%s\" is not in model.vocab", *options.unk_token));
    }
    m->unk_id_ = it->second;
  }
  for (int b = 0; b < 256; ++b) {
    std::string ch;
    if (options.byte_level) {
      AppendUtf8(ByteToChar(static_cast<uint8_t>(b)), &ch);
    } else if (b < 0x80) {
      ch.push_back(static_cast<char>(b));
    }
    auto it = ch.empty() ? m->token_to_id_.end() : m->token_to_id_.find(ch);
    m->byte_ids_[b] = it == m->token_to_id_.end() ? -1 : it->second;
    auto fb = m->token_to_id_.find(absl::StrFormat("<0x%02X>", b));
    m->fallback_ids_[b] = fb == m->token_to_id_.end() ? -1 : fb->second;
  }
  return m;
}

std::optional<int32_t> BpeModel::TokenToId(std::string_view token) const {
  auto it = token_to_id_.find(Sv(token));
  if (it == token_to_id_.end()) return std::nullopt;
  return it->second;
}

const std::string* BpeModel::IdToToken(int32_t id) const {
  if (id < 0 || id >= id_limit() || !has_id_[id]) return nullptr;
  return &id_to_token_[id];
}

void BpeModel::AddMissing(std::string_view ch, std::vector<int32_t>* out,
                          int32_t* pending_unk) const {
  if (options_.byte_fallback) {
    bool all = true;
    for (char c : ch) all &= fallback_ids_[static_cast<uint8_t>(c)] >= 0;
    if (all) {
      for (char c : ch) out->push_back(fallback_ids_[static_cast<uint8_t>(c)]);
      return;
    }
  }
  if (unk_id_ < 0) return;  // HF drops the character when there is no unk.
  if (*pending_unk >= 0 && !options_.fuse_unk) out->push_back(*pending_unk);
  *pending_unk = unk_id_;
}

void BpeModel::InitialSymbols(std::string_view piece,
                              std::vector<int32_t>* out) const {
  int32_t pending_unk = -1;
  size_t i = 0;
  std::string mapped;
  while (i < piece.size()) {
    const auto b = static_cast<uint8_t>(piece[i]);
    size_t len = 1;
    int32_t id = byte_ids_[b];
    if (!options_.byte_level && b >= 0x80) {
      len = Utf8SequenceLength(b);
      auto it = token_to_id_.find(Sv(piece.substr(i, len)));
      id = it == token_to_id_.end() ? -1 : it->second;
    }
    if (id >= 0) {
      if (pending_unk >= 0) {
        out->push_back(pending_unk);
        pending_unk = -1;
      }
      out->push_back(id);
    } else if (options_.byte_level) {
      mapped.clear();
      AppendUtf8(ByteToChar(b), &mapped);
      AddMissing(mapped, out, &pending_unk);
    } else {
      AddMissing(piece.substr(i, len), out, &pending_unk);
    }
    i += len;
  }
  if (pending_unk >= 0) out->push_back(pending_unk);
}

void BpeModel::Merge(std::vector<int32_t>* symbols) const {
  const int n = static_cast<int>(symbols->size());
  if (n < 2) return;
  struct Sym {
    int32_t id;
    int32_t prev;
    int32_t next;
  };
  struct Candidate {
    uint32_t rank;
    int32_t pos;
    int32_t new_id;
  };
  // Min-heap on (rank, pos), the order of HF's Word::merge_all.
  auto later = [](const Candidate& x, const Candidate& y) {
    return x.rank != y.rank ? x.rank > y.rank : x.pos > y.pos;
  };
  absl::InlinedVector<Sym, 32> sym(n);
  absl::InlinedVector<Candidate, 32> heap;
  for (int i = 0; i < n; ++i)
    sym[i] = {(*symbols)[i], i - 1, i + 1 < n ? i + 1 : -1};
  for (int i = 0; i + 1 < n; ++i) {
    auto it = merges_.find(PairKey(sym[i].id, sym[i + 1].id));
    if (it != merges_.end())
      heap.push_back({it->second.rank, i, it->second.new_id});
  }
  std::make_heap(heap.begin(), heap.end(), later);
  constexpr int32_t kRemoved = -1;
  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), later);
    const Candidate top = heap.back();
    heap.pop_back();
    Sym& cur = sym[top.pos];
    if (cur.id == kRemoved || cur.next < 0) continue;
    const int next_pos = cur.next;
    auto it = merges_.find(PairKey(cur.id, sym[next_pos].id));
    if (it == merges_.end() || it->second.new_id != top.new_id) continue;
    cur.id = top.new_id;
    cur.next = sym[next_pos].next;
    sym[next_pos].id = kRemoved;
    if (cur.next >= 0) sym[cur.next].prev = top.pos;
    if (cur.prev >= 0) {
      auto p = merges_.find(PairKey(sym[cur.prev].id, cur.id));
      if (p != merges_.end()) {
        heap.push_back({p->second.rank, cur.prev, p->second.new_id});
        std::push_heap(heap.begin(), heap.end(), later);
      }
    }
    if (cur.next >= 0) {
      auto q = merges_.find(PairKey(cur.id, sym[cur.next].id));
      if (q != merges_.end()) {
        heap.push_back({q->second.rank, top.pos, q->second.new_id});
        std::push_heap(heap.begin(), heap.end(), later);
      }
    }
  }
  symbols->clear();
  for (int i = 0; i >= 0; i = sym[i].next) symbols->push_back(sym[i].id);
}

void BpeModel::EncodeUncached(std::string_view piece, Ids* ids) const {
  if (options_.ignore_merges) {
    std::string mapped;
    std::string_view key = piece;
    if (options_.byte_level) {
      AppendByteLevel(piece, &mapped);
      key = mapped;
    }
    auto it = token_to_id_.find(Sv(key));
    if (it != token_to_id_.end()) {
      ids->assign(1, it->second);
      return;
    }
  }
  std::vector<int32_t> symbols;
  symbols.reserve(piece.size());
  InitialSymbols(piece, &symbols);
  Merge(&symbols);
  ids->assign(symbols.begin(), symbols.end());
}

void BpeModel::Encode(std::string_view piece, std::vector<int32_t>* ids) const {
  if (piece.empty()) return;
  // Encoding is a pure function of the piece, so cached results also stand
  // for the ignore_merges shortcut.
  const bool cacheable = piece.size() <= kMaxCachedPieceBytes;
  if (cacheable) {
    absl::ReaderMutexLock lock(&cache_mu_);
    auto it = cache_.find(Sv(piece));
    if (it != cache_.end()) {
      ids->insert(ids->end(), it->second.begin(), it->second.end());
      return;
    }
  }
  Ids encoded;
  EncodeUncached(piece, &encoded);
  ids->insert(ids->end(), encoded.begin(), encoded.end());
  if (cacheable) {
    absl::MutexLock lock(&cache_mu_);
    if (cache_.size() < kMaxCacheEntries) {
      cache_.emplace(std::string(piece), std::move(encoded));
    }
  }
}

}  // namespace df11::tokenizer
