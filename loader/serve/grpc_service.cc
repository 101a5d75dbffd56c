#include "loader/serve/grpc_service.h"

#include <memory>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace df11::serve {
namespace {

namespace pb = ::df11::v1;

// Compares without an early exit, so the time does not tell how much of a
// guessed token was right.
bool SameSecret(absl::string_view a, absl::string_view b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < a.size(); ++i) {
    diff |= static_cast<unsigned char>(a[i] ^ (i < b.size() ? b[i] : 0));
  }
  return diff == 0;
}

pb::FinishReason ToProto(FinishReason reason) {
  switch (reason) {
    case FinishReason::kEos:
      return pb::EOS;
    case FinishReason::kStop:
      return pb::STOP;
    case FinishReason::kLength:
      return pb::LENGTH;
    case FinishReason::kCancelled:
      return pb::CANCELLED;
    case FinishReason::kNone:
      break;
  }
  return pb::FINISH_REASON_UNSPECIFIED;
}

void SetLogprob(const tokenizer::Tokenizer* tok, int32_t id, float logprob,
                pb::TokenLogprob* out) {
  out->set_token_id(id);
  out->set_logprob(logprob);
  if (tok != nullptr) {
    absl::StatusOr<std::string> text = tok->Decode({id});
    if (text.ok()) out->set_text(*text);
  }
}

GenerateInput FromProto(const pb::GenerateRequest& r) {
  GenerateInput in;
  in.request_id = r.request_id();
  if (!r.text().empty()) in.text = r.text();
  in.token_ids.assign(r.token_ids().begin(), r.token_ids().end());
  if (r.has_add_special_tokens()) {
    in.add_special_tokens = r.add_special_tokens();
  }
  const pb::SamplingParams& s = r.sampling();
  if (s.has_max_new_tokens()) in.max_new_tokens = s.max_new_tokens();
  if (s.has_temperature()) in.temperature = s.temperature();
  if (s.has_top_p()) in.top_p = s.top_p();
  if (s.has_top_k()) in.top_k = s.top_k();
  if (s.has_seed()) in.seed = s.seed();
  in.stop.assign(s.stop().begin(), s.stop().end());
  in.stop_token_ids.assign(s.stop_token_ids().begin(),
                           s.stop_token_ids().end());
  in.ignore_eos = s.ignore_eos();
  if (s.has_logprobs()) in.logprobs = s.logprobs();
  return in;
}

// Adds an update to the message being put together.
void Merge(const tokenizer::Tokenizer* tok, const RequestUpdate& u,
           pb::GenerateResponse* out) {
  out->mutable_token_ids()->Add(u.tokens.begin(), u.tokens.end());
  out->mutable_text()->append(u.text);
  for (size_t i = 0; i < u.logprobs.size() && i < u.tokens.size(); ++i) {
    pb::TokenLogprobs* lp = out->add_logprobs();
    SetLogprob(tok, u.tokens[i], u.logprobs[i].logprob, lp->mutable_chosen());
    for (const TokenLogprob& t : u.logprobs[i].top) {
      SetLogprob(tok, t.token, t.logprob, lp->add_top());
    }
  }
  if (u.final) {
    out->set_finish_reason(ToProto(u.finish));
    out->mutable_usage()->set_prompt_tokens(
        static_cast<uint32_t>(u.prompt_tokens));
    out->mutable_usage()->set_completion_tokens(
        static_cast<uint32_t>(u.completion_tokens));
  }
}

// One streaming Generate. Owns itself: deleted in OnDone. The engine loop
// reaches it through a Link that outlives it.
class GenerateCall : public grpc::ServerWriteReactor<pb::GenerateResponse> {
 public:
  struct Link {
    absl::Mutex mu;
    GenerateCall* call ABSL_GUARDED_BY(mu) = nullptr;
  };

  GenerateCall(Leader* leader, const tokenizer::Tokenizer* tok,
               std::string request_id)
      : leader_(leader),
        tok_(tok),
        request_id_(std::move(request_id)),
        link_(std::make_shared<Link>()) {
    absl::MutexLock lock(&link_->mu);
    link_->call = this;
  }

  // Queues the request, or finishes the call with the error.
  void Start(const GenerateInput& input) {
    UpdateSink sink = [link = link_](RequestUpdate update) {
      absl::MutexLock lock(&link->mu);
      if (link->call != nullptr) link->call->Push(std::move(update));
    };
    absl::StatusOr<SequenceId> id = leader_->Generate(input, std::move(sink));
    if (id.ok()) {
      absl::MutexLock lock(&mu_);
      id_ = *id;
      return;
    }
    FinishWith(ToGrpcStatus(id.status()));
  }

