// A WeightSource made in memory, never on disk: one rank's shards of a
// Llama-shaped model with seeded, trained-like BF16 values, DF11-encoded on
// the CPUs with every thread (or kept raw BF16 for the BF16 baselines). For
// benchmarks and tests of shapes nobody has on disk (`df11 bench
// --synthetic 405b`), and for the memory planner's presets.
//
//   ASSIGN_OR_RETURN(LlamaConfig config, SyntheticLlamaConfig("8b"));
//   ASSIGN_OR_RETURN(auto source,
//                    OpenSyntheticWeightSource(config, world, {}));
//   ASSIGN_OR_RETURN(auto engine, LlamaEngine::Create(config, *source,
//                                                     std::move(backend), {}));
//
// Values. Element i of a tensor (row-major index in the whole, unsplit
// tensor) is a pure function of (seed, tensor kind, value layer, i): a
// Gaussian from Philox4x32-10 and Box-Muller, rounded to BF16 (round to
// nearest even). So every rank makes exactly its own shard, a TP=2 source
// holds the two halves of the TP=1 source's tensors, and the DF11 and raw
// sources hold the same BF16 values. Scales are those of `df11 synth`
// (loader/format/synthetic_checkpoint.h): projections std 0.006-0.03,
// embedding and LM head 0.02, norms 1 +- 0.05.
//
// Memory. Layer l takes the values of layer l % distinct_layers: with the
// default (1) one layer is made and encoded, and every layer's Payload
// returns views of it, so host memory is one layer plus the embedding and
// LM head, whatever the depth (405B at TP=8: about 1.3 GB instead of 69 GB).
// Each layer is still its own tensor by name; a backend copies each payload
// into its own memory.
//
// Thread safety: immutable after Open; Find and Payload may be called
// concurrently. Views stay valid while the source lives.
#ifndef DF11_LOADER_ENGINE_SYNTHETIC_SOURCE_H_
#define DF11_LOADER_ENGINE_SYNTHETIC_SOURCE_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "loader/codec/encoded_tensor.h"
#include "loader/dist/world_config.h"
#include "loader/engine/weight_source.h"
#include "loader/format/llama_config.h"

namespace df11 {

// Llama shapes by name, as config.json would give them:
//   tiny   hidden 64, 2 layers, 4 heads, 2 KV heads, FFN 192, vocab 256
//   small  hidden 512, 4 layers, 8 heads, 4 KV heads, FFN 1536, vocab 4096
//          (tiny and small are `df11 synth`'s presets)
//   8b     Llama 3.1 8B: 32 layers, hidden 4096, 32 heads, 8 KV heads,
//          FFN 14336, vocab 128256
//   70b    Llama 3.1 70B: 80 layers, hidden 8192, 64 heads, 8 KV heads,
//          FFN 28672, vocab 128256
//   405b   Llama 3.1 405B: 126 layers, hidden 16384, 128 heads, 8 KV heads,
//          FFN 53248, vocab 128256
// Every preset has head_dim 128 except tiny (16) and small (64), llama3 rope
// scaling and untied embeddings. `layers` >= 0 overrides the layer count.
// Errors: InvalidArgument for an unknown name.
absl::StatusOr<LlamaConfig> SyntheticLlamaConfig(absl::string_view preset,
                                                 int64_t layers = -1);
// "tiny, small, 8b, 70b, 405b", for messages.
const char* SyntheticPresetNames();

struct SyntheticOptions {
  // DF11-encode every matrix as `df11 compress` does (1-D norms stay raw);
  // false keeps every tensor raw BF16.
  bool df11 = true;
  // Layer l holds the values of layer l % distinct_layers; 0 makes every
  // layer distinct (host memory grows with the depth).
  int64_t distinct_layers = 1;
  uint64_t seed = 1;
  // Threads for making and encoding the values; 0 means every hardware
  // thread.
  int threads = 0;
};

class SyntheticWeightSource final : public WeightSource {
 public:
  ~SyntheticWeightSource() override;

  absl::StatusOr<WeightInfo> Find(absl::string_view name) const override;
  absl::StatusOr<StoredTensor> Payload(absl::string_view name) const override;
  std::vector<std::string> TensorNames() const override;

  // Host bytes of the payloads held (each shared payload counted once).
  uint64_t held_bytes() const;
  // Bytes of the payloads Payload hands out over all names (each layer
  // counted), i.e. what a backend holds after loading every tensor.
  uint64_t served_bytes() const;

 private:
  friend absl::StatusOr<std::unique_ptr<SyntheticWeightSource>>
  OpenSyntheticWeightSource(const LlamaConfig&, const WorldConfig&,
                            const SyntheticOptions&);
  struct Stored;
  struct Entry {
    WeightInfo info;
    const Stored* stored = nullptr;
  };
  SyntheticWeightSource(int tp, int rank);

  std::vector<std::unique_ptr<Stored>> storage_;
  std::map<std::string, Entry, std::less<>> entries_;
};

// Makes rank world.rank's shards of every tensor `config` implies, split
// for world.size ranks with the rules of loader/shard/llama_split.h.
// Errors: InvalidArgument for a config the split rules reject (a head count,
// FFN or vocabulary that world.size does not divide), non-positive sizes, a
// bad rank, or a DF11 shard beyond the codec's kMaxElements. The values are
// made in host memory: one tensor's BF16 shard at a time, plus what is kept.
absl::StatusOr<std::unique_ptr<SyntheticWeightSource>>
OpenSyntheticWeightSource(const LlamaConfig& config, const WorldConfig& world,
                          const SyntheticOptions& options);

}  // namespace df11

#endif  // DF11_LOADER_ENGINE_SYNTHETIC_SOURCE_H_
