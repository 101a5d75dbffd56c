// DF11 CPU decoder: the reference for the GPU kernels, and the tool `df11
// verify` uses.
//
//   std::vector<uint16_t> out(tensor.num_elements);
//   RETURN_IF_ERROR(DecodeBf16(tensor.view(), absl::MakeSpan(out), threads));
//
// Decoding is bit-exact. It checks the whole index as it goes (every chunk
// gap, every block start, every code) and never reads outside the view's
// spans or writes outside `out`, whatever the input. On error `out` may hold
// partial results.
#ifndef DF11_LOADER_CODEC_DECODER_H_
#define DF11_LOADER_CODEC_DECODER_H_

#include <cstdint>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "loader/codec/encoded_tensor.h"

namespace df11 {

// Decodes `tensor` into `out` (BF16 bit patterns) using `threads` threads.
// Errors: InvalidArgument if out.size() != tensor.num_elements; DataLoss
// (naming the block) for a corrupted stream or index.
absl::Status DecodeBf16(const EncodedTensorView& tensor,
                        absl::Span<uint16_t> out, int threads);

}  // namespace df11

#endif  // DF11_LOADER_CODEC_DECODER_H_
