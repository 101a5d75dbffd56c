// LlamaEngine::Step under continuous batching, on 2 MPI ranks (mpi_gtest.sh):
// sequences that join and leave at different steps get exactly the tokens
// they get alone; KV blocks are reused and admission refuses when full; a
// rank that fails at load or in a step makes every rank return its error.
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "loader/backend/cpu/cpu_backend.h"
#include "loader/engine/generate.h"
#include "loader/engine/llama_engine.h"
#include "tests/engine/golden_fixture.h"
#include "tests/mpi_gtest/mpi_test_base.h"

namespace df11 {
namespace {

// One request of the workload: it arrives at `arrival` (a step number),
// feeds its prompt in chunks of at most `chunk` tokens, then generates.
struct Request {
  std::vector<int32_t> prompt;
  int64_t max_new = 0;
  int arrival = 0;
  int64_t chunk = 0;
  SampleRequest sample;
};

std::vector<Request> Workload(int n, int64_t vocab, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<Request> requests(n);
  for (int i = 0; i < n; ++i) {
    Request& r = requests[i];
    r.prompt.resize(1 + rng() % 12);
    for (int32_t& t : r.prompt) t = static_cast<int32_t>(rng() % vocab);
    r.max_new = 1 + rng() % 20;
    r.arrival = static_cast<int>(rng() % 30);
    r.chunk = 1 + rng() % 8;
    r.sample.sample = true;
    r.sample.stream = i;
    if (i % 2 == 1) {
      r.sample.params = {.temperature = 0.9f,
                         .top_k = 50,
                         .top_p = 0.95f,
                         .seed = 1000 + static_cast<uint64_t>(i)};
    }
    if (i % 5 == 0) r.sample.logprobs = 3;
  }
  return requests;
}

struct Output {
  std::vector<int32_t> tokens;
  std::vector<SampledToken> sampled;
};

// Runs `requests` through `engine` with continuous batching: each step takes
// the arrived requests' next prompt chunk or next token. Returns each
// request's output; the engine is empty again afterwards.
absl::StatusOr<std::vector<Output>> Serve(LlamaEngine& engine,
                                          const std::vector<Request>& requests,
                                          SequenceId first_id) {
  std::vector<Output> out(requests.size());
  std::vector<size_t> fed(requests.size(), 0);
  std::vector<bool> admitted(requests.size(), false),
      done(requests.size(), false);
  for (int step = 0;; ++step) {
    StepPlan plan;
    std::vector<size_t> which;
    for (size_t i = 0; i < requests.size(); ++i) {
      const Request& r = requests[i];
      if (done[i] || r.arrival > step) continue;
      const SequenceId id = first_id + i;
      if (!admitted[i]) {
        const absl::Status added =
            engine.AddSequence(id, r.prompt.size() + r.max_new);
        if (!added.ok()) return added;
        admitted[i] = true;
      }
      SequenceStep item;
      item.id = id;
      item.sample = r.sample;
      if (fed[i] < r.prompt.size()) {
        const size_t n = std::min<size_t>(r.chunk, r.prompt.size() - fed[i]);
        item.tokens.assign(r.prompt.begin() + fed[i],
                           r.prompt.begin() + fed[i] + n);
        fed[i] += n;
        item.sample.sample = fed[i] == r.prompt.size();
      } else {
        item.tokens = {out[i].tokens.back()};
      }
      plan.items.push_back(std::move(item));
      which.push_back(i);
    }
    const bool waiting =
        std::any_of(requests.begin(), requests.end(),
                    [&](const Request& r) { return r.arrival > step; });
    if (plan.items.empty() && !waiting) break;
    if (plan.items.empty()) continue;
    absl::StatusOr<std::vector<SequenceResult>> results = engine.Step(plan);
    if (!results.ok()) return results.status();
    for (size_t k = 0; k < which.size(); ++k) {
      if (!plan.items[k].sample.sample) continue;
      const size_t i = which[k];
      out[i].tokens.push_back((*results)[k].sampled.token);
      out[i].sampled.push_back((*results)[k].sampled);
      if (static_cast<int64_t>(out[i].tokens.size()) == requests[i].max_new) {
        done[i] = true;
        engine.RemoveSequence(first_id + i);
      }
    }
  }
  return out;
}

class StepTest : public MpiTest {
 protected:
  void SetUp() override {
    ASSERT_EQ(World().size, 2);
    auto golden = LoadGolden("gqa_llama3");
    ASSERT_TRUE(golden.ok()) << golden.status();
    golden_ = *std::move(golden);
  }