  void FinishWith(grpc::Status status) {
    {
      absl::MutexLock lock(&mu_);
      if (finished_) return;
      finished_ = true;
    }
    Finish(std::move(status));
  }

  void OnWriteDone(bool ok) override {
    Action action;
    {
      absl::MutexLock lock(&mu_);
      writing_ = false;
      if (!ok && !finished_) {
        // The client is gone (cancelled, deadline, connection lost).
        finished_ = true;
        action.finish = true;
        action.status =
            grpc::Status(grpc::StatusCode::CANCELLED, "the stream was closed");
      } else {
        action = NextAction();
      }
    }
    Perform(std::move(action));
  }

  void OnCancel() override {
    std::optional<SequenceId> id;
    Action action;
    {
      absl::MutexLock lock(&mu_);
      id = id_;
      cancelled_ = true;
      if (!writing_ && !finished_) {
        finished_ = true;
        action.finish = true;
        action.status = grpc::Status(grpc::StatusCode::CANCELLED, "cancelled");
      }
    }
    if (id.has_value()) leader_->Cancel(*id);
    Perform(std::move(action));
  }

  void OnDone() override {
    {
      absl::MutexLock lock(&link_->mu);
      link_->call = nullptr;
    }
    delete this;
  }

 private:
  struct Action {
    bool write = false;
    bool finish = false;
    grpc::Status status;
  };

  // From the engine loop, with link_->mu held.
  void Push(RequestUpdate update) {
    Action action;
    {
      absl::MutexLock lock(&mu_);
      if (finished_) return;
      if (!update.error.ok()) {
        error_ = ToGrpcStatus(update.error);
      } else {
        Merge(tok_, update, &pending_);
        has_pending_ = true;
      }
      final_ = final_ || update.final;
      action = NextAction();
    }
    Perform(std::move(action));
  }

  // What to do next, given the state; marks a write or finish as started.
  Action NextAction() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    Action action;
    if (writing_ || finished_) return action;
    if (cancelled_) {
      finished_ = true;
      action.finish = true;
      action.status = grpc::Status(grpc::StatusCode::CANCELLED, "cancelled");
      return action;
    }
    if (!error_.ok()) {
      finished_ = true;
      action.finish = true;
      action.status = error_;
      return action;
    }
    if (!has_pending_) return action;
    sending_ = std::move(pending_);
    pending_.Clear();
    has_pending_ = false;
    sending_.set_request_id(request_id_);
    action.write = true;
    if (final_) {
      finished_ = true;
      action.finish = true;
    } else {
      writing_ = true;
    }
    return action;
  }

  // Outside mu_: once Finish is called, OnDone may run (and delete this)
  // on another thread.
  void Perform(Action action) {
    if (action.write && action.finish) {
      StartWriteAndFinish(&sending_, grpc::WriteOptions(), grpc::Status::OK);
    } else if (action.write) {
      StartWrite(&sending_);
    } else if (action.finish) {
      Finish(std::move(action.status));
    }
  }

  Leader* const leader_;
  const tokenizer::Tokenizer* const tok_;
  const std::string request_id_;
  const std::shared_ptr<Link> link_;

  absl::Mutex mu_;
  std::optional<SequenceId> id_ ABSL_GUARDED_BY(mu_);
  pb::GenerateResponse pending_ ABSL_GUARDED_BY(mu_);
  bool has_pending_ ABSL_GUARDED_BY(mu_) = false;
  pb::GenerateResponse sending_;  // owned by the write in flight
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool final_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  grpc::Status error_ ABSL_GUARDED_BY(mu_);
};

// A call that ends at once with `status`.
class FailedGenerate : public grpc::ServerWriteReactor<pb::GenerateResponse> {
 public:
  explicit FailedGenerate(grpc::Status status) { Finish(std::move(status)); }
  void OnDone() override { delete this; }
};

}  // namespace

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()),
                      std::string(status.message()));
}

InferenceServiceImpl::InferenceServiceImpl(ServiceOptions options)
    : options_(std::move(options)) {}

void InferenceServiceImpl::SetLeader(Leader* leader,
                                     const tokenizer::Tokenizer* tokenizer,
                                     ModelDescription description) {
  absl::MutexLock lock(&mu_);
  leader_ = leader;
  tokenizer_ = tokenizer;
  description_ = std::move(description);
}

