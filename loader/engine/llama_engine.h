// The Llama forward pass over a mixed batch of sequences (prompt chunks of
// new requests and one token of running ones), on any Backend, tensor
// parallel across the world's ranks.
//
//   ASSIGN_OR_RETURN(auto engine, LlamaEngine::Create(config, *source,
//                                                     std::move(backend), {}));
//   RETURN_IF_ERROR(engine->AddSequence(7, prompt.size() + max_new));
//   StepPlan plan;
//   plan.items.push_back({.id = 7, .tokens = prompt, .sample = request});
//   ASSIGN_OR_RETURN(std::vector<SequenceResult> out, engine->Step(plan));
//   // out[0].sampled.token is the next token; feed it in the next plan.
//   engine->RemoveSequence(7);
//
// Model: token embedding; per layer x += o(attn(rope(q), rope(k), v)) of
// rmsnorm(x), then x += down(silu(gate(h)) * up(h)) of h = rmsnorm(x); final
// rmsnorm and LM head (the embedding when tied). Grouped-query causal
// attention over a paged KV cache. docs/engine.md states the numerics.
//
// Weights are resident in the backend in their stored form (DF11 or BF16)
// and decoded group by group just before use (weight_store.h): the
// embedding, each layer, then the final norm and LM head. Decode cost is per
// step, independent of the batch size.
//
// Tensor parallel (Megatron): q/k/v/gate/up column-parallel, o/down
// row-parallel with an all-reduce, vocabulary-split embedding (masked
// lookup, all-reduce) and LM head (all-gather of the logits, padded to equal
// shards). Every rank is given the same plans, in the same order.
//
// Failure rules (every rank, every call):
//   - Create: each rank loads its shard; then the ranks agree
//     (loader/dist/agreement.h). If any rank failed, every rank returns the
//     same error ("rank R: ..."), that of the lowest failing rank.
//   - Step: the plan is checked first, identically on every rank: a bad plan
//     is InvalidArgument on every rank, nothing runs and nothing changes.
//     Then the step runs; an error on any rank while it runs (a device
//     error, a decode error, a collective error) makes every rank return
//     the same error after the step, sequence lengths unchanged (the step
//     may be retried). A rank that does not answer within
//     EngineOptions::agree_timeout makes the others return DeadlineExceeded;
//     the job must then be aborted (MpiSession::Abort).
//
// Not thread-safe: one caller at a time.
#ifndef DF11_LOADER_ENGINE_LLAMA_ENGINE_H_
#define DF11_LOADER_ENGINE_LLAMA_ENGINE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "loader/engine/backend.h"
#include "loader/engine/kv_cache_manager.h"
#include "loader/engine/llama_weights.h"
#include "loader/engine/sampling.h"
#include "loader/engine/weight_source.h"
#include "loader/engine/weight_store.h"
#include "loader/format/llama_config.h"

namespace df11 {

struct EngineOptions {
  // Longest sequence (prompt + generated); 0 means the config's
  // max_position_embeddings.
  int64_t max_context = 0;
  // The KV cache: tokens per block, and tokens in all (rounded up to whole
  // blocks); 0 means room for one sequence of max_context.
  int64_t kv_block_tokens = 16;
  int64_t kv_capacity_tokens = 0;
  // The largest step: new tokens, sequences, and rows of one LM-head chunk
  // (more logit rows than this run in several chunks within the step).
  // Scratch is sized for these once, at Create.
  int64_t max_batch_tokens = 512;
  int64_t max_batch_sequences = 64;
  int64_t max_logit_rows = 64;
  // How long a rank waits for the others to agree after a step (or load)
  // before it gives up with DeadlineExceeded.
  absl::Duration agree_timeout = absl::Seconds(60);
};

// Which logits of an item's new tokens come back to the host.
enum class LogitsWanted { kNone, kLast, kAll };

// New tokens for one sequence in a step.
struct SequenceStep {
  SequenceId id = 0;
  std::vector<int32_t> tokens;
  LogitsWanted logits = LogitsWanted::kNone;
  // Sampling of the token after the last new one (sample.sample = false:
  // none, e.g. for a prompt chunk that is not the last). The engine sets
  // sample.position to the index the drawn token will have.
  SampleRequest sample;
};

struct StepPlan {
  std::vector<SequenceStep> items;
};

struct SequenceResult {
  // The drawn token (and logprobs), the same on every rank; token -1 when
  // the item did not sample.
  SampledToken sampled;
  // [rows, vocab_size] row-major: the last row or every row of the item's
  // new tokens, as asked; on every rank.
  std::vector<float> logits;
};

// Bytes held by this rank, for the memory plan.
struct EngineMemory {
  uint64_t weights_stored = 0;    // resident weights, stored form
  uint64_t weights_original = 0;  // the same in BF16
  uint64_t decode_buffers = 0;    // the two decoded-weight buffers
  uint64_t kv_cache = 0;
  uint64_t activations = 0;  // scratch, fixed at Create
  uint64_t workspace = 0;    // the backend's own (metadata, RoPE, sampling)
};

// A step's inputs for Forward: the logits of `tokens` appended to sequence
// `id`, for every new token (all_logits) or only the last.
struct StepInput {
  SequenceId id = 0;
  std::vector<int32_t> tokens;
  bool all_logits = false;
};

class LlamaEngine {
 public:
  // Checks the weights against the config (CheckLlamaWeights), prepares the
  // backend (KV pools, scratch), loads every weight into it, and agrees with
  // the other ranks. `source` is not used after Create returns. Errors:
  // those of CheckLlamaWeights and LoadWeights, InvalidArgument for bad
  // options, ResourceExhausted when memory runs out; after agreement, the
  // lowest failing rank's error on every rank.
  static absl::StatusOr<std::unique_ptr<LlamaEngine>> Create(
      const LlamaConfig& config, const WeightSource& source,
      std::unique_ptr<Backend> backend, const EngineOptions& options);

