// libFuzzer target for ParseSafetensorsHeader. Input: 8 bytes little-endian
// data-section size, then the header JSON. Beyond "no crash", checks that an
// accepted header keeps the parser's promises.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "loader/format/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 8) return 0;
  uint64_t data_bytes = 0;
  for (int i = 7; i >= 0; --i) data_bytes = (data_bytes << 8) | data[i];
  const absl::string_view json(reinterpret_cast<const char*>(data + 8),
                               size - 8);
  absl::StatusOr<df11::SafetensorsHeader> header =
      df11::ParseSafetensorsHeader(json, data_bytes, "fuzz.safetensors");
  if (!header.ok()) {
    if (header.status().code() != absl::StatusCode::kInvalidArgument ||
        header.status().message().find("fuzz.safetensors") ==
            absl::string_view::npos) {
      std::abort();
    }
    return 0;
  }
  // Accepted: the tensors tile [0, data_bytes) in order, sizes agree.
  uint64_t covered = 0;
  for (const df11::TensorInfo& t : header->tensors) {
    if (t.begin != covered || t.end < t.begin) std::abort();
    if (t.num_elements() * df11::DtypeSize(t.dtype) != t.num_bytes()) {
      std::abort();
    }
    covered = t.end;
  }
  if (covered != data_bytes) std::abort();
  return 0;
}
