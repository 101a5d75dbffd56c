// Builds and starts the daemon's gRPC server: the InferenceService, the
// standard grpc.health.v1.Health service (NOT_SERVING until SetServing),
// server reflection, optional TLS, and a limit on request size.
//
//   GrpcServerOptions options{.host = "127.0.0.1", .port = 50051};
//   ASSIGN_OR_RETURN(std::unique_ptr<GrpcServer> server,
//                    GrpcServer::Start(options, &service));
//   ...load...
//   server->SetServing(true);
//   ...
//   server->Shutdown(absl::Seconds(5));
//
// TLS: with tls_cert_file and tls_key_file (PEM) the port speaks TLS only;
// giving one without the other is InvalidArgument.
// Thread-safe.
#ifndef DF11_LOADER_SERVE_GRPC_SERVER_H_
#define DF11_LOADER_SERVE_GRPC_SERVER_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace df11::serve {

struct GrpcServerOptions {
  std::string host = "127.0.0.1";
  int port = 50051;  // 0: any free port
  std::string tls_cert_file;
  std::string tls_key_file;
  // The largest request message accepted (RESOURCE_EXHAUSTED above it).
  int max_request_bytes = 4 << 20;
};

class GrpcServer {
 public:
  // Errors: InvalidArgument for half a TLS pair, NotFound / PermissionDenied
  // for an unreadable PEM file, Unavailable when the address cannot be
  // bound.
  static absl::StatusOr<std::unique_ptr<GrpcServer>> Start(
      const GrpcServerOptions& options, grpc::Service* service);

  int port() const { return port_; }
  // The health status of every service ("" included).
  void SetServing(bool serving);
  // Stops accepting calls; calls still running after `grace` are cancelled.
  void Shutdown(absl::Duration grace);

 private:
  GrpcServer() = default;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
};

// The contents of a file (PEM, a token), for the server and the clients.
absl::StatusOr<std::string> ReadSmallFile(const std::string& path);

}  // namespace df11::serve

#endif  // DF11_LOADER_SERVE_GRPC_SERVER_H_