  const LlamaConfig& config() const { return config_; }
  const WorldConfig& world() const { return backend_->world(); }
  const EngineOptions& options() const { return options_; }
  int64_t max_context() const { return options_.max_context; }
  EngineMemory memory() const;
  KvUsage kv_usage() const { return kv_.usage(); }
  // Weight decoding so far (weight_store.h), for metrics.
  DecodeStats weight_decode_stats() const { return weights_->decode_stats(); }

  // Admits sequence `id` (the caller's id) that will hold at most
  // `max_tokens` tokens, reserving its KV cache. Errors, with nothing
  // changed: InvalidArgument for an id in use, max_tokens < 1 or beyond
  // max_context(); ResourceExhausted when the KV cache cannot hold it.
  absl::Status AddSequence(SequenceId id, int64_t max_tokens);
  // Frees the sequence's KV cache; unknown ids are ignored.
  void RemoveSequence(SequenceId id);
  bool HasSequence(SequenceId id) const { return kv_.Contains(id); }
  // Tokens the sequence holds so far. REQUIRES: HasSequence(id).
  int64_t Length(SequenceId id) const { return kv_.Length(id); }

  // Appends each item's tokens to its sequence, samples, and returns one
  // result per item, in plan order. Plan errors (InvalidArgument, nothing
  // changed): an empty plan or item, an id not admitted or in the plan
  // twice, a token id outside [0, vocab_size), a sequence that would pass
  // its max_tokens, more than max_batch_tokens tokens or
  // max_batch_sequences items, a bad SampleRequest. Run errors: see the
  // failure rules above.
  absl::StatusOr<std::vector<SequenceResult>> Step(const StepPlan& plan);

  // Step without sampling, returning each item's logits ([rows, vocab]).
  absl::StatusOr<std::vector<std::vector<float>>> Forward(
      const std::vector<StepInput>& batch);

 private:
  LlamaEngine(const LlamaConfig& config, const LlamaShardDims& dims,
              std::unique_ptr<Backend> backend, const EngineOptions& options,
              int64_t kv_blocks);
  absl::Status Load(const WeightSource& source);
  absl::Status Validate(const StepPlan& plan) const;
  StepBatch BuildBatch(const StepPlan& plan) const;
  // Issues the step's ops: the forward pass, the logits, sampling. The
  // logits of the logit rows go to `logits` ([logit rows, vocab_size]) when
  // it is not null; a failed copy goes to `status`.
  void IssueStep(const StepShape& shape, std::vector<float>* logits,
                 absl::Status* status);

  LlamaConfig config_;
  LlamaShardDims dims_;
  std::unique_ptr<Backend> backend_;
  EngineOptions options_;
  BackendModel model_;
  KvCacheManager kv_;

  std::unique_ptr<WeightStore> weights_;
  std::vector<Buffer> scratch_;
};

}  // namespace df11

#endif  // DF11_LOADER_ENGINE_LLAMA_ENGINE_H_
