#include "loader/engine/open_model.h"

#include <filesystem>
#include <utility>

#include "loader/base/status_macros.h"
#include "loader/dist/agreement.h"
#include "loader/format/df11_manifest.h"
#include "loader/format/llama_config.h"

namespace df11 {

bool IsDf11ModelDir(const std::string& dir) {
  return std::filesystem::exists(std::filesystem::path(dir) /
                                 kManifestFileName);
}

absl::StatusOr<std::unique_ptr<WeightSource>> OpenWeights(
    const std::string& dir, const LlamaConfig& config,
    const WorldConfig& world) {
  if (IsDf11ModelDir(dir)) return OpenDf11WeightSource(dir, world.rank);
  return OpenHfWeightSource(dir, config, world.size, world.rank);
}

absl::StatusOr<std::unique_ptr<LlamaEngine>> OpenLlama(
    const std::string& dir, const WorldConfig& world,
    const BackendFactory& factory, const EngineOptions& options) {
  return OpenLlamaWith(
      ReadLlamaConfig(dir + "/config.json"),
      [&](const LlamaConfig& config) {
        return OpenWeights(dir, config, world);
      },
      world, factory, options);
}

absl::StatusOr<std::unique_ptr<LlamaEngine>> OpenLlamaWith(
    const absl::StatusOr<LlamaConfig>& config, const WeightOpener& open_weights,
    const WorldConfig& world, const BackendFactory& factory,
    const EngineOptions& options) {
  std::unique_ptr<WeightSource> source;
  absl::Status local = config.status();
  if (local.ok()) {
    absl::StatusOr<std::unique_ptr<WeightSource>> opened =
        open_weights(*config);
    local = opened.status();
    if (local.ok()) source = *std::move(opened);
  }
  RETURN_IF_ERROR(AgreeOk(world, local, options.agree_timeout));

  absl::StatusOr<std::unique_ptr<Backend>> backend = factory(world);
  RETURN_IF_ERROR(AgreeOk(world, backend.status(), options.agree_timeout));
  return LlamaEngine::Create(*config, *source, *std::move(backend), options);
}

}  // namespace df11
