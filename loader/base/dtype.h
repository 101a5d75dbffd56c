// Element types of tensors, named as safetensors names them.
//
//   ASSIGN_OR_RETURN(Dtype dtype, ParseDtype("BF16"));
//   uint64_t bytes = NumElements(shape) * DtypeSize(dtype);
#ifndef DF11_LOADER_BASE_DTYPE_H_
#define DF11_LOADER_BASE_DTYPE_H_

#include <cstddef>
#include <cstdint>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace df11 {

enum class Dtype {
  kBool,
  kU8,
  kI8,
  kU16,
  kI16,
  kF16,
  kBF16,
  kU32,
  kI32,
  kF32,
  kU64,
  kI64,
  kF64,
  kF8E4M3,
  kF8E5M2,
};

// "BF16" <-> Dtype::kBF16 etc., with the names safetensors uses ("BOOL",
// "U8", ..., "F8_E4M3"). An unknown name is InvalidArgument naming it.
absl::StatusOr<Dtype> ParseDtype(absl::string_view name);
absl::string_view DtypeName(Dtype dtype);
// Bytes per element.
size_t DtypeSize(Dtype dtype);

// The product of the dimensions (1 for a scalar). The caller keeps it below
// 2^64 (readers check shapes for overflow before they trust them).
uint64_t NumElements(absl::Span<const uint64_t> shape);

}  // namespace df11

#endif  // DF11_LOADER_BASE_DTYPE_H_
