// DF11 decode kernel: one CUDA block per index block of 256 chunks, one thread
// per 16-byte chunk. docs/kernels.md has the design and its cost model.
//
// Per block:
//   1. stage the tensor's tables (20 KB, BuildDf11KernelTable) in shared
//      memory;
//   2. each thread decodes its chunk once, up to three codes per lookup,
//      into a private 64-byte slot of the shared exponent buffer, and checks
//      that its last code ends where the next chunk's gap says;
//   3. a block-wide prefix sum of the code counts, from block_starts[b],
//      places each thread's symbols in the block's output range;
//   4. each thread moves its slot, through registers, to its place in the
//      (now compact) buffer with word stores;
//   5. all threads combine exponents with sign/mantissa bytes 16 elements at
//      a time and write the block's output with coalesced 16-byte stores.
// A block with a chunk of more than 64 codes (an average code under 2 bits)
// decodes a second time straight into the compact buffer instead of step 4,
// in rounds if its elements don't fit the buffer.
// A block whose index or stream fails a check writes nothing; every write
// is also clamped to the block's output range, itself clamped to [0, n), so
// a corrupted index or stream cannot write outside the output.
// A row lookup (DecodeDf11Rows) runs the same block decode on the index
// blocks that hold the selected rows: each CUDA block first finds its index
// block by a binary search of block_starts.
#include <algorithm>
#include <cstdint>

#include "absl/strings/str_cat.h"
#include "kernels/decode_df11.h"
#include "loader/base/status_macros.h"
#include "loader/gpu/cuda_status.h"

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
// The shared exponent buffer: 16 KB keeps 6 blocks (48 warps) on an SM.
constexpr uint32_t kBufferBytes = 16384;
constexpr int kMinBlocksPerSm = 6;
// Multi-code table entry (BuildDf11KernelTable): up to three symbols in bits
// 0-23, their count in bits 24-25 and their total length in bits 28-31. A
// window that is no code gets length 15 (more than any valid entry), so that
// decoding moves on and the largest entry tells that it happened.
constexpr uint32_t kSymbolsMask = 0xFFFFFFu;
constexpr uint32_t kInvalidLength = 15;
// Codes a thread keeps in its private slot of the exponent buffer when it
// decodes once; a block with a fuller chunk decodes a second time.
constexpr uint32_t kSlotWords = 16;
constexpr uint32_t kSlotBytes = 4 * kSlotWords;

__device__ __forceinline__ uint32_t EntryLength(uint32_t e) { return e >> 28; }
// Bits of the symbols: 8 times the count.
__device__ __forceinline__ uint32_t EntryBits(uint32_t e) {
  return (e >> 21) & 0x18;
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
  // (out / 2 + i) % 16 == 0 makes out + i 32-byte aligned.
  uint32_t out_shift;
  // 16 or 8 if sign_mantissa + i is that aligned wherever out + i is
  // 32-byte aligned, else 0.
  uint32_t sign_mantissa_align;
};

// DecodeDf11Rows: CUDA block i * blocks_per_row + j decodes the j-th index
// block of row ids[i] - id_offset of the launch's one tensor.
struct LookupArgs {
  const int32_t* ids;  // null: whole tensors
  int64_t id_offset;
  uint64_t row_elements;
  uint32_t blocks_per_row;
  uint32_t num_blocks;
};

struct BatchArgs {
  TensorArgs tensors[kMaxDf11Batch];
  int count;
  uint32_t* error_flags;
  LookupArgs lookup;
};

__device__ __forceinline__ uint32_t Gap(const uint8_t* gaps, uint32_t chunk) {
  return (__ldg(gaps + chunk / 2) >> (4 * (chunk % 2))) & 0xF;
}

// The chunk's words w[0..4] (w[4]: the next chunk's first word) shifted
// left by two bits as one 160-bit number, so that one funnel shift and a
// mask give 4 times the 12-bit window at bit q of word i: the byte offset
// of its multi-code table entry.
__device__ __forceinline__ void ShiftForOffsets(uint32_t (&w)[5]) {
#pragma unroll
  for (int k = 4; k > 0; --k) w[k] = __funnelshift_l(w[k - 1], w[k], 2);
  w[0] <<= 2;
}

