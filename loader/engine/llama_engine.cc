#include "loader/engine/llama_engine.h"

#include <cmath>
#include <cstring>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "loader/base/status_macros.h"
#include "loader/engine/rope.h"

namespace df11 {
namespace {

// Tensors in the layer buffer start at this alignment.
constexpr uint64_t kAlign = 64;

uint64_t AlignUp(uint64_t n) { return (n + kAlign - 1) / kAlign * kAlign; }

enum ScratchBuffer {
  kX,         // [rows, hidden] the residual stream
  kH,         // [rows, hidden] normed input of a block
  kQBuf,      // [rows, q_heads * head_dim]
  kKBuf,      // [rows, kv_heads * head_dim]
  kVBuf,      // [rows, kv_heads * head_dim]
  kAttn,      // [rows, q_heads * head_dim]
  kProj,      // [rows, hidden] o / down output before the residual add
  kGateBuf,   // [rows, ffn]
  kUpBuf,     // [rows, ffn]
  kLogits,    // [rows, vocab / tp]
  kGathered,  // [tp, rows, vocab / tp]
  kNumScratch,
};

std::vector<std::string> LayerNames(int64_t layer) {
  std::vector<std::string> names;
  for (const char* suffix : kLayerSuffixes) {
    names.push_back(LayerTensorName(layer, suffix));
  }
  return names;
}

}  // namespace

LlamaEngine::LlamaEngine(const LlamaConfig& config,
                         std::unique_ptr<WeightSource> weights,
                         std::unique_ptr<Backend> backend,
                         const LlamaShardDims& dims, int64_t max_context)
    : config_(config),
      weights_(std::move(weights)),
      backend_(std::move(backend)),
      dims_(dims),
      max_context_(max_context),
      inv_freq_(RopeInvFreq(config)) {}

absl::StatusOr<std::unique_ptr<LlamaEngine>> LlamaEngine::Create(
    const LlamaConfig& config, std::unique_ptr<WeightSource> weights,
    std::unique_ptr<Backend> backend, const EngineOptions& options) {
  const int64_t max_context = options.max_context == 0
                                  ? config.max_position_embeddings
                                  : options.max_context;
  if (max_context < 1 || options.max_sequences < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "engine options: max_context ", max_context, " and max_sequences ",
        options.max_sequences, " must be positive"));
  }
  if (config.head_dim % 2 != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "config.json head_dim ", config.head_dim, " is odd; RoPE needs pairs"));
  }
  ASSIGN_OR_RETURN(LlamaShardDims dims,
                   CheckLlamaWeights(config, *weights, backend->world()));
  // Forward gathers equal, unpadded vocabulary shards into the logits.
  if (dims.vocab * backend->world().size != dims.vocab_size) {
    return absl::UnimplementedError(absl::StrCat(
        "vocabulary ", dims.vocab_size, " does not divide into ",
        backend->world().size,
        " tensor-parallel shards: the engine does not mask padded vocabulary "
        "shards yet"));
  }
  std::unique_ptr<LlamaEngine> engine(new LlamaEngine(
      config, std::move(weights), std::move(backend), dims, max_context));
  RETURN_IF_ERROR(engine->AllocateBuffers(options.max_sequences));
  return engine;
}

absl::Status LlamaEngine::AllocateBuffers(int64_t max_sequences) {
  uint64_t largest = 0;
  const auto group_bytes =
      [&](const std::vector<std::string>& names) -> absl::Status {
    uint64_t bytes = 0;
    for (const std::string& name : names) {
      ASSIGN_OR_RETURN(WeightInfo info, weights_->Find(name));
      bytes += AlignUp(info.shard_bytes());
    }
    largest = std::max(largest, bytes);
    return absl::OkStatus();
  };
  RETURN_IF_ERROR(group_bytes({kEmbedName}));
  RETURN_IF_ERROR(group_bytes(LayerNames(0)));
  RETURN_IF_ERROR(group_bytes({kFinalNormName, dims_.lm_head}));
  ASSIGN_OR_RETURN(layer_buffer_, backend_->Allocate(largest));

  const uint64_t kv_floats = 2ull * config_.num_hidden_layers * max_sequences *
                             max_context_ * dims_.kv_heads * config_.head_dim;
  ASSIGN_OR_RETURN(kv_cache_, backend_->Allocate(kv_floats * sizeof(float)));
  lengths_.assign(max_sequences, 0);
  live_.assign(max_sequences, false);
  return absl::OkStatus();
}

