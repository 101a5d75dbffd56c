// DF11 decode kernel: one CUDA block per index block of 256 chunks, one thread
// per 16-byte chunk. docs/kernels.md has the design and its cost model.
//
// Per block:
//   1. stage the tensor's tables (12 KB, BuildDf11KernelTable) in shared
//      memory;
//   2. each thread counts the codes that start in its chunk, several per
//      lookup, and checks that they end where the next chunk's gap says;
//   3. a block-wide prefix sum of the counts, from block_starts[b], places
//      each thread's codes in the block's output range;
//   4. each thread decodes its chunk again, writing exponent bytes to their
//      places in a shared-memory buffer;
//   5. all threads combine exponents with sign/mantissa bytes 8 elements at a
//      time and write the block's output with coalesced 16-byte stores.
// A block whose index or stream fails a check writes nothing; every write
// is also clamped to the block's output range, itself clamped to [0, n), so
// a corrupted index or stream cannot write outside the output.
#include <atomic>
#include <cstdint>
#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "kernels/cuda_status.h"
#include "kernels/decode_df11.h"
#include "loader/base/status_macros.h"

namespace df11 {
namespace {

constexpr int kThreads = 256;  // one thread per chunk
constexpr int kWarps = kThreads / 32;
constexpr uint32_t kChunkBytes = 16;
constexpr uint32_t kChunkBits = kChunkBytes * 8;
// Every code is at least one bit long.
constexpr uint32_t kMaxBlockElements = kThreads * kChunkBits;
constexpr int kWindowBits = 12;
constexpr int kWindows = 1 << kWindowBits;
constexpr int kTableVectors = kDf11KernelTableBytes / 16;
// Multi-code table entry (BuildDf11KernelTable): up to three symbols in bits
// 0-23, their total length in bits 24-27, their count in bits 28-29, and bit
// 31 for a window that is no code (length 15, so that decoding moves on).
constexpr uint32_t kSymbolsMask = 0xFFFFFFu;
constexpr uint32_t kBadWindow = 1u << 31;
constexpr uint32_t kInvalidLength = 15;

__device__ __forceinline__ uint32_t EntryLength(uint32_t e) {
  return (e >> 24) & 0xF;
}
__device__ __forceinline__ uint32_t EntryCount(uint32_t e) {
  return (e >> 28) & 0x3;
}

struct TensorArgs {
  const uint4* stream;
  const uint8_t* sign_mantissa;
  const uint8_t* chunk_gaps;
  const uint32_t* block_starts;
  const uint4* table;
  uint16_t* out;
  uint64_t stream_bits;
  uint32_t num_elements;
  uint32_t num_chunks;
  uint32_t first_block;  // of this tensor in the launch's list of blocks
  // (out / 2 + i) % 8 == 0 makes out + i 16-byte aligned.
  uint32_t out_shift;
  // Whether sign_mantissa + i is 8-byte aligned wherever out + i is 16.
  uint32_t sign_mantissa_aligned;
};

struct BatchArgs {
  TensorArgs tensors[kMaxDf11Batch];
  int count;
  uint32_t* error_flags;
};

__device__ __forceinline__ uint32_t Gap(const uint8_t* gaps, uint32_t chunk) {
  return (__ldg(gaps + chunk / 2) >> (4 * (chunk % 2))) & 0xF;
}

__device__ __forceinline__ uint32_t Window(uint32_t lo, uint32_t hi, int q) {
  return __funnelshift_r(lo, hi, q) & (kWindows - 1);
}

// Counts the codes that start in [gap, limit) of a chunk whose bits are
// w[0..3], with w[4] the first word of the next chunk: up to three per
// lookup of the multi-code table, one at a time (length table) where a
// window reaches the limit. Sets `end` to the bit after the last code,
// relative to the chunk start, and `bad` if a window was no code.
__device__ __forceinline__ uint32_t CountCodes(const uint32_t (&w)[5], int gap,
                                               int limit, const uint32_t* multi,
                                               const uint8_t* lengths,
                                               int& end, bool& bad) {
  int q = gap;
  uint32_t codes = 0;
  uint32_t flags = 0;
  uint32_t largest = 0;
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    // Whole windows while every code in them starts before the limit.
    const int multi_limit = min(32, limit - 32 * i - (kWindowBits - 1));
    while (q < multi_limit) {
      const uint32_t e = multi[Window(w[i], w[i + 1], q)];
      flags |= e;
      codes += EntryCount(e);
      q += EntryLength(e);
    }
    const int word_limit = min(32, limit - 32 * i);
    while (q < word_limit) {
      const uint32_t length = lengths[Window(w[i], w[i + 1], q)];
      largest = max(largest, length);
      q += length;
      ++codes;
    }
    q -= 32;
  }
  end = q + kChunkBits;
  bad = (flags & kBadWindow) != 0 || largest > kWindowBits;
  return codes;
}

// Byte positions p0..p1 of the block's exponent buffer, as 32-bit words.
// Words that hold only this thread's bytes are stored; the first and last
// words may hold a neighbour's bytes too, are zeroed before and get atomicOr.
// With kWindowed, only words in [base, base + kBufferBytes) are written, at
// word index (p - base) / 4.
template <uint32_t kBufferBytes, bool kWindowed>
struct WordWriter {
  uint32_t* buffer;
  uint32_t base;
  uint32_t head_word;  // p0's word if shared with the previous thread

