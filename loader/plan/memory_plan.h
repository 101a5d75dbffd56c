// The memory plan of one GPU (one tensor-parallel rank): what the weights,
// the two decode buffers, the activations, the workspaces and a safety
// margin take, and how many tokens of KV cache the rest holds, for weights
// kept in DF11, in BF16, or in pinned host memory (offload).
//
//   PlanOptions options;
//   options.gpu_memory_gb = 80;
//   ASSIGN_OR_RETURN(MemoryPlan plan, PlanMemory(config, /*tp=*/8, options));
//   engine_options.kv_capacity_tokens =
//       plan.For(Residency::kDf11).kv_capacity_tokens;
//
// No GPU is needed: the plan follows from the config and the engine's own
// sizing rules (loader/engine/llama_engine.cc, Load; cpu_weight_store.cc
// for the decode buffers). Weights in DF11 are an estimate (bits per weight,
// measured); everything else is exact or a named constant below.
// docs/planning.md gives every formula and where each constant comes from.
//
// Units: bytes; `gpu_memory_gb` is in GB of 10^9 bytes, as card sizes and
// DESIGN.md's model sizes are.
#ifndef DF11_LOADER_PLAN_MEMORY_PLAN_H_
#define DF11_LOADER_PLAN_MEMORY_PLAN_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "loader/engine/llama_engine.h"
#include "loader/format/llama_config.h"
#include "nlohmann/json.hpp"

namespace df11 {

// Where a rank keeps its weights.
enum class Residency {
  kDf11,     // DF11 in GPU memory, decoded just in time into two buffers
  kBf16,     // BF16 in GPU memory, used in place
  kOffload,  // BF16 in pinned host memory, copied per group into two buffers
};
inline constexpr Residency kResidencies[] = {Residency::kDf11, Residency::kBf16,
                                             Residency::kOffload};
absl::string_view ResidencyName(Residency r);  // "df11", "bf16", "offload"
absl::StatusOr<Residency> ParseResidency(absl::string_view name);

// --- Constants (docs/planning.md has the sources) ---

// DF11 size of a BF16 matrix, bits per weight. Measured by our encoder:
// 10.667 (synthetic Llama layers) and 10.741 (all-MiniLM-L6-v2, real
// trained weights), docs/perf.md; published DF11 models: 10.85 (Llama 3.1
// 8B, 67.8%) and 10.86 (405B, 67.9%, with the published format's ~0.2 bit
// index, ours is 0.08). 10.9 is above all of them.
inline constexpr double kDf11BitsPerWeight = 10.9;
// Decode-buffer slots start at this alignment (weight_store.h).
inline constexpr uint64_t kSlotAlignBytes = 256;
// cuBLASLt workspace: NVIDIA recommends 32 MiB on Hopper (cuBLAS docs,
// cublasSetWorkspace; PyTorch uses the same on sm_90).
inline constexpr uint64_t kCublasLtWorkspaceBytes = uint64_t{32} << 20;
// Attention (FlashInfer): the float workspace of split-KV partial results,
// 128 MiB as FlashInfer recommends, plus its 8 MiB int workspace (plans,
// indices).
inline constexpr uint64_t kAttentionWorkspaceBytes = uint64_t{136} << 20;
// Device bytes of one logit row's SampleRequest (sampling.h: flags,
// parameters, stream, position; padded) and of its result (token, logprob
// and up to kMaxLogprobs (20) alternatives of 8 bytes).
inline constexpr uint64_t kSampleRequestBytes = 64;
inline constexpr uint64_t kSampledTokenBytes = 8 + 20 * 8;
// Sampling scratch per vocabulary entry of a logit row: FP32
// probabilities and one 4-byte array more (a sort's ids for top-k / top-p,
// or the rejection sampler's buffer).
inline constexpr uint64_t kSamplingBytesPerLogit = 8;
// NCCL's own device buffers at TP > 1: per channel and peer, 4 MiB
// (Simple, NCCL_BUFFSIZE) + ~4.6 MiB (LL128) + 256 KiB (LL), for ring and
// tree over up to 16 channels on NVLink: ~300-500 MiB. To be measured.
inline constexpr uint64_t kNcclBytes = uint64_t{512} << 20;
// The CUDA context, cuBLAS/cuBLASLt handles and loaded kernels, outside any
// allocation the backend makes.
inline constexpr uint64_t kCudaContextBytes = uint64_t{512} << 20;
// Fragmentation: cudaMalloc rounds each allocation up to 2 MiB pages (~1
// MiB lost per allocation, ~1.1 GB over 405B's 1137 tensors), plus the
// CUDA graphs' own memory.
inline constexpr double kFragmentationFraction = 0.02;

struct PlanOptions {
  // Memory of one GPU this rank may use, GB (10^9 bytes).
  double gpu_memory_gb = 80;
  // As EngineOptions (llama_engine.h). max_context 0: the config's
  // max_position_embeddings.
  int64_t max_batch_tokens = 512;
  int64_t max_batch_sequences = 64;
  int64_t max_logit_rows = 64;
  int64_t kv_block_tokens = 16;
  int64_t max_context = 0;
  // DF11 bits per weight of the matrices; 1-D norms are raw (16 bits).
  double df11_bits_per_weight = kDf11BitsPerWeight;
  // Activation and KV-cache element sizes: BF16 on CUDA (2); the CPU
  // backend uses FP32 (4).
  int activation_bytes = 2;
  int kv_bytes = 2;
};

// The backend's own buffers.
struct WorkspacePlan {
  uint64_t cublaslt = 0;
  uint64_t attention = 0;
  uint64_t step_metadata = 0;  // StepBatch arrays, without the block table
  uint64_t rope_table = 0;     // FP32 cos and sin, [max_context, head_dim/2]
  uint64_t sampling = 0;
  uint64_t nccl = 0;
  uint64_t total() const {
    return cublaslt + attention + step_metadata + rope_table + sampling + nccl;
  }
};

struct ResidencyPlan {
  Residency residency = Residency::kDf11;
  uint64_t weights = 0;       // in GPU memory, stored form
  uint64_t host_weights = 0;  // in pinned host memory (offload)
  uint64_t decode_buffers = 0;
  uint64_t activations = 0;
  WorkspacePlan workspace;
  uint64_t margin = 0;  // CUDA context + fragmentation
  // The budget less all of the above; negative when they do not fit.
  int64_t left_for_kv = 0;
  // Whole blocks of KV cache that fit in left_for_kv, in tokens, and their
  // bytes (the pools and one block-table entry per block).
  int64_t kv_capacity_tokens = 0;
  uint64_t kv_cache = 0;
  // left_for_kv holds at least one KV block.
  bool fits = false;

