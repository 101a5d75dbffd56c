// Continuous batching on rank 0: which requests run in the next step, and
// what each request's client gets after it. Pure C++: no gRPC, no MPI, no
// engine; the caller gives it the engine's KvUsage and each step's outcome.
//
//   Scheduler s(options);
//   ASSIGN_OR_RETURN(SequenceId id, s.SubmitGenerate(params, sink, now));
//   while (s.HasWork()) {
//     ServePlan plan = s.NextPlan(engine.kv_usage(), now);
//     AppliedPlan out = ApplyPlan(engine, plan);   // on every rank
//     s.Complete(plan, out, now);
//     for (Delivery& d : s.TakeDeliveries()) d.sink(std::move(d.update));
//   }
//
// Policy, per step (docs/serving.md):
//   1. Sequences that finished, failed or were cancelled since the last plan
//      are removed (the plan's `remove`): their KV blocks are free for this
//      very step.
//   2. Every running sequence that is generating gets one item: its last
//      token, sampling the next. Decodes go first so that inter-token
//      latency does not suffer from long prompts.
//   3. Admitted sequences still reading their prompt get the next chunk, as
//      far as the tokens-per-step budget (max_batch_tokens) goes.
//   4. Waiting requests are admitted first come, first served while there
//      is a sequence slot (max_batch_sequences), budget left, and KV room
//      for their whole prompt + max_new_tokens (admission reserves it all,
//      so a running sequence never runs out of KV and nothing is
//      preempted). The queue's head that does not fit blocks the ones
//      behind it, so a large request is not starved.
// A request's random stream is 0: its draws are keyed by its seed and
// positions only, so with the same seed it gets the same tokens alone or in
// any batch (and the same as offline Generate of one prompt).
//
// Stop conditions, checked after each token, in this order: a stop string
// in the decoded text (STOP; the text ends before it), an end id (EOS: the
// model's EOS ids unless ignore_eos, and stop_token_ids; the token is
// returned), max_new_tokens (LENGTH). Cancellation (Cancel, CancelAll)
// finishes a request with CANCELLED; a running one's blocks are freed by
// the next plan.
//
// Not thread-safe: the caller serializes every call (EngineLoop holds a
// mutex around them and runs the engine step outside it).
#ifndef DF11_LOADER_SERVE_SCHEDULER_H_
#define DF11_LOADER_SERVE_SCHEDULER_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "loader/engine/kv_cache_manager.h"
#include "loader/engine/sampling.h"
#include "loader/serve/output_text.h"
#include "loader/serve/request.h"
#include "loader/serve/step_plan.h"
#include "loader/tokenizer/tokenizer.h"

namespace df11::serve {

struct SchedulerOptions {
  // The engine's step limits (EngineOptions) and KV cache.
  int64_t max_batch_tokens = 512;
  int64_t max_batch_sequences = 64;
  int64_t kv_capacity_tokens = 0;  // whole blocks
  int64_t kv_block_tokens = 16;
  // Requests waiting for admission at most, beyond those that the free
  // sequence slots will take at the next step; more are refused.
  int64_t max_queue = 256;
  // For the text of generated tokens; may be null.
  const tokenizer::Tokenizer* tokenizer = nullptr;
};

// InvalidArgument unless every limit is positive and max_batch_sequences <=
// max_batch_tokens (each running sequence needs a token of every step).
absl::Status ValidateSchedulerOptions(const SchedulerOptions& options);

enum class FinishReason { kNone, kEos, kStop, kLength, kCancelled };
const char* FinishReasonName(FinishReason reason);  // "eos", "stop", ...

// One message to a request's client.
struct RequestUpdate {
  std::vector<int32_t> tokens;  // new tokens
  std::string text;             // the text they add (may be empty)
  // With logprobs asked for: one per token of `tokens`.
  std::vector<SampledToken> logprobs;
  // The last update of a request has final set, and either an error or
  // (Generate) a finish reason and the usage, or (Forward) the logits.
  bool final = false;
  absl::Status error;
  FinishReason finish = FinishReason::kNone;
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
  std::vector<float> logits;  // Forward: [positions, vocab_size]
};

// Called with each update, in order; the last one has `final`.
using UpdateSink = std::function<void(RequestUpdate)>;

// An update to deliver, with the timing facts metrics need.
struct Delivery {
  UpdateSink sink;
  RequestUpdate update;
  bool forward = false;
  bool first_token = false;         // update holds the first new token
  absl::Duration since_arrival;     // since SubmitGenerate / SubmitForward
  absl::Duration since_last_token;  // when a later token is in the update
};

class Scheduler {
 public:
  // REQUIRES: ValidateSchedulerOptions(options).ok().
  explicit Scheduler(const SchedulerOptions& options);

