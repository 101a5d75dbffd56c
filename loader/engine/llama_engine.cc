#include "loader/engine/llama_engine.h"

#include <algorithm>
#include <cstring>
#include <set>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "loader/base/status_macros.h"
#include "loader/dist/agreement.h"
#include "loader/engine/rope.h"

namespace df11 {
namespace {

// Weight groups: the embedding, one per layer, then the head.
constexpr int kEmbedGroup = 0;
// Slots of a layer group (the order of LayerGroup below).
enum LayerSlot {
  kInputNormSlot,
  kQkvSlot,
  kOSlot,
  kPostNormSlot,
  kGateUpSlot,
  kDownSlot
};
// Slots of the head group.
enum HeadSlot { kFinalNormSlot, kLmHeadSlot };

WeightGroup LayerGroup(int64_t layer) {
  const auto name = [&](LayerTensor t) {
    return LayerTensorName(layer, kLayerSuffixes[t]);
  };
  return {{{name(kInputNorm)},
           {name(kQ), name(kK), name(kV)},
           {name(kO)},
           {name(kPostNorm)},
           {name(kGate), name(kUp)},
           {name(kDown)}}};
}

enum Scratch {
  kX,         // [rows, hidden] the residual stream
  kH,         // [rows, hidden] a block's normed input
  kQkv,       // [rows, qkv_width]
  kAttn,      // [rows, q_width]
  kProj,      // [rows, hidden] o / down output before the residual add
  kGateUp,    // [rows, 2 ffn]
  kAct,       // [rows, ffn]
  kLogits,    // [logit rows, vocab_shard] FP32
  kGathered,  // [tp, logit rows, vocab_shard] FP32
  kNumScratch,
};

}  // namespace

LlamaEngine::LlamaEngine(const LlamaConfig& config, const LlamaShardDims& dims,
                         std::unique_ptr<Backend> backend,
                         const EngineOptions& options, int64_t kv_blocks)
    : config_(config),
      dims_(dims),
      backend_(std::move(backend)),
      options_(options),
      kv_(kv_blocks, options.kv_block_tokens) {
  model_.layers = config.num_hidden_layers;
  model_.hidden = config.hidden_size;
  model_.head_dim = config.head_dim;
  model_.q_heads = dims.q_heads;
  model_.q_head_offset = dims.q_head_offset;
  model_.kv_heads = dims.kv_heads;
  model_.kv_head_offset = dims.kv_head_offset;
  model_.group = config.num_attention_heads / config.num_key_value_heads;
  model_.ffn = dims.ffn;
  model_.vocab_shard = dims.vocab;
  model_.vocab_offset = dims.vocab_offset;
  model_.vocab_size = config.vocab_size;
  model_.rms_norm_eps = static_cast<float>(config.rms_norm_eps);
  model_.rope_inv_freq = RopeInvFreq(config);
}

absl::StatusOr<std::unique_ptr<LlamaEngine>> LlamaEngine::Create(
    const LlamaConfig& config, const WeightSource& source,
    std::unique_ptr<Backend> backend, const EngineOptions& options) {
  const WorldConfig world = backend->world();
  std::unique_ptr<LlamaEngine> engine;
  // Every rank reaches the agreement below, whatever fails before it.
  const absl::Status local = [&]() -> absl::Status {
    EngineOptions o = options;
    if (o.max_context == 0) o.max_context = config.max_position_embeddings;
    if (o.kv_capacity_tokens == 0) o.kv_capacity_tokens = o.max_context;
    o.max_logit_rows = std::min(o.max_logit_rows, o.max_batch_tokens);
    if (o.max_context < 1 || o.kv_block_tokens < 1 ||
        o.kv_capacity_tokens < 1 || o.max_batch_tokens < 1 ||
        o.max_batch_sequences < 1 || o.max_logit_rows < 1) {
      return absl::InvalidArgumentError(absl::StrCat(
          "engine options must be positive: max_context ", o.max_context,
          ", kv_block_tokens ", o.kv_block_tokens, ", kv_capacity_tokens ",
          o.kv_capacity_tokens, ", max_batch_tokens ", o.max_batch_tokens,
          ", max_batch_sequences ", o.max_batch_sequences, ", max_logit_rows ",
          o.max_logit_rows));
    }
    if (config.head_dim % 2 != 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("config.json head_dim ", config.head_dim,
                       " is odd; RoPE needs pairs"));
    }
    ASSIGN_OR_RETURN(LlamaShardDims dims,
                     CheckLlamaWeights(config, source, world));
    const int64_t blocks =
        (o.kv_capacity_tokens + o.kv_block_tokens - 1) / o.kv_block_tokens;
    engine.reset(new LlamaEngine(config, dims, std::move(backend), o, blocks));
    return engine->Load(source);
  }();
  RETURN_IF_ERROR(AgreeOk(world, local, options.agree_timeout));
  return engine;
}

