// `df11 bench --backend cuda|cpu (--model DIR | --synthetic PRESET
//   [--layers N]) --batch 1,8,32,64,128 --prompt_tokens P --json FILE
//   [--modes df11,bf16,offload]`
//
// Serving speed of one model in each weight residency, in one run:
//   df11     DF11 weights, decoded just in time
//   bf16     BF16 weights resident (the BF16 baseline)
//   offload  BF16 weights in pinned host memory, copied per layer (CUDA)
// For each mode and batch size: prefill tokens/s (batch prompts of P
// tokens), decode tokens/s (steps of `batch` sequences, one token each, the
// median of --timed_steps steps after --warmup_steps), the step split into
// weight decode / GEMM / attention / communication / other (separate
// profiled steps, loader/plan/profiling_backend.h), the engine's memory
// against the memory plan's prediction (loader/plan/memory_plan.h), and the
// weight-read limit (weight bytes / the backend's memory bandwidth,
// measured in the same run). Before timing, each mode's logits of one
// prompt are compared bit for bit with the first mode's (DF11 == BF16).
// Prints one table; with --json FILE (FILE is the one positional argument:
// --json is the boolean flag `df11 run` also uses) writes every number.
//
//   ./launch/df11 bench --backend cpu --synthetic tiny --batch 1,4
//       --prompt_tokens 16 --json /tmp/bench.json --modes df11,bf16
//   mpirun -np 8 df11 bench --backend cuda --synthetic 405b --batch 1,64 ...
//
// A benchmark, not a test: loader/cli/bench_command_test.sh only checks
// that the harness runs and writes every field.
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/flags/declare.h"
#include "absl/flags/flag.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "loader/backend/backend_factory.h"
#include "loader/base/status_macros.h"
#include "loader/cli/commands.h"
#include "loader/cli/common_flags.h"
#include "loader/cli/progress.h"
#include "loader/dist/agreement.h"
#include "loader/dist/mpi_session.h"
#include "loader/engine/llama_engine.h"
#include "loader/engine/open_model.h"
#include "loader/engine/synthetic_source.h"
#include "loader/engine/weight_source.h"
#include "loader/format/llama_config.h"
#include "loader/plan/memory_plan.h"
#include "loader/plan/profiling_backend.h"
#include "nlohmann/json.hpp"

ABSL_FLAG(std::string, synthetic, "",
          "bench: a synthetic model preset (tiny, small, 8b, 70b, 405b) "
          "instead of --model");
ABSL_FLAG(std::string, batch, "1,8,32,64,128", "bench: batch sizes");
ABSL_FLAG(int, shard_of, 1,
          "bench: with --synthetic, give one GPU the per-rank shapes of "
          "tensor parallel over N ranks (heads, KV heads, FFN and vocabulary "
          "divided by N; no all-reduce): a TP=N layer's cost on one GPU");
ABSL_FLAG(std::string, modes, "df11,bf16,offload",
          "bench: weight residencies to run (df11, bf16, offload)");
ABSL_FLAG(int, warmup_steps, 3, "bench: decode steps before timing");
ABSL_FLAG(bool, small_gemv, true,
          "bench: cuda: one-row products through our GEMV, not cuBLASLt");
ABSL_FLAG(bool, prioritize_compute, true,
          "bench: cuda: the compute stream outranks the decode stream");
ABSL_FLAG(int, timed_steps, 10, "bench: decode steps timed (the median)");
ABSL_FLAG(int, profile_steps, 3,
          "bench: decode steps profiled by category (0 = none)");

// Defined by other commands; the same meaning here.
ABSL_DECLARE_FLAG(std::string, backend);       // run
ABSL_DECLARE_FLAG(std::string, model);         // run
ABSL_DECLARE_FLAG(bool, json);                 // run
ABSL_DECLARE_FLAG(int, layers);                // synth
ABSL_DECLARE_FLAG(double, gpu_memory_gb);      // plan
ABSL_DECLARE_FLAG(int64_t, max_batch_tokens);  // plan
ABSL_DECLARE_FLAG(double, bits_per_weight);    // plan