  // Queues a request and returns its sequence id. ResourceExhausted, with
  // nothing queued, when max_queue requests wait beyond the free sequence
  // slots, or when the request needs more KV tokens than the whole cache
  // holds.
  absl::StatusOr<SequenceId> SubmitGenerate(GenerateParams params,
                                            UpdateSink sink, absl::Time now);
  absl::StatusOr<SequenceId> SubmitForward(ForwardParams params,
                                           UpdateSink sink, absl::Time now);

  // Finishes the request at once with CANCELLED (a Forward: with the
  // Cancelled error); a running one's sequence is removed by the next plan
  // (a step in flight still runs it, and its result is dropped). Unknown or
  // finished ids are ignored.
  void Cancel(SequenceId id, absl::Time now);
  void CancelAll(absl::Time now);
  // Every request fails with `status` (e.g. Unavailable after a rank
  // stopped answering); their sequences are left for the next plan.
  void FailAll(const absl::Status& status, absl::Time now);

  // The next plan. Empty when there is nothing to do.
  ServePlan NextPlan(const KvUsage& kv, absl::Time now);
  // The outcome of the last plan NextPlan returned: tokens, stops,
  // failures.
  void Complete(const ServePlan& plan, const AppliedPlan& applied,
                absl::Time now);
  // The updates made since the last call, in order.
  std::vector<Delivery> TakeDeliveries();

  // True when NextPlan would not be empty.
  bool HasWork() const;
  int64_t running() const { return static_cast<int64_t>(running_.size()); }
  int64_t waiting() const { return static_cast<int64_t>(waiting_.size()); }

 private:
  struct Request {
    SequenceId id = 0;
    bool forward = false;
    GenerateParams gen;  // Generate
    ForwardParams fwd;   // Forward
    std::vector<int32_t> prompt;
    int64_t max_tokens = 0;  // KV reserved: prompt + max_new_tokens
    int64_t fed = 0;         // prompt tokens given to the engine
    std::vector<int32_t> output;
    std::unique_ptr<OutputText> text;
    std::vector<float> logits;
    UpdateSink sink;
    absl::Time arrival;
    absl::Time last_token;
  };

  absl::StatusOr<SequenceId> Queue(Request request);
  int64_t BlocksFor(int64_t tokens) const;
  // Sends `update` as the request's last and forgets the request; a
  // running one is removed from the engine by the next plan.
  void Finish(SequenceId id, RequestUpdate update, absl::Time now);
  void Deliver(Request& r, RequestUpdate update, absl::Time now,
               bool has_token);
  SequenceStep NextItem(Request& r, int64_t budget) const;
  void OnToken(Request& r, const SampledToken& sampled, absl::Time now);

  SchedulerOptions options_;
  SequenceId next_id_ = 1;
  std::map<SequenceId, Request> requests_;
  std::deque<SequenceId> waiting_;
  std::vector<SequenceId> running_;  // admitted, in admission order
  // Admitted sequences to remove from the engine, with their KV blocks.
  std::vector<std::pair<SequenceId, int64_t>> to_remove_;
  std::vector<Delivery> outbox_;
};

}  // namespace df11::serve

#endif  // DF11_LOADER_SERVE_SCHEDULER_H_