absl::Status LlamaEngine::Load(const WeightSource& source) {
  BackendLimits limits;
  limits.max_batch_tokens = options_.max_batch_tokens;
  limits.max_batch_sequences = options_.max_batch_sequences;
  limits.max_logit_rows = options_.max_logit_rows;
  limits.max_context = options_.max_context;
  limits.kv_blocks = kv_.usage().blocks;
  limits.kv_block_tokens = options_.kv_block_tokens;
  RETURN_IF_ERROR(backend_->Prepare(model_, limits));

  const int64_t rows = options_.max_batch_tokens;
  const int64_t logit_rows = options_.max_logit_rows;
  const size_t a = DtypeSize(backend_->activation_dtype());
  const int64_t h = model_.hidden;
  const uint64_t bytes[kNumScratch] = {
      rows * h * a,
      rows * h * a,
      rows * model_.qkv_width() * a,
      rows * model_.q_width() * a,
      rows * h * a,
      rows * 2 * model_.ffn * a,
      rows * model_.ffn * a,
      logit_rows * model_.vocab_shard * sizeof(float),
      world().size * logit_rows * model_.vocab_shard * sizeof(float)};
  scratch_.resize(kNumScratch);
  for (int i = 0; i < kNumScratch; ++i) {
    ASSIGN_OR_RETURN(scratch_[i], backend_->Allocate(bytes[i]));
  }

  std::vector<WeightGroup> groups;
  groups.push_back({{{kEmbedName}}, /*lookup=*/true});
  for (int64_t layer = 0; layer < config_.num_hidden_layers; ++layer) {
    groups.push_back(LayerGroup(layer));
  }
  groups.push_back({{{kFinalNormName}, {dims_.lm_head}}});
  ASSIGN_OR_RETURN(weights_, backend_->LoadWeights(source, groups));
  return absl::OkStatus();
}

EngineMemory LlamaEngine::memory() const {
  EngineMemory m;
  const WeightStoreMemory w = weights_->memory();
  m.weights_stored = w.resident;
  m.weights_original = w.original;
  m.decode_buffers = w.buffers;
  const BackendMemory b = backend_->memory();
  m.kv_cache = b.kv_cache;
  m.workspace = b.workspace;
  for (const Buffer& s : scratch_) m.activations += s.bytes();
  return m;
}

absl::Status LlamaEngine::AddSequence(SequenceId id, int64_t max_tokens) {
  if (max_tokens > options_.max_context) {
    return absl::InvalidArgumentError(absl::StrCat(
        "sequence ", id, ": ", max_tokens,
        " tokens would be longer than the context of ", options_.max_context));
  }
  return kv_.Add(id, max_tokens);
}

void LlamaEngine::RemoveSequence(SequenceId id) { kv_.Remove(id); }

absl::Status LlamaEngine::Validate(const StepPlan& plan) const {
  if (plan.items.empty()) return absl::InvalidArgumentError("empty batch");
  if (static_cast<int64_t>(plan.items.size()) > options_.max_batch_sequences) {
    return absl::InvalidArgumentError(
        absl::StrCat("a step of ", plan.items.size(),
                     " sequences is more than max_batch_sequences ",
                     options_.max_batch_sequences));
  }
  std::set<SequenceId> seen;
  int64_t rows = 0;
  for (size_t i = 0; i < plan.items.size(); ++i) {
    const SequenceStep& item = plan.items[i];
    const std::string where =
        absl::StrCat("batch item ", i, " (sequence ", item.id, ")");
    if (!kv_.Contains(item.id)) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": not a live sequence"));
    }
    if (!seen.insert(item.id).second) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": the sequence is in the batch twice"));
    }
    if (item.tokens.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": no tokens"));
    }
    for (size_t t = 0; t < item.tokens.size(); ++t) {
      if (item.tokens[t] < 0 || item.tokens[t] >= config_.vocab_size) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, ": token id ", item.tokens[t], " at index ", t,
                         " is out of range [0, ", config_.vocab_size, ")"));
      }
    }
    const int64_t length = kv_.Length(item.id) + item.tokens.size();
    const int64_t max_tokens = kv_.MaxTokens(item.id);
    if (length > max_tokens) {
      return absl::InvalidArgumentError(
          max_tokens == options_.max_context
              ? absl::StrCat(where, ": would hold ", length,
                             " tokens, longer than the context of ", max_tokens)
              : absl::StrCat(where, ": would hold ", length,
                             " tokens, more than the ", max_tokens,
                             " it was admitted with"));
    }
    if (item.sample.sample) {
      const absl::Status s = ValidateSampleRequest(item.sample);
      if (!s.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, ": ", s.message()));
      }
    }
    rows += item.tokens.size();
  }
  if (rows > options_.max_batch_tokens) {
    return absl::InvalidArgumentError(absl::StrCat(
        "a step of ", rows, " tokens is more than max_batch_tokens ",
        options_.max_batch_tokens));
  }
  return absl::OkStatus();
}

