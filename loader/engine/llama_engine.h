// The Llama forward pass over a batch of sequences of different lengths,
// on any Backend, tensor parallel across the backend's ranks.
//
//   ASSIGN_OR_RETURN(auto engine, LlamaEngine::Create(config, std::move(src),
//                                                     std::move(backend), {}));
//   ASSIGN_OR_RETURN(int a, engine->NewSequence());
//   ASSIGN_OR_RETURN(int b, engine->NewSequence());
//   // Prefill two prompts of different lengths in one step...
//   ASSIGN_OR_RETURN(auto logits, engine->Forward({{a, {1, 2, 3}}, {b, {7}}}));
//   // ...then decode one token each per step.
//   ASSIGN_OR_RETURN(logits, engine->Forward({{a, {42}}, {b, {9}}}));
//
// Model: token embedding; per layer x += o(attn(rope(q), rope(k), v)) of
// rmsnorm(x), then x += down(silu(gate(h)) * up(h)) of h = rmsnorm(x); final
// rmsnorm and LM head (the embedding when tied). Grouped-query causal
// attention over a KV cache. docs/engine.md states the exact numerics.
//
// Weights stay in the WeightSource (compressed, for a DF11 model directory).
// Each step decodes them group by group just before use into one reused
// buffer: the embedding, then each layer's nine tensors, then the final norm
// and LM head. Decode cost is per step, independent of the batch size.
//
// Tensor parallel (Megatron): q/k/v/gate/up column-parallel, o/down
// row-parallel with an all-reduce, vocabulary-split embedding (all-reduce) and
// LM head (all-gather). Every rank calls Forward with the same batch and gets
// the same full-vocabulary logits.
//
// Not thread-safe: one caller at a time.
#ifndef DF11_LOADER_ENGINE_LLAMA_ENGINE_H_
#define DF11_LOADER_ENGINE_LLAMA_ENGINE_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "loader/engine/backend.h"
#include "loader/engine/llama_weights.h"
#include "loader/engine/weight_source.h"
#include "loader/format/llama_config.h"

namespace df11 {

struct EngineOptions {
  // Longest sequence (prompt + generated); 0 means the config's
  // max_position_embeddings. Sizes the KV cache.
  int64_t max_context = 0;
  // Sequences that can be live at once (KV cache slots).
  int64_t max_sequences = 1;
};

// New tokens for one sequence in a Forward step.
struct StepInput {
  int sequence = 0;
  std::vector<int32_t> tokens;
  // Logits for every new token, else only for the last.
  bool all_logits = false;
};

// Bytes held by the engine, for the memory report in docs/engine.md.
struct EngineMemory {
  uint64_t weights_stored = 0;  // what the WeightSource keeps for this rank
  uint64_t layer_buffer = 0;    // the one decoded-weight buffer
  uint64_t kv_cache = 0;
  uint64_t activations = 0;  // current scratch, grows with the batch
};

class LlamaEngine {
 public:
  // Checks the weights against the config (CheckLlamaWeights) and
  // allocates the layer buffer and the KV cache. Errors: those of
  // CheckLlamaWeights, InvalidArgument for bad options, the backend's
  // allocation errors.
  static absl::StatusOr<std::unique_ptr<LlamaEngine>> Create(
      const LlamaConfig& config, std::unique_ptr<WeightSource> weights,
      std::unique_ptr<Backend> backend, const EngineOptions& options);

  const LlamaConfig& config() const { return config_; }
  const WorldConfig& world() const { return backend_->world(); }
  int64_t max_context() const { return max_context_; }
  EngineMemory memory() const;

  // Claims an empty KV-cache slot. ResourceExhausted when all are in use.
  absl::StatusOr<int> NewSequence();
  // Releases a slot; unknown ids are ignored.
  void FreeSequence(int sequence);
  // Tokens the sequence holds so far. REQUIRES: a live sequence.
  int64_t Length(int sequence) const { return lengths_[sequence]; }

  // Appends each item's tokens to its sequence and returns its logits,
  // [rows, vocab_size] row-major with rows = tokens.size() when all_logits
  // else 1, in batch order. On error nothing changes. Errors
  // (InvalidArgument): an empty batch or item, a sequence that is not live or
  // is in the batch twice, a token id outside [0, vocab_size), a sequence
  // that would exceed max_context(); the weight source's read errors
  // (DataLoss for a corrupted shard) and the backend's collective errors.
  absl::StatusOr<std::vector<std::vector<float>>> Forward(
      const std::vector<StepInput>& batch);

 private:
  LlamaEngine(const LlamaConfig& config, std::unique_ptr<WeightSource> weights,
              std::unique_ptr<Backend> backend, const LlamaShardDims& dims,
              int64_t max_context);
  absl::Status Validate(const std::vector<StepInput>& batch) const;
  absl::Status AllocateBuffers(int64_t max_sequences);
  absl::Status EnsureScratch(int64_t rows);
  // Decodes the named tensors one after another into the layer buffer;
  // returns where each one starts.
  absl::StatusOr<std::vector<const uint16_t*>> DecodeGroup(
      const std::vector<std::string>& names);

  LlamaConfig config_;
  std::unique_ptr<WeightSource> weights_;
  std::unique_ptr<Backend> backend_;
  LlamaShardDims dims_;
  int64_t max_context_;
  std::vector<float> inv_freq_;

  Buffer layer_buffer_;
  Buffer kv_cache_;  // [layer][k|v][slot][context][kv_heads][head_dim]
  std::vector<int64_t> lengths_;  // by slot
  std::vector<bool> live_;        // by slot

  int64_t scratch_rows_ = 0;
  std::vector<Buffer> scratch_;
};

}  // namespace df11

#endif  // DF11_LOADER_ENGINE_LLAMA_ENGINE_H_
