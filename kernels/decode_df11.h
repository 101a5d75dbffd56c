// GPU decoder for DF11 tensors (docs/format.md): compressed weights in device
// memory in, BF16 bit patterns in device memory out.
//
//   Df11DeviceTensor t = ...;  // device copies of the encoded arrays
//   RETURN_IF_ERROR(DecodeDf11(t, out, error_flags, stream));
//
//   // All matrices of a layer in one launch:
//   RETURN_IF_ERROR(DecodeDf11Batched(tensors, outs, count, error_flags,
//                                     stream));
//
//   // Only the rows of an embedding table that a step looks up:
//   Df11RowLookup rows{ids, count, 0, hidden,
//                      Df11BlocksPerRow(host_block_starts, n, hidden)};
//   RETURN_IF_ERROR(DecodeDf11Rows(t, rows, out, error_flags, stream));
//
// The launchers are asynchronous: they validate what the host can see, enqueue
// one kernel on `stream` and return. A corrupted stream or index never makes
// the kernel write outside [out, out + num_elements); it sets bits in
// `*error_flags` (if non-null) instead, and the output holds garbage. Read
// the flags after the stream has synchronized; zero them before the launch.
// docs/kernels.md explains the design and its cost.
//
// Thread safety: the launchers keep no state; they may be called from several
// threads.
#ifndef DF11_KERNELS_DECODE_DF11_H_
#define DF11_KERNELS_DECODE_DF11_H_

#include <cuda_runtime.h>

#include <cstdint>

#include "absl/status/status.h"
#include "absl/types/span.h"

namespace df11 {

// Device pointers to the arrays of one encoded tensor (see
// loader/codec/encoded_tensor.h for their contents and exact sizes). Not owned.
struct Df11DeviceTensor {
  const uint8_t* exponent_stream = nullptr;  // 16-byte aligned
  const uint8_t* sign_mantissa = nullptr;
  const uint8_t* chunk_gaps = nullptr;
  const uint32_t* block_starts = nullptr;
  // The tensor's kDf11KernelTableBytes-byte table from BuildDf11KernelTable;
  // 16-byte aligned.
  const uint8_t* kernel_table = nullptr;
  uint64_t num_elements = 0;
  uint64_t stream_bits = 0;
  uint32_t chunk_bytes = 16;        // the kernel requires 16
  uint32_t chunks_per_block = 256;  // the kernel requires 256
};

// The kernel's per-tensor lookup tables, made on the host from the codec's
// 4096-entry decode table (BuildDecodeTable in loader/codec/huffman_code.h:
// symbol | length << 8, indexed by the next 12 stream bits). For each 12-bit
// window: up to three whole codes it holds (symbols, count and total length
// in one 32-bit word), then the length of its first code (one byte).
inline constexpr int kDf11KernelTableBytes = 4096 * 5;
void BuildDf11KernelTable(const uint16_t* decode_table, uint8_t* kernel_table);

// Bits the kernel sets in *error_flags.
inline constexpr uint32_t kDf11BadIndex = 1;  // block_starts out of range
inline constexpr uint32_t kDf11BadCode = 2;   // a window that is no code
inline constexpr uint32_t kDf11BadGap = 4;    // a chunk gap that lies
inline constexpr uint32_t kDf11BadCount = 8;  // codes != block's element count

// Decodes `tensor` into out[0, num_elements) (BF16 bit patterns).
// REQUIRES: `out` is 2-byte aligned; it need not be 16-byte aligned.
// Errors: InvalidArgument for a layout other than 16-byte chunks and 256
// chunks per block, an impossible size, a null or misaligned pointer; the
// CUDA error (as Internal) if the launch fails.
absl::Status DecodeDf11(const Df11DeviceTensor& tensor, uint16_t* out,
                        uint32_t* error_flags, cudaStream_t stream);

// Decodes tensors[i] into outs[i] for i < count, in one launch per
// kMaxDf11Batch tensors. The work is spread evenly over the GPU whatever the
// tensors' sizes. Outputs must not overlap.
inline constexpr int kMaxDf11Batch = 16;
absl::Status DecodeDf11Batched(const Df11DeviceTensor* tensors,
                               uint16_t* const* outs, int count,
                               uint32_t* error_flags, cudaStream_t stream);

// The rows of a [rows, row_elements] tensor to decode: row ids[i] - id_offset
// for i < count. `ids` is device memory, read when the kernel runs (so a
// captured CUDA graph follows new ids); an id outside the tensor's rows
// selects nothing (the masked lookup of a vocabulary-split embedding).
struct Df11RowLookup {
  const int32_t* ids = nullptr;
  int64_t count = 0;
  int64_t id_offset = 0;
  uint64_t row_elements = 0;
  // At most this many index blocks hold elements of one row: from the
  // tensor's block_starts with Df11BlocksPerRow.
  uint32_t blocks_per_row = 0;
};

// The most index blocks that hold elements of one row of `row_elements`, for
// a tensor of `num_elements` whose block_starts (host copy, one entry per
// block and a last one of num_elements) are given. 0 for an empty tensor.
uint32_t Df11BlocksPerRow(absl::Span<const uint32_t> block_starts,
                          uint64_t num_elements, uint64_t row_elements);

// Decodes the index blocks that hold the selected rows into their places in
// out[0, num_elements): every element of a selected row is written, and
// elements of other rows that share a block with one; the rest of `out` is
// left as it was. One CUDA block per (id, j < blocks_per_row), so the
// launch costs a few microseconds for a handful of ids; for many ids a
// whole-tensor DecodeDf11 is cheaper (more than one id per index block).
// Duplicate ids decode the same blocks again, writing the same values.
// An index that puts a row in more than blocks_per_row blocks sets
// kDf11BadIndex. Errors: as DecodeDf11, and InvalidArgument for row_elements
// that do not divide num_elements, blocks_per_row 0, a negative count or a
// null `ids` with count > 0.
absl::Status DecodeDf11Rows(const Df11DeviceTensor& tensor,
                            const Df11RowLookup& rows, uint16_t* out,
                            uint32_t* error_flags, cudaStream_t stream);

}  // namespace df11

#endif  // DF11_KERNELS_DECODE_DF11_H_
