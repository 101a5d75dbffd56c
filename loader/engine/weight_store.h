// One rank's weights, resident in backend memory in their stored form (DF11
// or BF16), decoded group by group just before use into one of two BF16
// buffers, so that the next group's decode can overlap this group's compute.
//
//   std::unique_ptr<WeightStore> store = ...;  // Backend::LoadWeights
//   store->Prefetch(0);
//   for (int g = 0; g < groups; ++g) {
//     absl::Span<const uint16_t* const> w = store->Acquire(g);
//     if (g + 1 < groups) store->Prefetch(g + 1);
//     ... ops that read w[slot] ...
//   }
//
// A group is what one stage of the forward pass uses (the embedding, one
// decoder layer, the final norm and LM head). Its tensors are laid out by
// slots: the tensors of one slot back to back with no gap (q|k|v form one
// [q_out + 2 kv_out, hidden] matrix, gate|up one [2 ffn, hidden]), each slot
// starting 256-byte aligned. Group g lives in buffer g % 2, so the buffer a
// layer reads is fixed (a captured CUDA graph stays valid).
//
// Ordering contract (stream order on a GPU):
//   - Prefetch(g) starts making group g available in buffer g % 2. It may
//     run concurrently with compute, but not before the compute of group
//     g - 2 (the buffer's previous user) is done: that is, every op issued
//     before the Acquire(g - 1) call.
//   - Acquire(g) returns one pointer per slot of group g; ops issued after
//     it see the decoded weights. Prefetch(g) must have been called.
//   - Pointers stay valid until Prefetch(g + 2).
// Decode errors are errors of the step (Backend::EndStep). Not thread-safe.
#ifndef DF11_LOADER_ENGINE_WEIGHT_STORE_H_
#define DF11_LOADER_ENGINE_WEIGHT_STORE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/types/span.h"

namespace df11 {

// The tensors of one group, by slot: slots[i] holds tensor names laid out
// back to back in that order.
struct WeightGroup {
  std::vector<std::vector<std::string>> slots;
  // The group is one [rows, row_elements] table of which a step reads only
  // the rows its tokens select (the embedding): a store may make only those
  // rows available, leaving the others undefined.
  bool lookup = false;
};

// Weight decoding done so far: the groups decoded and the time they took
// (a CPU store: wall time; a CUDA store: device time of the decode kernels,
// measured on the steps that run eagerly). Zero when a store decodes
// nothing (BF16 in place) or does not measure.
struct DecodeStats {
  uint64_t groups = 0;
  double seconds = 0;
};

struct WeightStoreMemory {
  uint64_t resident = 0;  // weights in stored form, as loaded
  uint64_t buffers = 0;   // the two decode buffers
  uint64_t original = 0;  // the same weights in BF16
};

class WeightStore {
 public:
  virtual ~WeightStore() = default;

  virtual void Prefetch(int group) = 0;
  virtual absl::Span<const uint16_t* const> Acquire(int group) = 0;
  virtual WeightStoreMemory memory() const = 0;
  virtual DecodeStats decode_stats() const { return {}; }
};

}  // namespace df11

#endif  // DF11_LOADER_ENGINE_WEIGHT_STORE_H_