absl::Status LlamaEngine::EnsureScratch(int64_t rows) {
  if (rows <= scratch_rows_) return absl::OkStatus();
  const int64_t h = config_.hidden_size;
  const int64_t q = dims_.q_heads * config_.head_dim;
  const int64_t kv = dims_.kv_heads * config_.head_dim;
  const int64_t widths[kNumScratch] = {h,
                                       h,
                                       q,
                                       kv,
                                       kv,
                                       q,
                                       h,
                                       dims_.ffn,
                                       dims_.ffn,
                                       dims_.vocab,
                                       dims_.vocab * world().size};
  std::vector<Buffer> scratch(kNumScratch);
  for (int i = 0; i < kNumScratch; ++i) {
    ASSIGN_OR_RETURN(scratch[i],
                     backend_->Allocate(rows * widths[i] * sizeof(float)));
  }
  scratch_ = std::move(scratch);
  scratch_rows_ = rows;
  return absl::OkStatus();
}

EngineMemory LlamaEngine::memory() const {
  EngineMemory m;
  m.weights_stored = weights_->StoredBytes();
  m.layer_buffer = layer_buffer_.bytes();
  m.kv_cache = kv_cache_.bytes();
  for (const Buffer& b : scratch_) m.activations += b.bytes();
  return m;
}

absl::StatusOr<int> LlamaEngine::NewSequence() {
  for (size_t slot = 0; slot < live_.size(); ++slot) {
    if (live_[slot]) continue;
    live_[slot] = true;
    lengths_[slot] = 0;
    return static_cast<int>(slot);
  }
  return absl::ResourceExhaustedError(absl::StrCat(
      "all ", live_.size(), " sequence slots of the KV cache are in use"));
}

void LlamaEngine::FreeSequence(int sequence) {
  if (sequence < 0 || sequence >= static_cast<int>(live_.size())) return;
  live_[sequence] = false;
  lengths_[sequence] = 0;
}

absl::Status LlamaEngine::Validate(const std::vector<StepInput>& batch) const {
  if (batch.empty()) return absl::InvalidArgumentError("empty batch");
  std::vector<bool> seen(live_.size(), false);
  for (size_t i = 0; i < batch.size(); ++i) {
    const StepInput& item = batch[i];
    const std::string where =
        absl::StrCat("batch item ", i, " (sequence ", item.sequence, ")");
    if (item.sequence < 0 || item.sequence >= static_cast<int>(live_.size()) ||
        !live_[item.sequence]) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": not a live sequence"));
    }
    if (seen[item.sequence]) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": the sequence is in the batch twice"));
    }
    seen[item.sequence] = true;
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
    const int64_t length = lengths_[item.sequence] + item.tokens.size();
    if (length > max_context_) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": would hold ", length,
                       " tokens, longer than the context of ", max_context_));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<const uint16_t*>> LlamaEngine::DecodeGroup(
    const std::vector<std::string>& names) {
  std::vector<const uint16_t*> out;
  uint64_t offset = 0;
  for (const std::string& name : names) {
    ASSIGN_OR_RETURN(WeightInfo info, weights_->Find(name));
    uint8_t* dst = layer_buffer_.as<uint8_t>() + offset;
    RETURN_IF_ERROR(weights_->Read(
        name, absl::MakeSpan(dst, static_cast<size_t>(info.shard_bytes()))));
    out.push_back(reinterpret_cast<const uint16_t*>(dst));
    offset += AlignUp(info.shard_bytes());
  }
  return out;
}

