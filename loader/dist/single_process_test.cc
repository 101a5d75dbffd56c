// loader/dist without mpirun: MpiSession gives the one-process world and
// reads DF11_DEVICE; AgreeOk and BroadcastBytes at size 1 never touch MPI
// (it is never initialized in this process).
#include <cstdlib>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "loader/dist/agreement.h"
#include "loader/dist/broadcast.h"
#include "loader/dist/mpi_session.h"

namespace df11 {
namespace {

struct DeviceCase {
  const char* env;  // DF11_DEVICE; null: unset
  absl::StatusCode code;
  int device;
};

class DeviceEnvTest : public testing::TestWithParam<DeviceCase> {
 protected:
  void TearDown() override { unsetenv("DF11_DEVICE"); }
};

TEST_P(DeviceEnvTest, FillsTheWorld) {
  const DeviceCase& c = GetParam();
  if (c.env == nullptr) {
    unsetenv("DF11_DEVICE");
  } else {
    setenv("DF11_DEVICE", c.env, 1);
  }
  absl::StatusOr<std::unique_ptr<MpiSession>> session =
      MpiSession::Start(nullptr, nullptr);
  ASSERT_EQ(session.status().code(), c.code) << session.status();
  if (!session.ok()) {
    EXPECT_NE(session.status().message().find("DF11_DEVICE"),
              absl::string_view::npos)
        << session.status();
    return;
  }
  EXPECT_FALSE((*session)->active());
  const WorldConfig& world = (*session)->world();
  EXPECT_EQ(world.rank, 0);
  EXPECT_EQ(world.size, 1);
  EXPECT_EQ(world.local_rank, 0);
  EXPECT_EQ(world.device, c.device);
  EXPECT_TRUE(world.is_root());
  (*session)->Abort(3);  // returns: MPI is not active
}

INSTANTIATE_TEST_SUITE_P(
    Env, DeviceEnvTest,
    testing::Values(DeviceCase{nullptr, absl::StatusCode::kOk, 0},
                    DeviceCase{"5", absl::StatusCode::kOk, 5},
                    DeviceCase{"4,5,6,7", absl::StatusCode::kOk, 4},
                    DeviceCase{"", absl::StatusCode::kInvalidArgument, 0},
                    DeviceCase{"x", absl::StatusCode::kInvalidArgument, 0},
                    DeviceCase{"-1", absl::StatusCode::kInvalidArgument, 0},
                    DeviceCase{"1.5", absl::StatusCode::kInvalidArgument, 0},
                    DeviceCase{",3", absl::StatusCode::kInvalidArgument, 0}));

TEST(SingleRankTest, AgreeOkReturnsLocal) {
  const WorldConfig world;
  EXPECT_TRUE(AgreeOk(world, absl::OkStatus(), absl::Seconds(1)).ok());
  const absl::Status local = absl::DataLossError("bad shard");
  EXPECT_EQ(AgreeOk(world, local, absl::Seconds(1)), local);
}

TEST(SingleRankTest, BroadcastBytesKeepsBytes) {
  const WorldConfig world;
  for (std::string bytes :
       {std::string(), std::string("plan"), std::string(3 << 20, '\x7f')}) {
    const std::string before = bytes;
    ASSERT_TRUE(BroadcastBytes(world, &bytes).ok());
    EXPECT_EQ(bytes, before);
  }
}

}  // namespace
}  // namespace df11
