#include "kernels/device_encoded_tensor.h"

#include <cuda_runtime.h>

#include <vector>

#include "loader/base/status_macros.h"
#include "loader/codec/huffman_code.h"
#include "loader/gpu/cuda_status.h"

namespace df11 {

struct DeviceEncodedTensor::Buffers {
  std::vector<void*> pointers;  // stream, sign_mantissa, gaps, starts, table
  ~Buffers() {
    for (void* p : pointers) cudaFree(p);
  }
};

namespace {

absl::StatusOr<void*> Copy(const void* host, size_t bytes) {
  void* device = nullptr;
  // At least one byte, so that empty arrays still get a distinct pointer.
  RETURN_IF_ERROR(CUDA_STATUS(cudaMalloc(&device, bytes > 0 ? bytes : 1)));
  if (bytes > 0) {
    const absl::Status s =
        CUDA_STATUS(cudaMemcpy(device, host, bytes, cudaMemcpyHostToDevice));
    if (!s.ok()) {
      cudaFree(device);
      return s;
    }
  }
  return device;
}

}  // namespace

absl::StatusOr<DeviceEncodedTensor> DeviceEncodedTensor::Upload(
    const EncodedTensor& tensor) {
  DeviceEncodedTensor d;
  d.buffers_ = std::make_shared<Buffers>();
  const DecodeTable decode_table = BuildDecodeTable(tensor.code_lengths);
  std::vector<uint8_t> table(kDf11KernelTableBytes);
  BuildDf11KernelTable(decode_table.data(), table.data());
  const std::pair<const void*, size_t> arrays[] = {
      {tensor.exponent_stream.data(), tensor.exponent_stream.size()},
      {tensor.sign_mantissa.data(), tensor.sign_mantissa.size()},
      {tensor.chunk_gaps.data(), tensor.chunk_gaps.size()},
      {tensor.block_starts.data(),
       tensor.block_starts.size() * sizeof(uint32_t)},
      {table.data(), table.size()},
  };
  for (const auto& [host, bytes] : arrays) {
    ASSIGN_OR_RETURN(void* p, Copy(host, bytes));
    d.buffers_->pointers.push_back(p);
    d.bytes_ += bytes;
  }
  const std::vector<void*>& p = d.buffers_->pointers;
  d.view_.exponent_stream = static_cast<const uint8_t*>(p[0]);
  d.view_.sign_mantissa = static_cast<const uint8_t*>(p[1]);
  d.view_.chunk_gaps = static_cast<const uint8_t*>(p[2]);
  d.view_.block_starts = static_cast<const uint32_t*>(p[3]);
  d.view_.kernel_table = static_cast<const uint8_t*>(p[4]);
  d.view_.num_elements = tensor.num_elements;
  d.view_.stream_bits = tensor.stream_bits;
  d.view_.chunk_bytes = tensor.layout.chunk_bytes;
  d.view_.chunks_per_block = tensor.layout.chunks_per_block;
  return d;
}

uint8_t* DeviceEncodedTensor::exponent_stream() const {
  return static_cast<uint8_t*>(buffers_->pointers[0]);
}
uint8_t* DeviceEncodedTensor::chunk_gaps() const {
  return static_cast<uint8_t*>(buffers_->pointers[2]);
}
uint32_t* DeviceEncodedTensor::block_starts() const {
  return static_cast<uint32_t*>(buffers_->pointers[3]);
}

}  // namespace df11
