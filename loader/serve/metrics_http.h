// A small HTTP server for Prometheus: GET /metrics returns the page a
// callback renders (text format 0.0.4). cpp-httplib (Debian's
// libcpp-httplib), on its own threads.
//
//   ASSIGN_OR_RETURN(auto http, MetricsHttpServer::Start(
//       "127.0.0.1", 9090, [&] { return metrics.Render(); }));
//   int port = http->port();   // the bound port (useful with port 0)
//   ...
//   http.reset();              // stops serving and joins its thread
//
// Thread-safe: `render` is called from the server's threads.
#ifndef DF11_LOADER_SERVE_METRICS_HTTP_H_
#define DF11_LOADER_SERVE_METRICS_HTTP_H_

#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"

namespace httplib {
class Server;
}

namespace df11::serve {

class MetricsHttpServer {
 public:
  // Binds host:port (0: any free port). Unavailable when the port cannot
  // be bound.
  static absl::StatusOr<std::unique_ptr<MetricsHttpServer>> Start(
      const std::string& host, int port, std::function<std::string()> render);
  ~MetricsHttpServer();

  int port() const { return port_; }

 private:
  MetricsHttpServer() = default;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  int port_ = 0;
};

}  // namespace df11::serve

#endif  // DF11_LOADER_SERVE_METRICS_HTTP_H_