  __device__ __forceinline__ bool Inside(uint32_t word) const {
    return !kWindowed || word - base / 4 < kBufferBytes / 4;
  }
  __device__ __forceinline__ void Put(uint32_t word, uint32_t value) const {
    if (!Inside(word)) return;
    if (word == head_word) {
      atomicOr(buffer + (word - base / 4), value);
    } else {
      buffer[word - base / 4] = value;
    }
  }
  __device__ __forceinline__ void Or(uint32_t word, uint32_t value) const {
    if (Inside(word)) atomicOr(buffer + (word - base / 4), value);
  }
};

// Decodes the codes CountCodes counted, `count` = p1 - p0 of them, and
// writes their symbols to byte positions p0..p1 through `out`.
template <uint32_t kBufferBytes, bool kWindowed>
__device__ __forceinline__ void DecodeCodes(
    const uint32_t (&w)[5], int gap, int limit, const uint32_t* multi,
    const WordWriter<kBufferBytes, kWindowed>& out, uint32_t p0, uint32_t p1) {
  int q = gap;
  uint32_t p = p0;
  uint32_t acc = 0;  // the symbols at byte positions [p & ~3, p)
  const auto emit = [&](uint32_t symbols, uint32_t n) {
    const uint32_t shift = (p & 3) * 8;
    const uint32_t lo = acc | (symbols << shift);
    const uint32_t hi = __funnelshift_l(symbols, 0, shift);
    const uint32_t next = p + n;
    if ((next ^ p) >= 4) {
      out.Put(p / 4, lo);
      acc = hi;
    } else {
      acc = lo;
    }
    p = next;
  };
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const int multi_limit = min(32, limit - 32 * i - (kWindowBits - 1));
    while (q < multi_limit) {
      const uint32_t e = multi[Window(w[i], w[i + 1], q)];
      q += EntryLength(e);
      emit(e & kSymbolsMask, EntryCount(e));
    }
    // Near the limit a window may hold codes of the next chunk: keep only
    // as many symbols as are left.
    const int word_limit = min(32, limit - 32 * i);
    while (q < word_limit) {
      const uint32_t e = multi[Window(w[i], w[i + 1], q)];
      q += EntryLength(e);
      const uint32_t n = min(EntryCount(e), p1 - p);
      emit(e & ~(0xFFFFFFFFu << (8 * n)), n);
    }
    q -= 32;
  }
  if (p & 3) out.Or(p / 4, acc);
}

__device__ __forceinline__ uint32_t Bf16Pair(uint32_t sm, uint32_t e) {
  // Bytes in bits 0-7 and 16-23 of each argument.
  return ((sm & 0x00800080u) << 8) | (e << 7) | (sm & 0x007F007Fu);
}

__device__ __forceinline__ uint32_t Bf16Pairs(uint32_t sm4, uint32_t e4,
                                              uint32_t select) {
  return Bf16Pair(__byte_perm(sm4, 0, select), __byte_perm(e4, 0, select));
}

