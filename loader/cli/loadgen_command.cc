// `df11 loadgen --server HOST:PORT --concurrency N --duration S
//  [--prompt_tokens P] [--max_new M] [--temperature T] [--json]`
//
// A closed-loop load generator: N clients each send Generate requests back
// to back for S seconds (random prompts of P token ids, M new tokens with
// ignore_eos, so every request has the same length), then wait for the
// ones in flight. Reports throughput, and time-to-first-token, inter-token
// latency and end-to-end latency percentiles, as seen by the clients.
// Inter-token latency is the gap between streamed messages divided by the
// tokens the later one carries.
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/declare.h"
#include "absl/flags/flag.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "loader/cli/commands.h"
#include "loader/cli/common_flags.h"
#include "loader/cli/grpc_client.h"
#include "nlohmann/json.hpp"

ABSL_DECLARE_FLAG(int64_t, max_new);
ABSL_DECLARE_FLAG(double, temperature);
ABSL_DECLARE_FLAG(bool, json);

ABSL_FLAG(int, concurrency, 1, "loadgen: clients sending at once");
ABSL_FLAG(double, duration, 10, "loadgen: seconds to send new requests");

namespace df11::cli {
namespace {

namespace pb = ::df11::v1;

struct Samples {
  std::vector<double> ttft;  // seconds
  std::vector<double> itl;
  std::vector<double> e2e;
  int64_t requests = 0;
  int64_t output_tokens = 0;
  int64_t prompt_tokens = 0;
  std::map<std::string, int64_t> errors;  // by status code
};

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t i = std::min(
      v.size() - 1, static_cast<size_t>(p / 100.0 * (v.size() - 1) + 0.5));
  return v[i];
}

double Mean(const std::vector<double>& v) {
  if (v.empty()) return 0;
  double sum = 0;
  for (double x : v) sum += x;
  return sum / v.size();
}

void Worker(const Client& client, int index, int64_t vocab, absl::Time stop,
            Samples* out) {
  std::mt19937_64 rng(1000 + index);
  const int prompt_tokens = absl::GetFlag(FLAGS_prompt_tokens);
  for (uint64_t n = 0; absl::Now() < stop; ++n) {
    pb::GenerateRequest request;
    for (int i = 0; i < prompt_tokens; ++i) {
      request.add_token_ids(static_cast<int32_t>(rng() % vocab));
    }
    pb::SamplingParams* s = request.mutable_sampling();
    s->set_max_new_tokens(static_cast<uint32_t>(absl::GetFlag(FLAGS_max_new)));
    s->set_temperature(static_cast<float>(absl::GetFlag(FLAGS_temperature)));
    s->set_seed(static_cast<uint64_t>(index) << 32 | n);
    s->set_ignore_eos(true);

    grpc::ClientContext context;
    client.Prepare(&context);
    const absl::Time start = absl::Now();
    absl::Time last = start;
    bool first = true;
    std::unique_ptr<grpc::ClientReader<pb::GenerateResponse>> reader =
        client.stub().Generate(&context, request);
    pb::GenerateResponse message;
    int64_t tokens = 0;
    std::vector<double> itl;
    double ttft = 0;
    while (reader->Read(&message)) {
      if (message.token_ids_size() == 0) continue;
      const absl::Time now = absl::Now();
      if (first) {
        ttft = absl::ToDoubleSeconds(now - start);
        first = false;
      } else {
        const double gap =
            absl::ToDoubleSeconds(now - last) / message.token_ids_size();
        for (int i = 0; i < message.token_ids_size(); ++i) itl.push_back(gap);
      }
      last = now;
      tokens += message.token_ids_size();
    }
    const grpc::Status status = reader->Finish();
    if (!status.ok()) {
      ++out->errors[absl::StatusCodeToString(
          static_cast<absl::StatusCode>(status.error_code()))];
      continue;
    }
    out->ttft.push_back(ttft);
    out->itl.insert(out->itl.end(), itl.begin(), itl.end());
    out->e2e.push_back(absl::ToDoubleSeconds(absl::Now() - start));
    out->output_tokens += tokens;
    out->prompt_tokens += prompt_tokens;
    ++out->requests;
  }
}

}  // namespace

