// The scheduler without gRPC, MPI or an engine: plans are applied to a real
// KvCacheManager (the engine's KV bookkeeping) and each sampled token is a
// fixed function of the sequence, so every plan and update can be checked.
// Also the request checks (request.h) and the streamed text (output_text.h)
// with a tokenizer from tests/tokenizer/testdata.
#include "loader/serve/scheduler.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "loader/engine/kv_cache_manager.h"
#include "loader/serve/output_text.h"
#include "loader/serve/request.h"
#include "loader/tokenizer/tokenizer.h"

namespace df11::serve {
namespace {

const tokenizer::Tokenizer& TestTokenizer() {
  static const tokenizer::Tokenizer* tok = [] {
    auto t = tokenizer::Tokenizer::FromFile(
        "tests/tokenizer/testdata/llama3_style.json");
    if (!t.ok()) {
      ADD_FAILURE() << t.status();
      std::abort();
    }
    return new tokenizer::Tokenizer(*std::move(t));
  }();
  return *tok;
}

std::vector<int32_t> Encode(const std::string& text) {
  tokenizer::EncodeOptions options;
  options.add_special_tokens = false;
  auto ids = TestTokenizer().Encode(text, options);
  EXPECT_TRUE(ids.ok()) << ids.status();
  return *ids;
}

// ---------------------------------------------------------------- OutputText

struct TextCase {
  std::string name;
  std::string text;
  std::vector<std::string> stop;
  std::string want;
  bool stopped;
};

class OutputTextTest : public ::testing::TestWithParam<TextCase> {};

TEST_P(OutputTextTest, DeltasJoinToTheTextCutAtTheStop) {
  const TextCase& c = GetParam();
  OutputText out(&TestTokenizer(), c.stop);
  std::string got;
  bool stopped = false;
  for (int32_t id : Encode(c.text)) {
    const std::string delta = out.Add(id, &stopped);
    got += delta;
    // What was sent never holds a stop string.
    for (const std::string& s : c.stop) {
      EXPECT_EQ(got.find(s), std::string::npos) << got;
    }
    if (stopped) break;
  }
  if (!stopped) got += out.Finish();
  EXPECT_EQ(got, c.want);
  EXPECT_EQ(stopped, c.stopped);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, OutputTextTest,
    ::testing::Values(TextCase{"NoStop",
                               "Hello world, this is a test.",
                               {},
                               "Hello world, this is a test.",
                               false},
                      TextCase{"StopInside",
                               "Hello world, this is a test.",
                               {"is a"},
                               "Hello world, this ",
                               true},
                      TextCase{"StopAcrossTokens",
                               "Hello world, this is a test.",
                               {"world, th"},
                               "Hello ",
                               true},
                      TextCase{"EarliestOfTwo",
                               "Hello world, this is a test.",
                               {"test", "world"},
                               "Hello ",
                               true},
                      TextCase{"StopAtStart", "Hello world", {"Hel"}, "", true},
                      TextCase{"PrefixHeldThenReleased",
                               "Hello world",
                               {"world!"},
                               "Hello world",
                               false},
                      TextCase{"MultiByte",
                               "h\xC3\xA9llo w\xC3\xB6rld \xE2\x98\x83 ok",
                               {"\xE2\x98\x83"},
                               "h\xC3\xA9llo w\xC3\xB6rld ",
                               true},
                      TextCase{"MultiByteNoStop",
                               "caf\xC3\xA9 \xE2\x98\x83\xE2\x98\x83",
                               {"zz"},
                               "caf\xC3\xA9 \xE2\x98\x83\xE2\x98\x83",
                               false}),
    [](const auto& info) { return info.param.name; });

TEST(OutputTextTest, WithoutATokenizerTextIsEmpty) {
  OutputText out(nullptr, {});
  bool stopped = true;
  EXPECT_EQ(out.Add(5, &stopped), "");
  EXPECT_FALSE(stopped);
  EXPECT_EQ(out.Finish(), "");
}

TEST(OutputTextTest, SpecialTokensAddNoText) {
  OutputText out(&TestTokenizer(), {});
  bool stopped = false;
  std::string got = out.Add(0, &stopped);  // <|begin_of_text|>
  for (int32_t id : Encode("Hi")) got += out.Add(id, &stopped);
  got += out.Add(2, &stopped);  // <|eot_id|>
  got += out.Finish();
  EXPECT_EQ(got, "Hi");
}

// ------------------------------------------------------------ request checks

RequestLimits Limits() {
  RequestLimits l;
  l.vocab_size = 1000;
  l.max_context = 64;
  l.eos_ids = {2};
  l.default_max_new_tokens = 16;
  l.max_forward_logits = 10000;
  return l;
}

struct BadGenerate {
  std::string name;
  GenerateInput input;
  absl::StatusCode code;
  bool with_tokenizer = true;
};

GenerateInput Ids(std::vector<int32_t> ids) {
  GenerateInput in;
  in.token_ids = std::move(ids);
  return in;
}

template <typename F>
GenerateInput With(F change) {
  GenerateInput in = Ids({5, 6, 7});
  change(in);
  return in;
}

class ResolveGenerateTest : public ::testing::TestWithParam<BadGenerate> {};

TEST_P(ResolveGenerateTest, RefusesWithTheCode) {
  const BadGenerate& c = GetParam();
  auto got = ResolveGenerate(c.input, Limits(),
                             c.with_tokenizer ? &TestTokenizer() : nullptr, 1);
  EXPECT_EQ(got.status().code(), c.code) << got.status();
  EXPECT_FALSE(got.status().message().empty());
}

const auto kInvalid = absl::StatusCode::kInvalidArgument;

INSTANTIATE_TEST_SUITE_P(
    Fields, ResolveGenerateTest,
    ::testing::Values(
        BadGenerate{"TextAndIds",
                    With([](GenerateInput& in) { in.text = "hi"; }), kInvalid},
        BadGenerate{"EmptyPrompt", Ids({}), kInvalid},
        BadGenerate{"IdTooLarge", Ids({5, 1000}), kInvalid},
        BadGenerate{"IdNegative", Ids({-1}), kInvalid},
        BadGenerate{"PromptFillsContext", Ids(std::vector<int32_t>(64, 3)),
                    kInvalid},
        BadGenerate{"PromptPlusMaxNewTooLong",
                    With([](GenerateInput& in) { in.max_new_tokens = 62; }),
                    kInvalid},
        BadGenerate{"MaxNewZero",
                    With([](GenerateInput& in) { in.max_new_tokens = 0; }),
                    kInvalid},
        BadGenerate{"NegativeTemperature",
                    With([](GenerateInput& in) { in.temperature = -0.5f; }),
                    kInvalid},
        BadGenerate{"NanTemperature", With([](GenerateInput& in) {
                      in.temperature = std::numeric_limits<float>::quiet_NaN();
                    }),
                    kInvalid},
        BadGenerate{"TopPZero", With([](GenerateInput& in) { in.top_p = 0; }),
                    kInvalid},
        BadGenerate{"TopPAboveOne",
                    With([](GenerateInput& in) { in.top_p = 1.5f; }), kInvalid},
        BadGenerate{"TopKNegative",
                    With([](GenerateInput& in) { in.top_k = -1; }), kInvalid},
        BadGenerate{"TooManyLogprobs",
                    With([](GenerateInput& in) { in.logprobs = 21; }),
                    kInvalid},
        BadGenerate{"EmptyStop",
                    With([](GenerateInput& in) { in.stop = {""}; }), kInvalid},
        BadGenerate{"LongStop", With([](GenerateInput& in) {
                      in.stop = {std::string(300, 'x')};
                    }),
                    kInvalid},
        BadGenerate{"TooManyStops", With([](GenerateInput& in) {
                      in.stop = std::vector<std::string>(17, "x");
                    }),
                    kInvalid},
        BadGenerate{"StopTokenOutOfRange",
                    With([](GenerateInput& in) { in.stop_token_ids = {1000}; }),
                    kInvalid},
        BadGenerate{"LongRequestId", With([](GenerateInput& in) {
                      in.request_id = std::string(300, 'r');
                    }),
                    kInvalid},
        BadGenerate{"NotUtf8", GenerateInput{.text = std::string("a\xff")},
                    kInvalid},
        BadGenerate{"TextWithoutTokenizer", GenerateInput{.text = "hi"},
                    absl::StatusCode::kFailedPrecondition, false},
        BadGenerate{"StopWithoutTokenizer",
                    With([](GenerateInput& in) { in.stop = {"x"}; }),
                    absl::StatusCode::kFailedPrecondition, false}),
    [](const auto& info) { return info.param.name; });

TEST(ResolveGenerateTest, FillsDefaults) {
  auto p = ResolveGenerate(Ids({5, 6, 7}), Limits(), nullptr, 99);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->max_new_tokens, 16);
  EXPECT_EQ(p->sampling.temperature, 0.0f);
  EXPECT_EQ(p->sampling.top_p, 1.0f);
  EXPECT_EQ(p->sampling.seed, 99u);
  EXPECT_EQ(p->logprobs, -1);
  EXPECT_EQ(p->end_ids, std::vector<int32_t>({2}));

