// Test helpers for the daemon's end-to-end tests: real df11d jobs under
// mpirun (launch/mpirun.sh -np 2) on loopback, test models on disk, and the
// offline `df11 run` to compare with.
//
//   InitPaths(argc, argv);   // df11d, df11, mpirun.sh, tokenizer.json
//   ASSIGN_OR_RETURN(std::string dir, TextModelDir());
//   ASSIGN_OR_RETURN(auto daemon, Daemon::Start(dir, {"--grace_s=1"}));
//   auto stub = df11::v1::InferenceService::NewStub(daemon->Channel());
//
// Every daemon has a watchdog: it is killed (with its ranks) when its
// lifetime passes, so a test can fail but never hang until Bazel's timeout.
// The destructor drains it (SIGUSR1 to mpirun, as `df11 serve` does on
// SIGTERM) and kills it if that takes more than a few seconds.
#ifndef DF11_TESTS_SERVE_DAEMON_FIXTURE_H_
#define DF11_TESTS_SERVE_DAEMON_FIXTURE_H_

#include <grpcpp/grpcpp.h>
#include <sys/types.h>

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace df11::serve::testing {

struct Paths {
  std::string df11d;
  std::string df11;
  std::string mpirun_sh;
  std::string tokenizer_json;  // HF tokenizers fixture (llama3_style)
};

// Reads the four paths from argv[1..4] (the BUILD's args).
void InitPaths(int argc, char** argv);
const Paths& GetPaths();

// A directory for this test's files ($TEST_TMPDIR).
std::string TempDir();

// A DF11 model directory for TP=2, made once per process: a synthetic
// Llama (hidden 64, 2 layers, GQA 4/2, vocabulary 1000, context 16384)
// compressed by the compress pipeline, with the tokenizer fixture as
// tokenizer.json (its ids cover the vocabulary).
absl::StatusOr<std::string> TextModelDir();
// The same weights without tokenizer.json.
absl::StatusOr<std::string> NoTokenizerModelDir();

// Runs a command; returns its stdout. Errors: the exit status (with the
// stderr tail), or DeadlineExceeded after `timeout` (the process group is
// killed).
absl::StatusOr<std::string> RunCommand(const std::vector<std::string>& argv,
                                       absl::Duration timeout);

class Daemon {
 public:
  // Starts `mpirun.sh -np 2 df11d --model DIR --port 0 --metrics_port 0
  // --threads 2 FLAGS...` and waits for its port file. Errors: the job
  // exits or writes no port file within 60 s (the log's tail is in the
  // message).
  static absl::StatusOr<std::unique_ptr<Daemon>> Start(
      const std::string& model_dir, const std::vector<std::string>& flags,
      absl::Duration lifetime = absl::Seconds(300));
  ~Daemon();

  int port() const { return port_; }
  int metrics_port() const { return metrics_port_; }
  std::string address() const;
  std::shared_ptr<grpc::Channel> Channel(
      std::shared_ptr<grpc::ChannelCredentials> credentials =
          grpc::InsecureChannelCredentials()) const;

  // Waits until the health service says SERVING; false after `timeout`.
  bool WaitServing(absl::Duration timeout) const;
  // The process id of rank r (below mpirun), or -1.
  pid_t RankPid(int rank) const;
  // A signal to the job (mpirun.sh passes it to mpirun), or to one rank.
  void SignalJob(int sig) const;
  void SignalRank(int rank, int sig) const;
  // The job's exit status once it ends within `timeout` (the raw waitpid
  // status), else nullopt.
  std::optional<int> WaitExit(absl::Duration timeout);
  // GET /metrics.
  absl::StatusOr<std::string> Metrics() const;
  std::string Log() const;

 private:
  Daemon() = default;
  void Kill();

  pid_t pid_ = -1;  // mpirun.sh (mpirun's parent), its own process group
  int port_ = 0;
  int metrics_port_ = -1;
  std::string log_;
  std::optional<int> exit_status_;
  std::atomic<bool> done_{false};
  std::thread watchdog_;
};

// The health status of the server ("" = the whole server):
// "SERVING", "NOT_SERVING", or the RPC's error.
std::string HealthStatus(grpc::Channel& channel);

}  // namespace df11::serve::testing

#endif  // DF11_TESTS_SERVE_DAEMON_FIXTURE_H_
