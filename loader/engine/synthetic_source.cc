#include "loader/engine/synthetic_source.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "loader/base/parallel_for.h"
#include "loader/base/status_macros.h"
#include "loader/codec/encoder.h"
#include "loader/codec/synthetic_weights.h"
#include "loader/engine/llama_weights.h"
#include "loader/engine/philox.h"
#include "loader/shard/llama_split.h"

namespace df11 {

struct SyntheticWeightSource::Stored {
  bool df11 = false;
  EncodedTensor encoded;      // df11
  std::vector<uint16_t> raw;  // !df11

  uint64_t bytes() const {
    return df11 ? encoded.PayloadBytes() : raw.size() * sizeof(uint16_t);
  }
};

namespace {

// Tensor kinds, for the value key: a layer tensor's LayerTensor index, then
// these.
enum ExtraKind : uint32_t {
  kEmbedKind = kNumLayerTensors,
  kFinalNormKind,
  kLmHeadKind,
};

// Standard deviations of `df11 synth` (loader/format/synthetic_checkpoint.cc
// and loader/codec/synthetic_weights.h); 0 marks a norm (1 +- 0.05).
constexpr float kLayerStddev[kNumLayerTensors] = {
    0, 0.02f, 0.03f, 0.008f, 0.01f, 0, 0.015f, 0.012f, 0.006f};
constexpr float kEmbedStddev = 0.02f;
constexpr float kNormMean = 1.0f;
constexpr float kNormStddev = 0.05f;

struct TensorSpec {
  std::string name;
  std::vector<uint64_t> shape;
  uint32_t kind = 0;
  uint32_t value_layer = 0;  // which layer's values (0 outside layers)
  float stddev = 0;          // 0: a norm
};

// Values from (seed, kind, value layer, element index): Philox4x32-10 gives
// four 32-bit words per four elements, Box-Muller turns each pair into two
// standard normals.
class ValueGenerator {
 public:
  ValueGenerator(uint64_t seed, const TensorSpec& spec)
      : key0_(static_cast<uint32_t>(seed)),
        key1_(static_cast<uint32_t>(seed >> 32)),
        kind_(spec.kind),
        layer_(spec.value_layer),
        mean_(spec.stddev > 0 ? 0.0f : kNormMean),
        stddev_(spec.stddev > 0 ? spec.stddev : kNormStddev) {}

  // out[j] = value of element begin + j, j < n.
  void Fill(uint64_t begin, uint64_t n, uint16_t* out) const {
    uint64_t i = begin;
    const uint64_t end = begin + n;
    while (i < end) {
      const uint64_t block = i / 4;
      const Philox4x32 r =
          Philox4x32_10({{static_cast<uint32_t>(block),
                          static_cast<uint32_t>(block >> 32), kind_, layer_}},
                        key0_, key1_);
      float z[4];
      BoxMuller(r.v[0], r.v[1], &z[0], &z[1]);
      BoxMuller(r.v[2], r.v[3], &z[2], &z[3]);
      for (uint64_t j = i % 4; j < 4 && i < end; ++j, ++i) {
        out[i - begin] = Bf16FromFloat(mean_ + stddev_ * z[j]);
      }
    }
  }

 private:
  static void BoxMuller(uint32_t a, uint32_t b, float* z0, float* z1) {
    // u in (0, 1] so that the log is finite; 24 bits each.
    const float u = static_cast<float>((a >> 8) + 1) * 0x1.0p-24f;
    const float theta = static_cast<float>(b >> 8) * (0x1.0p-24f * 6.2831853f);
    const float radius = std::sqrt(-2.0f * std::log(u));
    *z0 = radius * std::cos(theta);
    *z1 = radius * std::sin(theta);
  }

