#include "loader/format/synthetic_checkpoint.h"

#include <filesystem>
#include <random>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "loader/base/parallel_for.h"
#include "loader/base/status_macros.h"
#include "loader/codec/synthetic_weights.h"
#include "loader/format/atomic_output.h"
#include "loader/format/safetensors.h"
#include "loader/shard/llama_schema.h"
#include "nlohmann/json.hpp"

namespace df11 {
namespace {

struct SynthTensor {
  std::string name;
  std::vector<uint64_t> shape;
  double stddev;  // 0 for a norm: values near 1
  uint64_t bytes() const { return 2 * NumElements(shape); }
};

// Trained-like scales per kind; 0 for a norm (values near 1).
double Stddev(LlamaTensorKind kind) {
  switch (kind) {
    case LlamaTensorKind::kEmbed:
    case LlamaTensorKind::kLmHead:
    case LlamaTensorKind::kQ:
      return 0.02;
    case LlamaTensorKind::kK:
      return 0.03;
    case LlamaTensorKind::kV:
      return 0.008;
    case LlamaTensorKind::kO:
      return 0.01;
    case LlamaTensorKind::kGate:
      return 0.015;
    case LlamaTensorKind::kUp:
      return 0.012;
    case LlamaTensorKind::kDown:
      return 0.006;
    case LlamaTensorKind::kFinalNorm:
    case LlamaTensorKind::kInputNorm:
    case LlamaTensorKind::kPostNorm:
      return 0;
  }
  return 0;
}

// The tensors the schema implies, in its (the forward pass's) order.
std::vector<SynthTensor> Tensors(const SyntheticSpec& s) {
  LlamaShape shape;
  shape.hidden = s.hidden_size;
  shape.intermediate = s.intermediate_size;
  shape.layers = s.num_layers;
  shape.heads = s.num_heads;
  shape.kv_heads = s.num_kv_heads;
  shape.head_dim = s.hidden_size / s.num_heads;
  shape.vocab = s.vocab_size;
  shape.tied = s.tie_word_embeddings;
  std::vector<SynthTensor> out;
  for (const LlamaTensorId& id : LlamaTensors(shape)) {
    out.push_back(
        {LlamaTensorName(id), LlamaTensorShape(shape, id), Stddev(id.kind)});
  }
  return out;
}

// Fills `out` in parallel, 1M elements per independently seeded piece.
void Fill(const SynthTensor& t, uint64_t seed, int threads,
          std::vector<uint16_t>& out) {
  constexpr size_t kPiece = size_t{1} << 20;
  out.resize(t.bytes() / 2);
  const size_t pieces = (out.size() + kPiece - 1) / kPiece;
  ParallelFor(pieces, threads, [&](size_t first, size_t last) {
    for (size_t p = first; p < last; ++p) {
      const size_t begin = p * kPiece;
      const size_t n = std::min(kPiece, out.size() - begin);
      std::mt19937_64 rng(seed * 1000003 + p);
      std::normal_distribution<float> normal(
          t.stddev > 0 ? 0.0f : 1.0f,
          static_cast<float>(t.stddev > 0 ? t.stddev : 0.05));
      for (size_t i = 0; i < n; ++i)
        out[begin + i] = Bf16FromFloat(normal(rng));
    }
  });
}

std::string ConfigJson(const SyntheticSpec& s) {
  const nlohmann::json config = {
      {"architectures", {"LlamaForCausalLM"}},
      {"model_type", "llama"},
      {"hidden_size", s.hidden_size},
      {"intermediate_size", s.intermediate_size},
      {"num_hidden_layers", s.num_layers},
      {"num_attention_heads", s.num_heads},
      {"num_key_value_heads", s.num_kv_heads},
      {"head_dim", s.hidden_size / s.num_heads},
      {"vocab_size", s.vocab_size},
      {"max_position_embeddings", 2048},
      {"rms_norm_eps", 1e-5},
      {"rope_theta", 500000.0},
      {"rope_scaling",
       {{"rope_type", "llama3"},
        {"factor", 8.0},
        {"low_freq_factor", 1.0},
        {"high_freq_factor", 4.0},
        {"original_max_position_embeddings", 1024}}},
      {"tie_word_embeddings", s.tie_word_embeddings},
      {"bos_token_id", 1},
      {"eos_token_id", 2},
      {"torch_dtype", "bfloat16"},
  };
  return config.dump(2) + "\n";
}

}  // namespace

absl::StatusOr<SyntheticSpec> SyntheticPreset(const std::string& name) {
  SyntheticSpec s;
  if (name == "tiny") return s;
  if (name == "small") {
    s.hidden_size = 512;
    s.intermediate_size = 1536;
    s.num_layers = 4;
    s.num_heads = 8;
    s.num_kv_heads = 4;
    s.vocab_size = 4096;
    return s;
  }
  if (name == "8b") {
    s.hidden_size = 4096;
    s.intermediate_size = 14336;
    s.num_layers = 32;
    s.num_heads = 32;
    s.num_kv_heads = 8;
    s.vocab_size = 128256;
    return s;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown preset '", name, "' (choose tiny, small or 8b)"));
}

uint64_t SyntheticBytes(const SyntheticSpec& spec) {
  uint64_t total = 0;
  for (const SynthTensor& t : Tensors(spec)) total += t.bytes();
  return total;
}

absl::Status WriteSyntheticCheckpoint(const std::string& dir,
                                      const SyntheticSpec& spec, int threads) {
  if (spec.hidden_size <= 0 || spec.num_heads <= 0 || spec.num_kv_heads <= 0 ||
      spec.hidden_size % spec.num_heads != 0 ||
      spec.num_heads % spec.num_kv_heads != 0 || spec.num_layers < 0 ||
      spec.intermediate_size <= 0 || spec.vocab_size <= 0) {
    return absl::InvalidArgumentError(
        "synthetic model: sizes must be positive, heads must divide "
        "hidden_size, and key/value heads must divide heads");
  }
  std::error_code ec;
  if (std::filesystem::exists(dir, ec)) {
    return absl::AlreadyExistsError(absl::StrCat(dir, ": already exists"));
  }
  ASSIGN_OR_RETURN(TempDir temp, TempDir::CreateBeside(dir));
  RETURN_IF_ERROR(
      WriteFileDurably(temp.path() + "/config.json", ConfigJson(spec)));

  // Group tensors into files of at most max_file_bytes (at least one each).
  const std::vector<SynthTensor> tensors = Tensors(spec);
  std::vector<std::vector<const SynthTensor*>> files(1);
  uint64_t in_file = 0;
  for (const SynthTensor& t : tensors) {
    if (in_file > 0 && in_file + t.bytes() > spec.max_file_bytes) {
      files.emplace_back();
      in_file = 0;
    }
    files.back().push_back(&t);
    in_file += t.bytes();
  }
  nlohmann::json weight_map = nlohmann::json::object();
  std::vector<uint16_t> values;
  uint64_t seed = spec.seed;
  for (size_t f = 0; f < files.size(); ++f) {
    const std::string name =
        files.size() == 1 ? "model.safetensors"
                          : absl::StrFormat("model-%05d-of-%05d.safetensors",
                                            f + 1, files.size());
    std::vector<SafetensorsWriter::Declared> declared;
    for (const SynthTensor* t : files[f])
      declared.push_back({t->name, Dtype::kBF16});
    SafetensorsWriter writer(temp.path() + "/" + name, std::move(declared),
                             {{"format", "pt"}});
    RETURN_IF_ERROR(writer.Open());
    for (const SynthTensor* t : files[f]) {
      Fill(*t, seed++, threads, values);
      RETURN_IF_ERROR(
          writer.Append(t->name, t->shape,
                        {reinterpret_cast<const uint8_t*>(values.data()),
                         values.size() * 2}));
      weight_map[t->name] = name;
    }
    RETURN_IF_ERROR(writer.Finish());
  }
  if (files.size() > 1) {
    const nlohmann::json index = {
        {"metadata", {{"total_size", SyntheticBytes(spec)}}},
        {"weight_map", weight_map}};
    RETURN_IF_ERROR(WriteFileDurably(
        temp.path() + "/model.safetensors.index.json", index.dump(2)));
  }
  return temp.CommitTo(dir);
}

}  // namespace df11