namespace df11::cli {
namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

// Published and measured reference numbers for the Llama-3.1-8B shape
// (DESIGN.md, "What users run today", H200, BF16, HF transformers 5.17).
struct HfReference {
  const char* name;
  int64_t batch;
  double tokens_per_s;
};
constexpr HfReference kHfReference[] = {
    {"hf_eager_batch1", 1, 22.6},
    {"hf_compiled_batch1", 1, 114},
    {"hf_eager_batch64", 64, 1500},
    {"hf_compiled_batch64", 64, 4693},
};

bool IsLlama8bShape(const LlamaConfig& c) {
  return c.hidden_size == 4096 && c.num_hidden_layers == 32 &&
         c.num_attention_heads == 32 && c.num_key_value_heads == 8 &&
         c.intermediate_size == 14336 && c.vocab_size == 128256;
}

struct BenchFlags {
  BackendKind kind = BackendKind::kCpu;
  std::string model_dir;
  std::string preset;
  std::vector<int64_t> batches;
  int64_t prompt_tokens = 0;
  std::vector<Residency> modes;
  int warmup = 0, timed = 0, profiled = 0;
  std::string json_path;
};

absl::StatusOr<BenchFlags> ReadFlags(const std::vector<std::string>& args) {
  BenchFlags f;
  ASSIGN_OR_RETURN(f.kind, ParseBackendKind(absl::GetFlag(FLAGS_backend)));
  f.model_dir = absl::GetFlag(FLAGS_model);
  f.preset = absl::GetFlag(FLAGS_synthetic);
  if (f.model_dir.empty() == f.preset.empty()) {
    return absl::InvalidArgumentError(
        "give exactly one of --model DIR and --synthetic PRESET");
  }
  for (absl::string_view part :
       absl::StrSplit(absl::GetFlag(FLAGS_batch), ',')) {
    int64_t b = 0;
    if (!absl::SimpleAtoi(part, &b) || b < 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("--batch: '", part, "' is not a positive batch size"));
    }
    f.batches.push_back(b);
  }
  for (absl::string_view part :
       absl::StrSplit(absl::GetFlag(FLAGS_modes), ',')) {
    ASSIGN_OR_RETURN(Residency r, ParseResidency(part));
    f.modes.push_back(r);
  }
  f.prompt_tokens = absl::GetFlag(FLAGS_prompt_tokens);
  f.warmup = absl::GetFlag(FLAGS_warmup_steps);
  f.timed = absl::GetFlag(FLAGS_timed_steps);
  f.profiled = absl::GetFlag(FLAGS_profile_steps);
  if (f.prompt_tokens < 1 || f.warmup < 0 || f.timed < 1 || f.profiled < 0) {
    return absl::InvalidArgumentError(
        "--prompt_tokens and --timed_steps must be positive, --warmup_steps "
        "and --profile_steps not negative");
  }
  if (absl::GetFlag(FLAGS_json)) {
    if (args.size() != 1) {
      return absl::InvalidArgumentError("--json needs one FILE after it");
    }
    f.json_path = args[0];
  } else if (!args.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("unexpected argument '", args[0], "'"));
  }
  return f;
}

// A DF11 source seen as raw BF16: each payload decoded as it is asked for.
// The BF16-resident baseline of a DF11 model directory.
class DecodedSource final : public WeightSource {
 public:
  DecodedSource(std::unique_ptr<WeightSource> inner, int threads)
      : WeightSource(inner->path(), inner->tp(), inner->rank()),
        inner_(std::move(inner)),
        threads_(threads) {}

  absl::StatusOr<WeightInfo> Find(absl::string_view name) const override {
    return inner_->Find(name);
  }
  absl::StatusOr<StoredTensor> Payload(absl::string_view name) const override {
    ASSIGN_OR_RETURN(StoredTensor t, inner_->Payload(name));
    if (!t.df11) return t;
    std::vector<uint16_t> values(t.info.shard_elements());
    RETURN_IF_ERROR(DecodeStored(t, absl::MakeSpan(values), threads_));
    t.df11 = false;
    t.encoded = {};
    t.raw_view = {};
    t.gathered.resize(values.size() * sizeof(uint16_t));
    std::memcpy(t.gathered.data(), values.data(), t.gathered.size());
    return t;
  }
  std::vector<std::string> TensorNames() const override {
    return inner_->TensorNames();
  }

 private:
  std::unique_ptr<WeightSource> inner_;
  int threads_;
};

// This rank's weights for `mode`: DF11 payloads for df11, raw BF16
// otherwise (every backend keeps a payload in the form it is given).
// Unimplemented when the mode cannot be run from this model.
absl::StatusOr<std::unique_ptr<WeightSource>> ModeSource(
    const BenchFlags& f, Residency mode, const LlamaConfig& config,
    const WorldConfig& world, int threads) {
  const bool df11 = mode == Residency::kDf11;
  if (!f.preset.empty()) {
    SyntheticOptions options;
    options.df11 = df11;
    options.threads = threads;
    ASSIGN_OR_RETURN(std::unique_ptr<SyntheticWeightSource> source,
                     OpenSyntheticWeightSource(config, world, options));
    return std::unique_ptr<WeightSource>(std::move(source));
  }
  if (IsDf11ModelDir(f.model_dir)) {
    ASSIGN_OR_RETURN(std::unique_ptr<WeightSource> source,
                     OpenWeights(f.model_dir, config, world));
    if (df11) return source;
    return std::unique_ptr<WeightSource>(
        new DecodedSource(std::move(source), threads));
  }
  if (df11) {
    return absl::UnimplementedError(
        "a BF16 checkpoint: `df11 compress` it for the df11 mode");
  }
  return OpenWeights(f.model_dir, config, world);
}

