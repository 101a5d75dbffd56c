// The CPU backend's WeightStore: every stored tensor copied into host memory
// at load (its payload checksum checked by the source on the way), decoded
// with the codec's CPU decoder into one of two buffers when its group is
// prefetched.
//
//   ASSIGN_OR_RETURN(auto store,
//                    CpuWeightStore::Load(source, groups, threads, fail));
//
// Slots whose tensors are all stored raw (BF16 checkpoints, norms) are laid
// out in slot order at load and used in place: Acquire points into the
// resident copy and Prefetch does nothing for them. Prefetch decodes
// synchronously; a decode error goes to `fail` (the backend's step error)
// and leaves the buffer's contents undefined.
#ifndef DF11_LOADER_BACKEND_CPU_CPU_WEIGHT_STORE_H_
#define DF11_LOADER_BACKEND_CPU_CPU_WEIGHT_STORE_H_

#include <functional>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "loader/engine/backend.h"
#include "loader/engine/weight_source.h"
#include "loader/engine/weight_store.h"

namespace df11 {

class CpuWeightStore final : public WeightStore {
 public:
  // Errors: the source's (NotFound, DataLoss naming the file and tensor),
  // InvalidArgument for a tensor that is not BF16, ResourceExhausted.
  static absl::StatusOr<std::unique_ptr<CpuWeightStore>> Load(
      const WeightSource& source, const std::vector<WeightGroup>& groups,
      int threads, std::function<void(absl::Status)> fail);

  void Prefetch(int group) override;
  absl::Span<const uint16_t* const> Acquire(int group) override;
  WeightStoreMemory memory() const override { return memory_; }
  DecodeStats decode_stats() const override { return stats_; }

 private:
  struct Slot {
    std::vector<StoredTensor> tensors;   // views into resident_ (DF11 only)
    const uint16_t* in_place = nullptr;  // set when every tensor is raw
    uint64_t buffer_offset = 0;          // else where it decodes to
  };
  struct Group {
    std::vector<Slot> slots;
    std::vector<const uint16_t*> pointers;  // Acquire's answer
  };

  CpuWeightStore(int threads, std::function<void(absl::Status)> fail)
      : threads_(threads), fail_(std::move(fail)) {}

  int threads_;
  std::function<void(absl::Status)> fail_;
  std::vector<Group> groups_;
  std::vector<Buffer> resident_;  // the stored tensors
  Buffer buffers_[2];
  WeightStoreMemory memory_;
  DecodeStats stats_;
};

}  // namespace df11

#endif  // DF11_LOADER_BACKEND_CPU_CPU_WEIGHT_STORE_H_
