// Writes the interoperability fixture: write_interop_fixture RECIPE OUT.
#include <cstdio>

#include "tests/format/interop_fixture.h"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s RECIPE_JSON OUT_SAFETENSORS\n", argv[0]);
    return 2;
  }
  absl::Status status = df11::WriteInteropFixture(argv[1], argv[2]);
  if (!status.ok()) {
    std::fprintf(stderr, "%s\n", status.ToString().c_str());
    return 1;
  }
  return 0;
}
