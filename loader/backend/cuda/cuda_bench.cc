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
#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "loader/backend/backend_factory.h"
#include "loader/backend/cuda/paged_attention.h"
#ifdef DF11_HAVE_FLASHINFER
#include "loader/backend/cuda/flashinfer_decode.h"
#endif
#include "loader/base/status_macros.h"
#include "loader/dist/mpi_session.h"
#include "loader/engine/llama_engine.h"
#include "loader/engine/open_model.h"

ABSL_FLAG(std::string, model, "", "DF11 model directory or BF16 checkpoint");
ABSL_FLAG(std::string, batches, "1,8,64", "batch sizes");
ABSL_FLAG(int, steps, 32, "timed decode steps per batch size");
ABSL_FLAG(std::string, weights, "df11,bf16,offload", "residencies");
ABSL_FLAG(double, gpu_memory_gb, 0, "device memory cap (GiB), 0: all");
ABSL_FLAG(bool, graphs, true, "CUDA graphs for decode steps");
ABSL_FLAG(std::string, json, "", "write the rows as JSON here");
ABSL_FLAG(bool, attention, false,
          "instead: time the paged attention kernel alone on decode rows "
          "(Llama 3.1 8B heads: 32 q, 8 kv, head_dim 128) against the bytes "
          "of KV it must read");

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
  ASSIGN_OR_RETURN(b.weight_residency, ParseWeightResidency(weights));
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

// Decode attention alone: B sequences of C cached tokens, one new row each.
int AttentionBench() {
  const int64_t q_heads = 32, kv_heads = 8, hd = 128, bs = 16;
  const int64_t kv_width = kv_heads * hd, width = (q_heads + 2 * kv_heads) * hd;
  std::printf("%-8s %-8s %12s %12s %12s %12s %12s\n", "batch", "context",
              "ours us", "ours GB/s", "flashinfer us", "flashinfer GB/s",
              "KV bytes");
  for (int64_t context : {1024, 4096}) {
    for (int64_t batch : {1, 16, 64}) {
      const int64_t blocks_per = context / bs;
      const int64_t slots = batch * context;
      uint16_t *k, *v, *qkv, *out;
      int32_t *pos, *seq, *indptr, *indices;
      cudaMalloc(&k, slots * kv_width * 2);
      cudaMalloc(&v, slots * kv_width * 2);
      cudaMemset(k, 0x3c, slots * kv_width * 2);  // finite BF16 (~0.011)
      cudaMemset(v, 0x3c, slots * kv_width * 2);
      cudaMalloc(&qkv, batch * width * 2);
      cudaMemset(qkv, 0x3c, batch * width * 2);
      cudaMalloc(&out, batch * q_heads * hd * 2);
      std::vector<int32_t> hp(batch, static_cast<int32_t>(context - 1)),
          hs(batch), hi(batch + 1), hx(batch * blocks_per);
      for (int64_t b = 0; b < batch; ++b) {
        hs[b] = static_cast<int32_t>(b);
        hi[b + 1] = static_cast<int32_t>((b + 1) * blocks_per);
      }
      for (size_t i = 0; i < hx.size(); ++i) hx[i] = static_cast<int32_t>(i);
      cudaMalloc(&pos, batch * 4);
      cudaMalloc(&seq, batch * 4);
      cudaMalloc(&indptr, (batch + 1) * 4);
      cudaMalloc(&indices, hx.size() * 4);
      cudaMemcpy(pos, hp.data(), batch * 4, cudaMemcpyHostToDevice);
      cudaMemcpy(seq, hs.data(), batch * 4, cudaMemcpyHostToDevice);
      cudaMemcpy(indptr, hi.data(), (batch + 1) * 4, cudaMemcpyHostToDevice);
      cudaMemcpy(indices, hx.data(), hx.size() * 4, cudaMemcpyHostToDevice);
      PagedAttentionArgs a;
      a.qkv = qkv;
      a.qkv_width = width;
      a.positions = pos;
      a.row_seq = seq;
      a.rows = batch;
      a.q_heads = q_heads;
      a.kv_heads = kv_heads;
      a.group = q_heads / kv_heads;
      a.head_dim = hd;
      a.k_pool = k;
      a.v_pool = v;
      a.kv_indptr = indptr;
      a.kv_indices = indices;
      a.block_tokens = bs;
      a.out = out;
      cudaEvent_t e0, e1;
      cudaEventCreate(&e0);
      cudaEventCreate(&e1);
      const int runs = 20;
      const auto time = [&](auto launch) {
        absl::Status s = launch();
        cudaEventRecord(e0);
        for (int r = 0; r < runs && s.ok(); ++r) s = launch();
        cudaEventRecord(e1);
        cudaEventSynchronize(e1);
        float ms = 0;
        cudaEventElapsedTime(&ms, e0, e1);
        return s.ok() ? 1e3 * ms / runs : -1.0;
      };
      const double ours =
          time([&] { return LaunchPagedAttention(a, nullptr); });
      double theirs = -1;
#ifdef DF11_HAVE_FLASHINFER
      std::vector<int32_t> last(batch, static_cast<int32_t>(bs)),
          index(2 * batch + 1, 0);
      for (int64_t b = 0; b < batch; ++b) index[b] = static_cast<int32_t>(b);
      index[2 * batch] = static_cast<int32_t>(context);
      int32_t *dlast, *dindex;
      cudaMalloc(&dlast, batch * 4);
      cudaMalloc(&dindex, index.size() * 4);
      cudaMemcpy(dlast, last.data(), batch * 4, cudaMemcpyHostToDevice);
      cudaMemcpy(dindex, index.data(), index.size() * 4,
                 cudaMemcpyHostToDevice);
      FlashInferDecodeArgs f;
      f.q = qkv;
      f.q_stride = width;
      f.rows = batch;
      f.q_heads = q_heads;
      f.kv_heads = kv_heads;
      f.head_dim = hd;
      f.page_size = bs;
      f.k_pages = k;
      f.v_pages = v;
      f.indptr = indptr;
      f.indices = indices;
      f.last_page_len = dlast;
      f.request_indices = dindex;
      f.tile_indices = dindex + batch;
      f.chunk_size = dindex + 2 * batch;
      f.out = out;
      theirs = time([&] { return LaunchFlashInferDecode(f, nullptr); });
      cudaFree(dlast);
      cudaFree(dindex);
#endif
      const double bytes = 2.0 * batch * context * kv_width * 2;
      std::printf("%-8lld %-8lld %12.1f %12.1f %12.1f %12.1f %12.0f\n",
                  static_cast<long long>(batch),
                  static_cast<long long>(context), ours,
                  ours > 0 ? bytes / ours / 1e3 : 0.0, theirs,
                  theirs > 0 ? bytes / theirs / 1e3 : 0.0, bytes);
      for (void* p : {(void*)k, (void*)v, (void*)qkv, (void*)out, (void*)pos,
                      (void*)seq, (void*)indptr, (void*)indices}) {
        cudaFree(p);
      }
      cudaEventDestroy(e0);
      cudaEventDestroy(e1);
    }
  }
  return 0;
}

}  // namespace
}  // namespace df11

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  if (absl::GetFlag(FLAGS_attention)) return df11::AttentionBench();
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
