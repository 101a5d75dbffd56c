// The df11 tool's side of the serving API: a channel and stub to a df11d
// server, with the flags every client command shares.
//
//   --server HOST:PORT      the daemon's address (default 127.0.0.1:50051)
//   --auth_token_file F     send `authorization: Bearer <token in F>`
//   --tls_ca F              speak TLS, trusting the PEM roots in F
//   --tls_server_name N     the name the server's certificate is checked
//                           against (default: HOST)
//   --timeout_s S           deadline of each call (0: none)
//
//   ASSIGN_OR_RETURN(Client client, Client::FromFlags());
//   grpc::ClientContext context;
//   client.Prepare(&context);
//   client.stub().GetModelInfo(&context, request, &info);
#ifndef DF11_LOADER_CLI_GRPC_CLIENT_H_
#define DF11_LOADER_CLI_GRPC_CLIENT_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/flags/declare.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "proto/df11/v1/inference.grpc.pb.h"

ABSL_DECLARE_FLAG(std::string, server);
ABSL_DECLARE_FLAG(double, timeout_s);

namespace df11::cli {

class Client {
 public:
  // Errors: an unreadable token or CA file (NotFound / PermissionDenied).
  static absl::StatusOr<Client> FromFlags();

  // Sets the deadline and the bearer token on a call's context.
  void Prepare(grpc::ClientContext* context) const;
  df11::v1::InferenceService::Stub& stub() const { return *stub_; }

 private:
  std::shared_ptr<df11::v1::InferenceService::Stub> stub_;
  std::string token_;
};

// "1,2,3" -> {1, 2, 3}; "" -> {}. InvalidArgument names `flag`.
absl::StatusOr<std::vector<int32_t>> ParseIdList(const std::string& text,
                                                 const char* flag);

// gRPC status -> absl status, code for code.
absl::Status FromGrpc(const grpc::Status& status);

}  // namespace df11::cli

#endif  // DF11_LOADER_CLI_GRPC_CLIENT_H_
