// Writes the safetensors file described by a recipe JSON with our
// SafetensorsWriter, for the Python interoperability check.
//
//   RETURN_IF_ERROR(WriteInteropFixture("recipe.json", "out.safetensors"));
//
// Recipe: {"metadata": {string: string},
//          "tensors": [{"name": ..., "dtype": "BF16", "shape": [...]}, ...]}.
// Byte i of the k-th tensor is (17*k + 131*i + 7) mod 256, or that & 1 for
// BOOL; make_safetensors_fixtures.py checks the same rule.
#ifndef DF11_TESTS_FORMAT_INTEROP_FIXTURE_H_
#define DF11_TESTS_FORMAT_INTEROP_FIXTURE_H_

#include <string>

#include "absl/status/status.h"

namespace df11 {

absl::Status WriteInteropFixture(const std::string& recipe_path,
                                 const std::string& out_path);

}  // namespace df11

#endif  // DF11_TESTS_FORMAT_INTEROP_FIXTURE_H_
