// The CUDA backend's WeightStore: one rank's weights in device memory in
// their stored form, decoded just in time, group by group, into one of two
// BF16 buffers on a decode stream of their own (weight_store.h has the
// contract; docs/cuda_backend.md the streams and events).
//
//   ASSIGN_OR_RETURN(auto store, CudaWeightStore::Load(source, groups,
//       WeightResidency::kDf11, memory, compute_stream, fail));
//
// Residency:
//   - kDf11: every DF11 payload is copied once into one device arena (each
//     array 16-byte aligned, plus the kernel table made from its code
//     lengths) and stays compressed there. Prefetch(g) decodes the group's
//     DF11 tensors with DecodeDf11Batched into buffer g % 2. The only BF16
//     weight memory is the two buffers (and raw tensors, used in place).
//     A lookup group (the embedding) of one DF11 table decodes only the
//     rows the step's token ids select (DecodeDf11Rows) while that is less
//     work than the whole table: the ids are the backend's device array
//     (SetLookup), their count the step's rows (set_lookup_rows).
//   - kBf16Resident: the weights are decoded once at load and kept as BF16
//     on the device; Prefetch does nothing. The BF16 baseline.
//   - kOffloadPinned: the decoded weights live in pinned host memory and
//     Prefetch(g) copies the group into buffer g % 2 on the decode stream:
//     the CPU-offload baseline.
// Slots whose tensors are all stored raw (norms, a BF16 checkpoint) are
// copied at load and used in place in every mode.
//
// Ordering: Prefetch(g) waits (an event) for the compute stream's work
// issued before Acquire(g - 1), then decodes; Acquire(g) makes the compute
// stream wait for that decode. Everything is stream-ordered, so a step
// (decodes included) can be captured in a CUDA graph. Decode error flags are
// kept per group on the device; TakeErrors() (after the step synchronized)
// turns them into DataLoss naming the group's first tensor, and clears them.
// Launch failures go to `fail` (the backend's step error). Not thread-safe.
#ifndef DF11_LOADER_BACKEND_CUDA_CUDA_WEIGHT_STORE_H_
#define DF11_LOADER_BACKEND_CUDA_CUDA_WEIGHT_STORE_H_

#include <cuda_runtime.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "kernels/decode_df11.h"
#include "loader/backend/cuda/device_memory.h"
#include "loader/backend/weight_residency.h"
#include "loader/engine/backend.h"
#include "loader/engine/weight_source.h"
#include "loader/engine/weight_store.h"

namespace df11 {

const char* WeightResidencyName(WeightResidency residency);

struct WeightLoadStats {
  uint64_t bytes = 0;  // stored bytes copied to the device
  double seconds = 0;  // LoadWeights wall time, checksums included
};

class CudaWeightStore final : public WeightStore {
 public:
  // Errors: the source's (NotFound, DataLoss naming the file and tensor),
  // InvalidArgument for a tensor that is not BF16 or a DF11 layout the
  // kernel does not take, ResourceExhausted past the memory cap, CUDA
  // errors, and DataLoss if a load-time decode (the BF16 modes) fails.
  static absl::StatusOr<std::unique_ptr<CudaWeightStore>> Load(
      const WeightSource& source, const std::vector<WeightGroup>& groups,
      WeightResidency residency, std::shared_ptr<DeviceMemory> memory,
      cudaStream_t compute, std::function<void(absl::Status)> fail);
  ~CudaWeightStore() override;

  void Prefetch(int group) override;
  absl::Span<const uint16_t* const> Acquire(int group) override;
  WeightStoreMemory memory() const override { return memory_; }
  DecodeStats decode_stats() const override { return decode_stats_; }

  // The device array of token ids a lookup group's rows are selected by
  // (row = id - id_offset); it must outlive the store. Without it, lookup
  // groups decode whole.
  void SetLookup(const int32_t* ids, int64_t id_offset) {
    lookup_ids_ = ids;
    lookup_id_offset_ = id_offset;
  }
  // The ids the next Prefetch of a lookup group reads: the step's rows.
  void set_lookup_rows(int64_t rows) { lookup_rows_ = rows; }

  // After the step's work is done: the decode error flags as a status, and
  // the decode times of the step's eagerly issued groups into decode_stats.
  absl::Status TakeErrors();
  const WeightLoadStats& load_stats() const { return stats_; }

 private:
  struct RawCopy {
    const void* src;  // device (DF11 mode) or pinned host (offload)
    uint64_t offset;  // in the buffer
    uint64_t bytes;
  };
  struct Group {
    std::string name;                       // its first tensor, for errors
    std::vector<const uint16_t*> pointers;  // per slot; null: in the buffer
    std::vector<uint64_t> slot_offsets;     // per slot, in the buffer
    std::vector<Df11DeviceTensor> decodes;
    std::vector<uint64_t> decode_offsets;  // in the buffer
    std::vector<RawCopy> copies;
    std::vector<const uint16_t*> resolved[2];  // Acquire's answer per buffer
    // A lookup group of one DF11 table: its row width and the most index
    // blocks a row meets (0: decoded whole), and its index blocks.
    uint64_t row_elements = 0;
    uint32_t blocks_per_row = 0;
    uint64_t index_blocks = 0;
  };

  CudaWeightStore(WeightResidency residency,
                  std::shared_ptr<DeviceMemory> memory, cudaStream_t compute,
                  std::function<void(absl::Status)> fail)
      : residency_(residency),
        memory_pool_(std::move(memory)),
        compute_(compute),
        fail_(std::move(fail)) {}
  absl::Status Init();
  // Enqueues group g's decodes and copies into `base` on the decode stream;
  // with `whole`, a lookup group's whole table.
  absl::Status Issue(int g, uint8_t* base, bool whole);
  // Load-time conversion to the BF16 modes.
  absl::Status Materialize(const std::string& path);
  void Check(absl::Status s) {
    if (!s.ok()) fail_(std::move(s));
  }

  WeightResidency residency_;
  std::shared_ptr<DeviceMemory> memory_pool_;
  cudaStream_t compute_;
  std::function<void(absl::Status)> fail_;
  cudaStream_t decode_ = nullptr;
  cudaEvent_t decoded_[2] = {nullptr, nullptr};
  cudaEvent_t released_[2] = {nullptr, nullptr};
  // Per group, timing events around its decode, recorded when the decode
  // stream is not being captured into a graph; `timed_` marks this step's.
  std::vector<cudaEvent_t> decode_begin_, decode_end_;
  std::vector<bool> timed_;
  DecodeStats decode_stats_;

  std::vector<Group> groups_;
  Buffer arena_;       // stored weights decoded per group (DF11 arrays, tables,
                       // raw tensors of mixed slots)
  Buffer inplace_;     // slots of raw tensors only, used where they are
  Buffer resident_;    // kBf16Resident: decoded weights
  Buffer host_;        // kOffloadPinned: decoded weights, pinned
  Buffer buffers_[2];  // the decode buffers
  Buffer flags_;       // uint32 per group
  uint64_t buffer_bytes_ = 0;
  const int32_t* lookup_ids_ = nullptr;
  int64_t lookup_id_offset_ = 0;
  int64_t lookup_rows_ = 0;
  WeightStoreMemory memory_;
  WeightLoadStats stats_;
};

}  // namespace df11

#endif  // DF11_LOADER_BACKEND_CUDA_CUDA_WEIGHT_STORE_H_