__device__ __forceinline__ uint32_t EntryOffset(uint32_t lo, uint32_t hi,
                                                int q) {
  return __funnelshift_r(lo, hi, q) & (4 * kWindows - 4);
}

__device__ __forceinline__ uint32_t Entry(const uint8_t* multi,
                                          uint32_t offset) {
  return *reinterpret_cast<const uint32_t*>(multi + offset);
}

// Appends `bits` / 8 symbols (the low bytes of `symbols`) at bit position
// b of a stream of 32-bit words; acc holds the stream's bits [b & ~31, b).
// Returns whether a word was completed, which is then in `full`. The funnel
// shifts take b modulo 32 for free.
__device__ __forceinline__ bool Append(uint32_t symbols, uint32_t bits,
                                       uint32_t& b, uint32_t& acc,
                                       uint32_t& full) {
  full = acc | __funnelshift_l(0, symbols, b);
  const uint32_t next = b + bits;
  const bool done = (next ^ b) >= 32;
  acc = done ? __funnelshift_l(symbols, 0, b) : full;
  b = next;
  return done;
}

// Decodes the codes that start in [gap, limit) of a chunk whose bits are
// w[0..3], with w[4] the first word of the next chunk: up to three per
// lookup of the multi-code table, one at a time (length table) where a
// window reaches the limit. The first kSlotBytes symbols go to the thread's
// slot of `buffer`. Returns the number of codes; sets `end` to the bit after
// the last code, relative to the chunk start, and `bad` if a window was no
// code.
__device__ __forceinline__ uint32_t DecodeToSlot(const uint32_t (&w)[5],
                                                 int gap, int limit,
                                                 const uint8_t* multi,
                                                 const uint8_t* lengths,
                                                 uint32_t* buffer, uint32_t tid,
                                                 int& end, bool& bad) {
  int q = gap;
  uint32_t b = 0;  // 8 times the number of codes so far
  uint32_t acc = 0;
  uint32_t largest = 0;
  uint32_t full;
  // Word k of the slot is buffer[k * kThreads + tid]: a warp's stores hit
  // 32 different banks. Past kSlotWords words the slot wraps around; the
  // block then decodes again and ignores the slots.
  const auto put = [&](bool done, uint32_t word) {
    if (done) buffer[word % kSlotWords * kThreads + tid] = full;
  };
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    // Whole windows while every code in them starts before the limit.
    const int multi_limit = min(32, limit - 32 * i - (kWindowBits - 1));
    while (q < multi_limit) {
      const uint32_t e = Entry(multi, EntryOffset(w[i], w[i + 1], q));
      largest = max(largest, e);
      q += EntryLength(e);
      const uint32_t word = b / 32;
      put(Append(e & kSymbolsMask, EntryBits(e), b, acc, full), word);
    }
    const int word_limit = min(32, limit - 32 * i);
    while (q < word_limit) {
      const uint32_t offset = EntryOffset(w[i], w[i + 1], q);
      const uint32_t length = lengths[offset / 4];
      largest = max(largest, length << 28);
      q += length;
      const uint32_t word = b / 32;
      put(Append(multi[offset], 8, b, acc, full), word);
    }
    q -= 32;
  }
  full = acc;
  put(b % 32 != 0, b / 32);
  end = q + kChunkBits;
  bad = EntryLength(largest) > kWindowBits;
  return b / 8;
}

// Byte positions p0..p1 of the block's exponent buffer, as 32-bit words.
// Words that hold only this thread's bytes are stored; the first and last
// words may hold a neighbour's bytes too, are zeroed before and get atomicOr.
// With kWindowed, only words in [base, base + kBufferBytes) are written, at
// word index (p - base) / 4.
template <bool kWindowed>
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

