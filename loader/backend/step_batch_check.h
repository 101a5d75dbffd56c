// The checks every backend's BeginStep makes before it trusts a step's
// index arrays (backend.h, StepBatch): sizes within the limits of Prepare,
// consistent indptr arrays, positions inside their sequences and the
// context, block ids and KV slots inside the pool, increasing logit rows.
//
//   const absl::Status s = CheckStepBatch(batch, limits);
//
// Errors: InvalidArgument ("step batch: ...") naming the first violation.
#ifndef DF11_LOADER_BACKEND_STEP_BATCH_CHECK_H_
#define DF11_LOADER_BACKEND_STEP_BATCH_CHECK_H_

#include "absl/status/status.h"
#include "loader/engine/backend.h"

namespace df11 {

absl::Status CheckStepBatch(const StepBatch& batch,
                            const BackendLimits& limits);

}  // namespace df11

#endif  // DF11_LOADER_BACKEND_STEP_BATCH_CHECK_H_
