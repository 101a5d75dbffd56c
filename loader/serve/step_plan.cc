#include "loader/serve/step_plan.h"

#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "loader/dist/broadcast.h"
#include "loader/serve/step_plan.pb.h"

namespace df11::serve {

std::string EncodePlan(const ServePlan& plan) {
  StepPlanProto p;
  p.set_version(kPlanVersion);
  p.set_shutdown(plan.shutdown);
  for (SequenceId id : plan.remove) p.add_remove(id);
  for (const Admission& a : plan.add) {
    PlanAdmission* out = p.add_add();
    out->set_id(a.id);
    out->set_max_tokens(a.max_tokens);
  }
  for (const SequenceStep& item : plan.step.items) {
    PlanItem* out = p.add_items();
    out->set_id(item.id);
    out->mutable_tokens()->Add(item.tokens.begin(), item.tokens.end());
    out->set_logits(static_cast<int32_t>(item.logits));
    const SampleRequest& s = item.sample;
    out->set_sample(s.sample);
    out->set_temperature(s.params.temperature);
    out->set_top_k(s.params.top_k);
    out->set_top_p(s.params.top_p);
    out->set_seed(s.params.seed);
    out->set_stream(s.stream);
    out->set_logprobs(s.logprobs);
  }
  return p.SerializeAsString();
}

absl::StatusOr<ServePlan> DecodePlan(absl::string_view bytes) {
  StepPlanProto p;
  if (!p.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return absl::DataLossError(
        absl::StrCat("step plan of ", bytes.size(), " bytes does not parse"));
  }
  if (p.version() != kPlanVersion) {
    return absl::DataLossError(
        absl::StrCat("step plan version ", p.version(), ", this rank reads ",
                     kPlanVersion, ": every rank must run the same df11d"));
  }
  ServePlan plan;
  plan.shutdown = p.shutdown();
  plan.remove.assign(p.remove().begin(), p.remove().end());
  for (const PlanAdmission& a : p.add()) {
    plan.add.push_back({a.id(), a.max_tokens()});
  }
  for (const PlanItem& in : p.items()) {
    if (in.logits() < 0 || in.logits() > 2) {
      return absl::DataLossError(
          absl::StrCat("step plan item logits ", in.logits()));
    }
    SequenceStep item;
    item.id = in.id();
    item.tokens.assign(in.tokens().begin(), in.tokens().end());
    item.logits = static_cast<LogitsWanted>(in.logits());
    item.sample.sample = in.sample();
    item.sample.params.temperature = in.temperature();
    item.sample.params.top_k = in.top_k();
    item.sample.params.top_p = in.top_p();
    item.sample.params.seed = in.seed();
    item.sample.stream = in.stream();
    item.sample.logprobs = in.logprobs();
    plan.step.items.push_back(std::move(item));
  }
  return plan;
}

AppliedPlan ApplyPlan(LlamaEngine& engine, const ServePlan& plan) {
  AppliedPlan out;
  for (SequenceId id : plan.remove) engine.RemoveSequence(id);
  std::set<SequenceId> refused;
  for (const Admission& a : plan.add) {
    out.admitted.push_back(engine.AddSequence(a.id, a.max_tokens));
    if (!out.admitted.back().ok()) refused.insert(a.id);
  }
  const size_t n = plan.step.items.size();
  out.item_status.assign(n, absl::OkStatus());
  out.results.resize(n);
  // Items of refused sequences are left out (identically on every rank).
  StepPlan run;
  std::vector<size_t> ran;
  for (size_t i = 0; i < n; ++i) {
    const SequenceStep& item = plan.step.items[i];
    if (refused.count(item.id) != 0) {
      for (size_t k = 0; k < plan.add.size(); ++k) {
        if (plan.add[k].id == item.id) out.item_status[i] = out.admitted[k];
      }
      continue;
    }
    run.items.push_back(item);
    ran.push_back(i);
  }
  if (run.items.empty()) return out;
  const absl::Time start = absl::Now();
  absl::StatusOr<std::vector<SequenceResult>> results = engine.Step(run);
  out.step_time = absl::Now() - start;
  if (!results.ok()) {
    out.step = results.status();
    for (size_t i : ran) out.item_status[i] = results.status();
    return out;
  }
  for (size_t k = 0; k < ran.size(); ++k) {
    out.results[ran[k]] = std::move((*results)[k]);
  }
  return out;
}

bool IsFatalStepError(const absl::Status& status) {
  return status.code() == absl::StatusCode::kDeadlineExceeded;
}

absl::Status RunFollower(LlamaEngine& engine, const WorldConfig& world) {
  while (true) {
    std::string bytes;
    absl::Status received = BroadcastBytes(world, &bytes);
    if (!received.ok()) {
      return absl::Status(
          received.code(),
          absl::StrCat("receiving the step plan: ", received.message()));
    }
    absl::StatusOr<ServePlan> plan = DecodePlan(bytes);
    if (!plan.ok()) return plan.status();
    if (plan->shutdown) return absl::OkStatus();
    const AppliedPlan applied = ApplyPlan(engine, *plan);
    if (IsFatalStepError(applied.step)) return applied.step;
  }
}

}  // namespace df11::serve
