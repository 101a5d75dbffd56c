#include "loader/backend/cuda/cuda_weight_store.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "loader/base/status_macros.h"
#include "loader/codec/huffman_code.h"
#include "loader/gpu/cuda_status.h"

namespace df11 {
namespace {

constexpr uint64_t kSlotAlign = 256;  // slots in a buffer
constexpr uint64_t kArrayAlign = 16;  // arrays in the arena (the kernel's)
constexpr uint64_t kStagingBytes = 64ull << 20;

uint64_t AlignUp(uint64_t n, uint64_t a) { return (n + a - 1) / a * a; }

// Host bytes to be copied to device offset `offset` of an arena.
struct Piece {
  const uint8_t* src;
  uint64_t bytes;
  uint64_t offset;
};

// Copies pieces to `device` through two pinned staging buffers, so that
// filling one overlaps the copy of the other.
class Uploader {
 public:
  Uploader(DeviceMemory& memory, cudaStream_t stream)
      : memory_(memory), stream_(stream) {}
  ~Uploader() {
    for (cudaEvent_t e : done_) {
      if (e != nullptr) cudaEventDestroy(e);
    }
  }

  absl::Status Upload(const std::vector<Piece>& pieces, uint64_t total,
                      uint8_t* device) {
    if (pieces.empty()) return absl::OkStatus();
    const uint64_t size = std::min(kStagingBytes, AlignUp(total, 4096));
    for (int i = 0; i < 2; ++i) {
      ASSIGN_OR_RETURN(staging_[i], memory_.AllocatePinned(size));
      RETURN_IF_ERROR(CUDA_STATUS(
          cudaEventCreateWithFlags(&done_[i], cudaEventDisableTiming)));
    }
    int current = 0;
    uint64_t used = 0;
    const auto flush = [&]() -> absl::Status {
      RETURN_IF_ERROR(CUDA_STATUS(cudaEventRecord(done_[current], stream_)));
      current ^= 1;
      used = 0;
      // The other buffer's copies must be done before it is refilled.
      return CUDA_STATUS(cudaEventSynchronize(done_[current]));
    };
    for (const Piece& p : pieces) {
      uint64_t done = 0;
      while (done < p.bytes) {
        if (used == size) RETURN_IF_ERROR(flush());
        const uint64_t n = std::min(p.bytes - done, size - used);
        uint8_t* stage = staging_[current].as<uint8_t>() + used;
        std::memcpy(stage, p.src + done, n);
        RETURN_IF_ERROR(
            CUDA_STATUS(cudaMemcpyAsync(device + p.offset + done, stage, n,
                                        cudaMemcpyHostToDevice, stream_)));
        used += n;
        done += n;
      }
    }
    return CUDA_STATUS(cudaStreamSynchronize(stream_));
  }