StepBatch LlamaEngine::BuildBatch(const StepPlan& plan) const {
  StepBatch batch;
  batch.qo_indptr.push_back(0);
  batch.kv_indptr.push_back(0);
  for (const SequenceStep& item : plan.items) {
    const int64_t past = kv_.Length(item.id);
    const int64_t n = item.tokens.size();
    const int64_t first_row = batch.rows();
    for (int64_t i = 0; i < n; ++i) {
      batch.tokens.push_back(item.tokens[i]);
      batch.positions.push_back(static_cast<int32_t>(past + i));
      batch.kv_slots.push_back(kv_.Slot(item.id, past + i));
      const bool last = i == n - 1;
      if (item.logits == LogitsWanted::kAll ||
          (last &&
           (item.logits == LogitsWanted::kLast || item.sample.sample))) {
        batch.logit_rows.push_back(static_cast<int32_t>(first_row + i));
        SampleRequest request;
        if (last) {
          request = item.sample;
          request.position = past + n;
        }
        batch.sampling.push_back(request);
      }
    }
    batch.qo_indptr.push_back(static_cast<int32_t>(batch.rows()));
    const int64_t length = past + n;
    const int64_t pages =
        (length + options_.kv_block_tokens - 1) / options_.kv_block_tokens;
    const std::vector<int32_t>& blocks = kv_.Blocks(item.id);
    batch.kv_indices.insert(batch.kv_indices.end(), blocks.begin(),
                            blocks.begin() + pages);
    batch.kv_indptr.push_back(static_cast<int32_t>(batch.kv_indices.size()));
    batch.kv_last_page_len.push_back(
        static_cast<int32_t>(length - (pages - 1) * options_.kv_block_tokens));
  }
  return batch;
}

absl::StatusOr<std::vector<SequenceResult>> LlamaEngine::Step(
    const StepPlan& plan) {
  RETURN_IF_ERROR(Validate(plan));
  for (const SequenceStep& item : plan.items) {
    kv_.Grow(item.id, kv_.Length(item.id) + item.tokens.size());
  }
  const StepBatch batch = BuildBatch(plan);
  bool host_logits = false;
  for (const SequenceStep& item : plan.items) {
    host_logits |= item.logits != LogitsWanted::kNone;
  }
  std::vector<float> logits;
  absl::Status copy_status;
  const StepShape shape = backend_->BeginStep(batch);
  backend_->Run(shape, /*capturable=*/!host_logits, [&] {
    IssueStep(shape, host_logits ? &logits : nullptr, &copy_status);
  });
  std::vector<SampledToken> sampled;
  absl::Status local = backend_->EndStep(&sampled);
  if (local.ok()) local = copy_status;
  RETURN_IF_ERROR(AgreeOk(world(), local, options_.agree_timeout));

  // Results, item by item, from the logit rows in batch order.
  std::vector<SequenceResult> results(plan.items.size());
  const int64_t vocab = config_.vocab_size;
  size_t row = 0;
  for (size_t i = 0; i < plan.items.size(); ++i) {
    const SequenceStep& item = plan.items[i];
    const int64_t n = item.tokens.size();
    size_t rows = 0;
    if (item.logits == LogitsWanted::kAll) {
      rows = n;
    } else if (item.logits == LogitsWanted::kLast || item.sample.sample) {
      rows = 1;
    }
    if (item.logits != LogitsWanted::kNone) {
      results[i].logits.assign(logits.begin() + row * vocab,
                               logits.begin() + (row + rows) * vocab);
    }
    if (item.sample.sample) results[i].sampled = sampled[row + rows - 1];
    row += rows;
    kv_.SetLength(item.id, kv_.Length(item.id) + n);
  }
  return results;
}