__device__ __forceinline__ uint16_t Bf16(uint32_t sm, uint32_t e) {
  return static_cast<uint16_t>(((sm & 0x80u) << 8) | (e << 7) | (sm & 0x7Fu));
}

// Writes the outputs of byte positions [lo, hi) of the block, whose
// exponents sit at exponents[p - base]; position head is element start.
// base is a multiple of 8.
__device__ __forceinline__ void StoreOutputs(const TensorArgs& t,
                                             const uint8_t* exponents,
                                             uint32_t start, uint32_t head,
                                             uint32_t lo, uint32_t hi,
                                             uint32_t base) {
  const uint8_t* sm = t.sign_mantissa;
  uint16_t* out = t.out;
  for (uint32_t p = base + 8 * threadIdx.x; p < hi; p += 8 * kThreads) {
    if (p >= lo && p + 8 <= hi && t.sign_mantissa_aligned) {
      const uint32_t i = start + (p - head);
      const uint2 e8 = *reinterpret_cast<const uint2*>(exponents + (p - base));
      const uint2 sm8 = __ldg(reinterpret_cast<const uint2*>(sm + i));
      uint4 v;
      v.x = Bf16Pairs(sm8.x, e8.x, 0x4140);
      v.y = Bf16Pairs(sm8.x, e8.x, 0x4342);
      v.z = Bf16Pairs(sm8.y, e8.y, 0x4140);
      v.w = Bf16Pairs(sm8.y, e8.y, 0x4342);
      *reinterpret_cast<uint4*>(out + i) = v;
    } else {
      for (uint32_t q = max(p, lo); q < min(p + 8, hi); ++q) {
        const uint32_t i = start + (q - head);
        out[i] = Bf16(__ldg(sm + i), exponents[q - base]);
      }
    }
  }
}

template <uint32_t kBufferBytes>
struct SharedStorage {
  uint4 table[kTableVectors];
  // Exponents of the block's elements by byte position: element start + j
  // is at position head + j, so that position 8j lines up with a 16-byte
  // aligned output address.
  __align__(16) uint32_t exponents[kBufferBytes / 4];
  uint32_t warp_totals[kWarps];
  uint32_t block_flags;
};