// The backend options of a residency mode. df11 and bf16 need none (the
// source's form decides: DF11 payloads are decoded per step, raw BF16 is used
// in place); offload keeps the BF16 weights in pinned host memory and copies
// each group in (BackendOptions::weight_residency, CUDA only).
absl::StatusOr<BackendOptions> ModeBackendOptions(BackendKind kind,
                                                  Residency mode,
                                                  int world_size) {
  BackendOptions options;
  options.threads = std::max(1, Threads() / world_size);
  options.gpu_memory_gb = absl::GetFlag(FLAGS_gpu_memory_gb);
  options.small_gemv = absl::GetFlag(FLAGS_small_gemv);
  options.prioritize_compute = absl::GetFlag(FLAGS_prioritize_compute);
  switch (mode) {
    case Residency::kDf11:
      options.weight_residency = WeightResidency::kDf11;
      break;
    case Residency::kBf16:
      options.weight_residency = WeightResidency::kBf16Resident;
      break;
    case Residency::kOffload:
      if (kind == BackendKind::kCpu) {
        return absl::UnimplementedError(
            "the cpu backend keeps every weight in host memory already");
      }
      options.weight_residency = WeightResidency::kOffloadPinned;
      break;
  }
  return options;
}

// Bytes per second of a stream-ordered device copy between two buffers
// (bytes read plus bytes written), best of 5: the backend's copy bandwidth,
// the same-run baseline of the weight-read limit, measured through the
// Backend interface.
absl::StatusOr<double> MeasureBandwidth(Backend& backend, uint64_t bytes) {
  ASSIGN_OR_RETURN(Buffer x, backend.Allocate(bytes));
  ASSIGN_OR_RETURN(Buffer y, backend.Allocate(bytes));
  double best = 1e30;
  for (int i = 0; i < 6; ++i) {
    const Clock::time_point start = Clock::now();
    backend.Copy(x.data(), bytes, y.data());
    uint32_t word = 0;
    RETURN_IF_ERROR(backend.CopyToHost(y.data(), sizeof(word), &word));
    if (i > 0) best = std::min(best, Seconds(start));  // the first warms up
  }
  return 2.0 * bytes / best;
}

uint64_t Total(const EngineMemory& m) {
  return m.weights_stored + m.decode_buffers + m.kv_cache + m.activations +
         m.workspace;
}

nlohmann::json MemoryJson(const EngineMemory& m) {
  return {{"weights_stored", m.weights_stored},
          {"weights_original", m.weights_original},
          {"decode_buffers", m.decode_buffers},
          {"kv_cache", m.kv_cache},
          {"activations", m.activations},
          {"workspace", m.workspace},
          {"total", Total(m)}};
}

uint64_t HostMaxRss() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<uint64_t>(usage.ru_maxrss) * 1024;
}

std::string UtcNow() {
  const std::time_t now = std::time(nullptr);
  char text[32];
  std::strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
  return text;
}

class Bench {
 public:
  Bench(BenchFlags flags, LlamaConfig config, const WorldConfig& world)
      : f_(std::move(flags)), config_(std::move(config)), world_(world) {
    max_batch_ = *std::max_element(f_.batches.begin(), f_.batches.end());
    per_sequence_ = f_.prompt_tokens + f_.warmup + f_.timed + f_.profiled;
    options_.kv_block_tokens = 16;
    options_.max_batch_sequences = max_batch_;
    options_.max_batch_tokens =
        std::max<int64_t>(max_batch_, absl::GetFlag(FLAGS_max_batch_tokens));
    options_.max_logit_rows = max_batch_;
    options_.max_context = std::max<int64_t>(per_sequence_, kCheckTokens);
    const auto blocks = [&](int64_t tokens) {
      return (tokens + options_.kv_block_tokens - 1) / options_.kv_block_tokens;
    };
    options_.kv_capacity_tokens =
        (max_batch_ * blocks(per_sequence_) + blocks(kCheckTokens)) *
        options_.kv_block_tokens;
    std::mt19937_64 rng(1);
    prompts_.resize(max_batch_);
    for (std::vector<int32_t>& p : prompts_) {
      p.resize(f_.prompt_tokens);
      for (int32_t& t : p) t = static_cast<int32_t>(rng() % config_.vocab_size);
    }
  }

