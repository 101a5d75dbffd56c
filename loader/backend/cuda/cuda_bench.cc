// Decode speed of the CUDA backend over a model directory, per weight
// residency (df11 just in time, bf16 resident, bf16 offloaded to pinned host
// memory) and batch size, with load speed and the memory plan.
//
//   cuda_bench --model /tmp/synth8b-df11 --batches 1,8,64 --steps 32 \
//       --weights df11,bf16,offload [--gpu_memory_gb 80] [--json out.json]
//
// Each batch: B sequences get a 16-token prompt (one prefill step), then
// --steps greedy decode steps of one token each are timed (after two
// warm-up steps), CUDA graphs on. Prints one table row per (residency,
// batch): ms per step, tokens/s, and the load time of that residency.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "loader/backend/backend_factory.h"
#include "loader/backend/cpu/mpi_session.h"
#include "loader/base/status_macros.h"
#include "loader/engine/llama_engine.h"
#include "loader/engine/open_model.h"

ABSL_FLAG(std::string, model, "", "DF11 model directory or BF16 checkpoint");
ABSL_FLAG(std::string, batches, "1,8,64", "batch sizes");
ABSL_FLAG(int, steps, 32, "timed decode steps per batch size");
ABSL_FLAG(std::string, weights, "df11,bf16,offload", "residencies");
ABSL_FLAG(double, gpu_memory_gb, 0, "device memory cap (GiB), 0: all");
ABSL_FLAG(bool, graphs, true, "CUDA graphs for decode steps");
ABSL_FLAG(std::string, json, "", "write the rows as JSON here");

namespace df11 {
namespace {

struct Row {
  std::string weights;
  int batch = 0;
  double load_s = 0;
  double ms_per_step = 0;
  double tokens_per_s = 0;
};

absl::StatusOr<std::vector<Row>> Bench(const WorldConfig& world,
                                       const std::string& weights,
                                       const std::vector<int>& batches) {
  BackendOptions b;
  ASSIGN_OR_RETURN(b.weights, ParseWeightResidency(weights));
  b.gpu_memory_gb = absl::GetFlag(FLAGS_gpu_memory_gb);
  b.cuda_graphs = absl::GetFlag(FLAGS_graphs);
  const int max_batch = *std::max_element(batches.begin(), batches.end());
  const int steps = absl::GetFlag(FLAGS_steps);
  const int prompt = 16;
  EngineOptions e;
  e.max_context = prompt + steps + 4;
  // Each sequence reserves whole blocks of kv_block_tokens.
  e.kv_capacity_tokens = max_batch * ((e.max_context + e.kv_block_tokens - 1) /
                                      e.kv_block_tokens * e.kv_block_tokens);
  e.max_batch_tokens = std::max(512, max_batch * prompt);
  e.max_batch_sequences = max_batch;
  e.max_logit_rows = max_batch;
  const auto t0 = std::chrono::steady_clock::now();
  ASSIGN_OR_RETURN(auto engine,
                   OpenLlama(absl::GetFlag(FLAGS_model), world,
                             MakeBackendFactory(BackendKind::kCuda, b), e));
  const double load_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
          .count();
  std::vector<Row> rows;
  SequenceId next_id = 0;
  for (int batch : batches) {
    std::vector<SequenceId> ids;
    StepPlan plan;
    for (int i = 0; i < batch; ++i) {
      const SequenceId id = next_id++;
      RETURN_IF_ERROR(engine->AddSequence(id, e.max_context));
      ids.push_back(id);
      SequenceStep item;
      item.id = id;
      for (int t = 0; t < prompt; ++t)
        item.tokens.push_back((id * 31 + t * 7) % 1000 + 1);
      item.sample.sample = true;
      plan.items.push_back(item);
    }
    ASSIGN_OR_RETURN(std::vector<SequenceResult> out, engine->Step(plan));
    double seconds = 0;
    for (int s = 0; s < steps + 2; ++s) {
      StepPlan next;
      for (int i = 0; i < batch; ++i) {
        SequenceStep item;
        item.id = ids[i];
        item.tokens = {out[i].sampled.token};
        item.sample.sample = true;
        next.items.push_back(item);
      }
      const auto a = std::chrono::steady_clock::now();
      ASSIGN_OR_RETURN(out, engine->Step(next));
      if (s >= 2) {
        seconds +=
            std::chrono::duration<double>(std::chrono::steady_clock::now() - a)
                .count();
      }
    }
    for (SequenceId id : ids) engine->RemoveSequence(id);
    Row r;
    r.weights = weights;
    r.batch = batch;
    r.load_s = load_s;
    r.ms_per_step = 1e3 * seconds / steps;
    r.tokens_per_s = batch * steps / seconds;
    rows.push_back(r);
    std::printf("%-8s batch %3d: %8.3f ms/step %10.1f tokens/s (load %.2f s)\n",
                weights.c_str(), batch, r.ms_per_step, r.tokens_per_s, load_s);
    std::fflush(stdout);
  }
  return rows;
}

}  // namespace
}  // namespace df11

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  auto session = df11::MpiSession::Start(&argc, &argv);
  if (!session.ok()) return 1;
  std::vector<int> batches;
  for (absl::string_view s :
       absl::StrSplit(absl::GetFlag(FLAGS_batches), ',')) {
    int b = 0;
    if (absl::SimpleAtoi(s, &b) && b > 0) batches.push_back(b);
  }
  std::vector<df11::Row> all;
  int rc = 0;
  for (absl::string_view w :
       absl::StrSplit(absl::GetFlag(FLAGS_weights), ',')) {
    auto rows = df11::Bench((*session)->world(), std::string(w), batches);
    if (!rows.ok()) {
      std::fprintf(stderr, "cuda_bench %s: %s\n", std::string(w).c_str(),
                   rows.status().ToString().c_str());
      rc = 1;
      continue;
    }
    all.insert(all.end(), rows->begin(), rows->end());
  }
  if (!absl::GetFlag(FLAGS_json).empty()) {
    FILE* f = std::fopen(absl::GetFlag(FLAGS_json).c_str(), "w");
    if (f != nullptr) {
      std::fprintf(f, "[\n");
      for (size_t i = 0; i < all.size(); ++i) {
        std::fprintf(f,
                     "  {\"weights\": \"%s\", \"batch\": %d, \"load_s\": %.4f, "
                     "\"ms_per_step\": %.4f, \"tokens_per_s\": %.2f}%s\n",
                     all[i].weights.c_str(), all[i].batch, all[i].load_s,
                     all[i].ms_per_step, all[i].tokens_per_s,
                     i + 1 < all.size() ? "," : "");
      }
      std::fprintf(f, "]\n");
      std::fclose(f);
    }
  }
  return rc;
}