// Decodes the codes DecodeToSlot counted, `count` = p1 - p0 of them, and
// writes their symbols to byte positions p0..p1 through `out`.
template <bool kWindowed>
__device__ __forceinline__ void DecodeCodes(const uint32_t (&w)[5], int gap,
                                            int limit, const uint8_t* multi,
                                            const WordWriter<kWindowed>& out,
                                            uint32_t p0, uint32_t p1) {
  int q = gap;
  uint32_t b = 8 * p0;  // bit position in the buffer
  const uint32_t b1 = 8 * p1;
  uint32_t acc = 0;
  uint32_t full;
  const auto emit = [&](uint32_t symbols, uint32_t bits) {
    const uint32_t word = b / 32;
    if (Append(symbols, bits, b, acc, full)) out.Put(word, full);
  };
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const int multi_limit = min(32, limit - 32 * i - (kWindowBits - 1));
    while (q < multi_limit) {
      const uint32_t e = Entry(multi, EntryOffset(w[i], w[i + 1], q));
      q += EntryLength(e);
      emit(e & kSymbolsMask, EntryBits(e));
    }
    // Near the limit a window may hold codes of the next chunk: keep only
    // as many symbols as are left.
    const int word_limit = min(32, limit - 32 * i);
    while (q < word_limit) {
      const uint32_t e = Entry(multi, EntryOffset(w[i], w[i + 1], q));
      q += EntryLength(e);
      const uint32_t bits = min(EntryBits(e), b1 - b);
      emit(e & ~(0xFFFFFFFFu << bits), bits);
    }
    q -= 32;
  }
  if (b % 32 != 0) out.Or(b / 32, acc);
}

// BF16 values of elements 2j and 2j + 1 (j = 0 or 1) of four
// sign/mantissa bytes and four exponent bytes.
template <int j>
__device__ __forceinline__ uint32_t Bf16Pair(uint32_t sm4, uint32_t e4) {
  // PRMT with the selector's high bit set replicates a byte's sign bit:
  // bytes [sm_2j, sign_2j, sm_2j+1, sign_2j+1].
  constexpr uint32_t kSignSelect = j == 0 ? 0x9180 : 0xB3A2;
  uint32_t sm;
  asm("prmt.b32 %0, %1, 0, %2;" : "=r"(sm) : "r"(sm4), "n"(kSignSelect));
  const uint32_t e = __byte_perm(e4, 0, j == 0 ? 0x4140 : 0x4342);
  return (sm & 0x807F807Fu) | (e << 7);
}

__device__ __forceinline__ uint16_t Bf16(uint32_t sm, uint32_t e) {
  return static_cast<uint16_t>(((sm & 0x80u) << 8) | (e << 7) | (sm & 0x7Fu));
}

// Writes the outputs of byte positions [lo, hi) of the block, whose
// exponents sit at exponents[p - base]; position head is element start.
// Position 16j lines up with a 32-byte aligned output address; base is a
// multiple of 16.
__device__ __forceinline__ void StoreOutputs(const TensorArgs& t,
                                             const uint8_t* exponents,
                                             uint32_t start, uint32_t head,
                                             uint32_t lo, uint32_t hi,
                                             uint32_t base) {
  const uint8_t* sm = t.sign_mantissa;
  uint16_t* out = t.out;
  for (uint32_t p = base + 16 * threadIdx.x; p < hi; p += 16 * kThreads) {
    const uint32_t i = start + (p - head);
    if (p >= lo && p + 16 <= hi && t.sign_mantissa_align >= 8) {
      const uint4 e16 = *reinterpret_cast<const uint4*>(exponents + (p - base));
      uint4 sm16;
      if (t.sign_mantissa_align == 16) {
        sm16 = __ldg(reinterpret_cast<const uint4*>(sm + i));
      } else {
        const uint2 a = __ldg(reinterpret_cast<const uint2*>(sm + i));
        const uint2 b = __ldg(reinterpret_cast<const uint2*>(sm + i + 8));
        sm16 = make_uint4(a.x, a.y, b.x, b.y);
      }
      uint4* dst = reinterpret_cast<uint4*>(out + i);
      dst[0] =
          make_uint4(Bf16Pair<0>(sm16.x, e16.x), Bf16Pair<1>(sm16.x, e16.x),
                     Bf16Pair<0>(sm16.y, e16.y), Bf16Pair<1>(sm16.y, e16.y));
      dst[1] =
          make_uint4(Bf16Pair<0>(sm16.z, e16.z), Bf16Pair<1>(sm16.z, e16.z),
                     Bf16Pair<0>(sm16.w, e16.w), Bf16Pair<1>(sm16.w, e16.w));
    } else {
      for (uint32_t q = max(p, lo); q < min(p + 16, hi); ++q) {
        const uint32_t k = start + (q - head);
        out[k] = Bf16(__ldg(sm + k), exponents[q - base]);
      }
    }
  }
}

