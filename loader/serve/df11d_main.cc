// df11d: the serving daemon. One process per rank, started by mpirun:
//
//   mpirun -np 2 df11d --model DIR [--host 127.0.0.1] [--port 50051]
//       [--backend cpu|cuda] [--metrics_port 9090] [--auth_token_file F]
//       [--tls_cert C --tls_key K] [--grace_s 30] ...
//   ./launch/df11 serve --np 2 --model DIR ...     (the same, via mpirun.sh)
//
// Every rank loads its own shard (OpenLlama). Rank 0 also serves gRPC
// (df11.v1.InferenceService, health, reflection) and Prometheus metrics,
// and runs the scheduler; each step it broadcasts the plan and every rank
// runs it (loader/serve/leader.h, step_plan.h). docs/serving.md describes
// the whole daemon.
//
// Startup: rank 0 starts the gRPC server first (health NOT_SERVING, calls
// UNAVAILABLE), the ranks agree that it did, load the model together, and
// rank 0 turns SERVING. --port_file gets "grpc_port=N" and
// "metrics_port=M" lines once the ports are bound (tests use --port 0).
//
// Shutdown: SIGTERM, SIGINT or SIGUSR1 to rank 0 (mpirun forwards SIGUSR1
// to every rank; `df11 serve` turns its SIGTERM into that) starts the
// drain: no new requests, running ones get --grace_s to finish, then every
// rank gets the shutdown plan and exits 0. A second signal cancels what is
// left at once. Other ranks ignore these signals: rank 0 decides.
//
// Exit status: 0 after a drain; 1 when startup fails (every rank, with the
// lowest failing rank's error) or when a rank stops answering (the job is
// aborted; mpirun also ends the job when a rank dies); 2 for bad flags.
#include <mpi.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "loader/backend/backend_factory.h"
#include "loader/base/parallel_for.h"
#include "loader/base/status_macros.h"
#include "loader/dist/agreement.h"
#include "loader/dist/mpi_session.h"
#include "loader/dist/mpi_status.h"
#include "loader/engine/open_model.h"
#include "loader/engine/synthetic_source.h"
#include "loader/format/llama_config.h"
#include "loader/plan/memory_plan.h"
#include "loader/serve/grpc_server.h"
#include "loader/serve/grpc_service.h"
#include "loader/serve/leader.h"
#include "loader/serve/metrics.h"
#include "loader/serve/metrics_http.h"
#include "loader/serve/step_plan.h"
#include "loader/tokenizer/tokenizer.h"

ABSL_FLAG(std::string, model, "",
          "DF11 model directory or BF16 Hugging Face checkpoint");
ABSL_FLAG(std::string, synthetic, "",
          "serve a synthetic model made in memory instead of --model: a "
          "preset of loader/engine/synthetic_source.h (tiny, small, 8b, 70b, "
          "405b), seeded trained-like weights DF11-encoded on the CPUs; for "
          "capacity planning and benchmarks (no tokenizer: token ids only)");
ABSL_FLAG(int64_t, synthetic_layers, -1,
          "with --synthetic: the number of layers (-1: the preset's)");
ABSL_FLAG(std::string, host, "127.0.0.1",
          "address to serve on (0.0.0.0 for every interface)");
ABSL_FLAG(int, port, 50051, "gRPC port (0: any free port)");
ABSL_FLAG(std::string, port_file, "",
          "write grpc_port=N and metrics_port=M here once bound");
ABSL_FLAG(std::string, backend, "cpu", "cpu or cuda");
ABSL_FLAG(int, threads, 0,
          "CPU backend threads, divided among the ranks as df11 run does "
          "(0: one per hardware thread)");
ABSL_FLAG(double, gpu_memory_gb, 0,
          "CUDA: device memory each rank may use (0: all)");
ABSL_FLAG(int64_t, max_context, 0,
          "tokens per sequence, prompt + generated (0: the model's "
          "max_position_embeddings)");