  GoldenModel golden_;
};

// 64 sequences join and leave at different steps, in chunks and one token at
// a time, greedy and seeded sampling: each gets exactly the tokens (and
// logprobs) it gets alone.
TEST_F(StepTest, ConcurrentSequencesGetTheirTokensAlone) {
  const std::vector<Request> requests =
      Workload(64, golden_.config.vocab_size, 7);
  EngineOptions options;
  options.kv_capacity_tokens = 64 * 32;
  options.max_batch_sequences = 64;
  auto engine = MakeEngineWith(golden_, WeightKind::kDf11, World(), options);
  ASSERT_TRUE(engine.ok()) << engine.status();
  auto crowd = Serve(**engine, requests, 1000);
  ASSERT_TRUE(crowd.ok()) << crowd.status();
  EXPECT_EQ((*engine)->kv_usage().used, 0);
  EXPECT_EQ((*engine)->kv_usage().reserved, 0);

  int sampled_differs = 0;
  for (size_t i = 0; i < requests.size(); ++i) {
    Request alone = requests[i];
    alone.arrival = 0;
    auto single = Serve(**engine, {alone}, 5000 + i);
    ASSERT_TRUE(single.ok()) << single.status();
    EXPECT_EQ((*single)[0].tokens, (*crowd)[i].tokens) << "request " << i;
    for (size_t t = 0; t < (*crowd)[i].sampled.size(); ++t) {
      EXPECT_EQ((*single)[0].sampled[t].logprob,
                (*crowd)[i].sampled[t].logprob);
      EXPECT_EQ((*single)[0].sampled[t].top, (*crowd)[i].sampled[t].top);
    }
    sampled_differs +=
        i % 2 == 1 && (*crowd)[i].tokens != (*crowd)[i - 1].tokens;
  }
  // The seeded half really sampled (not the argmax every time).
  EXPECT_GT(sampled_differs, 16);
}

// A long sequence and many short ones share the pool; freed blocks are
// reused; admission refuses a sequence that does not fit and changes
// nothing; the refused sequence fits once others leave.
TEST_F(StepTest, KvBlocksAreSharedFreedAndReused) {
  EngineOptions options;
  options.kv_block_tokens = 4;
  options.kv_capacity_tokens = 64;  // 16 blocks
  auto engine = MakeEngineWith(golden_, WeightKind::kHfBf16, World(), options);
  ASSERT_TRUE(engine.ok()) << engine.status();
  LlamaEngine& e = **engine;
  ASSERT_TRUE(e.AddSequence(1, 40).ok());  // 10 blocks
  for (SequenceId id = 2; id <= 7; ++id) {
    ASSERT_TRUE(e.AddSequence(id, 4).ok()) << id;  // 1 block each
  }
  const absl::Status refused = e.AddSequence(8, 5);
  EXPECT_EQ(refused.code(), absl::StatusCode::kResourceExhausted) << refused;
  EXPECT_FALSE(e.HasSequence(8));

  StepPlan plan;
  plan.items.push_back({1, std::vector<int32_t>(40, 3)});
  for (SequenceId id = 2; id <= 7; ++id) {
    plan.items.push_back(
        {id, {static_cast<int32_t>(id), 9, 11, 5}, LogitsWanted::kLast});
  }
  auto first = e.Step(plan);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(e.kv_usage().used, 16);
  EXPECT_EQ(e.Length(1), 40);

  // Sequence 2 again, alone, in blocks others used before: same logits.
  for (SequenceId id = 1; id <= 7; ++id) e.RemoveSequence(id);
  EXPECT_EQ(e.kv_usage().used, 0);
  ASSERT_TRUE(e.AddSequence(8, 40).ok());
  ASSERT_TRUE(e.Step({{{8, std::vector<int32_t>(40, 7)}}}).ok());
  ASSERT_TRUE(e.AddSequence(2, 4).ok());
  auto again = e.Step({{{2, {2, 9, 11, 5}, LogitsWanted::kLast}}});
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ((*again)[0].logits, (*first)[1].logits);
}

// Wraps the real CPU backend and, on one rank at one step, fails an op in
// the middle of the forward pass (as a device error would).
class FaultyBackend : public Backend {
 public:
  FaultyBackend(std::unique_ptr<Backend> inner, int fail_rank, int fail_step)
      : inner_(std::move(inner)),
        fail_rank_(fail_rank),
        fail_step_(fail_step) {}

