#include "loader/cli/grpc_client.h"

#include <chrono>
#include <fstream>
#include <sstream>

#include "absl/flags/flag.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

ABSL_FLAG(std::string, server, "127.0.0.1:50051",
          "generate/forward/loadgen: df11d address HOST:PORT");
ABSL_FLAG(std::string, auth_token_file, "",
          "generate/forward/loadgen: file with the server's bearer token");
ABSL_FLAG(std::string, tls_ca, "",
          "generate/forward/loadgen: PEM roots to trust: connect with TLS");
ABSL_FLAG(std::string, tls_server_name, "",
          "generate/forward/loadgen: name to check the certificate against");
ABSL_FLAG(double, timeout_s, 0,
          "generate/forward/loadgen: deadline of each call (0: none)");

namespace df11::cli {
namespace {

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

}  // namespace

absl::StatusOr<Client> Client::FromFlags() {
  Client client;
  std::shared_ptr<grpc::ChannelCredentials> credentials =
      grpc::InsecureChannelCredentials();
  grpc::ChannelArguments args;
  // Forward's full logits can be large.
  args.SetMaxReceiveMessageSize(-1);
  if (!absl::GetFlag(FLAGS_tls_ca).empty()) {
    absl::StatusOr<std::string> roots = ReadFile(absl::GetFlag(FLAGS_tls_ca));
    if (!roots.ok()) return roots.status();
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = *roots;
    credentials = grpc::SslCredentials(ssl);
    if (!absl::GetFlag(FLAGS_tls_server_name).empty()) {
      args.SetSslTargetNameOverride(absl::GetFlag(FLAGS_tls_server_name));
    }
  }
  if (!absl::GetFlag(FLAGS_auth_token_file).empty()) {
    absl::StatusOr<std::string> token =
        ReadFile(absl::GetFlag(FLAGS_auth_token_file));
    if (!token.ok()) return token.status();
    client.token_ = std::string(absl::StripAsciiWhitespace(*token));
  }
  client.stub_ = df11::v1::InferenceService::NewStub(grpc::CreateCustomChannel(
      absl::GetFlag(FLAGS_server), credentials, args));
  return client;
}

void Client::Prepare(grpc::ClientContext* context) const {
  const double timeout = absl::GetFlag(FLAGS_timeout_s);
  if (timeout > 0) {
    context->set_deadline(
        std::chrono::system_clock::now() +
        std::chrono::microseconds(static_cast<int64_t>(timeout * 1e6)));
  }
  if (!token_.empty()) {
    context->AddMetadata("authorization", absl::StrCat("Bearer ", token_));
  }
}

absl::StatusOr<std::vector<int32_t>> ParseIdList(const std::string& text,
                                                 const char* flag) {
  std::vector<int32_t> ids;
  if (text.empty()) return ids;
  for (absl::string_view part : absl::StrSplit(text, ',')) {
    int32_t id = 0;
    if (!absl::SimpleAtoi(part, &id)) {
      return absl::InvalidArgumentError(
          absl::StrCat("--", flag, ": '", part, "' is not a token id"));
    }
    ids.push_back(id);
  }
  return ids;
}

absl::Status FromGrpc(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                      status.error_message());
}

}  // namespace df11::cli
