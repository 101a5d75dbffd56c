// Rank 0's side of the daemon: requests come in from any thread (the gRPC
// handlers), the engine loop runs on the thread that calls Run (main, the
// thread that initialized MPI), and updates go back through each request's
// sink as the steps make them.
//
//   Leader leader(*engine, world, options, tokenizer, &metrics);
//   // gRPC threads:
//   ASSIGN_OR_RETURN(SequenceId id, leader.Generate(input, sink));
//   leader.Cancel(id);                        // the client went away
//   // the signal thread:
//   leader.Drain(absl::Seconds(30));          // SIGTERM
//   // main:
//   absl::Status done = leader.Run();         // returns after the drain
//
// The loop: wait for work; take the scheduler's plan (under the lock);
// broadcast it to every rank (BroadcastBytes); apply it to the engine
// (outside the lock, so requests keep arriving); hand the outcome to the
// scheduler; deliver the updates (outside the lock). When idle it sleeps on
// a condition variable, and the other ranks sleep in BroadcastBytes.
//
// Drain: new requests are refused (Unavailable); the ones already accepted
// run until they finish or the grace period ends, when they are cancelled
// (finish reason CANCELLED); then the shutdown plan goes to every rank and
// Run returns OK.
//
// A fatal error (the broadcast fails, or a step returns DeadlineExceeded
// because a rank stopped answering) fails every request with Unavailable
// and Run returns it; the caller then aborts the job. Other step errors
// fail only the requests in that step (with the engine's status, e.g.
// Internal), and serving goes on.
//
// Thread safety: Generate, Forward, Cancel, Drain, load() and accepting()
// may be called from any thread, before, during and after Run. Sinks are
// called on the loop thread, one request's in order; they must not block.
#ifndef DF11_LOADER_SERVE_LEADER_H_
#define DF11_LOADER_SERVE_LEADER_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "loader/dist/world_config.h"
#include "loader/engine/llama_engine.h"
#include "loader/serve/metrics.h"
#include "loader/serve/request.h"
#include "loader/serve/scheduler.h"
#include "loader/tokenizer/tokenizer.h"

namespace df11::serve {

struct LeaderOptions {
  SchedulerOptions scheduler;  // its tokenizer is set by Leader
  RequestLimits limits;
  // How long rank 0 waits for a plan broadcast to complete.
  absl::Duration broadcast_timeout = absl::Seconds(60);
};

// Forward's answer.
struct ForwardOutput {
  int64_t vocab_size = 0;
  int64_t positions = 0;
  std::vector<float> logits;  // [positions, vocab_size]; empty with top
  // With top_logprobs n: per position, the n most likely, best first.
  std::vector<std::vector<TokenLogprob>> top;
};

// The state ModelInfo and the metrics report.
struct LoadSnapshot {
  int64_t running = 0;
  int64_t waiting = 0;
  int64_t kv_used_tokens = 0;  // reserved by admitted sequences
  int64_t kv_capacity_tokens = 0;
};

class Leader {
 public:
  // `engine`, `tokenizer` (may be null) and `metrics` must outlive the
  // Leader. REQUIRES: ValidateSchedulerOptions(options.scheduler).ok().
  Leader(LlamaEngine& engine, const WorldConfig& world,
         const LeaderOptions& options, const tokenizer::Tokenizer* tokenizer,
         ServeMetrics* metrics);

  // Checks and queues a Generate; updates go to `sink`. Errors (nothing
  // queued, sink never called): those of ResolveGenerate and
  // Scheduler::SubmitGenerate, Unavailable while draining or after a fatal
  // error.
  absl::StatusOr<SequenceId> Generate(const GenerateInput& input,
                                      UpdateSink sink);
  // Checks and queues a Forward; `done` is called once, on the loop thread,
  // unless an error is returned here.
  absl::StatusOr<SequenceId> Forward(
      const ForwardInput& input,
      std::function<void(absl::StatusOr<ForwardOutput>)> done);
  // Cancels a request (see Scheduler::Cancel).
  void Cancel(SequenceId id);
  // Starts the drain; a later call can only bring its end closer
  // (Drain(absl::ZeroDuration()) cancels what is left at once).
  void Drain(absl::Duration grace);

  LoadSnapshot load() const;
  bool accepting() const;

  // The engine loop; see above.
  absl::Status Run();

 private:
  void Dispatch(std::vector<Delivery> deliveries);
  void Wake();

  LlamaEngine& engine_;
  const WorldConfig world_;
  LeaderOptions options_;
  const tokenizer::Tokenizer* tokenizer_;
  ServeMetrics* metrics_;
  const int64_t vocab_size_;
  std::atomic<uint64_t> seed_counter_;

  mutable absl::Mutex mu_;
  absl::CondVar wake_;
  Scheduler scheduler_ ABSL_GUARDED_BY(mu_);
  KvUsage kv_ ABSL_GUARDED_BY(mu_);
  bool draining_ ABSL_GUARDED_BY(mu_) = false;
  bool failed_ ABSL_GUARDED_BY(mu_) = false;
  absl::Time drain_deadline_ ABSL_GUARDED_BY(mu_);
};

}  // namespace df11::serve

#endif  // DF11_LOADER_SERVE_LEADER_H_