  const WorldConfig& world() const override { return inner_->world(); }
  Dtype activation_dtype() const override { return inner_->activation_dtype(); }
  Dtype kv_dtype() const override { return inner_->kv_dtype(); }
  absl::Status Prepare(const BackendModel& m, const BackendLimits& l) override {
    return inner_->Prepare(m, l);
  }
  BackendMemory memory() const override { return inner_->memory(); }
  absl::StatusOr<Buffer> Allocate(size_t bytes) override {
    return inner_->Allocate(bytes);
  }
  absl::Status CopyFromHost(const void* h, size_t n, void* d) override {
    return inner_->CopyFromHost(h, n, d);
  }
  absl::Status CopyToHost(const void* s, size_t n, void* h) override {
    return inner_->CopyToHost(s, n, h);
  }
  void Copy(const void* s, size_t n, void* d) override {
    inner_->Copy(s, n, d);
  }
  absl::StatusOr<std::unique_ptr<WeightStore>> LoadWeights(
      const WeightSource& source,
      const std::vector<WeightGroup>& groups) override {
    return inner_->LoadWeights(source, groups);
  }
  StepShape BeginStep(const StepBatch& batch) override {
    fault_ = absl::OkStatus();
    return inner_->BeginStep(batch);
  }
  absl::Status EndStep(std::vector<SampledToken>* sampled) override {
    const absl::Status inner = inner_->EndStep(sampled);
    ++step_;
    return fault_.ok() ? inner : fault_;
  }
  void Embed(const uint16_t* t, int64_t rows, void* x) override {
    inner_->Embed(t, rows, x);
  }
  void RmsNorm(const void* x, const uint16_t* w, int64_t n, int64_t d,
               void* o) override {
    inner_->RmsNorm(x, w, n, d, o);
  }
  void MatMul(const void* x, const uint16_t* w, int64_t n, int64_t i, int64_t o,
              void* y) override {
    inner_->MatMul(x, w, n, i, o, y);
  }
  void MatMulToFloat(const void* x, const uint16_t* w, int64_t n, int64_t i,
                     int64_t o, float* y) override {
    inner_->MatMulToFloat(x, w, n, i, o, y);
  }
  void Rope(void* qkv, int64_t rows) override { inner_->Rope(qkv, rows); }
  void StoreKv(const void* qkv, int64_t layer, int64_t rows) override {
    inner_->StoreKv(qkv, layer, rows);
  }
  void Attention(const void* qkv, int64_t layer, int64_t rows,
                 void* out) override {
    if (world().rank == fail_rank_ && step_ == fail_step_ && layer == 1) {
      fault_ = absl::InternalError("injected fault in layer 1 attention");
    }
    inner_->Attention(qkv, layer, rows, out);
  }
  void SiluMul(const void* g, int64_t n, int64_t w, void* o) override {
    inner_->SiluMul(g, n, w, o);
  }
  void Add(void* x, const void* y, int64_t n) override { inner_->Add(x, y, n); }
  void GatherLogitRows(const void* x, int64_t f, int64_t n, int64_t d,
                       void* o) override {
    inner_->GatherLogitRows(x, f, n, d, o);
  }
  void Sample(const float* l, int64_t f, int64_t n) override {
    inner_->Sample(l, f, n);
  }
  void AllReduceSum(void* x, int64_t n) override { inner_->AllReduceSum(x, n); }
  void AllGather(const float* in, int64_t n, float* out) override {
    inner_->AllGather(in, n, out);
  }

