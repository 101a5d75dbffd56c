// Status propagation helpers for abseil 20220623, which has no status macros.
//
//   absl::Status Load(...) {
//     RETURN_IF_ERROR(ReadHeader(...));
//     ASSIGN_OR_RETURN(Header header, ParseHeader(...));
//   }
//
// Both macros return the failing status unchanged; they work in functions
// that return absl::Status or absl::StatusOr<T>.
#ifndef DF11_LOADER_BASE_STATUS_MACROS_H_
#define DF11_LOADER_BASE_STATUS_MACROS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define DF11_STATUS_CONCAT_INNER(a, b) a##b
#define DF11_STATUS_CONCAT(a, b) DF11_STATUS_CONCAT_INNER(a, b)

#define RETURN_IF_ERROR(expr)                    \
  do {                                           \
    ::absl::Status df11_status_ = (expr);        \
    if (!df11_status_.ok()) return df11_status_; \
  } while (false)

#define ASSIGN_OR_RETURN(lhs, expr) \
  ASSIGN_OR_RETURN_IMPL(DF11_STATUS_CONCAT(df11_statusor_, __LINE__), lhs, expr)

#define ASSIGN_OR_RETURN_IMPL(statusor, lhs, expr) \
  auto statusor = (expr);                          \
  if (!statusor.ok()) return statusor.status();    \
  lhs = std::move(statusor).value()

#endif  // DF11_LOADER_BASE_STATUS_MACROS_H_