template <uint32_t kBufferBytes, int kMinBlocks>
__global__ void __launch_bounds__(kThreads, kMinBlocks)
    DecodeDf11Kernel(const __grid_constant__ BatchArgs args) {
  extern __shared__ uint4 shared_raw[];
  SharedStorage<kBufferBytes>& s =
      *reinterpret_cast<SharedStorage<kBufferBytes>*>(shared_raw);
  const uint32_t* multi = reinterpret_cast<const uint32_t*>(s.table);
  const uint8_t* lengths =
      reinterpret_cast<const uint8_t*>(s.table) + 4 * kWindows;

  int ti = 0;
  while (ti + 1 < args.count &&
         args.tensors[ti + 1].first_block <= blockIdx.x) {
    ++ti;
  }
  const TensorArgs& t = args.tensors[ti];
  const uint32_t block = blockIdx.x - t.first_block;
  const uint32_t tid = threadIdx.x;
  const uint32_t lane = tid % 32;
  const uint32_t warp = tid / 32;

  for (int i = tid; i < kTableVectors; i += kThreads) {
    s.table[i] = __ldg(t.table + i);
  }

  // The block's output range, clamped so that no index can send writes
  // outside [0, n).
  uint32_t flags = 0;
  const uint32_t start_raw = __ldg(t.block_starts + block);
  const uint32_t end_raw = __ldg(t.block_starts + block + 1);
  const uint32_t end_index = min(end_raw, t.num_elements);
  const uint32_t start = min(start_raw, end_index);
  const uint32_t count = min(end_index - start, kMaxBlockElements);
  if (end_raw != end_index || start_raw != start ||
      end_index - start != count) {
    flags |= kDf11BadIndex;
  }

  const uint32_t chunk = block * kThreads + tid;
  uint32_t w[5] = {0, 0, 0, 0, 0};
  int gap = 0;
  int limit = 0;
  // Where the last code must end: the next chunk's first code, or the end
  // of the stream.
  int expected_end = -1;
  if (chunk < t.num_chunks) {
    const uint4 v = __ldg(t.stream + chunk);
    w[0] = v.x;
    w[1] = v.y;
    w[2] = v.z;
    w[3] = v.w;
    const uint64_t left = t.stream_bits - uint64_t{chunk} * kChunkBits;
    limit = left < kChunkBits ? static_cast<int>(left) : kChunkBits;
    gap = Gap(t.chunk_gaps, chunk);
    expected_end = chunk + 1 < t.num_chunks
                       ? kChunkBits + Gap(t.chunk_gaps, chunk + 1)
                       : limit;
  }
  // The next chunk's first word: the neighbour loaded it, except across
  // warps. The stream has one zero chunk after the last, so chunk + 1 exists.
  w[4] = __shfl_down_sync(0xFFFFFFFFu, w[0], 1);
  if (lane == 31 && chunk < t.num_chunks) {
    w[4] = __ldg(reinterpret_cast<const uint32_t*>(t.stream + chunk + 1));
  }
  __syncthreads();  // table staged

  int end = 0;
  bool bad = false;
  const uint32_t codes = CountCodes(w, gap, limit, multi, lengths, end, bad);
  if (bad) flags |= kDf11BadCode;
  if (expected_end >= 0 && end != expected_end) flags |= kDf11BadGap;

  // Block-wide exclusive prefix sum of the code counts.
  uint32_t inclusive = codes;
#pragma unroll
  for (int d = 1; d < 32; d *= 2) {
    const uint32_t v = __shfl_up_sync(0xFFFFFFFFu, inclusive, d);
    if (lane >= d) inclusive += v;
  }
  if (lane == 31) s.warp_totals[warp] = inclusive;
  const bool any_flags = __syncthreads_or(flags != 0);
  if (warp == 0) {
    uint32_t total = lane < kWarps ? s.warp_totals[lane] : 0;
#pragma unroll
    for (int d = 1; d < kWarps; d *= 2) {
      const uint32_t v = __shfl_up_sync(0xFFFFFFFFu, total, d);
      if (lane >= d) total += v;
    }
    if (lane < kWarps) s.warp_totals[lane] = total;
    if (lane == kWarps - 1) {
      const bool bad_count = total != end_raw - start_raw;
      if (bad_count) flags |= kDf11BadCount;
      s.block_flags = any_flags || bad_count;
    }
  }
  __syncthreads();
  if (flags != 0 && args.error_flags != nullptr) {
    atomicOr(args.error_flags, flags);
  }
  // A block whose index or stream is corrupted writes nothing: its codes
  // might not fit the places the index gives them.
  if (s.block_flags != 0) return;

  // This thread's codes go to byte positions [p0, p1).
  const uint32_t head = (start + t.out_shift) % 8;
  const uint32_t p0 =
      head + inclusive - codes + (warp > 0 ? s.warp_totals[warp - 1] : 0);
  const uint32_t p1 = p0 + codes;
  const uint32_t stop = head + count;
  const uint32_t head_word = p0 % 4 != 0 && p1 > p0 ? p0 / 4 : 0xFFFFFFFFu;
  const bool tail_shared = p1 % 4 != 0 && p1 > p0;
  const uint8_t* exponents = reinterpret_cast<const uint8_t*>(s.exponents);
  if (stop <= kBufferBytes) {
    const WordWriter<kBufferBytes, false> writer{s.exponents, 0, head_word};
    if (head_word != 0xFFFFFFFFu) s.exponents[head_word] = 0;
    if (tail_shared) s.exponents[p1 / 4] = 0;
    __syncthreads();
    DecodeCodes(w, gap, limit, multi, writer, p0, p1);
    __syncthreads();
    StoreOutputs(t, exponents, start, head, head, stop, 0);
    return;
  }
  // A block of more elements than the buffer holds (average code below
  // 8 * kThreads * kChunkBytes / kBufferBytes bits): several rounds.
  for (uint32_t base = 0; base < stop; base += kBufferBytes) {
    const WordWriter<kBufferBytes, true> writer{s.exponents, base, head_word};
    if (base > 0) __syncthreads();  // the last round's stores are done
    if (head_word != 0xFFFFFFFFu && writer.Inside(head_word)) {
      s.exponents[head_word - base / 4] = 0;
    }
    if (tail_shared && writer.Inside(p1 / 4)) {
      s.exponents[p1 / 4 - base / 4] = 0;
    }
    __syncthreads();
    if (p1 > base && p0 < base + kBufferBytes) {
      DecodeCodes(w, gap, limit, multi, writer, p0, p1);
    }
    __syncthreads();
    StoreOutputs(t, exponents, start, head, max(head, base),
                 min(stop, base + kBufferBytes), base);
  }
}

