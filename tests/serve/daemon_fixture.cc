#include "tests/serve/daemon_fixture.h"

#include <dirent.h>
#include <fcntl.h>
#include <httplib.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "loader/base/status_macros.h"
#include "loader/format/df11_compress.h"
#include "loader/format/synthetic_checkpoint.h"
#include "nlohmann/json.hpp"
#include "tests/serve/health.grpc.pb.h"

namespace df11::serve::testing {
namespace {

namespace fs = std::filesystem;

Paths paths;

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

std::string Tail(const std::string& text, size_t n = 3000) {
  return text.size() <= n ? text : text.substr(text.size() - n);
}

// Forks and execs argv in its own process group; stdout to `out_fd` (or
// the log), stderr to `log`. The child dies with the test process.
pid_t Spawn(const std::vector<std::string>& argv, const std::string& log,
            int out_fd) {
  std::vector<char*> args;
  for (const std::string& a : argv)
    args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const pid_t pid = fork();
  if (pid != 0) return pid;
  // Child: only async-signal-safe calls until exec.
  setpgid(0, 0);
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  const int err = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  const int null = open("/dev/null", O_RDONLY);
  dup2(null, 0);
  dup2(out_fd >= 0 ? out_fd : err, 1);
  dup2(err, 2);
  execvp(args[0], args.data());
  _exit(127);
}

// Every process below `root` (mpirun.sh's bash, mpirun, the ranks).
std::vector<pid_t> Descendants(pid_t root);

std::vector<pid_t> Children(pid_t parent) {
  std::vector<pid_t> out;
  for (const fs::directory_entry& e : fs::directory_iterator("/proc")) {
    pid_t pid = 0;
    if (!absl::SimpleAtoi(e.path().filename().string(), &pid)) continue;
    const std::string stat = ReadAll(e.path().string() + "/stat");
    const size_t close = stat.rfind(')');
    if (close == std::string::npos) continue;
    std::vector<std::string> fields =
        absl::StrSplit(stat.substr(close + 2), ' ');
    pid_t ppid = 0;
    if (fields.size() > 1 && absl::SimpleAtoi(fields[1], &ppid) &&
        ppid == parent) {
      out.push_back(pid);
    }
  }
  return out;
}

std::vector<pid_t> Descendants(pid_t root) {
  std::vector<pid_t> out;
  for (pid_t child : Children(root)) {
    out.push_back(child);
    for (pid_t below : Descendants(child)) out.push_back(below);
  }
  return out;
}

int next_daemon = 0;

}  // namespace

void InitPaths(int argc, char** argv) {
  if (argc < 5) {
    std::fprintf(stderr,
                 "usage: %s DF11D DF11 MPIRUN_SH TOKENIZER_JSON [gtest "
                 "flags]\n",
                 argv[0]);
    std::exit(2);
  }
  paths = {fs::absolute(argv[1]).string(), fs::absolute(argv[2]).string(),
           fs::absolute(argv[3]).string(), fs::absolute(argv[4]).string()};
}

const Paths& GetPaths() { return paths; }

std::string TempDir() {
  const char* dir = std::getenv("TEST_TMPDIR");
  return dir != nullptr ? dir : "/tmp";
}

absl::StatusOr<std::string> TextModelDir() {
  static const absl::StatusOr<std::string>* const dir =
      new absl::StatusOr<std::string>([]() -> absl::StatusOr<std::string> {
        const std::string root = TempDir() + "/models";
        fs::remove_all(root);
        fs::create_directories(root);
        SyntheticSpec spec;
        spec.hidden_size = 64;
        spec.intermediate_size = 192;
        spec.num_layers = 2;
        spec.num_heads = 4;
        spec.num_kv_heads = 2;
        spec.vocab_size = 1000;
        spec.seed = 11;
        RETURN_IF_ERROR(WriteSyntheticCheckpoint(root + "/hf", spec, 2));
        // A long context, so that a request can outlast any test's wait.
        const std::string config = root + "/hf/config.json";
        nlohmann::json j = nlohmann::json::parse(ReadAll(config));
        j["max_position_embeddings"] = 16384;
        std::ofstream(config) << j.dump(2);
        CompressOptions options;
        options.tp = 2;
        options.threads = 2;
        const std::string out = root + "/text-df11";
        ASSIGN_OR_RETURN(CompressSummary summary,
                         CompressCheckpoint(root + "/hf", out, options));
        (void)summary;
        fs::copy_file(GetPaths().tokenizer_json, out + "/tokenizer.json");
        return out;
      }());
  return *dir;
}

absl::StatusOr<std::string> NoTokenizerModelDir() {
  ASSIGN_OR_RETURN(std::string text, TextModelDir());
  const std::string dir = TempDir() + "/models/no-tokenizer-df11";
  if (fs::exists(dir)) return dir;
  fs::create_directories(dir);
  for (const fs::directory_entry& e : fs::directory_iterator(text)) {
    if (e.path().filename() == "tokenizer.json") continue;
    fs::create_symlink(e.path(), dir + "/" + e.path().filename().string());
  }
  return dir;
}

absl::StatusOr<std::string> RunCommand(const std::vector<std::string>& argv,
                                       absl::Duration timeout) {
  int pipe_fds[2];
  if (pipe(pipe_fds) != 0) return absl::InternalError("pipe");
  const std::string log =
      absl::StrCat(TempDir(), "/command-", next_daemon++, ".stderr");
  const pid_t pid = Spawn(argv, log, pipe_fds[1]);
  close(pipe_fds[1]);
  std::string out;
  const absl::Time deadline = absl::Now() + timeout;
  bool timed_out = false;
  while (true) {
    pollfd p = {pipe_fds[0], POLLIN, 0};
    const int ready = poll(&p, 1, 50);
    if (ready > 0) {
      char buf[65536];
      const ssize_t n = read(pipe_fds[0], buf, sizeof(buf));
      if (n <= 0) break;
      out.append(buf, n);
    }
    if (absl::Now() > deadline) {
      timed_out = true;
      break;
    }
  }
  close(pipe_fds[0]);
  if (timed_out) kill(-pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  if (timed_out) {
    return absl::DeadlineExceededError(
        absl::StrCat(argv[0], " ran past ", absl::FormatDuration(timeout)));
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return absl::InternalError(absl::StrCat(argv[0], " failed (status ", status,
                                            "): ", Tail(ReadAll(log))));
  }
  return out;
}

absl::StatusOr<std::unique_ptr<Daemon>> Daemon::Start(
    const std::string& model_dir, const std::vector<std::string>& flags,
    absl::Duration lifetime) {
  std::unique_ptr<Daemon> d(new Daemon());
  const int n = next_daemon++;
  const std::string port_file =
      absl::StrCat(TempDir(), "/daemon-", n, ".ports");
  d->log_ = absl::StrCat(TempDir(), "/daemon-", n, ".log");
  fs::remove(port_file);
  std::vector<std::string> argv = {GetPaths().mpirun_sh,
                                   "-np",
                                   "2",
                                   GetPaths().df11d,
                                   "--model=" + model_dir,
                                   "--port=0",
                                   "--port_file=" + port_file,
                                   "--metrics_port=0",
                                   "--threads=2"};
  argv.insert(argv.end(), flags.begin(), flags.end());
  d->pid_ = Spawn(argv, d->log_, -1);
  const absl::Time kill_at = absl::Now() + lifetime;
  Daemon* raw = d.get();
  d->watchdog_ = std::thread([raw, kill_at] {
    while (!raw->done_.load()) {
      if (absl::Now() > kill_at) {
        std::fprintf(stderr, "watchdog: killing the daemon (lifetime over)\n");
        raw->Kill();
        return;
      }
      absl::SleepFor(absl::Milliseconds(50));
    }
  });

  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  while (!fs::exists(port_file)) {
    if (d->WaitExit(absl::Milliseconds(50)).has_value()) {
      return absl::InternalError(
          absl::StrCat("df11d exited at startup:\n", Tail(d->Log())));
    }
    if (absl::Now() > deadline) {
      return absl::DeadlineExceededError(
          absl::StrCat("df11d wrote no port file in 60 s:\n", Tail(d->Log())));
    }
  }
  for (absl::string_view line : absl::StrSplit(ReadAll(port_file), '\n')) {
    std::pair<std::string, std::string> kv = absl::StrSplit(line, '=');
    if (kv.first == "grpc_port") (void)absl::SimpleAtoi(kv.second, &d->port_);
    if (kv.first == "metrics_port") {
      (void)absl::SimpleAtoi(kv.second, &d->metrics_port_);
    }
  }
  return d;
}

Daemon::~Daemon() {
  if (!exit_status_.has_value()) {
    SignalJob(SIGUSR1);  // drain, as `df11 serve` does on SIGTERM
    if (!WaitExit(absl::Seconds(20)).has_value()) {
      Kill();
      WaitExit(absl::Seconds(10));
    }
  }
  done_ = true;
  if (watchdog_.joinable()) watchdog_.join();
}

std::string Daemon::address() const {
  return absl::StrCat("127.0.0.1:", port_);
}

std::shared_ptr<grpc::Channel> Daemon::Channel(
    std::shared_ptr<grpc::ChannelCredentials> credentials) const {
  return grpc::CreateChannel(address(), credentials);
}

bool Daemon::WaitServing(absl::Duration timeout) const {
  std::shared_ptr<grpc::Channel> channel = Channel();
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    if (HealthStatus(*channel) == "SERVING") return true;
    absl::SleepFor(absl::Milliseconds(50));
  }
  return false;
}

pid_t Daemon::RankPid(int rank) const {
  for (pid_t child : Descendants(pid_)) {
    const std::string env = ReadAll(absl::StrCat("/proc/", child, "/environ"));
    for (absl::string_view var : absl::StrSplit(env, '\0')) {
      if (var == absl::StrCat("OMPI_COMM_WORLD_RANK=", rank)) return child;
    }
  }
  return -1;
}

void Daemon::SignalJob(int sig) const {
  if (!exit_status_.has_value()) kill(pid_, sig);
}

void Daemon::SignalRank(int rank, int sig) const {
  const pid_t pid = RankPid(rank);
  if (pid > 0) kill(pid, sig);
}

std::optional<int> Daemon::WaitExit(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (!exit_status_.has_value()) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      exit_status_ = status;
      done_ = true;
      break;
    }
    if (absl::Now() > deadline) break;
    absl::SleepFor(absl::Milliseconds(20));
  }
  return exit_status_;
}