 private:
  DeviceMemory& memory_;
  cudaStream_t stream_;
  Buffer staging_[2];
  cudaEvent_t done_[2] = {nullptr, nullptr};
};

}  // namespace

const char* WeightResidencyName(WeightResidency residency) {
  switch (residency) {
    case WeightResidency::kDf11:
      return "df11";
    case WeightResidency::kBf16Resident:
      return "bf16";
    case WeightResidency::kOffloadPinned:
      return "offload";
  }
  return "?";
}

absl::Status CudaWeightStore::Init() {
  // The default priority, the lowest: the backend's compute stream may
  // outrank it (CudaBackendOptions::prioritize_compute).
  RETURN_IF_ERROR(
      CUDA_STATUS(cudaStreamCreateWithFlags(&decode_, cudaStreamNonBlocking)));
  for (int i = 0; i < 2; ++i) {
    RETURN_IF_ERROR(CUDA_STATUS(
        cudaEventCreateWithFlags(&decoded_[i], cudaEventDisableTiming)));
    RETURN_IF_ERROR(CUDA_STATUS(
        cudaEventCreateWithFlags(&released_[i], cudaEventDisableTiming)));
  }
  return absl::OkStatus();
}

CudaWeightStore::~CudaWeightStore() {
  if (decode_ != nullptr) cudaStreamSynchronize(decode_);
  for (int i = 0; i < 2; ++i) {
    if (decoded_[i] != nullptr) cudaEventDestroy(decoded_[i]);
    if (released_[i] != nullptr) cudaEventDestroy(released_[i]);
  }
  for (cudaEvent_t e : decode_begin_) cudaEventDestroy(e);
  for (cudaEvent_t e : decode_end_) cudaEventDestroy(e);
  if (decode_ != nullptr) cudaStreamDestroy(decode_);
}

absl::StatusOr<std::unique_ptr<CudaWeightStore>> CudaWeightStore::Load(
    const WeightSource& source, const std::vector<WeightGroup>& groups,
    WeightResidency residency, std::shared_ptr<DeviceMemory> memory,
    cudaStream_t compute, std::function<void(absl::Status)> fail) {
  const auto start = std::chrono::steady_clock::now();
  std::unique_ptr<CudaWeightStore> store(
      new CudaWeightStore(residency, memory, compute, std::move(fail)));
  RETURN_IF_ERROR(store->Init());
  WeightStoreMemory& m = store->memory_;

  // Layout pass: where every stored array goes, where every slot decodes.
  std::vector<StoredTensor> tensors;  // keeps the views' sources alive
  std::vector<std::vector<uint8_t>> tables;
  std::vector<Piece> arena_pieces, inplace_pieces;
  uint64_t arena_bytes = 0, inplace_bytes = 0;
  struct PendingDecode {
    int group;
    Df11DeviceTensor t;  // offsets into the arena, as pointers
    uint64_t out;
    uint64_t stream, sign_mantissa, gaps, starts, table;
  };
  std::vector<PendingDecode> decodes;
  struct PendingCopy {
    int group;
    uint64_t arena_offset, buffer_offset, bytes;
  };
  std::vector<PendingCopy> copies;
  struct PendingInPlace {
    int group, slot;
    uint64_t offset;
  };
  std::vector<PendingInPlace> in_place;

  const auto place = [](uint64_t* end, uint64_t bytes, uint64_t align) {
    const uint64_t at = AlignUp(*end, align);
    *end = at + bytes;
    return at;
  };
  for (size_t gi = 0; gi < groups.size(); ++gi) {
    const int g = static_cast<int>(gi);
    Group& group = store->groups_.emplace_back();
    uint64_t group_end = 0;
    for (size_t si = 0; si < groups[gi].slots.size(); ++si) {
      const std::vector<std::string>& names = groups[gi].slots[si];
      if (group.name.empty() && !names.empty()) group.name = names[0];
      std::vector<StoredTensor> slot;
      bool all_raw = true;
      uint64_t slot_bytes = 0;
      for (const std::string& name : names) {
        ASSIGN_OR_RETURN(StoredTensor t, source.Payload(name));
        if (t.info.dtype != Dtype::kBF16) {
          return absl::InvalidArgumentError(
              absl::StrCat(source.path(), ": ", name, " is ",
                           DtypeName(t.info.dtype), ", not BF16"));
        }
        if (t.df11 && (t.encoded.layout.chunk_bytes != 16 ||
                       t.encoded.layout.chunks_per_block != 256)) {
          return absl::InvalidArgumentError(absl::StrCat(
              source.path(), ": ", name,
              ": the GPU decoder needs 16-byte chunks and 256 chunks per "
              "block"));
        }
        all_raw &= !t.df11;
        slot_bytes += t.info.shard_bytes();
        m.original += t.info.shard_bytes();
        slot.push_back(std::move(t));
      }
      // Raw slots are used where they are, except when offloading: then
      // every weight lives in pinned host memory and is copied per group.
      if (all_raw && residency != WeightResidency::kOffloadPinned) {
        uint64_t at = place(&inplace_bytes, slot_bytes, kSlotAlign);
        in_place.push_back({g, static_cast<int>(si), at});
        for (const StoredTensor& t : slot) {
          inplace_pieces.push_back({t.raw().data(), t.raw().size(), at});
          at += t.raw().size();
        }
        group.pointers.push_back(nullptr);
        group.slot_offsets.push_back(0);
      } else {
        uint64_t out = place(&group_end, slot_bytes, kSlotAlign);
        group.pointers.push_back(nullptr);
        group.slot_offsets.push_back(out);
        for (const StoredTensor& t : slot) {
          if (!t.df11) {
            const uint64_t at =
                place(&arena_bytes, t.raw().size(), kArrayAlign);
            arena_pieces.push_back({t.raw().data(), t.raw().size(), at});
            copies.push_back({g, at, out, t.raw().size()});
          } else {
            const EncodedTensorView& v = t.encoded;
            PendingDecode d{};
            d.group = g;
            d.out = out;
            d.t.num_elements = v.num_elements;
            d.t.stream_bits = v.stream_bits;
            d.t.chunk_bytes = v.layout.chunk_bytes;
            d.t.chunks_per_block = v.layout.chunks_per_block;
            const auto add = [&](const void* src, uint64_t bytes) {
              const uint64_t at = place(&arena_bytes, bytes, kArrayAlign);
              arena_pieces.push_back(
                  {static_cast<const uint8_t*>(src), bytes, at});
              return at;
            };
            d.stream = add(v.exponent_stream.data(), v.exponent_stream.size());
            d.sign_mantissa =
                add(v.sign_mantissa.data(), v.sign_mantissa.size());
            d.gaps = add(v.chunk_gaps.data(), v.chunk_gaps.size());
            d.starts = add(v.block_starts.data(),
                           v.block_starts.size() * sizeof(uint32_t));
            std::vector<uint8_t>& table =
                tables.emplace_back(kDf11KernelTableBytes);
            const DecodeTable decode_table = BuildDecodeTable(v.code_lengths);
            BuildDf11KernelTable(decode_table.data(), table.data());
            d.table = add(table.data(), table.size());
            decodes.push_back(d);
            if (groups[gi].lookup && groups[gi].slots.size() == 1 &&
                names.size() == 1 && t.info.shard_shape.size() == 2) {
              group.row_elements = t.info.shard_shape[1];
              group.blocks_per_row = Df11BlocksPerRow(
                  v.block_starts, v.num_elements, group.row_elements);
              group.index_blocks = v.block_starts.size() - 1;
            }
            m.resident += t.stored_bytes();
          }
          out += t.info.shard_bytes();
        }
      }
      for (StoredTensor& t : slot) tensors.push_back(std::move(t));
    }
    store->buffer_bytes_ = std::max(store->buffer_bytes_, group_end);
  }
  // Raw tensors in buffer slots count as stored bytes too.
  for (const PendingCopy& c : copies) m.resident += c.bytes;
  m.resident += inplace_bytes;

  // Upload.
  if (arena_bytes > 0) {
    ASSIGN_OR_RETURN(store->arena_,
                     memory->Allocate(arena_bytes, DeviceUse::kWeights));
  }
  if (inplace_bytes > 0) {
    ASSIGN_OR_RETURN(store->inplace_,
                     memory->Allocate(inplace_bytes, DeviceUse::kWeights));
  }
  {
    Uploader up(*memory, store->decode_);
    RETURN_IF_ERROR(
        up.Upload(arena_pieces, arena_bytes, store->arena_.as<uint8_t>()));
    RETURN_IF_ERROR(up.Upload(inplace_pieces, inplace_bytes,
                              store->inplace_.as<uint8_t>()));
  }
  for (const PendingInPlace& p : in_place) {
    store->groups_[p.group].pointers[p.slot] =
        reinterpret_cast<uint16_t*>(store->inplace_.as<uint8_t>() + p.offset);
  }
  const uint8_t* arena = store->arena_.as<uint8_t>();
  for (const PendingDecode& d : decodes) {
    Df11DeviceTensor t = d.t;
    t.exponent_stream = arena + d.stream;
    t.sign_mantissa = arena + d.sign_mantissa;
    t.chunk_gaps = arena + d.gaps;
    t.block_starts = reinterpret_cast<const uint32_t*>(arena + d.starts);
    t.kernel_table = arena + d.table;
    store->groups_[d.group].decodes.push_back(t);
    store->groups_[d.group].decode_offsets.push_back(d.out);
  }
  for (const PendingCopy& c : copies) {
    store->groups_[c.group].copies.push_back(
        {arena + c.arena_offset, c.buffer_offset, c.bytes});
  }
  store->stats_.bytes = arena_bytes + inplace_bytes;

  ASSIGN_OR_RETURN(store->flags_,
                   memory->Allocate(groups.size() * sizeof(uint32_t),
                                    DeviceUse::kWorkspace));
  if (store->buffer_bytes_ > 0) {
    for (Buffer& b : store->buffers_) {
      ASSIGN_OR_RETURN(
          b, memory->Allocate(store->buffer_bytes_, DeviceUse::kDecodeBuffers));
    }
  }
  m.buffers = 2 * store->buffer_bytes_;
  if (residency != WeightResidency::kDf11) {
    RETURN_IF_ERROR(store->Materialize(source.path()));
  }
  for (Group& group : store->groups_) {
    for (int parity = 0; parity < 2; ++parity) {
      group.resolved[parity] = group.pointers;
      for (size_t s = 0; s < group.pointers.size(); ++s) {
        if (group.pointers[s] == nullptr) {
          group.resolved[parity][s] = reinterpret_cast<const uint16_t*>(
              store->buffers_[parity].as<uint8_t>() + group.slot_offsets[s]);
        }
      }
    }
  }
  store->decode_begin_.resize(store->groups_.size());
  store->decode_end_.resize(store->groups_.size());
  store->timed_.assign(store->groups_.size(), false);
  for (size_t g = 0; g < store->groups_.size(); ++g) {
    RETURN_IF_ERROR(CUDA_STATUS(cudaEventCreate(&store->decode_begin_[g])));
    RETURN_IF_ERROR(CUDA_STATUS(cudaEventCreate(&store->decode_end_[g])));
  }
  store->stats_.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  return store;
}

absl::Status CudaWeightStore::Issue(int g, uint8_t* base, bool whole) {
  Group& group = groups_[g];
  // A row lookup costs a CUDA block per (id, block of its row); the whole
  // table, one per index block.
  const bool rows_only =
      !whole && group.blocks_per_row > 0 && lookup_ids_ != nullptr &&
      group.decodes.size() == 1 && group.copies.empty() &&
      static_cast<uint64_t>(lookup_rows_) * group.blocks_per_row <
          group.index_blocks;
  if (rows_only) {
    const Df11RowLookup rows{lookup_ids_, lookup_rows_, lookup_id_offset_,
                             group.row_elements, group.blocks_per_row};
    return DecodeDf11Rows(
        group.decodes[0], rows,
        reinterpret_cast<uint16_t*>(base + group.decode_offsets[0]),
        flags_.as<uint32_t>() + g, decode_);
  }
  if (!group.decodes.empty()) {
    std::vector<uint16_t*> outs;
    for (uint64_t offset : group.decode_offsets) {
      outs.push_back(reinterpret_cast<uint16_t*>(base + offset));
    }
    RETURN_IF_ERROR(DecodeDf11Batched(group.decodes.data(), outs.data(),
                                      static_cast<int>(outs.size()),
                                      flags_.as<uint32_t>() + g, decode_));
  }
  for (const RawCopy& c : group.copies) {
    RETURN_IF_ERROR(CUDA_STATUS(cudaMemcpyAsync(base + c.offset, c.src, c.bytes,
                                                cudaMemcpyDefault, decode_)));
  }
  return absl::OkStatus();
}

absl::Status CudaWeightStore::Materialize(const std::string& path) {
  // Each group's decoded bytes, back to back, in its buffer layout.
  std::vector<uint64_t> base(groups_.size() + 1, 0);
  for (size_t g = 0; g < groups_.size(); ++g) {
    uint64_t end = 0;
    for (size_t i = 0; i < groups_[g].decodes.size(); ++i) {
      end = std::max(end, groups_[g].decode_offsets[i] +
                              groups_[g].decodes[i].num_elements * 2);
    }
    for (const RawCopy& c : groups_[g].copies) {
      end = std::max(end, c.offset + c.bytes);
    }
    base[g + 1] = base[g] + AlignUp(end, kSlotAlign);
  }
  const uint64_t total = base.back();
  const bool offload = residency_ == WeightResidency::kOffloadPinned;
  if (offload) {
    ASSIGN_OR_RETURN(host_, memory_pool_->AllocatePinned(total));
  } else if (total > 0) {
    ASSIGN_OR_RETURN(resident_,
                     memory_pool_->Allocate(total, DeviceUse::kWeights));
  }
  for (size_t g = 0; g < groups_.size(); ++g) {
    const uint64_t bytes = base[g + 1] - base[g];
    if (bytes == 0) continue;
    if (offload) {
      RETURN_IF_ERROR(Issue(static_cast<int>(g), buffers_[0].as<uint8_t>(),
                            /*whole=*/true));
      RETURN_IF_ERROR(CUDA_STATUS(
          cudaMemcpyAsync(host_.as<uint8_t>() + base[g], buffers_[0].data(),
                          bytes, cudaMemcpyDeviceToHost, decode_)));
    } else {
      RETURN_IF_ERROR(Issue(static_cast<int>(g),
                            resident_.as<uint8_t>() + base[g], /*whole=*/true));
    }
  }
  RETURN_IF_ERROR(CUDA_STATUS(cudaStreamSynchronize(decode_)));
  absl::Status errors = TakeErrors();
  if (!errors.ok()) {
    return absl::DataLossError(
        absl::StrCat(path, ": at load: ", errors.message()));
  }
  for (size_t g = 0; g < groups_.size(); ++g) {
    Group& group = groups_[g];
    group.decodes.clear();
    group.decode_offsets.clear();
    group.copies.clear();
    const uint64_t bytes = base[g + 1] - base[g];
    if (offload) {
      if (bytes > 0)
        group.copies.push_back({host_.as<uint8_t>() + base[g], 0, bytes});
    } else {
      for (size_t s = 0; s < group.pointers.size(); ++s) {
        if (group.pointers[s] == nullptr) {
          group.pointers[s] = reinterpret_cast<const uint16_t*>(
              resident_.as<uint8_t>() + base[g] + group.slot_offsets[s]);
        }
      }
    }
  }
  memory_.resident = 0;
  arena_ = Buffer();  // the compressed form is no longer needed
  if (!offload) {
    memory_.resident = resident_.bytes() + inplace_.bytes();
    for (Buffer& b : buffers_) b = Buffer();
    buffer_bytes_ = 0;
    memory_.buffers = 0;
  } else {
    memory_.resident = inplace_.bytes();  // on the device; the rest is host
  }
  return absl::OkStatus();
}

void CudaWeightStore::Prefetch(int g) {
  if (g == 0) Check(CUDA_STATUS(cudaEventRecord(released_[0], compute_)));
  Check(CUDA_STATUS(cudaStreamWaitEvent(decode_, released_[g % 2], 0)));
  if (buffer_bytes_ > 0) {
    // Timed only outside graph capture (eager steps decode the same).
    cudaStreamCaptureStatus capture = cudaStreamCaptureStatusNone;
    Check(CUDA_STATUS(cudaStreamIsCapturing(decode_, &capture)));
    const bool time = capture == cudaStreamCaptureStatusNone &&
                      static_cast<size_t>(g) < decode_begin_.size();
    if (time) Check(CUDA_STATUS(cudaEventRecord(decode_begin_[g], decode_)));
    Check(Issue(g, buffers_[g % 2].as<uint8_t>(), /*whole=*/false));
    if (time) {
      Check(CUDA_STATUS(cudaEventRecord(decode_end_[g], decode_)));
      timed_[g] = true;
    }
  }
  Check(CUDA_STATUS(cudaEventRecord(decoded_[g % 2], decode_)));
}

absl::Span<const uint16_t* const> CudaWeightStore::Acquire(int g) {
  // Work issued so far is group g - 1's: when it is done, buffer
  // (g + 1) % 2 may take group g + 1.
  Check(CUDA_STATUS(cudaEventRecord(released_[(g + 1) % 2], compute_)));
  Check(CUDA_STATUS(cudaStreamWaitEvent(compute_, decoded_[g % 2], 0)));
  return groups_[g].resolved[g % 2];
}

absl::Status CudaWeightStore::TakeErrors() {
  if (groups_.empty()) return absl::OkStatus();
  for (size_t g = 0; g < timed_.size(); ++g) {
    if (!timed_[g]) continue;
    timed_[g] = false;
    float ms = 0;
    RETURN_IF_ERROR(CUDA_STATUS(
        cudaEventElapsedTime(&ms, decode_begin_[g], decode_end_[g])));
    ++decode_stats_.groups;
    decode_stats_.seconds += ms / 1e3;
  }
  std::vector<uint32_t> flags(groups_.size());
  RETURN_IF_ERROR(CUDA_STATUS(cudaMemcpy(flags.data(), flags_.data(),
                                         flags.size() * sizeof(uint32_t),
                                         cudaMemcpyDeviceToHost)));
  for (size_t g = 0; g < flags.size(); ++g) {
    if (flags[g] == 0) continue;
    RETURN_IF_ERROR(CUDA_STATUS(cudaMemsetAsync(
        flags_.data(), 0, flags.size() * sizeof(uint32_t), decode_)));
    return absl::DataLossError(absl::StrCat(
        "GPU decode of weight group ", g, " (", groups_[g].name,
        ", ...) failed: error flags 0x", absl::Hex(flags[g]),
        " (device memory holding the compressed weights is corrupted)"));
  }
  return absl::OkStatus();
}

}  // namespace df11