// Writes a thread's symbols r (bytes 0 .. p1 - p0, from its slot) to byte
// positions [p0, p1) of the compact buffer: words shared with a neighbour
// (zeroed before) by atomicOr, the others by plain stores.
__device__ __forceinline__ void WriteCompact(const uint32_t (&r)[kSlotWords],
                                             uint32_t p0, uint32_t p1,
                                             uint32_t* buffer) {
  if (p1 == p0) return;
  const uint32_t shift = (p0 % 4) * 8;
  const uint32_t first = p0 / 4;
  const uint32_t last = (p1 - 1) / 4 - first;
  const uint32_t last_mask = 0xFFFFFFFFu >> (8 * (3 - (p1 - 1) % 4));
#pragma unroll
  for (uint32_t j = 0; j <= kSlotWords; ++j) {
    if (j > last) break;
    uint32_t v =
        __funnelshift_l(j > 0 ? r[j - 1] : 0, j < kSlotWords ? r[j] : 0, shift);
    if (j == last) v &= last_mask;
    if ((j == 0 && shift != 0) || (j == last && p1 % 4 != 0)) {
      atomicOr(buffer + first + j, v);
    } else {
      buffer[first + j] = v;
    }
  }
}

// The index block this CUDA block decodes in a row lookup, in `block`;
// false if it has none (an id outside the tensor, or a row in fewer blocks).
// Every thread computes the same answer, so a whole CUDA block returns.
__device__ __forceinline__ bool LookupBlock(const BatchArgs& args,
                                            const TensorArgs& t,
                                            uint32_t& block) {
  const LookupArgs& l = args.lookup;
  const uint32_t i = blockIdx.x / l.blocks_per_row;
  const uint32_t j = blockIdx.x % l.blocks_per_row;
  const int64_t row = int64_t{__ldg(l.ids + i)} - l.id_offset;
  if (row < 0) return false;
  const uint64_t first = static_cast<uint64_t>(row) * l.row_elements;
  if (first >= t.num_elements) return false;
  const uint64_t end = first + l.row_elements;
  // The last index block that starts at or before the row.
  uint32_t lo = 0;
  uint32_t hi = l.num_blocks;
  while (hi - lo > 1) {
    const uint32_t mid = (lo + hi) / 2;
    if (__ldg(t.block_starts + mid) <= first) {
      lo = mid;
    } else {
      hi = mid;
    }
  }
  if (j == l.blocks_per_row - 1 && threadIdx.x == 0 &&
      args.error_flags != nullptr) {
    // The row's last element must lie in one of its blocks; only a
    // corrupted index puts it further.
    const uint32_t last = min(lo + l.blocks_per_row, l.num_blocks);
    if (__ldg(t.block_starts + last) < end) {
      atomicOr(args.error_flags, kDf11BadIndex);
    }
  }
  block = lo + j;
  return block < l.num_blocks &&
         (j == 0 || __ldg(t.block_starts + block) < end);
}

struct SharedStorage {
  uint4 table[kTableVectors];
  // First the threads' slots (kSlotWords words each, interleaved), then the
  // exponents of the block's elements by byte position: element start + j
  // is at position head + j, so that position 16j lines up with a 32-byte
  // aligned output address.
  __align__(16) uint32_t exponents[kBufferBytes / 4];
  uint32_t warp_totals[kWarps];
  uint32_t block_flags;
  uint32_t overflow;  // a chunk holds more than kSlotBytes codes
};

