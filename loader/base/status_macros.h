// Status propagation helpers for abseil 20220623, which has no status macros.
//
//   absl::Status Load(...) {
//     RETURN_IF_ERROR(ReadHeader(...));
//     ASSIGN_OR_RETURN(Header header, ParseHeader(...));
//   }
//
// Both macros return the failing status unchanged; they work in functions
// that return absl::Status or absl::StatusOr<T>.
//
// Annotate adds context as an error travels up:
//
//   RETURN_IF_ERROR(Annotate(ReadShard(...), "layer 12 o_proj"));
//   // "layer 12 o_proj: exponent stream checksum mismatch in rank-03..."
#ifndef DF11_LOADER_BASE_STATUS_MACROS_H_
#define DF11_LOADER_BASE_STATUS_MACROS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace df11 {

// `status` with "context: " put before its message; the code and payloads
// are kept. OK stays OK.
inline absl::Status Annotate(const absl::Status& status,
                             absl::string_view context) {
  if (status.ok()) return status;
  absl::Status annotated(status.code(),
                         absl::StrCat(context, ": ", status.message()));
  status.ForEachPayload(
      [&annotated](absl::string_view type_url, const absl::Cord& payload) {
        annotated.SetPayload(type_url, payload);
      });
  return annotated;
}

}  // namespace df11

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