absl::Status ValidateTensor(const Df11DeviceTensor& t, const uint16_t* out,
                            int index) {
  const auto fail = [&](auto... parts) {
    return absl::InvalidArgumentError(
        absl::StrCat("DecodeDf11 tensor ", index, ": ", parts...));
  };
  if (t.chunk_bytes != kChunkBytes || t.chunks_per_block != kThreads) {
    return fail(
        "the kernel decodes chunk_bytes 16 and chunks_per_block 256, "
        "not ",
        t.chunk_bytes, " and ", t.chunks_per_block);
  }
  if (t.num_elements > 0xFFFFFFFFu) {
    return fail(t.num_elements, " elements; at most 2^32 - 1");
  }
  if (t.stream_bits < t.num_elements || t.stream_bits > t.num_elements * 12) {
    return fail("a stream of ", t.stream_bits, " bits cannot hold ",
                t.num_elements, " codes");
  }
  if (t.num_elements == 0) return absl::OkStatus();
  if (t.exponent_stream == nullptr || t.sign_mantissa == nullptr ||
      t.chunk_gaps == nullptr || t.block_starts == nullptr ||
      t.kernel_table == nullptr || out == nullptr) {
    return fail("null pointer");
  }
  const auto misaligned = [](const void* p, uintptr_t a) {
    return reinterpret_cast<uintptr_t>(p) % a != 0;
  };
  if (misaligned(t.exponent_stream, 16) || misaligned(t.kernel_table, 16)) {
    return fail("exponent_stream and kernel_table must be 16-byte aligned");
  }
  if (misaligned(t.block_starts, 4) || misaligned(out, 2)) {
    return fail("block_starts must be 4-byte and out 2-byte aligned");
  }
  return absl::OkStatus();
}

template <uint32_t kBufferBytes, int kMinBlocks>
absl::Status LaunchVariant(const BatchArgs& args, uint32_t blocks,
                           cudaStream_t stream) {
  constexpr size_t kShared = sizeof(SharedStorage<kBufferBytes>);
  // Above 48 KB a kernel must opt in, once per device.
  static std::atomic<uint64_t> opted_in{0};
  int device = 0;
  RETURN_IF_CUDA_ERROR(cudaGetDevice(&device));
  const uint64_t bit = uint64_t{1} << (device % 64);
  if ((opted_in.load(std::memory_order_relaxed) & bit) == 0) {
    RETURN_IF_CUDA_ERROR(cudaFuncSetAttribute(
        DecodeDf11Kernel<kBufferBytes, kMinBlocks>,
        cudaFuncAttributeMaxDynamicSharedMemorySize, kShared));
    opted_in.fetch_or(bit, std::memory_order_relaxed);
  }
  DecodeDf11Kernel<kBufferBytes, kMinBlocks>
      <<<blocks, kThreads, kShared, stream>>>(args);
  return CudaStatus(cudaGetLastError(), "DecodeDf11Kernel launch");
}

absl::Status Launch(const BatchArgs& args, uint32_t blocks,
                    cudaStream_t stream) {
  if (blocks == 0) return absl::OkStatus();
  static const int variant = [] {
    const char* v = std::getenv("DF11_DECODE_VARIANT");
    return v != nullptr ? std::atoi(v) : 0;
  }();
  switch (variant) {
    case 1:
      return LaunchVariant<24576, 5>(args, blocks, stream);
    case 2:
      return LaunchVariant<32768, 4>(args, blocks, stream);
    case 3:
      return LaunchVariant<16384, 5>(args, blocks, stream);
    default:
      return LaunchVariant<16384, 6>(args, blocks, stream);
  }
}

}  // namespace