  absl::Status Run();
  const nlohmann::json& json() const { return json_; }
  std::string Table() const;

 private:
  static constexpr int64_t kCheckTokens = 8;

  absl::Status RunMode(Residency mode);
  absl::Status RunBatch(Residency mode, LlamaEngine& engine,
                        ProfilingBackend& profiler, int64_t batch,
                        nlohmann::json& row);
  absl::StatusOr<std::vector<float>> CheckLogits(LlamaEngine& engine);

  BenchFlags f_;
  LlamaConfig config_;
  WorldConfig world_;
  int64_t max_batch_ = 0;
  int64_t per_sequence_ = 0;
  EngineOptions options_;
  std::vector<std::vector<int32_t>> prompts_;
  SequenceId next_id_ = 1;
  std::optional<double> bandwidth_;  // bytes/s
  std::vector<float> first_logits_;
  nlohmann::json json_;
};

absl::Status Bench::Run() {
  if (options_.max_context > config_.max_position_embeddings) {
    return absl::InvalidArgumentError(
        absl::StrCat("--prompt_tokens + steps = ", options_.max_context,
                     " is longer than the model's context of ",
                     config_.max_position_embeddings));
  }
  json_["command"] = "df11 bench";
  json_["date_utc"] = UtcNow();
  json_["backend"] = std::string(BackendKindName(f_.kind));
  json_["model"] = {{"source", f_.preset.empty() ? "dir" : "synthetic"},
                    {"name", f_.preset.empty() ? f_.model_dir : f_.preset},
                    {"hidden_size", config_.hidden_size},
                    {"num_hidden_layers", config_.num_hidden_layers},
                    {"num_attention_heads", config_.num_attention_heads},
                    {"num_key_value_heads", config_.num_key_value_heads},
                    {"intermediate_size", config_.intermediate_size},
                    {"vocab_size", config_.vocab_size},
                    {"llama_3_1_8b_shape", IsLlama8bShape(config_)}};
  json_["tp"] = world_.size;
  json_["threads_per_rank"] = std::max(1, Threads() / world_.size);
  json_["prompt_tokens"] = f_.prompt_tokens;
  json_["batches"] = f_.batches;
  json_["warmup_steps"] = f_.warmup;
  json_["timed_steps"] = f_.timed;
  json_["profile_steps"] = f_.profiled;
  json_["engine_options"] = {
      {"max_batch_tokens", options_.max_batch_tokens},
      {"max_batch_sequences", options_.max_batch_sequences},
      {"max_logit_rows", options_.max_logit_rows},
      {"max_context", options_.max_context},
      {"kv_block_tokens", options_.kv_block_tokens},
      {"kv_capacity_tokens", options_.kv_capacity_tokens}};
  nlohmann::json& reference = json_["hf_reference"];
  reference["what"] =
      "Llama-3.1-8B shape, H200, BF16, HF transformers 5.17 (DESIGN.md)";
  for (const HfReference& r : kHfReference) {
    reference[r.name] = {{"batch", r.batch}, {"tokens_per_s", r.tokens_per_s}};
  }
  json_["results"] = nlohmann::json::array();
  json_["modes"] = nlohmann::json::object();
  for (Residency mode : f_.modes) RETURN_IF_ERROR(RunMode(mode));
  json_["host_max_rss_bytes"] = HostMaxRss();
  return absl::OkStatus();
}

absl::StatusOr<std::vector<float>> Bench::CheckLogits(LlamaEngine& engine) {
  const SequenceId id = next_id_++;
  RETURN_IF_ERROR(engine.AddSequence(id, kCheckTokens));
  std::vector<int32_t> tokens(kCheckTokens);
  for (int64_t i = 0; i < kCheckTokens; ++i) {
    tokens[i] = static_cast<int32_t>((i * 7919 + 11) % config_.vocab_size);
  }
  absl::StatusOr<std::vector<std::vector<float>>> logits =
      engine.Forward({{id, tokens, false}});
  engine.RemoveSequence(id);
  RETURN_IF_ERROR(logits.status());
  return std::move((*logits)[0]);
}

