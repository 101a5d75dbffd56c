// The step plan: what every rank does to its engine in one step of the
// daemon, made by rank 0's scheduler and broadcast to the other ranks.
//
//   rank 0:                               every other rank:
//     ServePlan plan = scheduler.Next();    RunFollower(engine, world);
//     std::string bytes = EncodePlan(plan);   // loops: receive a plan,
//     BroadcastBytes(world, &bytes);          // ApplyPlan, until shutdown
//     AppliedPlan out = ApplyPlan(engine, plan);
//
// A plan is applied in this order: remove the finished and cancelled
// sequences (their KV blocks go back to the pool), admit the new ones
// (AddSequence with their whole prompt + max_new_tokens), then run one
// LlamaEngine::Step over the items (skipped when there are none). Every rank
// applies the same plans in the same order, so the engines' KV bookkeeping
// stays identical and admission decided on rank 0 holds on every rank.
// A plan with `shutdown` set is the last: every rank returns and exits 0.
//
// The wire form is a versioned protobuf (step_plan.proto); DecodePlan
// rejects another version or unparsable bytes with DataLoss.
#ifndef DF11_LOADER_SERVE_STEP_PLAN_H_
#define DF11_LOADER_SERVE_STEP_PLAN_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "loader/dist/world_config.h"
#include "loader/engine/llama_engine.h"

namespace df11::serve {

inline constexpr uint32_t kPlanVersion = 1;

struct Admission {
  SequenceId id = 0;
  int64_t max_tokens = 0;
  bool operator==(const Admission& o) const {
    return id == o.id && max_tokens == o.max_tokens;
  }
};

struct ServePlan {
  bool shutdown = false;
  std::vector<SequenceId> remove;
  std::vector<Admission> add;
  StepPlan step;

  bool empty() const {
    return !shutdown && remove.empty() && add.empty() && step.items.empty();
  }
};

std::string EncodePlan(const ServePlan& plan);
absl::StatusOr<ServePlan> DecodePlan(absl::string_view bytes);

// What applying a plan did, the same on every rank.
struct AppliedPlan {
  // Per plan.add: the admission's status. Refusals do not happen when rank 0
  // admitted against the engine's KvUsage; if one does, that sequence's
  // items are left out of the step and fail with the refusal.
  std::vector<absl::Status> admitted;
  // Per plan.step.items: OK and the result, or the error that item got (the
  // step's error fails every item that ran).
  std::vector<absl::Status> item_status;
  std::vector<SequenceResult> results;
  // The step's own error (OK when it ran or had nothing to run).
  absl::Status step;
  // Wall time of the engine step.
  absl::Duration step_time;
};

// Applies `plan` to the engine (see above). REQUIRES: !plan.shutdown.
AppliedPlan ApplyPlan(LlamaEngine& engine, const ServePlan& plan);

// The loop of every rank but 0: receive a plan, apply it, until the
// shutdown plan (returns OK). Errors that make MPI unusable end the loop:
// a broadcast that fails, a step that returns DeadlineExceeded (a rank
// stopped answering), a plan that does not decode; the caller then aborts
// the job (MpiSession::Abort). Other step errors were agreed by every rank
// and are rank 0's to report; the loop goes on.
absl::Status RunFollower(LlamaEngine& engine, const WorldConfig& world);

// True for an error after which the ranks can no longer step together.
bool IsFatalStepError(const absl::Status& status);

}  // namespace df11::serve

#endif  // DF11_LOADER_SERVE_STEP_PLAN_H_
