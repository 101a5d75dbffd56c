#include "loader/base/library_error.h"

#include "absl/strings/str_cat.h"

namespace df11 {

absl::Status LibraryError(absl::StatusCode code, absl::string_view call,
                          absl::string_view name, absl::string_view description,
                          const char* file, int line) {
  return absl::Status(
      code, absl::StrCat(call, " failed: ", name, " (", description, ") at ",
                         file, ":", line));
}

}  // namespace df11