absl::Status Bench::RunMode(Residency mode) {
  const std::string name(ResidencyName(mode));
  nlohmann::json& m = json_["modes"][name];
  const int threads = std::max(1, Threads() / world_.size);
  absl::StatusOr<BackendOptions> backend_options =
      ModeBackendOptions(f_.kind, mode, world_.size);
  absl::StatusOr<std::unique_ptr<WeightSource>> source =
      backend_options.ok() ? ModeSource(f_, mode, config_, world_, threads)
                           : absl::StatusOr<std::unique_ptr<WeightSource>>(
                                 backend_options.status());
  if (!source.ok() &&
      source.status().code() == absl::StatusCode::kUnimplemented) {
    m = {{"available", false},
         {"reason", std::string(source.status().message())}};
    return absl::OkStatus();
  }
  RETURN_IF_ERROR(AgreeOk(world_, source.status(), absl::Seconds(600)));

  const Clock::time_point load_start = Clock::now();
  absl::StatusOr<std::unique_ptr<Backend>> backend =
      MakeBackendFactory(f_.kind, *backend_options)(world_);
  RETURN_IF_ERROR(AgreeOk(world_, backend.status(), absl::Seconds(600)));
  if (!bandwidth_.has_value()) {
    // Once per run, before any weights take the memory.
    const uint64_t bytes = f_.kind == BackendKind::kCuda ? uint64_t{512} << 20
                                                         : uint64_t{32} << 20;
    absl::StatusOr<double> bw = MeasureBandwidth(**backend, bytes);
    RETURN_IF_ERROR(AgreeOk(world_, bw.status(), absl::Seconds(600)));
    bandwidth_ = *bw;
    json_["memory_bandwidth"] = {
        {"bytes_per_s", *bw},
        {"method", "Backend::Copy between two buffers of " +
                       std::to_string(bytes) +
                       " bytes (bytes read + written), best of 5"}};
  }
  auto wrapped = std::make_unique<ProfilingBackend>(*std::move(backend));
  ProfilingBackend& profiler = *wrapped;
  ASSIGN_OR_RETURN(
      std::unique_ptr<LlamaEngine> engine,
      LlamaEngine::Create(config_, **source, std::move(wrapped), options_));
  source->reset();
  const double load_s = Seconds(load_start);

  ASSIGN_OR_RETURN(std::vector<float> logits, CheckLogits(*engine));
  m["available"] = true;
  m["load_s"] = load_s;
  if (first_logits_.empty()) {
    first_logits_ = std::move(logits);
    m["logits_bitwise_equal_to_first_mode"] = nullptr;
  } else {
    m["logits_bitwise_equal_to_first_mode"] =
        logits.size() == first_logits_.size() &&
        std::memcmp(logits.data(), first_logits_.data(),
                    logits.size() * sizeof(float)) == 0;
  }

  // The plan for this engine's options and this backend's dtypes.
  PlanOptions plan_options =
      PlanOptionsFor(options_, absl::GetFlag(FLAGS_gpu_memory_gb));
  plan_options.df11_bits_per_weight = absl::GetFlag(FLAGS_bits_per_weight);
  plan_options.activation_bytes = DtypeSize(profiler.activation_dtype());
  plan_options.kv_bytes = DtypeSize(profiler.kv_dtype());
  ASSIGN_OR_RETURN(MemoryPlan plan,
                   PlanMemory(config_, world_.size, plan_options));
  const ResidencyPlan& predicted = plan.For(mode);
  const EngineMemory memory = engine->memory();
  const uint64_t kv_predicted = engine->kv_usage().blocks *
                                options_.kv_block_tokens *
                                plan.kv_bytes_per_token;
  // The workspaces are the CUDA backend's (memory_plan.h); the CPU
  // backend's own are small.
  const uint64_t without_workspace = predicted.weights +
                                     predicted.decode_buffers +
                                     predicted.activations + kv_predicted;
  m["memory"] = MemoryJson(memory);
  m["plan"] = {{"weights", predicted.weights},
               {"host_weights", predicted.host_weights},
               {"decode_buffers", predicted.decode_buffers},
               {"activations", predicted.activations},
               {"workspace", predicted.workspace.total()},
               {"kv_cache", kv_predicted},
               {"total", without_workspace + predicted.workspace.total()},
               {"total_without_workspace", without_workspace},
               {"kv_capacity_tokens_at_budget", predicted.kv_capacity_tokens},
               {"fits_budget", predicted.fits},
               {"gpu_memory_gb", plan_options.gpu_memory_gb}};

  for (int64_t batch : f_.batches) {
    nlohmann::json row;
    row["mode"] = name;
    row["batch"] = batch;
    RETURN_IF_ERROR(RunBatch(mode, *engine, profiler, batch, row));
    json_["results"].push_back(std::move(row));
  }
  return absl::OkStatus();
}

