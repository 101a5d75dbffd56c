// An EncodedTensor copied to device memory, for tests and benchmarks of the
// DF11 kernels.
//
//   ASSIGN_OR_RETURN(DeviceEncodedTensor d, DeviceEncodedTensor::Upload(t));
//   RETURN_IF_ERROR(DecodeDf11(d.view(), out, flags, stream));
//
// Owns its device buffers (freed on destruction); movable, not copyable.
// Not thread-safe.
#ifndef DF11_KERNELS_DEVICE_ENCODED_TENSOR_H_
#define DF11_KERNELS_DEVICE_ENCODED_TENSOR_H_

#include <cstdint>
#include <memory>

#include "absl/status/statusor.h"
#include "kernels/decode_df11.h"
#include "loader/codec/encoded_tensor.h"

namespace df11 {

class DeviceEncodedTensor {
 public:
  // Copies every array of `tensor` and its kernel table
  // (BuildDf11KernelTable) to the device, each in its own 256-byte aligned
  // allocation.
  static absl::StatusOr<DeviceEncodedTensor> Upload(
      const EncodedTensor& tensor);

  const Df11DeviceTensor& view() const { return view_; }
  // Device bytes of payload (as EncodedTensor::PayloadBytes) plus the table.
  uint64_t bytes() const { return bytes_; }

  // Mutable device pointers, for corruption tests.
  uint8_t* exponent_stream() const;
  uint8_t* chunk_gaps() const;
  uint32_t* block_starts() const;

 private:
  struct Buffers;
  DeviceEncodedTensor() = default;

  std::shared_ptr<Buffers> buffers_;
  Df11DeviceTensor view_;
  uint64_t bytes_ = 0;
};

}  // namespace df11

#endif  // DF11_KERNELS_DEVICE_ENCODED_TENSOR_H_