 private:
  std::unique_ptr<Backend> inner_;
  int fail_rank_;
  int fail_step_;
  int step_ = 0;
  absl::Status fault_;
};

// Rank 1 fails in the middle of step 2. Both ranks return rank 1's error
// within seconds, the sequence is unchanged, and a retry of the same step
// gives the tokens of a run without the fault.
TEST_F(StepTest, ARankFailingInAStepFailsTheStepOnEveryRank) {
  auto source =
      OpenHfWeightSource(golden_.dir, golden_.config, 2, World().rank);
  ASSERT_TRUE(source.ok()) << source.status();
  auto faulty = LlamaEngine::Create(
      golden_.config, **source,
      std::make_unique<FaultyBackend>(std::make_unique<CpuBackend>(World(), 1),
                                      /*fail_rank=*/1,
                                      /*fail_step=*/2),
      {});
  ASSERT_TRUE(faulty.ok()) << faulty.status();
  auto clean = MakeEngine(golden_, WeightKind::kHfBf16, World(), 1);
  ASSERT_TRUE(clean.ok()) << clean.status();

  std::vector<int32_t> tokens[2];
  LlamaEngine* engines[2] = {faulty->get(), clean->get()};
  for (int e = 0; e < 2; ++e) {
    ASSERT_TRUE(engines[e]->AddSequence(1, 20).ok());
    SequenceStep item{1, golden_.prompts[1]};
    item.sample.sample = true;
    for (int step = 0; step < 5; ++step) {
      const auto start = std::chrono::steady_clock::now();
      auto result = engines[e]->Step({{item}});
      const double seconds = std::chrono::duration<double>(
                                 std::chrono::steady_clock::now() - start)
                                 .count();
      if (e == 0 && step == 2) {
        ASSERT_FALSE(result.ok());
        EXPECT_EQ(result.status().code(), absl::StatusCode::kInternal);
        EXPECT_EQ(result.status().message(),
                  "rank 1: injected fault in layer 1 attention");
        EXPECT_LT(seconds, 10.0);
        EXPECT_EQ(engines[e]->Length(1),
                  static_cast<int64_t>(golden_.prompts[1].size()) + 1);
        result = engines[e]->Step({{item}});  // the retry
      }
      ASSERT_TRUE(result.ok()) << result.status();
      tokens[e].push_back((*result)[0].sampled.token);
      item.tokens = {tokens[e].back()};
    }
  }
  EXPECT_EQ(tokens[0], tokens[1]);
}

// Rank 1's rank file is corrupted: rank 1 fails to load, rank 0 loads fine,
// and both return rank 1's DataLoss naming the file.
TEST_F(StepTest, ARankFailingAtLoadFailsEveryRank) {
  // Each rank makes its own copy; only rank 1's copy of rank-01 is bad.
  auto dir =
      CompressedDir(golden_, 2, absl::StrCat("_load_rank", World().rank));
  ASSERT_TRUE(dir.ok()) << dir.status();
  if (World().rank == 1) {
    std::fstream f(*dir + "/rank-01.safetensors",
                   std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(-64, std::ios::end);
    char byte = 0;
    f.read(&byte, 1);
    byte ^= 0x21;
    f.seekp(-64, std::ios::end);
    f.write(&byte, 1);
  }
  const auto start = std::chrono::steady_clock::now();
  auto source = OpenDf11WeightSource(*dir, World().rank);
  ASSERT_TRUE(source.ok()) << source.status();
  auto engine = LlamaEngine::Create(
      golden_.config, **source, std::make_unique<CpuBackend>(World(), 1), {});
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  ASSERT_FALSE(engine.ok());
  EXPECT_EQ(engine.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(engine.status().message().find("rank 1: "), std::string::npos)
      << engine.status();
  EXPECT_NE(engine.status().message().find("rank-01.safetensors"),
            std::string::npos)
      << engine.status();
  EXPECT_LT(seconds, 10.0);
}

// A bad plan is refused on every rank alike, before anything runs.
TEST_F(StepTest, BadPlansAreRefusedAndChangeNothing) {
  EngineOptions options;
  options.max_batch_tokens = 8;
  options.max_batch_sequences = 2;
  auto engine = MakeEngineWith(golden_, WeightKind::kHfBf16, World(), options);
  ASSERT_TRUE(engine.ok()) << engine.status();
  LlamaEngine& e = **engine;
  ASSERT_TRUE(e.AddSequence(1, 10).ok());
  ASSERT_TRUE(e.AddSequence(2, 10).ok());
  ASSERT_TRUE(e.AddSequence(3, 10).ok());
  SequenceStep bad_sampling{1, {1, 2}};
  bad_sampling.sample.sample = true;
  bad_sampling.sample.params.top_p = 2;
  const struct {
    StepPlan plan;
    const char* message;
  } cases[] = {
      {{{{1, std::vector<int32_t>(9, 1)}}}, "more than max_batch_tokens 8"},
      {{{{1, {1}}, {2, {1}}, {3, {1}}}}, "more than max_batch_sequences 2"},
      {{{{1, std::vector<int32_t>(8, 1)}, {2, {1}}}}, "9 tokens"},
      {{{{1, {1, 2}}, {1, {3}}}}, "in the batch twice"},
      {{{{9, {1}}}}, "not a live sequence"},
      {{{bad_sampling}}, "top_p 2 must be in (0, 1]"},
  };
  for (const auto& c : cases) {
    auto result = e.Step(c.plan);
    ASSERT_FALSE(result.ok()) << c.message;
    EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(result.status().message().find(c.message), std::string::npos)
        << result.status();
    EXPECT_EQ(e.Length(1), 0);
    EXPECT_EQ(e.kv_usage().used, 0);
  }
  ASSERT_TRUE(e.AddSequence(4, 3).ok());
  auto over = e.Step({{{4, {1, 2, 3, 4}}}});
  EXPECT_NE(over.status().message().find(
                "would hold 4 tokens, more than the 3 it was admitted with"),
            std::string::npos)
      << over.status();
}

}  // namespace
}  // namespace df11