absl::Status InferenceServiceImpl::Admit(grpc::CallbackServerContext* context,
                                         Leader** leader) {
  if (!options_.auth_token.empty()) {
    const auto& metadata = context->client_metadata();
    auto it = metadata.find("authorization");
    const absl::string_view given =
        it == metadata.end()
            ? absl::string_view()
            : absl::string_view(it->second.data(), it->second.size());
    if (!SameSecret(given, absl::StrCat("Bearer ", options_.auth_token))) {
      return absl::UnauthenticatedError(
          it == metadata.end() ? "missing authorization metadata (Bearer token)"
                               : "wrong bearer token");
    }
  }
  absl::MutexLock lock(&mu_);
  if (leader_ == nullptr) {
    return absl::UnavailableError("the model is loading");
  }
  *leader = leader_;
  return absl::OkStatus();
}

grpc::ServerWriteReactor<pb::GenerateResponse>* InferenceServiceImpl::Generate(
    grpc::CallbackServerContext* context, const pb::GenerateRequest* request) {
  Leader* leader = nullptr;
  const absl::Status admitted = Admit(context, &leader);
  if (!admitted.ok()) return new FailedGenerate(ToGrpcStatus(admitted));
  const tokenizer::Tokenizer* tok;
  {
    absl::MutexLock lock(&mu_);
    tok = tokenizer_;
  }
  GenerateInput input = FromProto(*request);
  if (input.request_id.empty()) {
    input.request_id = absl::StrCat("df11-", next_request_.fetch_add(1));
  }
  auto* call = new GenerateCall(leader, tok, input.request_id);
  call->Start(input);
  return call;
}

grpc::ServerUnaryReactor* InferenceServiceImpl::Forward(
    grpc::CallbackServerContext* context, const pb::ForwardRequest* request,
    pb::ForwardResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  Leader* leader = nullptr;
  const absl::Status admitted = Admit(context, &leader);
  if (!admitted.ok()) {
    reactor->Finish(ToGrpcStatus(admitted));
    return reactor;
  }
  const tokenizer::Tokenizer* tok;
  {
    absl::MutexLock lock(&mu_);
    tok = tokenizer_;
  }
  ForwardInput input;
  input.token_ids.assign(request->token_ids().begin(),
                         request->token_ids().end());
  input.all_positions = request->all_positions();
  if (request->has_top_logprobs()) input.top_logprobs = request->top_logprobs();
  absl::StatusOr<SequenceId> id = leader->Forward(
      input, [reactor, response, tok](absl::StatusOr<ForwardOutput> out) {
        if (!out.ok()) {
          reactor->Finish(ToGrpcStatus(out.status()));
          return;
        }
        response->set_vocab_size(static_cast<uint32_t>(out->vocab_size));
        response->set_positions(static_cast<uint32_t>(out->positions));
        response->mutable_logits()->Add(out->logits.begin(), out->logits.end());
        for (const std::vector<TokenLogprob>& position : out->top) {
          pb::PositionTop* top = response->add_top();
          for (const TokenLogprob& t : position) {
            SetLogprob(tok, t.token, t.logprob, top->add_top());
          }
        }
        reactor->Finish(grpc::Status::OK);
      });
  if (!id.ok()) reactor->Finish(ToGrpcStatus(id.status()));
  return reactor;
}

grpc::ServerUnaryReactor* InferenceServiceImpl::GetModelInfo(
    grpc::CallbackServerContext* context, const pb::GetModelInfoRequest*,
    pb::ModelInfo* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  Leader* leader = nullptr;
  const absl::Status admitted = Admit(context, &leader);
  if (!admitted.ok()) {
    reactor->Finish(ToGrpcStatus(admitted));
    return reactor;
  }
  ModelDescription d;
  {
    absl::MutexLock lock(&mu_);
    d = description_;
  }
  const LoadSnapshot load = leader->load();
  response->set_model_name(d.model_name);
  response->set_architecture(d.architecture);
  response->set_dtype(d.dtype);
  response->set_tp(static_cast<uint32_t>(d.tp));
  response->set_backend(d.backend);
  response->set_max_context(static_cast<uint32_t>(d.max_context));
  response->set_vocab_size(static_cast<uint32_t>(d.vocab_size));
  response->set_compressed_weight_bytes(d.compressed_weight_bytes);
  response->set_original_weight_bytes(d.original_weight_bytes);
  response->set_kv_capacity_tokens(
      static_cast<uint64_t>(load.kv_capacity_tokens));
  response->set_kv_used_tokens(static_cast<uint64_t>(load.kv_used_tokens));
  response->set_running_requests(static_cast<uint32_t>(load.running));
  response->set_waiting_requests(static_cast<uint32_t>(load.waiting));
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

}  // namespace df11::serve