absl::Status Bench::RunBatch(Residency mode, LlamaEngine& engine,
                             ProfilingBackend& profiler, int64_t batch,
                             nlohmann::json& row) {
  std::vector<SequenceId> ids(batch);
  for (SequenceId& id : ids) {
    id = next_id_++;
    RETURN_IF_ERROR(engine.AddSequence(id, per_sequence_));
  }
  std::vector<int32_t> last(batch, 0);
  const auto request = [](SequenceId id) {
    SampleRequest s;
    s.sample = true;  // greedy
    s.stream = id;
    return s;
  };

  // Prefill: every prompt, packed into steps of at most max_batch_tokens.
  const Clock::time_point prefill_start = Clock::now();
  std::vector<int64_t> fed(batch, 0);
  int64_t prefill_steps = 0;
  for (int64_t done = 0; done < batch;) {
    StepPlan plan;
    std::vector<int64_t> which;
    int64_t rows = 0;
    for (int64_t i = done; i < batch && rows < options_.max_batch_tokens; ++i) {
      const int64_t n =
          std::min(f_.prompt_tokens - fed[i], options_.max_batch_tokens - rows);
      SequenceStep item;
      item.id = ids[i];
      item.tokens.assign(prompts_[i].begin() + fed[i],
                         prompts_[i].begin() + fed[i] + n);
      fed[i] += n;
      rows += n;
      if (fed[i] == f_.prompt_tokens) item.sample = request(ids[i]);
      plan.items.push_back(std::move(item));
      which.push_back(i);
    }
    ASSIGN_OR_RETURN(std::vector<SequenceResult> out, engine.Step(plan));
    ++prefill_steps;
    for (size_t k = 0; k < which.size(); ++k) {
      if (plan.items[k].sample.sample) last[which[k]] = out[k].sampled.token;
    }
    while (done < batch && fed[done] == f_.prompt_tokens) ++done;
  }
  const double prefill_s = Seconds(prefill_start);

  // Decode: one token of every sequence per step.
  const auto decode_step = [&]() -> absl::StatusOr<double> {
    StepPlan plan;
    for (int64_t i = 0; i < batch; ++i) {
      SequenceStep item;
      item.id = ids[i];
      item.tokens = {last[i]};
      item.sample = request(ids[i]);
      plan.items.push_back(std::move(item));
    }
    const Clock::time_point start = Clock::now();
    ASSIGN_OR_RETURN(std::vector<SequenceResult> out, engine.Step(plan));
    const double s = Seconds(start);
    for (int64_t i = 0; i < batch; ++i) last[i] = out[i].sampled.token;
    return s;
  };
  for (int i = 0; i < f_.warmup; ++i) RETURN_IF_ERROR(decode_step().status());
  std::vector<double> step_ms;
  for (int i = 0; i < f_.timed; ++i) {
    ASSIGN_OR_RETURN(double s, decode_step());
    step_ms.push_back(1e3 * s);
  }
  std::vector<double> profiled_ms;
  profiler.TakeProfile();
  profiler.set_profiling(true);
  absl::Status profiled = absl::OkStatus();
  for (int i = 0; i < f_.profiled && profiled.ok(); ++i) {
    absl::StatusOr<double> s = decode_step();
    profiled = s.status();
    if (s.ok()) profiled_ms.push_back(1e3 * *s);
  }
  profiler.set_profiling(false);
  RETURN_IF_ERROR(profiled);
  const StepProfile split = profiler.TakeProfile().PerStep();
  for (SequenceId id : ids) engine.RemoveSequence(id);

  const double median_ms = Median(step_ms);
  const double decode_tps = 1e3 * batch / median_ms;
  row["prefill_tokens"] = batch * f_.prompt_tokens;
  row["prefill_steps"] = prefill_steps;
  row["prefill_s"] = prefill_s;
  row["prefill_tokens_per_s"] = batch * f_.prompt_tokens / prefill_s;
  row["decode_step_ms"] = step_ms;
  row["decode_step_ms_median"] = median_ms;
  row["decode_tokens_per_s"] = decode_tps;
  const auto or_null = [&](double ms) -> nlohmann::json {
    if (f_.profiled == 0) return nullptr;
    return ms;
  };
  row["split_ms"] = {
      {"decode_weights", or_null(split.decode_ms)},
      {"gemm", or_null(split.gemm_ms)},
      {"attention", or_null(split.attention_ms)},
      {"communication", or_null(split.communication_ms)},
      {"other", or_null(split.other_ms)},
      {"sum", or_null(split.total_ms())},
      {"profiled_step_ms_median", or_null(Median(profiled_ms))},
      {"method",
       "ProfilingBackend: each op host-timed and waited for (serialized, "
       "no CUDA graph, no decode/compute overlap)"}};

  const EngineMemory memory = engine.memory();
  row["peak_memory_bytes"] = Total(memory);
  row["peak_memory_source"] =
      "engine accounting (EngineMemory: weights, decode buffers, KV cache, "
      "activations, workspace); the backend reports no device peak yet";
  row["host_max_rss_bytes"] = HostMaxRss();
  const nlohmann::json& plan =
      json_["modes"][std::string(ResidencyName(mode))]["plan"];
  row["plan_total_bytes"] = plan["total"];
  row["plan_kv_capacity_tokens_at_budget"] =
      plan["kv_capacity_tokens_at_budget"];

  // Weights are read once per step whatever the batch.
  const double bw = *bandwidth_;
  const double bf16_ms = 1e3 * memory.weights_original / bw;
  const double stored_ms = 1e3 * memory.weights_stored / bw;
  row["weight_read_limit"] = {
      {"bf16_bytes", memory.weights_original},
      {"stored_bytes", memory.weights_stored},
      {"bf16_step_ms", bf16_ms},
      {"stored_step_ms", stored_ms},
      {"bf16_tokens_per_s", 1e3 * batch / bf16_ms},
      {"stored_tokens_per_s", 1e3 * batch / stored_ms},
      {"ratio_to_bf16_limit", decode_tps / (1e3 * batch / bf16_ms)}};
  nlohmann::json vs = nlohmann::json::object();
  for (const HfReference& r : kHfReference) {
    vs[r.name] = IsLlama8bShape(config_) && r.batch == batch
                     ? nlohmann::json(decode_tps / r.tokens_per_s)
                     : nlohmann::json(nullptr);
  }
  row["ratio_to_hf"] = vs;
  return absl::OkStatus();
}

