// The gRPC face of the daemon: df11.v1.InferenceService (proto/df11/v1/
// inference.proto) on the callback API. Handlers only translate: proto in,
// a Leader call, proto out; absl status codes map one to one onto gRPC
// codes.
//
//   InferenceServiceImpl service({.auth_token = token});
//   builder.RegisterService(&service);      // grpc_server.h
//   ...load the model...
//   service.SetLeader(&leader, description);  // until then: UNAVAILABLE
//
// Generate streams one GenerateResponse per step that made tokens for the
// request; while a write is in flight, later tokens are merged into the
// next message, so a slow client gets fewer, larger messages and never
// holds up the engine. The last message carries the finish reason and the
// usage. Client cancellation and deadlines cancel the request in the
// scheduler (its KV blocks are freed by the next step).
//
// With an auth token, every InferenceService call must carry the metadata
// `authorization: Bearer <token>`, else UNAUTHENTICATED (the health and
// reflection services stay open, as load balancers expect).
//
// Thread-safe. The Leader must outlive the service's calls.
#ifndef DF11_LOADER_SERVE_GRPC_SERVICE_H_
#define DF11_LOADER_SERVE_GRPC_SERVICE_H_

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "loader/serve/leader.h"
#include "loader/tokenizer/tokenizer.h"
#include "proto/df11/v1/inference.grpc.pb.h"

namespace df11::serve {

// absl status -> gRPC status, code for code (both follow google.rpc.Code).
grpc::Status ToGrpcStatus(const absl::Status& status);

// What is being served: the fixed part of ModelInfo.
struct ModelDescription {
  std::string model_name;
  std::string architecture = "LlamaForCausalLM";
  std::string dtype;    // "df11" or "bf16"
  std::string backend;  // "cpu" or "cuda"
  int64_t tp = 1;
  int64_t max_context = 0;
  int64_t vocab_size = 0;
  uint64_t compressed_weight_bytes = 0;  // all ranks
  uint64_t original_weight_bytes = 0;
};

struct ServiceOptions {
  std::string auth_token;  // empty: no authentication
};

class InferenceServiceImpl final
    : public df11::v1::InferenceService::CallbackService {
 public:
  explicit InferenceServiceImpl(ServiceOptions options);

  // Serving starts: calls go to `leader`. `tokenizer` (may be null) gives
  // logprob token texts.
  void SetLeader(Leader* leader, const tokenizer::Tokenizer* tokenizer,
                 ModelDescription description);

  grpc::ServerWriteReactor<df11::v1::GenerateResponse>* Generate(
      grpc::CallbackServerContext* context,
      const df11::v1::GenerateRequest* request) override;
  grpc::ServerUnaryReactor* Forward(
      grpc::CallbackServerContext* context,
      const df11::v1::ForwardRequest* request,
      df11::v1::ForwardResponse* response) override;
  grpc::ServerUnaryReactor* GetModelInfo(
      grpc::CallbackServerContext* context,
      const df11::v1::GetModelInfoRequest* request,
      df11::v1::ModelInfo* response) override;

 private:
  // OK, Unauthenticated, or Unavailable while loading; sets *leader.
  absl::Status Admit(grpc::CallbackServerContext* context, Leader** leader);

  const ServiceOptions options_;
  std::atomic<uint64_t> next_request_ = 1;
  mutable absl::Mutex mu_;
  Leader* leader_ ABSL_GUARDED_BY(mu_) = nullptr;
  const tokenizer::Tokenizer* tokenizer_ ABSL_GUARDED_BY(mu_) = nullptr;
  ModelDescription description_ ABSL_GUARDED_BY(mu_);
};

}  // namespace df11::serve

#endif  // DF11_LOADER_SERVE_GRPC_SERVICE_H_