  uint32_t key0_, key1_, kind_, layer_;
  float mean_, stddev_;
};

// Rank `rank`'s shard of `spec` under `plan`, made directly (the whole
// tensor is never made).
std::vector<uint16_t> MakeShard(const TensorSpec& spec, const SplitPlan& plan,
                                int rank, uint64_t seed, int threads) {
  const ValueGenerator values(seed, spec);
  std::vector<uint16_t> out(plan.shard_elements());
  if (plan.kind == SplitKind::kColumns) {
    // Each row of the shard is one run of the whole tensor's row.
    const uint64_t cols = plan.shape[1];
    const uint64_t width = plan.shard_shape[1];
    ParallelFor(plan.shard_shape[0], threads, [&](size_t first, size_t last) {
      for (size_t r = first; r < last; ++r) {
        values.Fill(r * cols + rank * width, width, out.data() + r * width);
      }
    });
    return out;
  }
  // Replicated, or a range of rows: one run of the whole tensor.
  const uint64_t base =
      plan.kind == SplitKind::kRows ? rank * plan.shard_elements() : 0;
  constexpr uint64_t kPiece = uint64_t{1} << 16;
  const uint64_t pieces = (out.size() + kPiece - 1) / kPiece;
  ParallelFor(pieces, threads, [&](size_t first, size_t last) {
    for (size_t p = first; p < last; ++p) {
      const uint64_t begin = p * kPiece;
      const uint64_t n = std::min<uint64_t>(kPiece, out.size() - begin);
      values.Fill(base + begin, n, out.data() + begin);
    }
  });
  return out;
}

struct Preset {
  const char* name;
  int64_t hidden, ffn, layers, heads, kv_heads, head_dim, vocab;
  int64_t max_position, original_max_position;
  bool real;  // a released Llama 3.1 shape: its BOS/EOS ids
};

// tiny and small are `df11 synth`'s presets and config.json
// (loader/format/synthetic_checkpoint.cc); the others are the released
// Llama 3.1 configs.
constexpr Preset kPresets[] = {
    {"tiny", 64, 192, 2, 4, 2, 16, 256, 2048, 1024, false},
    {"small", 512, 1536, 4, 8, 4, 64, 4096, 2048, 1024, false},
    {"8b", 4096, 14336, 32, 32, 8, 128, 128256, 131072, 8192, true},
    {"70b", 8192, 28672, 80, 64, 8, 128, 128256, 131072, 8192, true},
    {"405b", 16384, 53248, 126, 128, 8, 128, 128256, 131072, 8192, true},
};

absl::Status CheckConfig(const LlamaConfig& c, const WorldConfig& world) {
  if (c.hidden_size < 1 || c.intermediate_size < 1 || c.num_hidden_layers < 0 ||
      c.num_attention_heads < 1 || c.num_key_value_heads < 1 ||
      c.head_dim < 1 || c.vocab_size < 1 ||
      c.num_attention_heads % c.num_key_value_heads != 0) {
    return absl::InvalidArgumentError(
        "synthetic model: sizes must be positive and key/value heads must "
        "divide the heads");
  }
  if (world.size < 1 || world.rank < 0 || world.rank >= world.size) {
    return absl::InvalidArgumentError(
        absl::StrCat("synthetic model: rank ", world.rank, " of ", world.size,
                     " is not valid"));
  }
  return absl::OkStatus();
}

std::vector<TensorSpec> Tensors(const LlamaConfig& c, int64_t distinct_layers) {
  const uint64_t h = c.hidden_size, f = c.intermediate_size;
  const uint64_t v = c.vocab_size, hd = c.head_dim;
  const uint64_t q = c.num_attention_heads * hd;
  const uint64_t kv = c.num_key_value_heads * hd;
  std::vector<TensorSpec> out;
  out.push_back({kEmbedName, {v, h}, kEmbedKind, 0, kEmbedStddev});
  const std::vector<uint64_t> shapes[kNumLayerTensors] = {
      {h}, {q, h}, {kv, h}, {kv, h}, {h, q}, {h}, {f, h}, {f, h}, {h, f}};
  for (int64_t layer = 0; layer < distinct_layers; ++layer) {
    for (uint32_t t = 0; t < kNumLayerTensors; ++t) {
      out.push_back({LayerTensorName(layer, kLayerSuffixes[t]), shapes[t], t,
                     static_cast<uint32_t>(layer), kLayerStddev[t]});
    }
  }
  out.push_back({kFinalNormName, {h}, kFinalNormKind, 0, 0});
  if (!c.tie_word_embeddings) {
    out.push_back({kLmHeadName, {v, h}, kLmHeadKind, 0, kEmbedStddev});
  }
  return out;
}

}  // namespace

absl::StatusOr<LlamaConfig> SyntheticLlamaConfig(absl::string_view preset,
                                                 int64_t layers) {
  for (const Preset& p : kPresets) {
    if (preset != p.name) continue;
    LlamaConfig c;
    c.hidden_size = p.hidden;
    c.intermediate_size = p.ffn;
    c.num_hidden_layers = layers >= 0 ? layers : p.layers;
    c.num_attention_heads = p.heads;
    c.num_key_value_heads = p.kv_heads;
    c.head_dim = p.head_dim;
    c.vocab_size = p.vocab;
    c.max_position_embeddings = p.max_position;
    c.rms_norm_eps = 1e-5;
    c.rope_theta = 500000.0;
    c.rope_scaling.type = "llama3";
    c.rope_scaling.factor = 8.0;
    c.rope_scaling.low_freq_factor = 1.0;
    c.rope_scaling.high_freq_factor = 4.0;
    c.rope_scaling.original_max_position_embeddings = p.original_max_position;
    c.tie_word_embeddings = false;
    c.bos_token_ids = {p.real ? 128000 : 1};
    c.eos_token_ids = p.real ? std::vector<int64_t>{128001, 128008, 128009}
                             : std::vector<int64_t>{2};
    c.torch_dtype = "bfloat16";
    return c;
  }
  return absl::InvalidArgumentError(absl::StrCat("unknown synthetic preset '",
                                                 preset, "' (",
                                                 SyntheticPresetNames(), ")"));
}

const char* SyntheticPresetNames() { return "tiny, small, 8b, 70b, 405b"; }

SyntheticWeightSource::SyntheticWeightSource(int tp, int rank)
    : WeightSource("synthetic", tp, rank) {}

SyntheticWeightSource::~SyntheticWeightSource() = default;

absl::StatusOr<WeightInfo> SyntheticWeightSource::Find(
    absl::string_view name) const {
  auto it = entries_.find(name);
  if (it == entries_.end()) {
    return absl::NotFoundError(absl::StrCat(path(), ": no tensor ", name));
  }
  return it->second.info;
}

absl::StatusOr<StoredTensor> SyntheticWeightSource::Payload(
    absl::string_view name) const {
  auto it = entries_.find(name);
  if (it == entries_.end()) {
    return absl::NotFoundError(absl::StrCat(path(), ": no tensor ", name));
  }
  const Stored& s = *it->second.stored;
  StoredTensor t;
  t.name = std::string(name);
  t.info = it->second.info;
  t.df11 = s.df11;
  if (s.df11) {
    t.encoded = s.encoded.view();
  } else {
    t.raw_view = {reinterpret_cast<const uint8_t*>(s.raw.data()),
                  s.raw.size() * sizeof(uint16_t)};
  }
  return t;
}

std::vector<std::string> SyntheticWeightSource::TensorNames() const {
  std::vector<std::string> names;
  names.reserve(entries_.size());
  for (const auto& [name, entry] : entries_) names.push_back(name);
  return names;
}

uint64_t SyntheticWeightSource::held_bytes() const {
  uint64_t total = 0;
  for (const auto& s : storage_) total += s->bytes();
  return total;
}

uint64_t SyntheticWeightSource::served_bytes() const {
  uint64_t total = 0;
  for (const auto& [name, entry] : entries_) total += entry.stored->bytes();
  return total;
}

absl::StatusOr<std::unique_ptr<SyntheticWeightSource>>
OpenSyntheticWeightSource(const LlamaConfig& config, const WorldConfig& world,
                          const SyntheticOptions& options) {
  RETURN_IF_ERROR(CheckConfig(config, world));
  const int threads = options.threads > 0 ? options.threads : HardwareThreads();
  const int64_t layers = config.num_hidden_layers;
  const int64_t distinct =
      options.distinct_layers > 0
          ? std::min<int64_t>(options.distinct_layers, layers)
          : layers;
  const LlamaShape shape = ToLlamaShape(config);
  std::unique_ptr<SyntheticWeightSource> source(
      new SyntheticWeightSource(world.size, world.rank));

  // Make (and encode) each distinct tensor once.
  using Stored = SyntheticWeightSource::Stored;
  std::map<std::string, const Stored*> made;
  for (const TensorSpec& spec : Tensors(config, distinct)) {
    ASSIGN_OR_RETURN(SplitPlan plan, PlanLlamaSplit(shape, spec.name, 2,
                                                    spec.shape, world.size));
    std::vector<uint16_t> values =
        MakeShard(spec, plan, world.rank, options.seed, threads);
    auto stored = std::make_unique<Stored>();
    // As `df11 compress`: BF16 matrices are encoded, 1-D tensors stay raw.
    stored->df11 = options.df11 && spec.shape.size() >= 2;
    if (stored->df11) {
      EncodeOptions encode;
      encode.threads = threads;
      absl::StatusOr<EncodedTensor> encoded = EncodeBf16(values, encode);
      RETURN_IF_ERROR(
          Annotate(encoded.status(), absl::StrCat("synthetic ", spec.name)));
      stored->encoded = *std::move(encoded);
    } else {
      stored->raw = std::move(values);
    }
    made[spec.name] = stored.get();
    source->storage_.push_back(std::move(stored));
  }

  // Every tensor the config implies, each layer pointing at its values.
  for (const TensorSpec& spec : Tensors(config, layers)) {
    ASSIGN_OR_RETURN(SplitPlan plan, PlanLlamaSplit(shape, spec.name, 2,
                                                    spec.shape, world.size));
    std::string value_name = spec.name;
    if (spec.kind < kNumLayerTensors) {
      value_name = LayerTensorName(spec.value_layer % distinct,
                                   kLayerSuffixes[spec.kind]);
    }
    SyntheticWeightSource::Entry entry;
    entry.info.dtype = Dtype::kBF16;
    entry.info.shape = spec.shape;
    entry.info.split = plan.kind;
    entry.info.shard_shape = plan.shard_shape;
    entry.stored = made.at(value_name);
    source->entries_.emplace(spec.name, std::move(entry));
  }
  return source;
}

}  // namespace df11