void Daemon::Kill() {
  if (done_.load()) return;  // reaped: the pid may be another process's
  for (pid_t child : Descendants(pid_)) kill(child, SIGKILL);
  kill(-pid_, SIGKILL);
}

absl::StatusOr<std::string> Daemon::Metrics() const {
  if (metrics_port_ <= 0) return absl::FailedPreconditionError("no metrics");
  httplib::Client client("127.0.0.1", metrics_port_);
  client.set_read_timeout(5, 0);
  auto response = client.Get("/metrics");
  if (!response || response->status != 200) {
    return absl::UnavailableError("GET /metrics failed");
  }
  return response->body;
}

std::string Daemon::Log() const { return ReadAll(log_); }

std::string HealthStatus(grpc::Channel& channel) {
  auto stub = grpc::health::v1::Health::NewStub(
      std::shared_ptr<grpc::Channel>(&channel, [](grpc::Channel*) {}));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(2));
  grpc::health::v1::HealthCheckRequest request;
  grpc::health::v1::HealthCheckResponse response;
  const grpc::Status s = stub->Check(&context, request, &response);
  if (!s.ok()) return absl::StrCat("error ", s.error_code());
  return grpc::health::v1::HealthCheckResponse::ServingStatus_Name(
      response.status());
}

}  // namespace df11::serve::testing