void BuildDf11KernelTable(const uint16_t* decode_table, uint8_t* kernel_table) {
  uint32_t* multi = reinterpret_cast<uint32_t*>(kernel_table);
  uint8_t* lengths = kernel_table + 4 * kWindows;
  const auto length = [&](uint32_t window) {
    return decode_table[window] >> 8;
  };
  for (uint32_t window = 0; window < kWindows; ++window) {
    lengths[window] = length(window) != 0 ? length(window) : kInvalidLength;
    // Up to three whole codes of the window: the table gives a code's true
    // length as long as it ends inside the window, whatever the bits after.
    uint32_t symbols = 0;
    uint32_t codes = 0;
    uint32_t bits = 0;
    while (codes < 3 && bits < kWindowBits) {
      const uint16_t entry = decode_table[window >> bits];
      const uint32_t len = entry >> 8;
      if (len == 0 || bits + len > kWindowBits) break;
      symbols |= uint32_t{static_cast<uint8_t>(entry)} << (8 * codes);
      bits += len;
      ++codes;
    }
    multi[window] = codes == 0
                        ? kBadWindow | 1u << 28 | kInvalidLength << 24
                        : codes << 28 | bits << 24 | symbols;
  }
}

absl::Status DecodeDf11Batched(const Df11DeviceTensor* tensors,
                               uint16_t* const* outs, int count,
                               uint32_t* error_flags, cudaStream_t stream) {
  if (count < 0 || (count > 0 && (tensors == nullptr || outs == nullptr))) {
    return absl::InvalidArgumentError(
        absl::StrCat("DecodeDf11Batched: bad tensor list of ", count));
  }
  for (int i = 0; i < count; ++i) {
    RETURN_IF_ERROR(ValidateTensor(tensors[i], outs[i], i));
  }
  BatchArgs args{};
  args.error_flags = error_flags;
  uint64_t blocks = 0;
  for (int i = 0; i < count; ++i) {
    const Df11DeviceTensor& t = tensors[i];
    if (t.num_elements == 0) continue;
    if (args.count == kMaxDf11Batch) {
      if (blocks > 0x7FFFFFFFu) {
        return absl::InvalidArgumentError("DecodeDf11Batched: too many blocks");
      }
      RETURN_IF_ERROR(Launch(args, static_cast<uint32_t>(blocks), stream));
      args.count = 0;
      blocks = 0;
    }
    TensorArgs& a = args.tensors[args.count++];
    const uint64_t chunks = (t.stream_bits + kChunkBits - 1) / kChunkBits;
    a.stream = reinterpret_cast<const uint4*>(t.exponent_stream);
    a.sign_mantissa = t.sign_mantissa;
    a.chunk_gaps = t.chunk_gaps;
    a.block_starts = t.block_starts;
    a.table = reinterpret_cast<const uint4*>(t.kernel_table);
    a.out = outs[i];
    a.stream_bits = t.stream_bits;
    a.num_elements = static_cast<uint32_t>(t.num_elements);
    a.num_chunks = static_cast<uint32_t>(chunks);
    a.first_block = static_cast<uint32_t>(blocks);
    const uintptr_t out_addr = reinterpret_cast<uintptr_t>(outs[i]);
    a.out_shift = static_cast<uint32_t>((out_addr / 2) % 8);
    // Element i's output is aligned where i = -out_shift (mod 8); its
    // sign/mantissa byte is then 8-byte aligned if this holds.
    const uintptr_t sm_addr = reinterpret_cast<uintptr_t>(t.sign_mantissa);
    a.sign_mantissa_aligned = (sm_addr + 8 - a.out_shift) % 8 == 0;
    blocks += (chunks + kThreads - 1) / kThreads;
  }
  if (blocks > 0x7FFFFFFFu) {
    return absl::InvalidArgumentError("DecodeDf11Batched: too many blocks");
  }
  return Launch(args, static_cast<uint32_t>(blocks), stream);
}

absl::Status DecodeDf11(const Df11DeviceTensor& tensor, uint16_t* out,
                        uint32_t* error_flags, cudaStream_t stream) {
  return DecodeDf11Batched(&tensor, &out, 1, error_flags, stream);
}

}  // namespace df11