  // The default length is capped by the context.
  auto capped =
      ResolveGenerate(Ids(std::vector<int32_t>(60, 3)), Limits(), nullptr, 1);
  ASSERT_TRUE(capped.ok()) << capped.status();
  EXPECT_EQ(capped->max_new_tokens, 4);

  GenerateInput in = Ids({5});
  in.ignore_eos = true;
  in.stop_token_ids = {9};
  in.seed = 0;
  auto no_eos = ResolveGenerate(in, Limits(), nullptr, 99);
  ASSERT_TRUE(no_eos.ok());
  EXPECT_EQ(no_eos->end_ids, std::vector<int32_t>({9}));
  EXPECT_EQ(no_eos->sampling.seed, 0u);  // 0 is a seed, not "unset"
}

TEST(ResolveGenerateTest, EncodesTextAsHfDoes) {
  GenerateInput in;
  in.text.emplace("Hello world");
  auto with_bos = ResolveGenerate(in, Limits(), &TestTokenizer(), 1);
  ASSERT_TRUE(with_bos.ok()) << with_bos.status();
  // tests/tokenizer/testdata/llama3_style.cases.json, from HF tokenizers.
  EXPECT_EQ(with_bos->prompt,
            std::vector<int32_t>({0, 42, 71, 302, 81, 342, 272, 78, 70}));
  in.add_special_tokens = false;
  auto without = ResolveGenerate(in, Limits(), &TestTokenizer(), 1);
  ASSERT_TRUE(without.ok());
  EXPECT_EQ(without->prompt,
            std::vector<int32_t>({42, 71, 302, 81, 342, 272, 78, 70}));
}

struct BadForward {
  std::string name;
  ForwardInput input;
};

class ResolveForwardTest : public ::testing::TestWithParam<BadForward> {};

TEST_P(ResolveForwardTest, RefusesWithInvalidArgument) {
  auto got = ResolveForward(GetParam().input, Limits());
  EXPECT_EQ(got.status().code(), kInvalid) << got.status();
}

INSTANTIATE_TEST_SUITE_P(
    Fields, ResolveForwardTest,
    ::testing::Values(
        BadForward{"Empty", {}}, BadForward{"IdOutOfRange", {{1, 1000}}},
        BadForward{"LongerThanContext", {std::vector<int32_t>(65, 1)}},
        BadForward{"TopLogprobsZero", {{1}, false, 0}},
        BadForward{"TopLogprobsTooMany", {{1}, false, 21}},
        BadForward{"TooManyLogits", {std::vector<int32_t>(11, 1), true}}),
    [](const auto& info) { return info.param.name; });

// ----------------------------------------------------------------- scheduler

// Applies plans to a real KvCacheManager, as every rank's engine would;
// the token drawn for a sequence is model(its length after the step),
// 100 + length unless given.
class Harness {
 public:
  explicit Harness(SchedulerOptions options,
                   std::function<int32_t(int64_t)> model = nullptr)
      : model_(
            model
                ? model
                : [](int64_t
                         length) { return static_cast<int32_t>(100 + length); }),
        options_(options),
        kv_(options.kv_capacity_tokens / options.kv_block_tokens,
            options.kv_block_tokens),
        scheduler_(options) {}

