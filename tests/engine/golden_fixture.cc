#include "tests/engine/golden_fixture.h"

#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "loader/backend/backend_factory.h"
#include "loader/base/status_macros.h"
#include "loader/engine/generate.h"
#include "loader/engine/weight_source.h"
#include "loader/format/df11_compress.h"
#include "loader/format/safetensors.h"
#include "nlohmann/json.hpp"

namespace df11 {

absl::StatusOr<GoldenModel> LoadGolden(const std::string& name) {
  GoldenModel g;
  g.dir = absl::StrCat(kGoldenRoot, "/", name);
  ASSIGN_OR_RETURN(g.config, ReadLlamaConfig(g.dir + "/config.json"));
  std::ifstream in(g.dir + "/golden.json");
  if (!in) return absl::NotFoundError(g.dir + "/golden.json");
  std::stringstream text;
  text << in.rdbuf();
  const nlohmann::json j = nlohmann::json::parse(text.str());
  g.prompts = j.at("prompts").get<std::vector<std::vector<int32_t>>>();
  g.greedy = j.at("greedy").get<std::vector<std::vector<int32_t>>>();
  g.rope_inv_freq = j.at("rope_inv_freq").get<std::vector<double>>();
  ASSIGN_OR_RETURN(auto file,
                   SafetensorsFile::Open(g.dir + "/golden_logits.safetensors"));
  for (size_t i = 0; i < g.prompts.size(); ++i) {
    const std::string key = absl::StrCat("prompt", i);
    const TensorInfo* t = file->Find(key);
    if (t == nullptr || t->dtype != Dtype::kF32) {
      return absl::InvalidArgumentError(absl::StrCat("no F32 ", key));
    }
    absl::Span<const uint8_t> bytes = file->Data(*t);
    std::vector<float> values(bytes.size() / sizeof(float));
    std::memcpy(values.data(), bytes.data(), bytes.size());
    g.logits.push_back(std::move(values));
  }
  return g;
}

const char* WeightKindName(WeightKind kind) {
  return kind == WeightKind::kDf11 ? "df11" : "hf_bf16";
}

absl::StatusOr<std::string> CompressedDir(const GoldenModel& golden, int tp,
                                          const std::string& tag) {
  const char* tmp = std::getenv("TEST_TMPDIR");
  const std::string out = absl::StrCat(
      tmp ? tmp : "/tmp", "/df11_",
      std::filesystem::path(golden.dir).filename().string(), "_tp", tp, tag);
  if (std::filesystem::exists(out)) return out;
  CompressOptions options;
  options.tp = tp;
  ASSIGN_OR_RETURN(CompressSummary summary,
                   CompressCheckpoint(golden.dir, out, options));
  (void)summary;
  return out;
}

absl::StatusOr<std::unique_ptr<LlamaEngine>> MakeEngine(
    const GoldenModel& golden, WeightKind kind, const WorldConfig& world,
    int64_t max_sequences) {
  EngineOptions options;
  options.kv_capacity_tokens =
      max_sequences * golden.config.max_position_embeddings;
  return MakeEngineWith(golden, kind, world, options);
}

absl::StatusOr<std::unique_ptr<LlamaEngine>> MakeEngineWith(
    const GoldenModel& golden, WeightKind kind, const WorldConfig& world,
    const EngineOptions& options) {
  std::unique_ptr<WeightSource> source;
  if (kind == WeightKind::kDf11) {
    // Per process: the ranks of an mpirun share $TEST_TMPDIR.
    ASSIGN_OR_RETURN(
        std::string dir,
        CompressedDir(golden, world.size, absl::StrCat("_pid", getpid())));
    ASSIGN_OR_RETURN(source, OpenDf11WeightSource(dir, world.rank));
  } else {
    ASSIGN_OR_RETURN(source, OpenHfWeightSource(golden.dir, golden.config,
                                                world.size, world.rank));
  }
  ASSIGN_OR_RETURN(std::unique_ptr<Backend> backend,
                   MakeBackendFactory(BackendKind::kCpu, {})(world));
  return LlamaEngine::Create(golden.config, *source, std::move(backend),
                             options);
}

absl::StatusOr<SequenceId> NewSequence(LlamaEngine& engine) {
  SequenceId id = 0;
  while (engine.HasSequence(id)) ++id;
  RETURN_IF_ERROR(engine.AddSequence(id, engine.max_context()));
  return id;
}

absl::Status CheckDf11EqualsBf16(const GoldenModel& golden,
                                 const WorldConfig& world, uint64_t seed) {
  const int n = golden.prompts.size();
  ASSIGN_OR_RETURN(auto df11, MakeEngine(golden, WeightKind::kDf11, world, n));
  ASSIGN_OR_RETURN(auto bf16,
                   MakeEngine(golden, WeightKind::kHfBf16, world, n));
  GenerateOptions options;
  options.max_new_tokens = 20;
  options.sampling = {
      .temperature = 0.9f, .top_k = 50, .top_p = 0.95f, .seed = seed};
  options.prompt_logits = true;
  ASSIGN_OR_RETURN(std::vector<Generation> a,
                   Generate(*df11, golden.prompts, options));
  ASSIGN_OR_RETURN(std::vector<Generation> b,
                   Generate(*bf16, golden.prompts, options));
  for (int p = 0; p < n; ++p) {
    const std::vector<float>& la = a[p].prompt_logits;
    const std::vector<float>& lb = b[p].prompt_logits;
    if (a[p].tokens != b[p].tokens) {
      return absl::InternalError(absl::StrCat("prompt ", p, ": tokens differ"));
    }
    if (la.size() != lb.size() ||
        std::memcmp(la.data(), lb.data(), la.size() * sizeof(float)) != 0) {
      return absl::InternalError(absl::StrCat("prompt ", p, ": logits differ"));
    }
  }
  return absl::OkStatus();
}

LogitsDiff CompareLogits(const std::vector<float>& ours,
                         const std::vector<float>& ref) {
  LogitsDiff d;
  double diff2 = 0, ref2 = 0;
  for (size_t i = 0; i < ref.size() && i < ours.size(); ++i) {
    const double e = static_cast<double>(ours[i]) - ref[i];
    d.max_abs = std::max(d.max_abs, std::abs(e));
    diff2 += e * e;
    ref2 += static_cast<double>(ref[i]) * ref[i];
  }
  if (ours.size() != ref.size()) d.max_abs = INFINITY;
  d.rel_l2 = std::sqrt(diff2 / ref2);
  return d;
}

}  // namespace df11