ABSL_FLAG(int64_t, kv_capacity_tokens, 0,
          "KV cache size in tokens, shared by all requests (0: the larger "
          "of 16384 and max_context)");
ABSL_FLAG(int64_t, kv_block_tokens, 16, "tokens per KV cache block");
ABSL_FLAG(int64_t, max_batch_tokens, 512,
          "most new tokens in one step (prompt chunks + decodes)");
ABSL_FLAG(int64_t, max_batch_sequences, 64, "most requests running at once");
ABSL_FLAG(int64_t, max_queue, 256,
          "most requests waiting for admission beyond the free sequence "
          "slots; more get RESOURCE_EXHAUSTED");
ABSL_FLAG(int64_t, default_max_new_tokens, 256,
          "max_new_tokens of a request that gives none");
ABSL_FLAG(int64_t, max_request_bytes, 4 << 20,
          "largest request message accepted");
ABSL_FLAG(double, grace_s, 30,
          "on SIGTERM: seconds running requests get to finish");
ABSL_FLAG(double, agree_timeout_s, 60,
          "seconds a rank waits for the others before the job is aborted");
ABSL_FLAG(std::string, tls_cert, "", "PEM certificate chain: serve TLS only");
ABSL_FLAG(std::string, tls_key, "", "PEM private key of --tls_cert");
ABSL_FLAG(std::string, auth_token_file, "",
          "file holding the bearer token every call must carry");
ABSL_FLAG(int, metrics_port, -1,
          "Prometheus /metrics HTTP port on --host (-1: off, 0: any free)");
ABSL_FLAG(std::string, tokenizer, "",
          "tokenizer.json (default: the model directory's, if any)");
ABSL_FLAG(int, testing_load_delay_ms, 0,
          "testing: rank 0 waits this long before loading the model");

namespace df11::serve {
namespace {

// Drain requests from the signal thread; the leader may not exist yet.
// Health turns NOT_SERVING at once.
struct DrainSignal {
  absl::Mutex mu;
  Leader* leader ABSL_GUARDED_BY(mu) = nullptr;
  GrpcServer* server ABSL_GUARDED_BY(mu) = nullptr;
  int signals ABSL_GUARDED_BY(mu) = 0;

  void Attach(Leader* l, GrpcServer* s, absl::Duration grace) {
    absl::MutexLock lock(&mu);
    leader = l;
    server = s;
    if (signals > 0) DrainLocked(grace);
  }
  void Signal(absl::Duration grace) {
    absl::MutexLock lock(&mu);
    ++signals;
    if (leader != nullptr) DrainLocked(grace);
  }
  void DrainLocked(absl::Duration grace) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    server->SetServing(false);
    leader->Drain(signals > 1 ? absl::ZeroDuration() : grace);
  }
};

// The signals that drain. A handler writes the signal's number into a pipe
// that one thread reads (a signal mask cannot do: Open MPI's own threads
// unblock every signal).
int signal_pipe[2] = {-1, -1};

void OnSignal(int sig) {
  const char byte = static_cast<char>(sig);
  (void)!write(signal_pipe[1], &byte, 1);
}

void StartSignalThread(const WorldConfig& world, DrainSignal* drain,
                       absl::Duration grace) {
  if (pipe(signal_pipe) != 0) return;
  struct sigaction action = {};
  action.sa_handler = OnSignal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  for (int sig : {SIGTERM, SIGINT, SIGUSR1}) sigaction(sig, &action, nullptr);
  std::thread([world, drain, grace] {
    while (true) {
      char sig = 0;
      const ssize_t n = read(signal_pipe[0], &sig, 1);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return;
      if (!world.is_root()) continue;  // rank 0 decides
      std::fprintf(stderr, "df11d: signal %d: draining (grace %s)\n", sig,
                   absl::FormatDuration(grace).c_str());
      drain->Signal(grace);
    }
  }).detach();
}

absl::StatusOr<uint64_t> SumOverRanks(const WorldConfig& world,
                                      uint64_t value) {
  if (world.size == 1) return value;
  uint64_t sum = 0;
  RETURN_IF_ERROR(MPI_STATUS(
      MPI_Allreduce(&value, &sum, 1, MPI_UINT64_T, MPI_SUM, MPI_COMM_WORLD)));
  return sum;
}

absl::Status WritePortFile(const std::string& path, int grpc_port,
                           int metrics_port) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp);
    out << "grpc_port=" << grpc_port << "\nmetrics_port=" << metrics_port
        << "\n";
    if (!out) return absl::InternalError(absl::StrCat("cannot write ", tmp));
  }
  std::error_code error;
  std::filesystem::rename(tmp, path, error);
  if (error) {
    return absl::InternalError(
        absl::StrCat("cannot rename ", tmp, ": ", error.message()));
  }
  return absl::OkStatus();
}