  Scheduler& scheduler() { return scheduler_; }
  KvCacheManager& kv() { return kv_; }

  SequenceId Submit(std::vector<int32_t> prompt, int64_t max_new,
                    std::vector<int32_t> end_ids = {},
                    std::vector<std::string> stop = {}) {
    GenerateParams p;
    p.prompt = std::move(prompt);
    p.max_new_tokens = max_new;
    p.end_ids = std::move(end_ids);
    p.stop = std::move(stop);
    auto id = scheduler_.SubmitGenerate(
        std::move(p), [this, n = next_](RequestUpdate u) { Record(n, u); },
        absl::Now());
    EXPECT_TRUE(id.ok()) << id.status();
    names_[*id] = next_++;
    return *id;
  }

  // One step: the plan, applied; `fail` makes the step fail.
  ServePlan Step(absl::Status fail = absl::OkStatus()) {
    ServePlan plan = scheduler_.NextPlan(kv_.usage(), absl::Now());
    AppliedPlan applied;
    for (SequenceId id : plan.remove) kv_.Remove(id);
    for (const Admission& a : plan.add) {
      applied.admitted.push_back(kv_.Add(a.id, a.max_tokens));
    }
    for (const SequenceStep& item : plan.step.items) {
      SequenceResult r;
      if (!fail.ok()) {
        applied.item_status.push_back(fail);
        applied.results.push_back(r);
        continue;
      }
      const int64_t length = kv_.Length(item.id) + item.tokens.size();
      EXPECT_LE(length, kv_.MaxTokens(item.id));
      kv_.Grow(item.id, length);
      kv_.SetLength(item.id, length);
      if (item.sample.sample) r.sampled.token = model_(length);
      if (item.logits != LogitsWanted::kNone) {
        const size_t rows =
            item.logits == LogitsWanted::kAll ? item.tokens.size() : 1;
        for (size_t i = 0; i < rows; ++i) {
          r.logits.push_back(static_cast<float>(length - rows + 1 + i));
        }
      }
      applied.item_status.push_back(absl::OkStatus());
      applied.results.push_back(r);
    }
    applied.step = fail;
    scheduler_.Complete(plan, applied, absl::Now());
    for (Delivery& d : scheduler_.TakeDeliveries()) d.sink(d.update);
    return plan;
  }

