#include "loader/backend/cpu/cpu_weight_store.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "loader/base/status_macros.h"

namespace df11 {
namespace {

// Slots start at this alignment in a decode buffer, arrays in memory.
constexpr uint64_t kSlotAlign = 256;
constexpr uint64_t kArrayAlign = 64;

uint64_t AlignUp(uint64_t n, uint64_t a) { return (n + a - 1) / a * a; }

absl::StatusOr<Buffer> HostBuffer(uint64_t bytes) {
  const uint64_t rounded = AlignUp(std::max<uint64_t>(bytes, 1), kSlotAlign);
  void* data = std::aligned_alloc(kSlotAlign, rounded);
  if (data == nullptr) {
    return absl::ResourceExhaustedError(
        absl::StrCat("cannot allocate ", bytes, " bytes for weights"));
  }
  return Buffer(data, bytes, [](void* p) { std::free(p); });
}

// Copies the arrays of a DF11 payload into one host buffer and points the
// payload's view at the copies.
absl::StatusOr<Buffer> Rebase(StoredTensor& t) {
  EncodedTensorView& v = t.encoded;
  const uint64_t sizes[4] = {v.exponent_stream.size(), v.sign_mantissa.size(),
                             v.chunk_gaps.size(),
                             v.block_starts.size() * sizeof(uint32_t)};
  uint64_t total = 0;
  for (uint64_t s : sizes) total += AlignUp(s, kArrayAlign);
  ASSIGN_OR_RETURN(Buffer buffer, HostBuffer(total));
  uint8_t* p = buffer.as<uint8_t>();
  const auto copy = [&](const void* src, uint64_t bytes) {
    std::memcpy(p, src, bytes);
    uint8_t* at = p;
    p += AlignUp(bytes, kArrayAlign);
    return at;
  };
  v.exponent_stream = {copy(v.exponent_stream.data(), sizes[0]), sizes[0]};
  v.sign_mantissa = {copy(v.sign_mantissa.data(), sizes[1]), sizes[1]};
  v.chunk_gaps = {copy(v.chunk_gaps.data(), sizes[2]), sizes[2]};
  v.block_starts = {
      reinterpret_cast<const uint32_t*>(copy(v.block_starts.data(), sizes[3])),
      v.block_starts.size()};
  return buffer;
}

}  // namespace

absl::StatusOr<std::unique_ptr<CpuWeightStore>> CpuWeightStore::Load(
    const WeightSource& source, const std::vector<WeightGroup>& groups,
    int threads, std::function<void(absl::Status)> fail) {
  std::unique_ptr<CpuWeightStore> store(
      new CpuWeightStore(threads, std::move(fail)));
  WeightStoreMemory& m = store->memory_;
  uint64_t largest = 0;  // bytes a group decodes into its buffer
  for (const WeightGroup& group : groups) {
    Group& g = store->groups_.emplace_back();
    uint64_t offset = 0;
    for (const std::vector<std::string>& names : group.slots) {
      Slot& slot = g.slots.emplace_back();
      bool all_raw = true;
      uint64_t slot_bytes = 0;
      for (const std::string& name : names) {
        ASSIGN_OR_RETURN(StoredTensor t, source.Payload(name));
        if (t.info.dtype != Dtype::kBF16) {
          return absl::InvalidArgumentError(
              absl::StrCat(source.path(), ": ", name, " is ",
                           DtypeName(t.info.dtype), ", not BF16"));
        }
        all_raw &= !t.df11;
        slot_bytes += t.info.shard_bytes();
        m.original += t.info.shard_bytes();
        slot.tensors.push_back(std::move(t));
      }
      if (all_raw) {
        // Back to back in one buffer, used where it is.
        ASSIGN_OR_RETURN(Buffer buffer, HostBuffer(slot_bytes));
        uint8_t* p = buffer.as<uint8_t>();
        for (const StoredTensor& t : slot.tensors) {
          std::memcpy(p, t.raw().data(), t.raw().size());
          p += t.raw().size();
        }
        slot.in_place = buffer.as<uint16_t>();
        m.resident += slot_bytes;
        slot.tensors.clear();
        store->resident_.push_back(std::move(buffer));
        continue;
      }
      for (StoredTensor& t : slot.tensors) {
        Buffer copy;
        if (t.df11) {
          ASSIGN_OR_RETURN(copy, Rebase(t));
        } else {
          ASSIGN_OR_RETURN(copy, HostBuffer(t.raw().size()));
          std::memcpy(copy.data(), t.raw().data(), t.raw().size());
          t.raw_view = {copy.as<uint8_t>(), t.raw().size()};
          t.gathered.clear();
        }
        m.resident += t.stored_bytes();
        store->resident_.push_back(std::move(copy));
      }
      slot.buffer_offset = offset;
      offset = AlignUp(offset + slot_bytes, kSlotAlign);
    }
    largest = std::max(largest, offset);
  }
  for (Buffer& buffer : store->buffers_) {
    ASSIGN_OR_RETURN(buffer, HostBuffer(largest));
  }
  m.buffers = 2 * largest;
  return store;
}

void CpuWeightStore::Prefetch(int group) {
  Group& g = groups_[group];
  uint8_t* buffer = buffers_[group % 2].as<uint8_t>();
  g.pointers.clear();
  const auto start = std::chrono::steady_clock::now();
  bool decoded = false;
  for (const Slot& slot : g.slots) {
    if (slot.in_place != nullptr) {
      g.pointers.push_back(slot.in_place);
      continue;
    }
    uint16_t* out = reinterpret_cast<uint16_t*>(buffer + slot.buffer_offset);
    g.pointers.push_back(out);
    decoded = true;
    for (const StoredTensor& t : slot.tensors) {
      const uint64_t n = t.info.shard_elements();
      const absl::Status s = DecodeStored(t, absl::MakeSpan(out, n), threads_);
      if (!s.ok()) fail_(s);
      out += n;
    }
  }
  if (decoded) {
    ++stats_.groups;
    stats_.seconds +=
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
            .count();
  }
}

absl::Span<const uint16_t* const> CpuWeightStore::Acquire(int group) {
  return groups_[group].pointers;
}

}  // namespace df11