int RunLoadgen(const std::vector<std::string>& args) {
  const int concurrency = absl::GetFlag(FLAGS_concurrency);
  if (!args.empty() || concurrency < 1 || absl::GetFlag(FLAGS_duration) <= 0) {
    std::fprintf(stderr,
                 "usage: df11 loadgen --server HOST:PORT --concurrency N "
                 "--duration S [--prompt_tokens P] [--max_new M] [--json]\n");
    return 2;
  }
  absl::StatusOr<Client> client = Client::FromFlags();
  if (!client.ok()) {
    std::fprintf(stderr, "df11 loadgen: %s\n",
                 client.status().ToString().c_str());
    return 1;
  }
  pb::ModelInfo info;
  {
    grpc::ClientContext context;
    client->Prepare(&context);
    const absl::Status s = FromGrpc(client->stub().GetModelInfo(
        &context, pb::GetModelInfoRequest(), &info));
    if (!s.ok()) {
      std::fprintf(stderr, "df11 loadgen: GetModelInfo: %s\n",
                   s.ToString().c_str());
      return 1;
    }
  }

  const absl::Time start = absl::Now();
  const absl::Time stop = start + absl::Seconds(absl::GetFlag(FLAGS_duration));
  std::vector<Samples> per_worker(concurrency);
  std::vector<std::thread> workers;
  for (int i = 0; i < concurrency; ++i) {
    workers.emplace_back(Worker, std::cref(*client), i, info.vocab_size(), stop,
                         &per_worker[i]);
  }
  for (std::thread& t : workers) t.join();
  const double seconds = absl::ToDoubleSeconds(absl::Now() - start);

  Samples all;
  for (Samples& s : per_worker) {
    all.ttft.insert(all.ttft.end(), s.ttft.begin(), s.ttft.end());
    all.itl.insert(all.itl.end(), s.itl.begin(), s.itl.end());
    all.e2e.insert(all.e2e.end(), s.e2e.begin(), s.e2e.end());
    all.requests += s.requests;
    all.output_tokens += s.output_tokens;
    all.prompt_tokens += s.prompt_tokens;
    for (const auto& [code, n] : s.errors) all.errors[code] += n;
  }
  int64_t failed = 0;
  for (const auto& [code, n] : all.errors) failed += n;

  if (absl::GetFlag(FLAGS_json)) {
    nlohmann::json j;
    j["model"] = info.model_name();
    j["concurrency"] = concurrency;
    j["seconds"] = seconds;
    j["requests"] = all.requests;
    j["failed"] = failed;
    j["errors"] = all.errors;
    j["requests_per_s"] = all.requests / seconds;
    j["output_tokens_per_s"] = all.output_tokens / seconds;
    j["total_tokens_per_s"] = (all.output_tokens + all.prompt_tokens) / seconds;
    for (const auto& [name, v] :
         {std::pair<const char*, const std::vector<double>*>{"ttft_s",
                                                             &all.ttft},
          {"itl_s", &all.itl},
          {"e2e_s", &all.e2e}}) {
      j[name] = {{"p50", Percentile(*v, 50)},
                 {"p90", Percentile(*v, 90)},
                 {"p99", Percentile(*v, 99)},
                 {"mean", Mean(*v)}};
    }
    std::printf("%s\n", j.dump().c_str());
    return failed > 0 ? 1 : 0;
  }
  std::printf(
      "loadgen: %s (%s, TP=%u, %s), concurrency %d, %.1f s, prompt %d "
      "tokens, %lld new tokens each\n",
      info.model_name().c_str(), info.dtype().c_str(), info.tp(),
      info.backend().c_str(), concurrency, seconds,
      absl::GetFlag(FLAGS_prompt_tokens),
      static_cast<long long>(absl::GetFlag(FLAGS_max_new)));
  std::printf("requests      %lld completed, %lld failed\n",
              static_cast<long long>(all.requests),
              static_cast<long long>(failed));
  for (const auto& [code, n] : all.errors) {
    std::printf("  %s: %lld\n", code.c_str(), static_cast<long long>(n));
  }
  std::printf(
      "throughput    %.2f requests/s, %.1f output tokens/s, %.1f total "
      "tokens/s\n",
      all.requests / seconds, all.output_tokens / seconds,
      (all.output_tokens + all.prompt_tokens) / seconds);
  const auto row = [](const char* name, const std::vector<double>& v,
                      double scale, const char* unit) {
    std::printf("%-13s p50 %8.1f  p90 %8.1f  p99 %8.1f  mean %8.1f %s\n", name,
                Percentile(v, 50) * scale, Percentile(v, 90) * scale,
                Percentile(v, 99) * scale, Mean(v) * scale, unit);
  };
  row("TTFT", all.ttft, 1e3, "ms");
  row("inter-token", all.itl, 1e3, "ms");
  row("end-to-end", all.e2e, 1e3, "ms");
  return failed > 0 ? 1 : 0;
}

}  // namespace df11::cli
