#include "loader/engine/kv_cache_manager.h"

#include "absl/strings/str_cat.h"

namespace df11 {

KvCacheManager::KvCacheManager(int64_t blocks, int64_t block_tokens)
    : blocks_(blocks), block_tokens_(block_tokens) {
  free_.reserve(blocks);
  for (int64_t b = blocks - 1; b >= 0; --b) {
    free_.push_back(static_cast<int32_t>(b));
  }
}

absl::Status KvCacheManager::Add(SequenceId id, int64_t max_tokens) {
  if (Contains(id)) {
    return absl::InvalidArgumentError(
        absl::StrCat("sequence ", id, " is already in the KV cache"));
  }
  if (max_tokens < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "sequence ", id, ": max_tokens ", max_tokens, " must be >= 1"));
  }
  const int64_t need = BlocksFor(max_tokens);
  if (need > blocks_ - reserved_) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "KV cache full: sequence ", id, " needs room for ", max_tokens,
        " tokens; ", (blocks_ - reserved_) * block_tokens_, " of ",
        blocks_ * block_tokens_, " tokens are free"));
  }
  reserved_ += need;
  Sequence& s = seqs_[id];
  s.max_tokens = max_tokens;
  s.reserved = need;
  return absl::OkStatus();
}

bool KvCacheManager::Remove(SequenceId id) {
  auto it = seqs_.find(id);
  if (it == seqs_.end()) return false;
  // Give back in reverse so that the lowest ids come out first again.
  for (auto b = it->second.blocks.rbegin(); b != it->second.blocks.rend();
       ++b) {
    free_.push_back(*b);
  }
  reserved_ -= it->second.reserved;
  seqs_.erase(it);
  return true;
}

void KvCacheManager::Grow(SequenceId id, int64_t tokens) {
  Sequence& s = seqs_.at(id);
  while (static_cast<int64_t>(s.blocks.size()) < BlocksFor(tokens)) {
    s.blocks.push_back(free_.back());
    free_.pop_back();
  }
}

void KvCacheManager::SetLength(SequenceId id, int64_t length) {
  seqs_.at(id).length = length;
}

int32_t KvCacheManager::Slot(SequenceId id, int64_t pos) const {
  const Sequence& s = seqs_.at(id);
  return static_cast<int32_t>(s.blocks[pos / block_tokens_] * block_tokens_ +
                              pos % block_tokens_);
}

KvUsage KvCacheManager::usage() const {
  KvUsage u;
  u.blocks = blocks_;
  u.used = blocks_ - static_cast<int64_t>(free_.size());
  u.reserved = reserved_;
  u.block_tokens = block_tokens_;
  u.sequences = static_cast<int64_t>(seqs_.size());
  return u;
}

}  // namespace df11