std::string Bench::Table() const {
  const auto num = [](const nlohmann::json& v, int decimals) {
    return v.is_number() ? absl::StrFormat("%.*f", decimals, v.get<double>())
                         : std::string("n/a");
  };
  const nlohmann::json& j = json_;
  std::string out = absl::StrFormat(
      "df11 bench: %s backend, %s %s (%d layers), TP=%d, prompt %d tokens, "
      "%d warm-up + %d timed decode steps (median), %d profiled\n",
      j["backend"].get<std::string>(), j["model"]["source"].get<std::string>(),
      j["model"]["name"].get<std::string>(),
      j["model"]["num_hidden_layers"].get<int64_t>(), j["tp"].get<int>(),
      f_.prompt_tokens, f_.warmup, f_.timed, f_.profiled);
  if (j.contains("memory_bandwidth")) {
    absl::StrAppendFormat(
        &out, "memory bandwidth (Backend::Copy): %.1f GB/s\n",
        j["memory_bandwidth"]["bytes_per_s"].get<double>() / 1e9);
  }
  for (Residency r : f_.modes) {
    const nlohmann::json& m = j["modes"][std::string(ResidencyName(r))];
    if (!m["available"].get<bool>()) {
      absl::StrAppendFormat(&out, "%s: n/a (%s)\n", ResidencyName(r),
                            m["reason"].get<std::string>());
      continue;
    }
    const nlohmann::json& eq = m["logits_bitwise_equal_to_first_mode"];
    const auto bytes = [&](const char* group, const char* key) {
      return HumanBytes(m[group][key].get<double>());
    };
    absl::StrAppendFormat(
        &out,
        "%s: loaded in %.2f s; weights %s stored (%s as BF16); the engine "
        "holds %s, the plan predicts %s (%s without its CUDA workspaces); "
        "logits bitwise equal to the first mode's: %s\n",
        ResidencyName(r), m["load_s"].get<double>(),
        bytes("memory", "weights_stored"), bytes("memory", "weights_original"),
        bytes("memory", "total"), bytes("plan", "total"),
        bytes("plan", "total_without_workspace"),
        eq.is_null() ? "(first)" : (eq.get<bool>() ? "yes" : "NO"));
  }
  absl::StrAppendFormat(
      &out, "\n%-8s %6s %12s %9s %13s %9s %9s %9s %9s %9s %12s %7s\n", "mode",
      "batch", "decode tok/s", "step ms", "prefill tok/s", "decode-w", "gemm",
      "attn", "comm", "other", "limit tok/s", "/limit");
  for (const nlohmann::json& row : j["results"]) {
    const nlohmann::json& s = row["split_ms"];
    const nlohmann::json& w = row["weight_read_limit"];
    absl::StrAppendFormat(
        &out, "%-8s %6d %12s %9s %13s %9s %9s %9s %9s %9s %12s %7s\n",
        row["mode"].get<std::string>(), row["batch"].get<int64_t>(),
        num(row["decode_tokens_per_s"], 1),
        num(row["decode_step_ms_median"], 2),
        num(row["prefill_tokens_per_s"], 1), num(s["decode_weights"], 2),
        num(s["gemm"], 2), num(s["attention"], 2), num(s["communication"], 2),
        num(s["other"], 2), num(w["bf16_tokens_per_s"], 1),
        num(w["ratio_to_bf16_limit"], 3));
  }
  out +=
      "(split columns: ms per profiled step, serialized; limit: BF16 weight "
      "bytes / bandwidth, per step)\n";
  out += "\nHF transformers, Llama-3.1-8B shape, H200 (DESIGN.md): ";
  for (const HfReference& r : kHfReference) {
    absl::StrAppendFormat(&out, "%s %.1f tok/s; ", r.name, r.tokens_per_s);
  }
  out += "\n";
  for (const nlohmann::json& row : j["results"]) {
    for (const HfReference& r : kHfReference) {
      const nlohmann::json& v = row["ratio_to_hf"][r.name];
      if (v.is_null()) continue;
      absl::StrAppendFormat(
          &out, "  %s batch %d: %.2fx %s\n", row["mode"].get<std::string>(),
          row["batch"].get<int64_t>(), v.get<double>(), r.name);
    }
  }
  if (!IsLlama8bShape(config_)) {
    out += "  (ratios n/a: not the Llama-3.1-8B shape)\n";
  }
  return out;
}

