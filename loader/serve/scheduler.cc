#include "loader/serve/scheduler.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"

namespace df11::serve {

absl::Status ValidateSchedulerOptions(const SchedulerOptions& o) {
  if (o.max_batch_tokens < 1 || o.max_batch_sequences < 1 ||
      o.kv_block_tokens < 1 || o.kv_capacity_tokens < 1 || o.max_queue < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "scheduler limits must be positive: max_batch_tokens ",
        o.max_batch_tokens, ", max_batch_sequences ", o.max_batch_sequences,
        ", kv_capacity_tokens ", o.kv_capacity_tokens, ", kv_block_tokens ",
        o.kv_block_tokens, ", max_queue ", o.max_queue));
  }
  if (o.max_batch_sequences > o.max_batch_tokens) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_batch_sequences ", o.max_batch_sequences,
                     " is more than max_batch_tokens ", o.max_batch_tokens,
                     ": every running sequence needs one token of each step"));
  }
  return absl::OkStatus();
}

const char* FinishReasonName(FinishReason reason) {
  switch (reason) {
    case FinishReason::kNone:
      return "none";
    case FinishReason::kEos:
      return "eos";
    case FinishReason::kStop:
      return "stop";
    case FinishReason::kLength:
      return "length";
    case FinishReason::kCancelled:
      return "cancelled";
  }
  return "none";
}

Scheduler::Scheduler(const SchedulerOptions& options) : options_(options) {}

int64_t Scheduler::BlocksFor(int64_t tokens) const {
  return (tokens + options_.kv_block_tokens - 1) / options_.kv_block_tokens;
}

absl::StatusOr<SequenceId> Scheduler::Queue(Request r) {
  // Requests that will have a sequence slot at the next step are not
  // queued for long: only those beyond the free slots count.
  const int64_t free_slots =
      std::max<int64_t>(0, options_.max_batch_sequences - running());
  if (waiting() >= options_.max_queue + free_slots) {
    return absl::ResourceExhaustedError(
        absl::StrCat("the queue is full: ", running(), " requests run and ",
                     waiting(), " wait for admission (--max_batch_sequences ",
                     options_.max_batch_sequences, ", --max_queue ",
                     options_.max_queue, ")"));
  }
  const int64_t capacity =
      options_.kv_capacity_tokens / options_.kv_block_tokens;
  if (BlocksFor(r.max_tokens) > capacity) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "the request needs ", r.max_tokens,
        " tokens of KV cache (prompt + max_new_tokens); the whole cache "
        "holds ",
        options_.kv_capacity_tokens));
  }
  r.id = next_id_++;
  const SequenceId id = r.id;
  requests_.emplace(id, std::move(r));
  waiting_.push_back(id);
  return id;
}

absl::StatusOr<SequenceId> Scheduler::SubmitGenerate(GenerateParams params,
                                                     UpdateSink sink,
                                                     absl::Time now) {
  Request r;
  r.prompt = params.prompt;
  r.max_tokens =
      static_cast<int64_t>(params.prompt.size()) + params.max_new_tokens;
  r.text = std::make_unique<OutputText>(options_.tokenizer, params.stop);
  r.gen = std::move(params);
  r.sink = std::move(sink);
  r.arrival = now;
  return Queue(std::move(r));
}

absl::StatusOr<SequenceId> Scheduler::SubmitForward(ForwardParams params,
                                                    UpdateSink sink,
                                                    absl::Time now) {
  Request r;
  r.forward = true;
  r.prompt = params.tokens;
  r.max_tokens = static_cast<int64_t>(params.tokens.size());
  r.fwd = std::move(params);
  r.sink = std::move(sink);
  r.arrival = now;
  return Queue(std::move(r));
}

void Scheduler::Deliver(Request& r, RequestUpdate update, absl::Time now,
                        bool has_token) {
  Delivery d;
  d.sink = r.sink;
  d.forward = r.forward;
  d.since_arrival = now - r.arrival;
  if (has_token) {
    if (r.output.size() == 1) {
      d.first_token = true;
    } else {
      d.since_last_token = now - r.last_token;
    }
    r.last_token = now;
  }
  d.update = std::move(update);
  outbox_.push_back(std::move(d));
}

void Scheduler::Finish(SequenceId id, RequestUpdate update, absl::Time now) {
  auto it = requests_.find(id);
  if (it == requests_.end()) return;
  Request& r = it->second;
  auto running = std::find(running_.begin(), running_.end(), id);
  if (running != running_.end()) {
    running_.erase(running);
    to_remove_.push_back({id, BlocksFor(r.max_tokens)});
  }
  auto queued = std::find(waiting_.begin(), waiting_.end(), id);
  if (queued != waiting_.end()) waiting_.erase(queued);
  update.final = true;
  update.prompt_tokens = static_cast<int64_t>(r.prompt.size());
  update.completion_tokens = static_cast<int64_t>(r.output.size());
  const bool has_token = !update.tokens.empty();
  Deliver(r, std::move(update), now, has_token);
  requests_.erase(it);
}

void Scheduler::Cancel(SequenceId id, absl::Time now) {
  auto it = requests_.find(id);
  if (it == requests_.end()) return;
  RequestUpdate update;
  if (it->second.forward) {
    update.error = absl::CancelledError("the request was cancelled");
  } else {
    update.finish = FinishReason::kCancelled;
  }
  Finish(id, std::move(update), now);
}

void Scheduler::CancelAll(absl::Time now) {
  std::vector<SequenceId> ids;
  for (const auto& [id, r] : requests_) ids.push_back(id);
  for (SequenceId id : ids) Cancel(id, now);
}

