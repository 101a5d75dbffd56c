#include "loader/serve/leader.h"

#include <algorithm>
#include <random>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/types/span.h"
#include "loader/dist/broadcast.h"
#include "loader/serve/step_plan.h"

namespace df11::serve {
namespace {

SchedulerOptions WithTokenizer(SchedulerOptions options,
                               const tokenizer::Tokenizer* tokenizer) {
  options.tokenizer = tokenizer;
  return options;
}

// splitmix64: well-spread seeds from a counter.
uint64_t Mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

absl::Status NotAccepting(bool failed) {
  return absl::UnavailableError(
      failed ? "the server lost a rank and is shutting down"
             : "the server is shutting down and accepts no new requests");
}

ForwardOutput MakeForwardOutput(const ForwardParams& params,
                                std::vector<float> logits, int64_t vocab_size) {
  ForwardOutput out;
  out.vocab_size = vocab_size;
  out.positions = static_cast<int64_t>(logits.size()) / vocab_size;
  if (params.top_logprobs == 0) {
    out.logits = std::move(logits);
    return out;
  }
  // The engine's own logprobs: SampleRow's log-softmax and ordering.
  SampleRequest request;
  request.sample = true;
  request.logprobs = params.top_logprobs;
  for (int64_t p = 0; p < out.positions; ++p) {
    SampledToken t = SampleRow(
        request, absl::MakeConstSpan(logits.data() + p * vocab_size,
                                     static_cast<size_t>(vocab_size)));
    out.top.push_back(std::move(t.top));
  }
  return out;
}

}  // namespace

Leader::Leader(LlamaEngine& engine, const WorldConfig& world,
               const LeaderOptions& options,
               const tokenizer::Tokenizer* tokenizer, ServeMetrics* metrics)
    : engine_(engine),
      world_(world),
      options_(options),
      tokenizer_(tokenizer),
      metrics_(metrics),
      vocab_size_(engine.config().vocab_size),
      seed_counter_(std::random_device{}()),
      scheduler_(WithTokenizer(options.scheduler, tokenizer)),
      kv_(engine.kv_usage()) {}

void Leader::Wake() { wake_.Signal(); }

absl::StatusOr<SequenceId> Leader::Generate(const GenerateInput& input,
                                            UpdateSink sink) {
  // Tokenizing and checking happen here, on the caller's thread.
  absl::StatusOr<GenerateParams> params = ResolveGenerate(
      input, options_.limits, tokenizer_, Mix(seed_counter_.fetch_add(1)));
  if (!params.ok()) {
    metrics_->OnFailed(params.status().code());
    return params.status();
  }
  absl::StatusOr<SequenceId> id;
  {
    absl::MutexLock lock(&mu_);
    if (draining_ || failed_) {
      id = NotAccepting(failed_);
    } else {
      id = scheduler_.SubmitGenerate(*std::move(params), std::move(sink),
                                     absl::Now());
    }
    if (id.ok()) Wake();
  }
  if (!id.ok()) metrics_->OnFailed(id.status().code());
  return id;
}

absl::StatusOr<SequenceId> Leader::Forward(
    const ForwardInput& input,
    std::function<void(absl::StatusOr<ForwardOutput>)> done) {
  absl::StatusOr<ForwardParams> params = ResolveForward(input, options_.limits);
  if (!params.ok()) {
    metrics_->OnFailed(params.status().code());
    return params.status();
  }
  UpdateSink sink = [done = std::move(done), p = *params,
                     vocab = vocab_size_](RequestUpdate update) {
    if (!update.final) return;
    if (!update.error.ok()) {
      done(update.error);
      return;
    }
    done(MakeForwardOutput(p, std::move(update.logits), vocab));
  };
  absl::StatusOr<SequenceId> id;
  {
    absl::MutexLock lock(&mu_);
    if (draining_ || failed_) {
      id = NotAccepting(failed_);
    } else {
      id = scheduler_.SubmitForward(*std::move(params), std::move(sink),
                                    absl::Now());
    }
    if (id.ok()) Wake();
  }
  if (!id.ok()) metrics_->OnFailed(id.status().code());
  return id;
}

void Leader::Cancel(SequenceId id) {
  absl::MutexLock lock(&mu_);
  scheduler_.Cancel(id, absl::Now());
  Wake();
}

void Leader::Drain(absl::Duration grace) {
  absl::MutexLock lock(&mu_);
  const absl::Time deadline = absl::Now() + grace;
  drain_deadline_ = draining_ ? std::min(drain_deadline_, deadline) : deadline;
  draining_ = true;
  Wake();
}

LoadSnapshot Leader::load() const {
  absl::MutexLock lock(&mu_);
  LoadSnapshot s;
  s.running = scheduler_.running();
  s.waiting = scheduler_.waiting();
  s.kv_used_tokens = kv_.reserved * kv_.block_tokens;
  s.kv_capacity_tokens = kv_.capacity_tokens();
  return s;
}

bool Leader::accepting() const {
  absl::MutexLock lock(&mu_);
  return !draining_ && !failed_;
}

void Leader::Dispatch(std::vector<Delivery> deliveries) {
  for (Delivery& d : deliveries) {
    const RequestUpdate& u = d.update;
    if (!d.forward && !u.tokens.empty()) {
      if (d.first_token) {
        metrics_->OnFirstToken(d.since_arrival);
      } else {
        metrics_->OnNextToken(d.since_last_token);
      }
    }
    if (u.final) {
      if (!u.error.ok()) {
        metrics_->OnFailed(u.error.code());
      } else if (d.forward) {
        metrics_->OnForward(u.prompt_tokens);
      } else {
        metrics_->OnFinished(u.finish, u.prompt_tokens, u.completion_tokens,
                             d.since_arrival);
      }
    }
    d.sink(std::move(d.update));
  }
}

absl::Status Leader::Run() {
  while (true) {
    ServePlan plan;
    std::vector<Delivery> deliveries;
    {
      absl::MutexLock lock(&mu_);
      while (!scheduler_.HasWork() && !draining_) wake_.Wait(&mu_);
      if (draining_ && absl::Now() >= drain_deadline_) {
        scheduler_.CancelAll(absl::Now());
      }
      if (draining_ && !scheduler_.HasWork()) {
        plan.shutdown = true;
      } else {
        plan = scheduler_.NextPlan(kv_, absl::Now());
      }
      deliveries = scheduler_.TakeDeliveries();
    }
    Dispatch(std::move(deliveries));
    if (plan.empty()) {
      // Work that cannot start yet (it waits for KV room held by nothing:
      // not expected) or a drain with nothing to run: wait a little.
      absl::MutexLock lock(&mu_);
      wake_.WaitWithTimeout(&mu_, absl::Milliseconds(10));
      continue;
    }

    std::string bytes = EncodePlan(plan);
    absl::Status sent =
        BroadcastBytes(world_, &bytes, options_.broadcast_timeout);
    absl::Status fatal;
    AppliedPlan applied;
    uint64_t decoded_groups = 0;
    double decode_seconds = 0;
    if (!sent.ok()) {
      fatal = absl::UnavailableError(
          absl::StrCat("sending the step plan to the ranks: ", sent.message()));
    } else if (plan.shutdown) {
      return absl::OkStatus();
    } else {
      const DecodeStats before = engine_.weight_decode_stats();
      applied = ApplyPlan(engine_, plan);
      const DecodeStats after = engine_.weight_decode_stats();
      decoded_groups = after.groups - before.groups;
      decode_seconds = after.seconds - before.seconds;
      if (IsFatalStepError(applied.step)) {
        fatal = absl::UnavailableError(
            absl::StrCat("a rank stopped answering: ", applied.step.message()));
      }
    }
    const KvUsage kv = engine_.kv_usage();
    bool decode_only = !plan.step.items.empty();
    for (const SequenceStep& item : plan.step.items) {
      decode_only = decode_only && item.tokens.size() == 1;
    }
    LoadSnapshot load;
    {
      absl::MutexLock lock(&mu_);
      kv_ = kv;
      if (fatal.ok()) {
        scheduler_.Complete(plan, applied, absl::Now());
      } else {
        failed_ = true;
        scheduler_.FailAll(fatal, absl::Now());
      }
      deliveries = scheduler_.TakeDeliveries();
      load = {scheduler_.running(), scheduler_.waiting(),
              kv_.reserved * kv_.block_tokens, kv_.capacity_tokens()};
    }
    Dispatch(std::move(deliveries));
    if (!plan.step.items.empty() && fatal.ok()) {
      metrics_->OnStep(applied.step_time, decode_only, decoded_groups,
                       decode_seconds);
    }
    metrics_->SetLoad(load.running, load.waiting, load.kv_used_tokens,
                      load.kv_capacity_tokens);
    if (!fatal.ok()) return fatal;
  }
}

}  // namespace df11::serve