  // Hands out the updates made outside a step (Cancel, FailAll).
  void Flush() {
    for (Delivery& d : scheduler_.TakeDeliveries()) d.sink(d.update);
  }

  void Drive(int max_steps = 1000) {
    for (int i = 0; i < max_steps && scheduler_.HasWork(); ++i) Step();
    EXPECT_FALSE(scheduler_.HasWork());
  }

  // What request n (in Submit order) received.
  struct Received {
    std::vector<int32_t> tokens;
    std::string text;
    bool final = false;
    int updates_after_final = 0;
    RequestUpdate last;
  };
  Received& got(int n) { return received_[n]; }

 private:
  void Record(int n, const RequestUpdate& u) {
    Received& r = received_[n];
    if (r.final) ++r.updates_after_final;
    r.tokens.insert(r.tokens.end(), u.tokens.begin(), u.tokens.end());
    r.text += u.text;
    r.final = u.final;
    r.last = u;
  }

  std::function<int32_t(int64_t)> model_;
  SchedulerOptions options_;
  KvCacheManager kv_;
  Scheduler scheduler_;
  int next_ = 0;
  std::map<SequenceId, int> names_;
  std::map<int, Received> received_;
};

SchedulerOptions Options() {
  SchedulerOptions o;
  o.max_batch_tokens = 8;
  o.max_batch_sequences = 4;
  o.kv_capacity_tokens = 64;
  o.kv_block_tokens = 4;
  o.max_queue = 3;
  return o;
}

TEST(SchedulerTest, ValidatesOptions) {
  EXPECT_TRUE(ValidateSchedulerOptions(Options()).ok());
  SchedulerOptions o = Options();
  o.max_batch_sequences = 9;  // more sequences than tokens per step
  EXPECT_EQ(ValidateSchedulerOptions(o).code(), kInvalid);
  o = Options();
  o.kv_capacity_tokens = 0;
  EXPECT_EQ(ValidateSchedulerOptions(o).code(), kInvalid);
}

TEST(SchedulerTest, GeneratesUntilLengthAndFreesTheBlocks) {
  Harness h(Options());
  h.Submit({1, 2, 3}, 4);
  h.Drive();
  // Tokens: 100 + length after each step: 3 (prompt), then 4, 5, 6.
  EXPECT_EQ(h.got(0).tokens, std::vector<int32_t>({103, 104, 105, 106}));
  EXPECT_TRUE(h.got(0).final);
  EXPECT_EQ(h.got(0).last.finish, FinishReason::kLength);
  EXPECT_EQ(h.got(0).last.prompt_tokens, 3);
  EXPECT_EQ(h.got(0).last.completion_tokens, 4);
  EXPECT_EQ(h.kv().usage().reserved, 0);
  EXPECT_EQ(h.kv().usage().sequences, 0);
}

TEST(SchedulerTest, StopsOnAnEndIdAndReturnsIt) {
  Harness h(Options());
  h.Submit({1, 2, 3}, 10, /*end_ids=*/{105});
  h.Drive();
  EXPECT_EQ(h.got(0).tokens, std::vector<int32_t>({103, 104, 105}));
  EXPECT_EQ(h.got(0).last.finish, FinishReason::kEos);
  EXPECT_EQ(h.got(0).updates_after_final, 0);
}

TEST(SchedulerTest, StopsOnAStopStringCutFromTheText) {
  SchedulerOptions o = Options();
  o.tokenizer = &TestTokenizer();
  // The model says " one two three four five six", a token per step.
  const std::vector<int32_t> script = Encode(" one two three four five six");
  const std::vector<int32_t> three = Encode(" one two three");
  Harness h(o, [&](int64_t length) { return script[length - 3]; });
  h.Submit({1, 2, 3}, 20, {}, {" three", "six"});
  h.Drive();
  EXPECT_EQ(h.got(0).last.finish, FinishReason::kStop);
  // Every token up to the one that completed the stop string; its text
  // only up to the stop string.
  EXPECT_EQ(h.got(0).tokens, three);
  EXPECT_EQ(h.got(0).text, " one two");
}

TEST(SchedulerTest, ChunksPromptsWithinTheStepBudgetDecodesFirst) {
  Harness h(Options());  // 8 tokens per step
  h.Submit({1, 2}, 5);
  h.Step();  // admits request 0, prompt of 2
  h.Submit(std::vector<int32_t>(20, 7), 2);
  const ServePlan a = h.Step();
  // Request 0 decodes first (1 token), then request 1's first chunk.
  ASSERT_EQ(a.step.items.size(), 2u);
  EXPECT_EQ(a.step.items[0].tokens.size(), 1u);
  EXPECT_TRUE(a.step.items[0].sample.sample);
  EXPECT_EQ(a.step.items[1].tokens.size(), 7u);
  EXPECT_FALSE(a.step.items[1].sample.sample);
  const ServePlan b = h.Step();
  ASSERT_EQ(b.step.items.size(), 2u);
  EXPECT_EQ(b.step.items[1].tokens.size(), 7u);
  const ServePlan c = h.Step();
  ASSERT_EQ(c.step.items.size(), 2u);
  EXPECT_EQ(c.step.items[1].tokens.size(), 6u);
  EXPECT_TRUE(c.step.items[1].sample.sample);  // the last chunk samples
  h.Drive();
  EXPECT_EQ(h.got(1).tokens, std::vector<int32_t>({120, 121}));
}

TEST(SchedulerTest, AdmitsWhileKvFitsFirstComeFirstServed) {
  SchedulerOptions o = Options();
  o.max_queue = 10;
  Harness h(o);                              // 64 KV tokens
  h.Submit(std::vector<int32_t>(4, 1), 28);  // 32 tokens: 8 blocks
  h.Submit(std::vector<int32_t>(4, 1), 28);  // 32
  h.Submit(std::vector<int32_t>(4, 1), 12);  // 16: must wait behind...
  h.Submit(std::vector<int32_t>(2, 1), 2);   // 4: ...and so must this
  const ServePlan first = h.Step();
  EXPECT_EQ(first.add.size(), 2u);
  EXPECT_EQ(h.scheduler().running(), 2);
  EXPECT_EQ(h.scheduler().waiting(), 2);
  EXPECT_EQ(h.kv().usage().free_tokens(), 0);
  // Nothing else is admitted until a running request leaves.
  for (int i = 0; i < 26; ++i) EXPECT_TRUE(h.Step().add.empty());
  const ServePlan freed = h.Step();  // both finish (28 tokens each)
  EXPECT_TRUE(freed.add.empty());
  const ServePlan next = h.Step();
  EXPECT_EQ(next.remove.size(), 2u);  // removed first, so both fit now
  EXPECT_EQ(next.add.size(), 2u);
  h.Drive();
  for (int n = 0; n < 4; ++n) EXPECT_TRUE(h.got(n).final) << n;
}

TEST(SchedulerTest, RefusesWhenTheQueueIsFullOrTheCacheTooSmall) {
  SchedulerOptions o = Options();  // 4 sequence slots, queue of 3
  o.kv_capacity_tokens = 256;
  Harness h(o);
  GenerateParams p;
  p.prompt = {1};
  p.max_new_tokens = 30;
  const auto submit = [&] {
    return h.scheduler()
        .SubmitGenerate(
            p, [](RequestUpdate) {}, absl::Now())
        .status()
        .code();
  };
  // A burst: 4 will take the free slots, 3 may wait.
  for (int i = 0; i < 7; ++i) EXPECT_EQ(submit(), absl::StatusCode::kOk) << i;
  EXPECT_EQ(submit(), absl::StatusCode::kResourceExhausted);
  h.Step();  // 4 run, 3 wait: still full
  EXPECT_EQ(h.scheduler().running(), 4);
  EXPECT_EQ(h.scheduler().waiting(), 3);
  EXPECT_EQ(submit(), absl::StatusCode::kResourceExhausted);
  h.scheduler().Cancel(1, absl::Now());        // the first request, running
  EXPECT_EQ(submit(), absl::StatusCode::kOk);  // a slot is free again
  p.max_new_tokens = 256;  // 257 tokens: more than the cache holds
  EXPECT_EQ(submit(), absl::StatusCode::kResourceExhausted);
}

TEST(SchedulerTest, CancelFreesBlocksAtTheNextPlan) {
  Harness h(Options());
  const SequenceId running = h.Submit({1, 2, 3}, 20);
  h.Step();
  EXPECT_GT(h.kv().usage().reserved, 0);
  h.scheduler().Cancel(running, absl::Now());
  h.Flush();
  EXPECT_TRUE(h.got(0).final);
  EXPECT_EQ(h.got(0).last.finish, FinishReason::kCancelled);
  EXPECT_EQ(h.got(0).last.completion_tokens, 1);
  const ServePlan next = h.Step();
  EXPECT_EQ(next.remove, std::vector<SequenceId>({running}));
  EXPECT_TRUE(next.step.items.empty());
  EXPECT_EQ(h.kv().usage().reserved, 0);
  EXPECT_FALSE(h.scheduler().HasWork());
  EXPECT_EQ(h.got(0).updates_after_final, 0);
}

TEST(SchedulerTest, CancelOfAWaitingRequestNeverAdmitsIt) {
  Harness h(Options());
  const SequenceId waiting = h.Submit({1}, 2);
  h.scheduler().Cancel(waiting, absl::Now());
  h.Flush();
  EXPECT_EQ(h.got(0).last.finish, FinishReason::kCancelled);
  EXPECT_FALSE(h.scheduler().HasWork());
  EXPECT_TRUE(h.Step().empty());
}

TEST(SchedulerTest, CancelDuringAStepDropsItsResult) {
  Harness h(Options());
  const SequenceId id = h.Submit({1, 2}, 5);
  ServePlan plan = h.scheduler().NextPlan(h.kv().usage(), absl::Now());
  h.scheduler().Cancel(id, absl::Now());  // while the step "runs"
  AppliedPlan applied;
  applied.admitted = {absl::OkStatus()};
  applied.item_status = {absl::OkStatus()};
  applied.results.resize(1);
  applied.results[0].sampled.token = 7;
  h.scheduler().Complete(plan, applied, absl::Now());
  std::vector<Delivery> d = h.scheduler().TakeDeliveries();
  ASSERT_EQ(d.size(), 1u);  // the cancellation only
  EXPECT_EQ(d[0].update.finish, FinishReason::kCancelled);
  EXPECT_EQ(h.scheduler().NextPlan(h.kv().usage(), absl::Now()).remove,
            std::vector<SequenceId>({id}));
}

TEST(SchedulerTest, AFailedStepFailsItsRequestsOnly) {
  Harness h(Options());
  h.Submit({1, 2}, 5);
  h.Step(absl::InternalError("device error"));
  EXPECT_TRUE(h.got(0).final);
  EXPECT_EQ(h.got(0).last.error.code(), absl::StatusCode::kInternal);
  // Its sequence goes; a new request runs normally.
  h.Submit({1, 2}, 2);
  const ServePlan next = h.Step();
  EXPECT_EQ(next.remove.size(), 1u);
  h.Drive();
  EXPECT_EQ(h.got(1).tokens, std::vector<int32_t>({102, 103}));
  EXPECT_EQ(h.kv().usage().reserved, 0);
}

TEST(SchedulerTest, FailAllAndCancelAllEndEveryRequest) {
  Harness h(Options());
  h.Submit({1}, 5);
  h.Submit({1}, 5);
  h.Step();
  h.Submit({1}, 5);
  h.scheduler().FailAll(absl::UnavailableError("rank lost"), absl::Now());
  h.Flush();
  for (int n = 0; n < 3; ++n) {
    EXPECT_EQ(h.got(n).last.error.code(), absl::StatusCode::kUnavailable);
  }
  h.Submit({1}, 5);
  h.scheduler().CancelAll(absl::Now());
  h.Flush();
  EXPECT_EQ(h.got(3).last.finish, FinishReason::kCancelled);
  h.Step();  // the removes
  EXPECT_FALSE(h.scheduler().HasWork());
}

TEST(SchedulerTest, ForwardReturnsTheLogitsOfEveryChunk) {
  Harness h(Options());  // 8 tokens per step
  std::vector<float> all, last;
  ForwardParams p;
  p.tokens = std::vector<int32_t>(19, 4);
  p.all_positions = true;
  ASSERT_TRUE(h.scheduler()
                  .SubmitForward(
                      p, [&](RequestUpdate u) { all = u.logits; }, absl::Now())
                  .ok());
  p.all_positions = false;
  ASSERT_TRUE(h.scheduler()
                  .SubmitForward(
                      p, [&](RequestUpdate u) { last = u.logits; }, absl::Now())
                  .ok());
  h.Drive();
  // The fake logits are each row's position + 1.
  std::vector<float> want(19);
  for (int i = 0; i < 19; ++i) want[i] = i + 1;
  EXPECT_EQ(all, want);
  EXPECT_EQ(last, std::vector<float>({19}));
  EXPECT_EQ(h.kv().usage().sequences, 0);
}

TEST(SchedulerTest, RequestsGetTheSameTokensAloneAndInACrowd) {
  // Draws are keyed by seed and stream 0, never by batch place: the plan
  // item of a request is the same whoever else runs.
  Harness alone(Options());
  alone.Submit({5, 6, 7}, 6);
  const ServePlan a = alone.Step();
  Harness crowd(Options());
  crowd.Submit({9}, 6);
  crowd.Submit({1, 1}, 6);
  crowd.Step();
  crowd.Submit({5, 6, 7}, 6);
  const ServePlan c = crowd.Step();
  const SequenceStep& x = a.step.items[0];
  const SequenceStep& y = c.step.items.back();
  EXPECT_EQ(x.tokens, y.tokens);
  EXPECT_EQ(x.sample.stream, y.sample.stream);
  EXPECT_EQ(x.sample.params.seed, y.sample.params.seed);
}

}  // namespace
}  // namespace df11::serve
