// Model assembly, the one path the CLI, the daemon and the tests share: a
// model directory in, a ready LlamaEngine out, on every rank of the world.
//
//   BackendFactory factory = MakeBackendFactory(BackendKind::kCpu, {});
//   ASSIGN_OR_RETURN(std::unique_ptr<LlamaEngine> engine,
//                    OpenLlama("/models/llama-df11", world, factory, {}));
//
// `dir` is a DF11 model directory (it has df11.json; each rank reads only
// its own rank file) or a BF16 Hugging Face checkpoint (split on the fly
// for world.size ranks). Either way config.json is read from it.
//
// Every rank calls OpenLlama. It agrees with the other ranks after opening
// the model files, after making the backend, and after loading the weights
// (LlamaEngine::Create): if any rank fails, every rank returns the lowest
// failing rank's error, never a hang (loader/dist/agreement.h).
#ifndef DF11_LOADER_ENGINE_OPEN_MODEL_H_
#define DF11_LOADER_ENGINE_OPEN_MODEL_H_

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "loader/dist/world_config.h"
#include "loader/engine/backend.h"
#include "loader/engine/llama_engine.h"

namespace df11 {

// Makes this rank's backend. It may run collectives of its own (a CUDA
// backend sets up NCCL); every rank calls it.
using BackendFactory =
    std::function<absl::StatusOr<std::unique_ptr<Backend>>(const WorldConfig&)>;

// True when `dir` is a DF11 model directory rather than a checkpoint.
bool IsDf11ModelDir(const std::string& dir);

// Opens this rank's weights of `dir` (DF11 or BF16, see above).
absl::StatusOr<std::unique_ptr<WeightSource>> OpenWeights(
    const std::string& dir, const LlamaConfig& config,
    const WorldConfig& world);

// Errors: ReadLlamaConfig's, the weight source's, the factory's,
// LlamaEngine::Create's; each agreed across the ranks.
absl::StatusOr<std::unique_ptr<LlamaEngine>> OpenLlama(
    const std::string& dir, const WorldConfig& world,
    const BackendFactory& factory, const EngineOptions& options);

// Opens this rank's weights for a config (a model directory's, a synthetic
// source's).
using WeightOpener =
    std::function<absl::StatusOr<std::unique_ptr<WeightSource>>(
        const LlamaConfig&)>;

// OpenLlama for a config and weights from anywhere: `config` (or its error)
// and what `open_weights` opens are agreed across the ranks as above.
absl::StatusOr<std::unique_ptr<LlamaEngine>> OpenLlamaWith(
    const absl::StatusOr<LlamaConfig>& config, const WeightOpener& open_weights,
    const WorldConfig& world, const BackendFactory& factory,
    const EngineOptions& options);

}  // namespace df11

#endif  // DF11_LOADER_ENGINE_OPEN_MODEL_H_
