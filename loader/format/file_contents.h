// Reads a whole (small) file, such as config.json or an index, into memory.
//
//   ASSIGN_OR_RETURN(std::string text, ReadFileContents(path));
#ifndef DF11_LOADER_FORMAT_FILE_CONTENTS_H_
#define DF11_LOADER_FORMAT_FILE_CONTENTS_H_

#include <string>

#include "absl/status/statusor.h"

namespace df11 {

// NotFound for a missing file, the errno's code otherwise; messages name
// `path`. Refuses files larger than `max_bytes` (InvalidArgument).
absl::StatusOr<std::string> ReadFileContents(const std::string& path,
                                             size_t max_bytes = 1 << 30);

}  // namespace df11

#endif  // DF11_LOADER_FORMAT_FILE_CONTENTS_H_
