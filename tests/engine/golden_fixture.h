// Test helpers for the engine's golden tests: the fixtures that
// tests/engine/make_golden.py made with Hugging Face transformers, and
// engines built over them.
//
//   GoldenModel golden = LoadGolden("tests/engine/testdata/gqa_llama3");
//   auto engine = MakeEngine(golden, WeightKind::kDf11, {0, 1}, 3);
//   LogitsDiff d = CompareLogits(ours, golden.logits[0]);
#ifndef DF11_TESTS_ENGINE_GOLDEN_FIXTURE_H_
#define DF11_TESTS_ENGINE_GOLDEN_FIXTURE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "loader/dist/world_config.h"
#include "loader/engine/llama_engine.h"
#include "loader/format/llama_config.h"

namespace df11 {

inline constexpr char kGoldenRoot[] = "tests/engine/testdata";
inline const char* const kGoldenModels[] = {"mha", "gqa_llama3", "odd_vocab"};

struct GoldenModel {
  std::string dir;
  LlamaConfig config;
  std::vector<std::vector<int32_t>> prompts;
  std::vector<std::vector<int32_t>> greedy;  // HF's continuation per prompt
  // HF's float32 logits per prompt, [len, vocab] row-major.
  std::vector<std::vector<float>> logits;
  std::vector<double> rope_inv_freq;
};

absl::StatusOr<GoldenModel> LoadGolden(const std::string& name);

enum class WeightKind {
  kHfBf16,  // the original BF16 checkpoint, split on the fly
  kDf11,    // compressed with `df11 compress` logic at test time
};
const char* WeightKindName(WeightKind kind);

// A DF11 model directory of `golden` for `tp` ranks under $TEST_TMPDIR
// (compressed on first use; `tag` keeps processes of one mpirun apart).
absl::StatusOr<std::string> CompressedDir(const GoldenModel& golden, int tp,
                                          const std::string& tag);

// An engine over `golden` on the CPU backend, with KV cache for
// `max_sequences` sequences of the model's whole context.
absl::StatusOr<std::unique_ptr<LlamaEngine>> MakeEngine(
    const GoldenModel& golden, WeightKind kind, const WorldConfig& world,
    int64_t max_sequences);

// The same with explicit engine options.
absl::StatusOr<std::unique_ptr<LlamaEngine>> MakeEngineWith(
    const GoldenModel& golden, WeightKind kind, const WorldConfig& world,
    const EngineOptions& options);

// Admits a sequence with the next unused id, room for the whole context.
absl::StatusOr<SequenceId> NewSequence(LlamaEngine& engine);

struct LogitsDiff {
  double max_abs = 0;
  double rel_l2 = 0;  // ||ours - ref|| / ||ref||
};
LogitsDiff CompareLogits(const std::vector<float>& ours,
                         const std::vector<float>& ref);

// The product's promise, checked: engines on `golden`'s DF11 compression and
// on its BF16 checkpoint, same backend and TP size, sample 20 tokens per
// prompt (temperature 0.9, top-k 50, top-p 0.95, `seed`) and must give the
// same tokens and bitwise-identical prompt logits. The error names the
// first prompt that differs.
absl::Status CheckDf11EqualsBf16(const GoldenModel& golden,
                                 const WorldConfig& world, uint64_t seed);

// Tolerances for our FP32 logits against HF's FP32 logits; docs/engine.md
// explains them.
inline constexpr double kMaxAbsTolerance = 5e-5;
inline constexpr double kRelL2Tolerance = 1e-5;

}  // namespace df11

#endif  // DF11_TESTS_ENGINE_GOLDEN_FIXTURE_H_