void Scheduler::FailAll(const absl::Status& status, absl::Time now) {
  std::vector<SequenceId> ids;
  for (const auto& [id, r] : requests_) ids.push_back(id);
  for (SequenceId id : ids) {
    RequestUpdate update;
    update.error = status;
    Finish(id, std::move(update), now);
  }
}

bool Scheduler::HasWork() const {
  return !waiting_.empty() || !running_.empty() || !to_remove_.empty();
}

SequenceStep Scheduler::NextItem(Request& r, int64_t budget) const {
  SequenceStep item;
  item.id = r.id;
  const int64_t prompt = static_cast<int64_t>(r.prompt.size());
  bool prompt_done = true;
  if (r.fed == prompt) {  // generating: the last token in, the next out
    item.tokens = {r.output.back()};
  } else {
    const int64_t n = std::min(budget, prompt - r.fed);
    item.tokens.assign(r.prompt.begin() + r.fed, r.prompt.begin() + r.fed + n);
    prompt_done = r.fed + n == prompt;
  }
  if (r.forward) {
    if (r.fwd.all_positions) {
      item.logits = LogitsWanted::kAll;
    } else if (prompt_done) {
      item.logits = LogitsWanted::kLast;
    }
  } else if (prompt_done) {
    item.sample.sample = true;
    item.sample.params = r.gen.sampling;
    item.sample.stream = 0;
    item.sample.logprobs = r.gen.logprobs;
  }
  return item;
}

ServePlan Scheduler::NextPlan(const KvUsage& kv, absl::Time now) {
  (void)now;
  ServePlan plan;
  int64_t free_blocks = kv.blocks - kv.reserved;
  for (const auto& [id, blocks] : to_remove_) {
    plan.remove.push_back(id);
    free_blocks += blocks;
  }
  to_remove_.clear();

  int64_t budget = options_.max_batch_tokens;
  // Decodes first, then the prompt chunks of admitted sequences.
  for (int pass = 0; pass < 2; ++pass) {
    for (SequenceId id : running_) {
      Request& r = requests_.at(id);
      const bool generating = r.fed == static_cast<int64_t>(r.prompt.size());
      if (generating != (pass == 0) || budget == 0) continue;
      SequenceStep item = NextItem(r, budget);
      if (!generating) r.fed += static_cast<int64_t>(item.tokens.size());
      budget -= static_cast<int64_t>(item.tokens.size());
      plan.step.items.push_back(std::move(item));
    }
  }
  // Admission, first come first served.
  while (!waiting_.empty() && running() < options_.max_batch_sequences &&
         budget > 0) {
    Request& r = requests_.at(waiting_.front());
    const int64_t blocks = BlocksFor(r.max_tokens);
    if (blocks > free_blocks) break;
    free_blocks -= blocks;
    waiting_.pop_front();
    running_.push_back(r.id);
    plan.add.push_back({r.id, r.max_tokens});
    SequenceStep item = NextItem(r, budget);
    r.fed += static_cast<int64_t>(item.tokens.size());
    budget -= static_cast<int64_t>(item.tokens.size());
    plan.step.items.push_back(std::move(item));
  }
  return plan;
}

void Scheduler::OnToken(Request& r, const SampledToken& sampled,
                        absl::Time now) {
  const int32_t token = sampled.token;
  r.output.push_back(token);
  RequestUpdate update;
  update.tokens = {token};
  if (r.gen.logprobs >= 0) update.logprobs = {sampled};
  bool stopped = false;
  update.text = r.text->Add(token, &stopped);
  if (stopped) {
    update.finish = FinishReason::kStop;
  } else if (std::find(r.gen.end_ids.begin(), r.gen.end_ids.end(), token) !=
             r.gen.end_ids.end()) {
    update.finish = FinishReason::kEos;
  } else if (static_cast<int64_t>(r.output.size()) >= r.gen.max_new_tokens) {
    update.finish = FinishReason::kLength;
  }
  if (update.finish == FinishReason::kNone) {
    Deliver(r, std::move(update), now, /*has_token=*/true);
    return;
  }
  if (update.finish != FinishReason::kStop) update.text += r.text->Finish();
  Finish(r.id, std::move(update), now);
}

void Scheduler::Complete(const ServePlan& plan, const AppliedPlan& applied,
                         absl::Time now) {
  for (size_t k = 0; k < plan.add.size() && k < applied.admitted.size(); ++k) {
    if (applied.admitted[k].ok()) continue;
    // Never reserved: nothing to give back, but remove it anyway (an
    // unknown id is ignored).
    const SequenceId id = plan.add[k].id;
    auto it = std::find(running_.begin(), running_.end(), id);
    if (it != running_.end()) running_.erase(it);
    to_remove_.push_back({id, 0});
    RequestUpdate update;
    update.error = applied.admitted[k];
    Finish(id, std::move(update), now);
  }
  for (size_t i = 0; i < plan.step.items.size(); ++i) {
    const SequenceStep& item = plan.step.items[i];
    auto it = requests_.find(item.id);
    if (it == requests_.end()) continue;  // cancelled during the step
    Request& r = it->second;
    if (!applied.item_status[i].ok()) {
      RequestUpdate update;
      update.error = applied.item_status[i];
      Finish(r.id, std::move(update), now);
      continue;
    }
    const SequenceResult& result = applied.results[i];
    if (r.forward) {
      r.logits.insert(r.logits.end(), result.logits.begin(),
                      result.logits.end());
      if (r.fed == static_cast<int64_t>(r.prompt.size())) {
        RequestUpdate update;
        update.logits = std::move(r.logits);
        Finish(r.id, std::move(update), now);
      }
    } else if (item.sample.sample) {
      OnToken(r, result.sampled, now);
    }
  }
}

std::vector<Delivery> Scheduler::TakeDeliveries() {
  std::vector<Delivery> out;
  out.swap(outbox_);
  return out;
}

}  // namespace df11::serve