// Rank 0's servers, started before the model loads.
struct Front {
  LlamaConfig config;
  std::unique_ptr<tokenizer::Tokenizer> tokenizer;
  std::unique_ptr<ServeMetrics> metrics;
  std::unique_ptr<InferenceServiceImpl> service;
  std::unique_ptr<GrpcServer> grpc;
  std::unique_ptr<MetricsHttpServer> http;
};

// The served model's config: a synthetic preset's, or the directory's.
absl::StatusOr<LlamaConfig> ModelConfig(const std::string& dir) {
  if (!absl::GetFlag(FLAGS_synthetic).empty()) {
    return SyntheticLlamaConfig(absl::GetFlag(FLAGS_synthetic),
                                absl::GetFlag(FLAGS_synthetic_layers));
  }
  return ReadLlamaConfig(dir + "/config.json");
}

// The model's name, for ModelInfo and metrics.
std::string ModelName(const std::string& dir) {
  if (!absl::GetFlag(FLAGS_synthetic).empty()) {
    return absl::StrCat("synthetic-", absl::GetFlag(FLAGS_synthetic));
  }
  return std::filesystem::path(dir).lexically_normal().filename().string();
}

absl::StatusOr<std::unique_ptr<Front>> StartFront(const std::string& dir) {
  auto front = std::make_unique<Front>();
  ASSIGN_OR_RETURN(front->config, ModelConfig(dir));
  std::string tokenizer_path = absl::GetFlag(FLAGS_tokenizer);
  if (tokenizer_path.empty() && !dir.empty() &&
      std::filesystem::exists(dir + "/tokenizer.json")) {
    tokenizer_path = dir + "/tokenizer.json";
  }
  if (!tokenizer_path.empty()) {
    ASSIGN_OR_RETURN(tokenizer::Tokenizer tok,
                     tokenizer::Tokenizer::FromFile(tokenizer_path));
    front->tokenizer = std::make_unique<tokenizer::Tokenizer>(std::move(tok));
  } else {
    std::fprintf(stderr,
                 "df11d: %s has no tokenizer.json: text prompts and stop "
                 "strings are refused; token_ids work\n",
                 ModelName(dir).c_str());
  }
  ServiceOptions service;
  if (!absl::GetFlag(FLAGS_auth_token_file).empty()) {
    ASSIGN_OR_RETURN(std::string token,
                     ReadSmallFile(absl::GetFlag(FLAGS_auth_token_file)));
    service.auth_token = std::string(absl::StripAsciiWhitespace(token));
    if (service.auth_token.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(absl::GetFlag(FLAGS_auth_token_file), " is empty"));
    }
  }
  front->service = std::make_unique<InferenceServiceImpl>(service);
  GrpcServerOptions grpc;
  grpc.host = absl::GetFlag(FLAGS_host);
  grpc.port = absl::GetFlag(FLAGS_port);
  grpc.tls_cert_file = absl::GetFlag(FLAGS_tls_cert);
  grpc.tls_key_file = absl::GetFlag(FLAGS_tls_key);
  grpc.max_request_bytes =
      static_cast<int>(absl::GetFlag(FLAGS_max_request_bytes));
  ASSIGN_OR_RETURN(front->grpc, GrpcServer::Start(grpc, front->service.get()));

  front->metrics = std::make_unique<ServeMetrics>(
      ModelName(dir), front->config.num_hidden_layers);
  int metrics_port = -1;
  if (absl::GetFlag(FLAGS_metrics_port) >= 0) {
    ServeMetrics* metrics = front->metrics.get();
    ASSIGN_OR_RETURN(front->http, MetricsHttpServer::Start(
                                      absl::GetFlag(FLAGS_host),
                                      absl::GetFlag(FLAGS_metrics_port),
                                      [metrics] { return metrics->Render(); }));
    metrics_port = front->http->port();
  }
  if (!absl::GetFlag(FLAGS_port_file).empty()) {
    RETURN_IF_ERROR(WritePortFile(absl::GetFlag(FLAGS_port_file),
                                  front->grpc->port(), metrics_port));
  }
  std::fprintf(stderr, "df11d: gRPC on %s:%d%s, loading %s\n",
               absl::GetFlag(FLAGS_host).c_str(), front->grpc->port(),
               absl::GetFlag(FLAGS_tls_cert).empty() ? "" : " (TLS)",
               ModelName(dir).c_str());
  return front;
}