void LlamaEngine::IssueStep(const StepShape& shape, std::vector<float>* logits,
                            absl::Status* status) {
  Backend& b = *backend_;
  WeightStore& store = *weights_;
  const int tp = world().size;
  const int64_t rows = shape.rows;
  const int64_t h = model_.hidden;
  const int64_t ffn = model_.ffn;
  const auto buf = [&](Scratch i) { return scratch_[i].data(); };
  const int head_group = static_cast<int>(config_.num_hidden_layers) + 1;

  store.Prefetch(kEmbedGroup);
  {
    absl::Span<const uint16_t* const> w = store.Acquire(kEmbedGroup);
    store.Prefetch(kEmbedGroup + 1);
    b.Embed(w[0], rows, buf(kX));
    if (tp > 1) b.AllReduceSum(buf(kX), rows * h);
  }
  for (int64_t layer = 0; layer < config_.num_hidden_layers; ++layer) {
    const int group = static_cast<int>(layer) + 1;
    absl::Span<const uint16_t* const> w = store.Acquire(group);
    store.Prefetch(group + 1);
    b.RmsNorm(buf(kX), w[kInputNormSlot], rows, h, buf(kH));
    b.MatMul(buf(kH), w[kQkvSlot], rows, h, model_.qkv_width(), buf(kQkv));
    b.Rope(buf(kQkv), rows);
    b.StoreKv(buf(kQkv), layer, rows);
    b.Attention(buf(kQkv), layer, rows, buf(kAttn));
    b.MatMul(buf(kAttn), w[kOSlot], rows, model_.q_width(), h, buf(kProj));
    if (tp > 1) b.AllReduceSum(buf(kProj), rows * h);
    b.Add(buf(kX), buf(kProj), rows * h);

    b.RmsNorm(buf(kX), w[kPostNormSlot], rows, h, buf(kH));
    b.MatMul(buf(kH), w[kGateUpSlot], rows, h, 2 * ffn, buf(kGateUp));
    b.SiluMul(buf(kGateUp), rows, ffn, buf(kAct));
    b.MatMul(buf(kAct), w[kDownSlot], rows, ffn, h, buf(kProj));
    if (tp > 1) b.AllReduceSum(buf(kProj), rows * h);
    b.Add(buf(kX), buf(kProj), rows * h);
  }

  absl::Span<const uint16_t* const> w = store.Acquire(head_group);
  const int64_t shard = model_.vocab_shard;
  const int64_t vocab = model_.vocab_size;
  float* shard_logits = static_cast<float*>(buf(kLogits));
  float* gathered = tp > 1 ? static_cast<float*>(buf(kGathered)) : shard_logits;
  if (logits != nullptr) logits->resize(shape.logit_rows * vocab);
  std::vector<float> host;
  for (int64_t first = 0; first < shape.logit_rows;
       first += options_.max_logit_rows) {
    const int64_t n =
        std::min<int64_t>(options_.max_logit_rows, shape.logit_rows - first);
    b.GatherLogitRows(buf(kX), first, n, h, buf(kH));
    b.RmsNorm(buf(kH), w[kFinalNormSlot], n, h, buf(kH));
    b.MatMulToFloat(buf(kH), w[kLmHeadSlot], n, h, shard, shard_logits);
    if (tp > 1) b.AllGather(shard_logits, n * shard, gathered);
    b.Sample(gathered, first, n);
    if (logits == nullptr || !status->ok()) continue;
    // [rank, row, shard] -> [row, vocab], dropping the padding ids.
    host.resize(tp * n * shard);
    *status = b.CopyToHost(gathered, host.size() * sizeof(float), host.data());
    for (int r = 0; r < tp; ++r) {
      const int64_t begin = r * shard;
      const int64_t count = std::min(shard, vocab - begin);
      for (int64_t i = 0; i < n && count > 0; ++i) {
        std::memcpy(logits->data() + (first + i) * vocab + begin,
                    host.data() + (r * n + i) * shard, count * sizeof(float));
      }
    }
  }
}

absl::StatusOr<std::vector<std::vector<float>>> LlamaEngine::Forward(
    const std::vector<StepInput>& batch) {
  StepPlan plan;
  for (const StepInput& input : batch) {
    SequenceStep item;
    item.id = input.id;
    item.tokens = input.tokens;
    item.logits = input.all_logits ? LogitsWanted::kAll : LogitsWanted::kLast;
    plan.items.push_back(std::move(item));
  }
  ASSIGN_OR_RETURN(std::vector<SequenceResult> results, Step(plan));
  std::vector<std::vector<float>> logits;
  for (SequenceResult& r : results) logits.push_back(std::move(r.logits));
  return logits;
}

}  // namespace df11
