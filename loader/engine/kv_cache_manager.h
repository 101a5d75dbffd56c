// Which KV-cache blocks each sequence owns: the paged KV cache's
// bookkeeping, on the host, identical on every rank (every rank runs the
// same plans). The blocks themselves live in the backend (backend.h).
//
//   KvCacheManager kv(/*blocks=*/1024, /*block_tokens=*/16);
//   RETURN_IF_ERROR(kv.Add(id, prompt_tokens + max_new_tokens));
//   kv.Grow(id, kv.Length(id) + n);     // blocks for n more tokens
//   ... run the step ...
//   kv.SetLength(id, kv.Length(id) + n);
//   kv.Remove(id);                       // blocks back to the pool
//
// Admission reserves, up front, every block a sequence can need (its
// max_tokens), so a running sequence never runs out of KV cache and nothing
// has to be preempted; blocks are taken from the pool only as the sequence
// grows, and a sequence that stops early gives back what it did not use.
// Capacity is counted in tokens: blocks * block_tokens.
//
// Sequence ids are the caller's (a request's id, not a storage slot).
// Not thread-safe.
#ifndef DF11_LOADER_ENGINE_KV_CACHE_MANAGER_H_
#define DF11_LOADER_ENGINE_KV_CACHE_MANAGER_H_

#include <cstdint>
#include <map>
#include <vector>

#include "absl/status/status.h"

namespace df11 {

using SequenceId = uint64_t;

struct KvUsage {
  int64_t blocks = 0;    // in the pool
  int64_t used = 0;      // holding tokens of a sequence
  int64_t reserved = 0;  // promised to sequences (used included)
  int64_t block_tokens = 0;
  int64_t sequences = 0;
  int64_t capacity_tokens() const { return blocks * block_tokens; }
  int64_t free_tokens() const { return (blocks - reserved) * block_tokens; }
};

class KvCacheManager {
 public:
  // REQUIRES: blocks >= 0, block_tokens >= 1.
  KvCacheManager(int64_t blocks, int64_t block_tokens);

  // Admits sequence `id`, which will hold at most `max_tokens` tokens.
  // Errors, with nothing changed: InvalidArgument for an id already
  // admitted or max_tokens < 1; ResourceExhausted when the unreserved
  // blocks cannot hold max_tokens (the message gives both in tokens).
  absl::Status Add(SequenceId id, int64_t max_tokens);
  // Frees the sequence's blocks and reservation. False if unknown.
  bool Remove(SequenceId id);

  bool Contains(SequenceId id) const { return seqs_.count(id) != 0; }
  // REQUIRES: Contains(id).
  int64_t Length(SequenceId id) const { return seqs_.at(id).length; }
  int64_t MaxTokens(SequenceId id) const { return seqs_.at(id).max_tokens; }
  const std::vector<int32_t>& Blocks(SequenceId id) const {
    return seqs_.at(id).blocks;
  }

  // Takes blocks from the pool until the sequence can hold `tokens`.
  // REQUIRES: Contains(id), tokens <= MaxTokens(id) (the reservation
  // guarantees the blocks exist).
  void Grow(SequenceId id, int64_t tokens);
  // REQUIRES: Contains(id), length within the blocks Grow took.
  void SetLength(SequenceId id, int64_t length);

  // The KV slot (block * block_tokens + offset) of position `pos`.
  // REQUIRES: pos within the blocks Grow took.
  int32_t Slot(SequenceId id, int64_t pos) const;

  int64_t block_tokens() const { return block_tokens_; }
  KvUsage usage() const;

 private:
  struct Sequence {
    int64_t max_tokens = 0;
    int64_t length = 0;
    int64_t reserved = 0;  // blocks
    std::vector<int32_t> blocks;
  };
  int64_t BlocksFor(int64_t tokens) const {
    return (tokens + block_tokens_ - 1) / block_tokens_;
  }

  int64_t blocks_;
  int64_t block_tokens_;
  int64_t reserved_ = 0;
  std::vector<int32_t> free_;  // a stack; lowest ids on top
  std::map<SequenceId, Sequence> seqs_;
};

}  // namespace df11

#endif  // DF11_LOADER_ENGINE_KV_CACHE_MANAGER_H_