// KV capacity when --kv_capacity_tokens is 0: on CUDA with --gpu_memory_gb,
// what the memory plan leaves after weights, buffers and workspace (DF11
// weights); otherwise room for max(16384, max_context) tokens.
absl::StatusOr<int64_t> PlannedKvTokens(const LlamaConfig& config,
                                        BackendKind kind, int tp,
                                        const EngineOptions& engine) {
  if (kind != BackendKind::kCuda || absl::GetFlag(FLAGS_gpu_memory_gb) <= 0) {
    return std::max<int64_t>(16384, engine.max_context);
  }
  const PlanOptions options =
      PlanOptionsFor(engine, absl::GetFlag(FLAGS_gpu_memory_gb));
  ASSIGN_OR_RETURN(MemoryPlan plan, PlanMemory(config, tp, options));
  const ResidencyPlan& df11 = plan.For(Residency::kDf11);
  if (!df11.fits) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "the model's DF11 weights, buffers and workspace do not fit in "
        "--gpu_memory_gb ",
        options.gpu_memory_gb, " (df11 plan shows the parts)"));
  }
  return df11.kv_capacity_tokens;
}

int Serve(MpiSession& session) {
  const WorldConfig world = session.world();
  const std::string dir = absl::GetFlag(FLAGS_model);
  const absl::Duration agree_timeout =
      absl::Seconds(absl::GetFlag(FLAGS_agree_timeout_s));
  const absl::Duration grace = absl::Seconds(absl::GetFlag(FLAGS_grace_s));
  DrainSignal drain;
  StartSignalThread(world, &drain, grace);

  // Rank 0's servers first, so that health answers while the model loads.
  absl::StatusOr<std::unique_ptr<Front>> front;
  if (world.is_root()) front = StartFront(dir);
  const absl::Status started =
      AgreeOk(world, world.is_root() ? front.status() : absl::OkStatus(),
              agree_timeout);
  if (!started.ok()) {
    if (world.is_root()) {
      std::fprintf(stderr, "df11d: %s\n", started.ToString().c_str());
    }
    return 1;
  }
  if (world.is_root() && absl::GetFlag(FLAGS_testing_load_delay_ms) > 0) {
    absl::SleepFor(
        absl::Milliseconds(absl::GetFlag(FLAGS_testing_load_delay_ms)));
  }

  absl::StatusOr<BackendKind> kind =
      ParseBackendKind(absl::GetFlag(FLAGS_backend));
  absl::StatusOr<LlamaConfig> config = ModelConfig(dir);
  if (!kind.ok() || !config.ok()) {
    const absl::Status s = !kind.ok() ? kind.status() : config.status();
    if (world.is_root())
      std::fprintf(stderr, "df11d: %s\n", s.ToString().c_str());
    return 1;
  }
  EngineOptions engine_options;
  engine_options.max_context = absl::GetFlag(FLAGS_max_context) > 0
                                   ? absl::GetFlag(FLAGS_max_context)
                                   : config->max_position_embeddings;
  engine_options.kv_block_tokens = absl::GetFlag(FLAGS_kv_block_tokens);
  engine_options.max_batch_tokens = absl::GetFlag(FLAGS_max_batch_tokens);
  engine_options.max_batch_sequences = absl::GetFlag(FLAGS_max_batch_sequences);
  engine_options.kv_capacity_tokens = absl::GetFlag(FLAGS_kv_capacity_tokens);
  if (engine_options.kv_capacity_tokens == 0) {
    // A GPU with a memory budget holds what the plan leaves for the KV
    // cache (loader/plan); otherwise room for a few long sequences.
    absl::StatusOr<int64_t> planned =
        PlannedKvTokens(*config, *kind, world.size, engine_options);
    if (!planned.ok()) {
      if (world.is_root()) {
        std::fprintf(stderr, "df11d: %s\n",
                     planned.status().ToString().c_str());
      }
      return 2;
    }
    engine_options.kv_capacity_tokens = *planned;
  }
  engine_options.agree_timeout = agree_timeout;
  {
    // Every rank checks the flags alike, before loading.
    SchedulerOptions limits;
    limits.max_batch_tokens = engine_options.max_batch_tokens;
    limits.max_batch_sequences = engine_options.max_batch_sequences;
    limits.kv_capacity_tokens = engine_options.kv_capacity_tokens;
    limits.kv_block_tokens = engine_options.kv_block_tokens;
    limits.max_queue = absl::GetFlag(FLAGS_max_queue);
    const absl::Status valid = ValidateSchedulerOptions(limits);
    if (!valid.ok()) {
      if (world.is_root()) {
        std::fprintf(stderr, "df11d: %s\n", valid.ToString().c_str());
      }
      return 2;
    }
  }
  BackendOptions backend;
  const int threads = absl::GetFlag(FLAGS_threads) > 0
                          ? absl::GetFlag(FLAGS_threads)
                          : HardwareThreads();
  backend.threads = std::max(1, threads / world.size);
  backend.gpu_memory_gb = absl::GetFlag(FLAGS_gpu_memory_gb);

  absl::StatusOr<std::unique_ptr<LlamaEngine>> engine =
      absl::GetFlag(FLAGS_synthetic).empty()
          ? OpenLlama(dir, world, MakeBackendFactory(*kind, backend),
                      engine_options)
          : OpenLlamaWith(
                *config,
                [&](const LlamaConfig& c)
                    -> absl::StatusOr<std::unique_ptr<WeightSource>> {
                  SyntheticOptions synthetic;
                  synthetic.threads = threads;
                  ASSIGN_OR_RETURN(auto source, OpenSyntheticWeightSource(
                                                    c, world, synthetic));
                  return std::unique_ptr<WeightSource>(std::move(source));
                },
                world, MakeBackendFactory(*kind, backend), engine_options);
  if (!engine.ok()) {
    // Agreed: every rank has the same error; a timeout means MPI is gone.
    if (world.is_root()) {
      std::fprintf(stderr, "df11d: loading %s: %s\n", dir.c_str(),
                   engine.status().ToString().c_str());
    }
    if (IsFatalStepError(engine.status())) session.Abort(1);
    return 1;
  }
  const EngineMemory memory = (*engine)->memory();
  absl::StatusOr<uint64_t> stored = SumOverRanks(world, memory.weights_stored);
  absl::StatusOr<uint64_t> original =
      SumOverRanks(world, memory.weights_original);
  if (!stored.ok() || !original.ok()) {
    const absl::Status s = !stored.ok() ? stored.status() : original.status();
    std::fprintf(stderr, "df11d rank %d: %s; aborting the job\n", world.rank,
                 s.ToString().c_str());
    session.Abort(1);
    return 1;
  }

  if (!world.is_root()) {
    const absl::Status done = RunFollower(**engine, world);
    if (!done.ok()) {
      std::fprintf(stderr, "df11d rank %d: %s; aborting the job\n", world.rank,
                   done.ToString().c_str());
      session.Abort(1);
      return 1;
    }
    return 0;
  }

  Front& f = **front;
  LeaderOptions options;
  const KvUsage kv = (*engine)->kv_usage();
  options.scheduler.max_batch_tokens = engine_options.max_batch_tokens;
  options.scheduler.max_batch_sequences = engine_options.max_batch_sequences;
  options.scheduler.kv_capacity_tokens = kv.capacity_tokens();
  options.scheduler.kv_block_tokens = kv.block_tokens;
  options.scheduler.max_queue = absl::GetFlag(FLAGS_max_queue);
  options.limits.vocab_size = config->vocab_size;
  options.limits.max_context = (*engine)->max_context();
  options.limits.eos_ids = config->eos_token_ids;
  options.limits.default_max_new_tokens =
      absl::GetFlag(FLAGS_default_max_new_tokens);
  options.broadcast_timeout = agree_timeout;
  Leader leader(**engine, world, options, f.tokenizer.get(), f.metrics.get());
  ModelDescription description;
  description.model_name = ModelName(dir);
  description.dtype =
      !absl::GetFlag(FLAGS_synthetic).empty() || IsDf11ModelDir(dir) ? "df11"
                                                                     : "bf16";
  description.backend = std::string(BackendKindName(*kind));
  description.tp = world.size;
  description.max_context = (*engine)->max_context();
  description.vocab_size = config->vocab_size;
  description.compressed_weight_bytes = *stored;
  description.original_weight_bytes = *original;
  f.service->SetLeader(&leader, f.tokenizer.get(), description);
  f.metrics->SetLoad(0, 0, 0, kv.capacity_tokens());
  f.grpc->SetServing(true);
  drain.Attach(&leader, f.grpc.get(), grace);
  std::fprintf(stderr,
               "df11d: serving %s (%s, TP=%d, %s backend): context %lld, KV "
               "cache %lld tokens, weights %llu B stored (%llu B as BF16)\n",
               description.model_name.c_str(), description.dtype.c_str(),
               world.size, description.backend.c_str(),
               static_cast<long long>(description.max_context),
               static_cast<long long>(kv.capacity_tokens()),
               static_cast<unsigned long long>(*stored),
               static_cast<unsigned long long>(*original));

  const absl::Status done = leader.Run();
  f.grpc->SetServing(false);
  if (!done.ok()) {
    std::fprintf(stderr, "df11d: %s; aborting the job\n",
                 done.ToString().c_str());
    f.grpc->Shutdown(absl::Seconds(1));  // the UNAVAILABLE answers go out
    session.Abort(1);
    return 1;
  }
  f.grpc->Shutdown(absl::Seconds(5));
  f.http.reset();
  std::fprintf(stderr, "df11d: drained, every rank exits\n");
  return 0;
}

}  // namespace
}  // namespace df11::serve

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "mpirun -np N df11d --model DIR [--host H] [--port P] [flags]");
  absl::ParseCommandLine(argc, argv);
  if (absl::GetFlag(FLAGS_model).empty() ==
      absl::GetFlag(FLAGS_synthetic).empty()) {
    std::fprintf(stderr,
                 "df11d: give exactly one of --model DIR and --synthetic "
                 "PRESET\n");
    return 2;
  }
  absl::StatusOr<std::unique_ptr<df11::MpiSession>> session =
      df11::MpiSession::Start(&argc, &argv);
  if (!session.ok()) {
    std::fprintf(stderr, "df11d: %s\n", session.status().ToString().c_str());
    return 1;
  }
  return df11::serve::Serve(**session);
}