  uint64_t fixed() const {
    return weights + decode_buffers + activations + workspace.total() + margin;
  }
};

struct MemoryPlan {
  int tp = 1;
  uint64_t gpu_bytes = 0;
  PlanOptions options;  // as resolved: max_context, max_logit_rows
  // This rank's shard: local heads, FFN and vocabulary rows.
  int64_t q_heads = 0, kv_heads = 0, ffn = 0, vocab_shard = 0;
  // This rank's weights: elements of the matrices (DF11-encoded) and of the
  // 1-D norms (raw), as the engine loads them.
  uint64_t matrix_elements = 0;
  uint64_t norm_elements = 0;
  uint64_t kv_bytes_per_token = 0;  // all layers, k and v
  ResidencyPlan df11, bf16, offload;

  const ResidencyPlan& For(Residency r) const;
};

// Errors (InvalidArgument): tp < 1, a head count or FFN that tp does not
// divide (a vocabulary pads to equal shards), non-positive sizes or options.
// The plan options of an engine's: its batch limits, KV block size and
// context, for a GPU of `gpu_memory_gb` (BF16 activations and KV cache).
PlanOptions PlanOptionsFor(const EngineOptions& engine, double gpu_memory_gb);

absl::StatusOr<MemoryPlan> PlanMemory(const LlamaConfig& config, int tp,
                                      const PlanOptions& options);

// A readable table: one column per residency.
std::string FormatMemoryPlan(const LlamaConfig& config, const MemoryPlan& plan);
// Every number of the plan, in bytes.
nlohmann::json MemoryPlanJson(const MemoryPlan& plan);

}  // namespace df11

#endif  // DF11_LOADER_PLAN_MEMORY_PLAN_H_
