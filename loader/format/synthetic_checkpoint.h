// Synthetic Llama-shaped BF16 checkpoints in Hugging Face layout, for tests,
// the demo and benchmarks (`df11 synth`).
//
//   SyntheticSpec spec = SyntheticPreset("tiny").value();
//   RETURN_IF_ERROR(WriteSyntheticCheckpoint("/tmp/tiny", spec, threads));
//
// Weights are Gaussian with trained-like scales (projections std 0.006-0.03,
// embeddings 0.02, norms near 1), deterministic for a seed. Files larger than
// `max_file_bytes` are split into model-0000N-of-0000M.safetensors with a
// model.safetensors.index.json, as Hugging Face does.
#ifndef DF11_LOADER_FORMAT_SYNTHETIC_CHECKPOINT_H_
#define DF11_LOADER_FORMAT_SYNTHETIC_CHECKPOINT_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace df11 {

struct SyntheticSpec {
  int64_t hidden_size = 64;
  int64_t intermediate_size = 192;
  int64_t num_layers = 2;
  int64_t num_heads = 4;
  int64_t num_kv_heads = 2;
  int64_t vocab_size = 256;
  bool tie_word_embeddings = false;
  uint64_t seed = 1;
  uint64_t max_file_bytes = uint64_t{2} << 30;
};

// "tiny" (64 hidden, 2 layers), "small" (512 hidden, 4 layers) or "8b"
// (Llama 3.1 8B shapes, 32 layers; lower num_layers for a smaller file).
absl::StatusOr<SyntheticSpec> SyntheticPreset(const std::string& name);

// Total BF16 bytes the spec's tensors occupy.
uint64_t SyntheticBytes(const SyntheticSpec& spec);

// Writes config.json and the safetensors file(s) into `dir`, which must not
// exist (atomic like CompressCheckpoint).
absl::Status WriteSyntheticCheckpoint(const std::string& dir,
                                      const SyntheticSpec& spec, int threads);

}  // namespace df11

#endif  // DF11_LOADER_FORMAT_SYNTHETIC_CHECKPOINT_H_