__global__ void __launch_bounds__(kThreads, kMinBlocksPerSm)
    DecodeDf11Kernel(const __grid_constant__ BatchArgs args) {
  // Dynamic shared memory starts at shared address 0, so that table and
  // buffer accesses take the address straight from a register (a static
  // __shared__ block costs an add per access on sm_90).
  extern __shared__ uint4 shared_raw[];
  SharedStorage& s = *reinterpret_cast<SharedStorage*>(shared_raw);
  const uint8_t* multi = reinterpret_cast<const uint8_t*>(s.table);
  const uint8_t* lengths =
      reinterpret_cast<const uint8_t*>(s.table) + 4 * kWindows;

  int ti = 0;
  while (ti + 1 < args.count &&
         args.tensors[ti + 1].first_block <= blockIdx.x) {
    ++ti;
  }
  const TensorArgs& t = args.tensors[ti];
  uint32_t block = blockIdx.x - t.first_block;
  if (args.lookup.ids != nullptr && !LookupBlock(args, t, block)) return;
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
  ShiftForOffsets(w);
  if (tid == 0) s.overflow = 0;
  __syncthreads();  // table staged

  int end = 0;
  bool bad = false;
  const uint32_t codes =
      DecodeToSlot(w, gap, limit, multi, lengths, s.exponents, tid, end, bad);
  if (bad) flags |= kDf11BadCode;
  if (expected_end >= 0 && end != expected_end) flags |= kDf11BadGap;
  if (codes > kSlotBytes) s.overflow = 1;

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
  const uint32_t head = (start + t.out_shift) % 16;
  const uint32_t p0 =
      head + inclusive - codes + (warp > 0 ? s.warp_totals[warp - 1] : 0);
  const uint32_t p1 = p0 + codes;
  const uint32_t stop = head + count;
  const uint32_t head_word = p0 % 4 != 0 && p1 > p0 ? p0 / 4 : 0xFFFFFFFFu;
  const bool tail_shared = p1 % 4 != 0 && p1 > p0;
  const uint8_t* exponents = reinterpret_cast<const uint8_t*>(s.exponents);
  if (stop <= kBufferBytes && !s.overflow) {
    // Move the slots' symbols to their compact places.
    uint32_t r[kSlotWords];
#pragma unroll
    for (uint32_t k = 0; k < kSlotWords; ++k) {
      r[k] = s.exponents[k * kThreads + tid];
    }
    __syncthreads();
    if (head_word != 0xFFFFFFFFu) s.exponents[head_word] = 0;
    if (tail_shared) s.exponents[p1 / 4] = 0;
    __syncthreads();
    WriteCompact(r, p0, p1, s.exponents);
    __syncthreads();
    StoreOutputs(t, exponents, start, head, head, stop, 0);
    return;
  }
  // A chunk of more than kSlotBytes codes: decode a second time. Loading
  // the chunk again keeps w out of registers on the path above.
  {
    const bool mine = chunk < t.num_chunks;
    const uint4 v = mine ? __ldg(t.stream + chunk) : make_uint4(0, 0, 0, 0);
    w[0] = v.x;
    w[1] = v.y;
    w[2] = v.z;
    w[3] = v.w;
    w[4] = mine ? __ldg(reinterpret_cast<const uint32_t*>(t.stream + chunk + 1))
                : 0;
    ShiftForOffsets(w);
  }
  if (stop <= kBufferBytes) {
    const WordWriter<false> writer{s.exponents, 0, head_word};
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
    const WordWriter<true> writer{s.exponents, base, head_word};
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

absl::Status Launch(const BatchArgs& args, uint32_t blocks,
                    cudaStream_t stream) {
  if (blocks == 0) return absl::OkStatus();
  static_assert(sizeof(SharedStorage) <= 48 * 1024, "needs an opt-in");
  DecodeDf11Kernel<<<blocks, kThreads, sizeof(SharedStorage), stream>>>(args);
  return Annotate(CUDA_STATUS(cudaGetLastError()), "DecodeDf11Kernel launch");
}

uint64_t NumChunks(const Df11DeviceTensor& t) {
  return (t.stream_bits + kChunkBits - 1) / kChunkBits;
}

uint64_t NumBlocks(const Df11DeviceTensor& t) {
  return (NumChunks(t) + kThreads - 1) / kThreads;
}

TensorArgs MakeTensorArgs(const Df11DeviceTensor& t, uint16_t* out,
                          uint32_t first_block) {
  TensorArgs a{};
  a.stream = reinterpret_cast<const uint4*>(t.exponent_stream);
  a.sign_mantissa = t.sign_mantissa;
  a.chunk_gaps = t.chunk_gaps;
  a.block_starts = t.block_starts;
  a.table = reinterpret_cast<const uint4*>(t.kernel_table);
  a.out = out;
  a.stream_bits = t.stream_bits;
  a.num_elements = static_cast<uint32_t>(t.num_elements);
  a.num_chunks = static_cast<uint32_t>(NumChunks(t));
  a.first_block = first_block;
  const uintptr_t out_addr = reinterpret_cast<uintptr_t>(out);
  a.out_shift = static_cast<uint32_t>((out_addr / 2) % 16);
  // Element i's output is 32-byte aligned where i = -out_shift (mod 16);
  // its sign/mantissa byte then has this alignment.
  const uintptr_t sm_at =
      reinterpret_cast<uintptr_t>(t.sign_mantissa) + 16 - a.out_shift;
  a.sign_mantissa_align = sm_at % 16 == 0 ? 16 : sm_at % 8 == 0 ? 8 : 0;
  return a;
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
    multi[window] = codes == 0 ? kInvalidLength << 28 | 1u << 24
                               : bits << 28 | codes << 24 | symbols;
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
    args.tensors[args.count++] =
        MakeTensorArgs(t, outs[i], static_cast<uint32_t>(blocks));
    blocks += NumBlocks(t);
  }
  if (blocks > 0x7FFFFFFFu) {
    return absl::InvalidArgumentError("DecodeDf11Batched: too many blocks");
  }
  return Launch(args, static_cast<uint32_t>(blocks), stream);
}

uint32_t Df11BlocksPerRow(absl::Span<const uint32_t> block_starts,
                          uint64_t num_elements, uint64_t row_elements) {
  if (block_starts.size() < 2 || num_elements == 0 || row_elements == 0) {
    return 0;
  }
  // As the kernel finds them: a row's blocks run from the last one that
  // starts at or before its first element to the last one that starts
  // before its end.
  const auto starts = block_starts.subspan(0, block_starts.size() - 1);
  const auto block_of = [&](uint64_t element) {
    return std::upper_bound(starts.begin(), starts.end(), element) -
           starts.begin() - 1;
  };
  uint32_t most = 0;
  for (uint64_t first = 0; first < num_elements; first += row_elements) {
    const uint64_t last = std::min(first + row_elements, num_elements) - 1;
    most = std::max<uint32_t>(
        most, static_cast<uint32_t>(block_of(last) - block_of(first) + 1));
  }
  return most;
}

absl::Status DecodeDf11Rows(const Df11DeviceTensor& tensor,
                            const Df11RowLookup& rows, uint16_t* out,
                            uint32_t* error_flags, cudaStream_t stream) {
  RETURN_IF_ERROR(ValidateTensor(tensor, out, 0));
  const auto fail = [&](auto... parts) {
    return absl::InvalidArgumentError(
        absl::StrCat("DecodeDf11Rows: ", parts...));
  };
  if (rows.row_elements == 0 || tensor.num_elements % rows.row_elements != 0) {
    return fail("rows of ", rows.row_elements, " elements in a tensor of ",
                tensor.num_elements);
  }
  if (rows.blocks_per_row == 0 || rows.count < 0 ||
      (rows.count > 0 && rows.ids == nullptr)) {
    return fail("bad lookup: ", rows.count, " ids, ", rows.blocks_per_row,
                " blocks per row");
  }
  const uint64_t blocks = uint64_t{rows.blocks_per_row} * rows.count;
  if (blocks > 0x7FFFFFFFu) return fail("too many blocks");
  if (blocks == 0 || tensor.num_elements == 0) return absl::OkStatus();
  BatchArgs args{};
  args.error_flags = error_flags;
  args.count = 1;
  args.tensors[0] = MakeTensorArgs(tensor, out, 0);
  args.lookup = {rows.ids, rows.id_offset, rows.row_elements,
                 rows.blocks_per_row, static_cast<uint32_t>(NumBlocks(tensor))};
  return Launch(args, static_cast<uint32_t>(blocks), stream);
}

absl::Status DecodeDf11(const Df11DeviceTensor& tensor, uint16_t* out,
                        uint32_t* error_flags, cudaStream_t stream) {
  return DecodeDf11Batched(&tensor, &out, 1, error_flags, stream);
}

}  // namespace df11
