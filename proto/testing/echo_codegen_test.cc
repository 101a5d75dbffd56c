// Proves the codegen macro end to end: a real gRPC server on loopback, a real
// client, one call through generated stubs.
#include <memory>
#include <string>

#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "proto/testing/echo.grpc.pb.h"

namespace df11::testing {
namespace {

class EchoService final : public Echo::Service {
  grpc::Status Say(grpc::ServerContext*, const EchoRequest* request,
                   EchoReply* reply) override {
    reply->set_text("echo: " + request->text());
    return grpc::Status::OK;
  }
};

TEST(EchoCodegenTest, MessagesSerializeAndParse) {
  EchoRequest request;
  request.set_text("dfloat11");
  std::string wire;
  ASSERT_TRUE(request.SerializeToString(&wire));
  EchoRequest parsed;
  ASSERT_TRUE(parsed.ParseFromString(wire));
  EXPECT_EQ(parsed.text(), "dfloat11");
}

TEST(EchoCodegenTest, ServerAnswersOnLoopback) {
  EchoService service;
  int port = 0;
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                           &port);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  ASSERT_NE(server, nullptr);
  ASSERT_GT(port, 0);

  auto channel = grpc::CreateChannel("127.0.0.1:" + std::to_string(port),
                                     grpc::InsecureChannelCredentials());
  auto stub = Echo::NewStub(channel);
  grpc::ClientContext context;
  EchoRequest request;
  request.set_text("hi");
  EchoReply reply;
  grpc::Status status = stub->Say(&context, request, &reply);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(reply.text(), "echo: hi");
  server->Shutdown();
}

}  // namespace
}  // namespace df11::testing