absl::StatusOr<std::vector<std::vector<float>>> LlamaEngine::Forward(
    const std::vector<StepInput>& batch) {
  RETURN_IF_ERROR(Validate(batch));
  Backend& b = *backend_;
  const int tp = world().size;
  const int64_t h = config_.hidden_size;
  const int64_t hd = config_.head_dim;
  const int64_t q_width = dims_.q_heads * hd;
  const int64_t kv_width = dims_.kv_heads * hd;
  const float eps = static_cast<float>(config_.rms_norm_eps);

  // The batch as rows: every new token of every item, items in order.
  std::vector<int32_t> tokens, positions;
  std::vector<AttentionSpan> spans;
  std::vector<int64_t> logit_rows;
  for (const StepInput& item : batch) {
    const int64_t row = tokens.size();
    const int64_t past = lengths_[item.sequence];
    const int64_t n = item.tokens.size();
    spans.push_back({row, n, item.sequence, past});
    for (int64_t i = 0; i < n; ++i) {
      tokens.push_back(item.tokens[i]);
      positions.push_back(static_cast<int32_t>(past + i));
      if (item.all_logits || i == n - 1) logit_rows.push_back(row + i);
    }
  }
  const int64_t rows = tokens.size();
  RETURN_IF_ERROR(EnsureScratch(rows));
  auto buf = [&](ScratchBuffer i) { return scratch_[i].as<float>(); };
  float* x = buf(kX);

  {
    ASSIGN_OR_RETURN(auto w, DecodeGroup({kEmbedName}));
    b.Embed(tokens.data(), rows, w[0], dims_.vocab_offset, dims_.vocab, h, x);
    if (tp > 1) RETURN_IF_ERROR(b.AllReduceSum(x, rows * h));
  }

  const uint64_t kv_layer_floats =
      static_cast<uint64_t>(live_.size()) * max_context_ * kv_width;
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  const int64_t group =
      config_.num_attention_heads / config_.num_key_value_heads;
  for (int64_t layer = 0; layer < config_.num_hidden_layers; ++layer) {
    absl::StatusOr<std::vector<const uint16_t*>> decoded =
        DecodeGroup(LayerNames(layer));
    if (!decoded.ok()) {
      return absl::Status(
          decoded.status().code(),
          absl::StrCat("layer ", layer, ": ", decoded.status().message()));
    }
    const std::vector<const uint16_t*>& w = *decoded;
    const KvLayer cache{
        kv_cache_.as<float>() + (2 * layer) * kv_layer_floats,
        kv_cache_.as<float>() + (2 * layer + 1) * kv_layer_floats, max_context_,
        dims_.kv_heads, hd};

    b.RmsNorm(x, w[kInputNorm], rows, h, eps, buf(kH));
    b.MatMul(buf(kH), w[kQ], rows, h, q_width, buf(kQBuf));
    b.MatMul(buf(kH), w[kK], rows, h, kv_width, buf(kKBuf));
    b.MatMul(buf(kH), w[kV], rows, h, kv_width, buf(kVBuf));
    b.Rope(buf(kQBuf), rows, dims_.q_heads, hd, positions.data(),
           inv_freq_.data());
    b.Rope(buf(kKBuf), rows, dims_.kv_heads, hd, positions.data(),
           inv_freq_.data());
    b.StoreKv(buf(kKBuf), buf(kVBuf), spans, cache);
    b.Attention(buf(kQBuf), spans, cache, dims_.q_heads, dims_.q_head_offset,
                group, dims_.kv_head_offset, scale, buf(kAttn));
    b.MatMul(buf(kAttn), w[kO], rows, q_width, h, buf(kProj));
    if (tp > 1) RETURN_IF_ERROR(b.AllReduceSum(buf(kProj), rows * h));
    b.Add(x, buf(kProj), rows * h);

    b.RmsNorm(x, w[kPostNorm], rows, h, eps, buf(kH));
    b.MatMul(buf(kH), w[kGate], rows, h, dims_.ffn, buf(kGateBuf));
    b.MatMul(buf(kH), w[kUp], rows, h, dims_.ffn, buf(kUpBuf));
    b.SiluMul(buf(kGateBuf), buf(kUpBuf), rows * dims_.ffn, buf(kGateBuf));
    b.MatMul(buf(kGateBuf), w[kDown], rows, dims_.ffn, h, buf(kProj));
    if (tp > 1) RETURN_IF_ERROR(b.AllReduceSum(buf(kProj), rows * h));
    b.Add(x, buf(kProj), rows * h);
  }

  const int64_t out_rows = logit_rows.size();
  const int64_t vocab = config_.vocab_size;
  std::vector<float> host(out_rows * vocab);
  {
    ASSIGN_OR_RETURN(auto w, DecodeGroup({kFinalNormName, dims_.lm_head}));
    b.GatherRows(x, logit_rows, h, buf(kH));
    b.RmsNorm(buf(kH), w[0], out_rows, h, eps, buf(kH));
    b.MatMul(buf(kH), w[1], out_rows, h, dims_.vocab, buf(kLogits));
    if (tp == 1) {
      b.CopyToHost(buf(kLogits), host.size() * sizeof(float), host.data());
    } else {
      const int64_t shard = out_rows * dims_.vocab;
      RETURN_IF_ERROR(b.AllGather(buf(kLogits), shard, buf(kGathered)));
      std::vector<float> gathered(tp * shard);
      b.CopyToHost(buf(kGathered), gathered.size() * sizeof(float),
                   gathered.data());
      // [rank, row, vocab shard] -> [row, vocab]
      for (int r = 0; r < tp; ++r) {
        for (int64_t row = 0; row < out_rows; ++row) {
          std::memcpy(&host[row * vocab + r * dims_.vocab],
                      &gathered[(r * out_rows + row) * dims_.vocab],
                      dims_.vocab * sizeof(float));
        }
      }
    }
  }

  std::vector<std::vector<float>> logits;
  int64_t next_row = 0;
  for (const StepInput& item : batch) {
    const int64_t n = item.all_logits ? item.tokens.size() : 1;
    logits.emplace_back(host.begin() + next_row * vocab,
                        host.begin() + (next_row + n) * vocab);
    next_row += n;
    lengths_[item.sequence] += item.tokens.size();
  }
  return logits;
}

}  // namespace df11