// The shapes one rank of TP=n computes with, as a whole model: heads, KV
// heads (replicated when fewer than n), FFN and vocabulary divided by n.
absl::StatusOr<LlamaConfig> ShardOf(LlamaConfig config, int n) {
  if (n < 1 || config.num_attention_heads % n != 0 ||
      config.intermediate_size % n != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--shard_of ", n, " does not divide the heads (",
                     config.num_attention_heads, ") and FFN (",
                     config.intermediate_size, ")"));
  }
  config.num_attention_heads /= n;
  config.num_key_value_heads =
      std::max<int64_t>(1, config.num_key_value_heads / n);
  config.intermediate_size /= n;
  config.vocab_size = (config.vocab_size + n - 1) / n;
  return config;
}

absl::StatusOr<LlamaConfig> BenchConfig(const BenchFlags& f) {
  const int shard_of = absl::GetFlag(FLAGS_shard_of);
  if (!f.preset.empty()) {
    ASSIGN_OR_RETURN(
        LlamaConfig config,
        SyntheticLlamaConfig(f.preset, absl::GetFlag(FLAGS_layers)));
    return shard_of == 1 ? config : ShardOf(config, shard_of);
  }
  if (shard_of != 1) {
    return absl::InvalidArgumentError("--shard_of needs --synthetic");
  }
  return ReadLlamaConfig(f.model_dir + "/config.json");
}

}  // namespace

int RunBench(const std::vector<std::string>& args) {
  absl::StatusOr<BenchFlags> flags = ReadFlags(args);
  if (!flags.ok()) {
    std::fprintf(
        stderr,
        "df11 bench: %s\nusage: df11 bench --backend cuda|cpu (--model DIR | "
        "--synthetic PRESET [--layers N]) --batch 1,8,32,64,128 "
        "--prompt_tokens P [--json FILE] [--modes df11,bf16,offload]\n",
        flags.status().ToString().c_str());
    return 2;
  }
  absl::StatusOr<std::unique_ptr<MpiSession>> session =
      MpiSession::Start(nullptr, nullptr);
  if (!session.ok()) {
    std::fprintf(stderr, "df11 bench: %s\n",
                 session.status().ToString().c_str());
    return 1;
  }
  const WorldConfig world = (*session)->world();
  absl::StatusOr<LlamaConfig> config = BenchConfig(*flags);
  if (!config.ok()) {
    std::fprintf(stderr, "df11 bench: %s\n",
                 config.status().ToString().c_str());
    return 1;
  }
  const std::string json_path = flags->json_path;
  Bench bench(*std::move(flags), *std::move(config), world);
  const absl::Status status = bench.Run();
  if (!status.ok()) {
    const bool timed_out = status.code() == absl::StatusCode::kDeadlineExceeded;
    if (world.is_root() || timed_out) {
      std::fprintf(stderr, "df11 bench: %s\n", status.ToString().c_str());
    }
    if (timed_out) (*session)->Abort(1);
    return 1;
  }
  if (!world.is_root()) return 0;
  std::printf("%s", bench.Table().c_str());
  if (!json_path.empty()) {
    std::ofstream out(json_path);
    out << bench.json().dump(2) << "\n";
    if (!out.good()) {
      std::fprintf(stderr, "df11 bench: cannot write %s\n", json_path.c_str());
      return 1;
    }
  }
  return 0;
}

}  // namespace df11::cli
