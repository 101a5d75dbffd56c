// libFuzzer target for ParseManifest (df11.json). Beyond "no crash": a
// rejected manifest gets InvalidArgument naming the file, and an accepted one
// serializes to text that parses back to the same serialization.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "loader/format/df11_manifest.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view text(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<df11::Manifest> manifest =
      df11::ParseManifest(text, "fuzz/df11.json");
  if (!manifest.ok()) {
    if (manifest.status().code() != absl::StatusCode::kInvalidArgument ||
        manifest.status().message().find("fuzz/df11.json") ==
            absl::string_view::npos) {
      std::abort();
    }
    return 0;
  }
  const std::string once = df11::SerializeManifest(*manifest);
  absl::StatusOr<df11::Manifest> again =
      df11::ParseManifest(once, "fuzz/df11.json");
  if (!again.ok() || df11::SerializeManifest(*again) != once) std::abort();
  return 0;
}
