// df11d end to end: real `mpirun -np 2` jobs on the CPU backend, a real gRPC
// server on loopback, a synthetic DF11 model with an HF tokenizer.
//
//   - a streamed Generate equals the offline engine (`df11 run` under the
//     same mpirun) for the same seed, from token ids and from text; Forward
//     equals its logits;
//   - 16 concurrent clients get what each gets alone;
//   - cancellation and deadlines free the KV blocks (ModelInfo, metrics);
//   - every bad request gets its status code and the server stays healthy;
//     a full queue is RESOURCE_EXHAUSTED;
//   - health is NOT_SERVING while loading, SERVING after; SIGTERM drains
//     and every rank exits 0;
//   - TLS and the bearer token reject and accept as they should; without a
//     tokenizer, text is FAILED_PRECONDITION and token ids work;
//   - a killed rank ends the job in bounded time and the client gets
//     UNAVAILABLE.
#include <signal.h>
#include <sys/wait.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "loader/tokenizer/tokenizer.h"
#include "nlohmann/json.hpp"
#include "proto/df11/v1/inference.grpc.pb.h"
#include "tests/serve/daemon_fixture.h"

namespace df11::serve::testing {
namespace {

namespace pb = ::df11::v1;
using Stub = pb::InferenceService::Stub;

std::chrono::system_clock::time_point In(absl::Duration d) {
  return std::chrono::system_clock::now() + absl::ToChronoMicroseconds(d);
}

struct Sampling {
  float temperature = 0;
  int top_k = 0;
  float top_p = 1;
  uint64_t seed = 0;
  bool ignore_eos = false;
};

pb::GenerateRequest Request(std::vector<int32_t> prompt, int max_new,
                            const Sampling& s = {}) {
  pb::GenerateRequest r;
  r.mutable_token_ids()->Add(prompt.begin(), prompt.end());
  pb::SamplingParams* p = r.mutable_sampling();
  p->set_max_new_tokens(max_new);
  p->set_temperature(s.temperature);
  p->set_top_k(s.top_k);
  p->set_top_p(s.top_p);
  p->set_seed(s.seed);
  p->set_ignore_eos(s.ignore_eos);
  return r;
}

struct Streamed {
  grpc::Status status;
  std::vector<int32_t> tokens;
  std::string text;
  std::vector<std::string> deltas;
  std::vector<pb::TokenLogprobs> logprobs;
  pb::GenerateResponse last;
  int messages = 0;
};

// Reads a whole Generate stream. `context` may be given to cancel it.
Streamed Generate(Stub& stub, const pb::GenerateRequest& request,
                  grpc::ClientContext* context = nullptr,
                  absl::Duration timeout = absl::Seconds(120)) {
  grpc::ClientContext own;
  if (context == nullptr) {
    context = &own;
    context->set_deadline(In(timeout));
  }
  Streamed out;
  auto reader = stub.Generate(context, request);
  pb::GenerateResponse m;
  while (reader->Read(&m)) {
    ++out.messages;
    out.tokens.insert(out.tokens.end(), m.token_ids().begin(),
                      m.token_ids().end());
    out.text += m.text();
    out.deltas.push_back(m.text());
    out.logprobs.insert(out.logprobs.end(), m.logprobs().begin(),
                        m.logprobs().end());
    out.last = m;
  }
  out.status = reader->Finish();
  return out;
}

pb::ModelInfo Info(Stub& stub) {
  grpc::ClientContext context;
  context.set_deadline(In(absl::Seconds(10)));
  pb::ModelInfo info;
  const grpc::Status s =
      stub.GetModelInfo(&context, pb::GetModelInfoRequest(), &info);
  EXPECT_TRUE(s.ok()) << s.error_message();
  return info;
}

// Polls ModelInfo until nothing runs or waits and no KV is reserved.
bool WaitIdle(Stub& stub, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    const pb::ModelInfo info = Info(stub);
    if (info.kv_used_tokens() == 0 && info.running_requests() == 0 &&
        info.waiting_requests() == 0) {
      return true;
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
  return false;
}

std::vector<std::string> SamplingFlags(const Sampling& s) {
  std::vector<std::string> f = {absl::StrCat("--temperature=", s.temperature),
                                absl::StrCat("--top_k=", s.top_k),
                                absl::StrCat("--top_p=", s.top_p),
                                absl::StrCat("--sample_seed=", s.seed)};
  if (s.ignore_eos) f.push_back("--ignore_eos");
  return f;
}

// `df11 run` on 2 ranks: the offline engine's answer (tokens; the prompt's
// last logits with logits = true).
absl::StatusOr<nlohmann::json> OfflineRun(const std::string& dir,
                                          const std::vector<int32_t>& prompt,
                                          int max_new, const Sampling& s,
                                          bool logits = false) {
  std::vector<std::string> argv = {GetPaths().mpirun_sh,
                                   "-np",
                                   "2",
                                   GetPaths().df11,
                                   "run",
                                   "--model=" + dir,
                                   "--tokens=" + absl::StrJoin(prompt, ","),
                                   absl::StrCat("--max_new=", max_new),
                                   "--json",
                                   "--threads=2"};
  for (const std::string& f : SamplingFlags(s)) argv.push_back(f);
  if (logits) argv.push_back("--logits");
  absl::StatusOr<std::string> out = RunCommand(argv, absl::Seconds(120));
  if (!out.ok()) return out.status();
  return nlohmann::json::parse(*out);
}

const tokenizer::Tokenizer& TheTokenizer() {
  static const tokenizer::Tokenizer* tok = [] {
    auto t = tokenizer::Tokenizer::FromFile(GetPaths().tokenizer_json);
    if (!t.ok()) std::abort();
    return new tokenizer::Tokenizer(*std::move(t));
  }();
  return *tok;
}

bool ValidUtf8(const std::string& s) {
  size_t i = 0;
  while (i < s.size()) {
    const unsigned char c = s[i];
    const size_t n = c < 0x80         ? 1
                     : (c >> 5) == 6  ? 2
                     : (c >> 4) == 14 ? 3
                     : (c >> 3) == 30 ? 4
                                      : 0;
    if (n == 0 || i + n > s.size()) return false;
    for (size_t k = 1; k < n; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) >> 6) != 2) return false;
    }
    i += n;
  }
  return true;
}

constexpr int64_t kEos = 2;  // the synthetic config's eos_token_id

// ------------------------------------------------------- the shared daemon

class ServeTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto dir = TextModelDir();
    ASSERT_TRUE(dir.ok()) << dir.status();
    dir_ = new std::string(*dir);
    auto d = Daemon::Start(
        *dir_, {"--max_batch_sequences=16", "--max_queue=4",
                "--kv_capacity_tokens=40000", "--max_request_bytes=65536"});
    ASSERT_TRUE(d.ok()) << d.status();
    daemon_ = d->release();
    ASSERT_TRUE(daemon_->WaitServing(absl::Seconds(60))) << daemon_->Log();
  }
  static void TearDownTestSuite() {
    if (daemon_ == nullptr) return;
    // Drained as `df11 serve` does on SIGTERM: every rank exits 0.
    daemon_->SignalJob(SIGUSR1);
    const std::optional<int> status = daemon_->WaitExit(absl::Seconds(30));
    EXPECT_TRUE(status.has_value() && WIFEXITED(*status) &&
                WEXITSTATUS(*status) == 0)
        << daemon_->Log();
    delete daemon_;
    daemon_ = nullptr;
  }
  void SetUp() override {
    ASSERT_NE(daemon_, nullptr);
    stub_ = pb::InferenceService::NewStub(daemon_->Channel());
  }

  static std::string* dir_;
  static Daemon* daemon_;
  std::unique_ptr<Stub> stub_;
};

std::string* ServeTest::dir_ = nullptr;
Daemon* ServeTest::daemon_ = nullptr;

struct OfflineCase {
  std::string name;
  std::vector<int32_t> prompt;
  int max_new;
  Sampling sampling;
};

std::vector<int32_t> Range(int from, int n) {
  std::vector<int32_t> v(n);
  for (int i = 0; i < n; ++i) v[i] = (from + 37 * i) % 1000;
  return v;
}

class GenerateEqualsOfflineTest
    : public ServeTest,
      public ::testing::WithParamInterface<OfflineCase> {};

TEST_P(GenerateEqualsOfflineTest, FromTokenIds) {
  const OfflineCase& c = GetParam();
  const Streamed got =
      Generate(*stub_, Request(c.prompt, c.max_new, c.sampling));
  ASSERT_TRUE(got.status.ok()) << got.status.error_message();
  auto offline = OfflineRun(*dir_, c.prompt, c.max_new, c.sampling);
  ASSERT_TRUE(offline.ok()) << offline.status();
  EXPECT_EQ(got.tokens, (*offline)["tokens"].get<std::vector<int32_t>>());
  const bool eos = !c.sampling.ignore_eos && !got.tokens.empty() &&
                   got.tokens.back() == kEos;
  EXPECT_EQ(got.last.finish_reason(), eos ? pb::EOS : pb::LENGTH);
  EXPECT_EQ(got.last.usage().prompt_tokens(), c.prompt.size());
  EXPECT_EQ(got.last.usage().completion_tokens(), got.tokens.size());
  EXPECT_FALSE(got.last.request_id().empty());
}

INSTANTIATE_TEST_SUITE_P(
    Cases, GenerateEqualsOfflineTest,
    ::testing::Values(
        OfflineCase{"Greedy", {1, 2, 3, 4, 5}, 24, {}},
        OfflineCase{"TopKTopP", Range(10, 21), 24, {0.9f, 50, 0.95f, 7}},
        OfflineCase{"HotIgnoreEos", {17}, 40, {1.3f, 0, 1, 123, true}},
        // 700 tokens: the prompt goes in two chunks (max_batch_tokens 512).
        OfflineCase{"ChunkedPrompt", Range(3, 700), 8, {0.8f, 0, 1, 5}}),
    [](const auto& info) { return info.param.name; });

TEST_F(ServeTest, TextGenerateEqualsOfflineAndStopsOnAStopString) {
  // HF tokenizers encodes "Hello world" so (tests/tokenizer golden cases).
  const std::vector<int32_t> hello = {0, 42, 71, 302, 81, 342, 272, 78, 70};
  const Sampling s = {0.7f, 0, 1, 42, true};
  pb::GenerateRequest request = Request({}, 32, s);
  request.set_text("Hello world");
  const Streamed got = Generate(*stub_, request);
  ASSERT_TRUE(got.status.ok()) << got.status.error_message();
  EXPECT_EQ(got.last.usage().prompt_tokens(), hello.size());
  auto offline = OfflineRun(*dir_, hello, 32, s);
  ASSERT_TRUE(offline.ok()) << offline.status();
  EXPECT_EQ(got.tokens, (*offline)["tokens"].get<std::vector<int32_t>>());
  // The text is the tokens' text (special tokens skipped), streamed in
  // whole characters.
  auto text = TheTokenizer().Decode(got.tokens, /*skip_special_tokens=*/true);
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(got.text, *text);
  for (const std::string& d : got.deltas) EXPECT_TRUE(ValidUtf8(d)) << d;

  // A stop string from the middle of that text: the text ends before it,
  // and the tokens up to the one that completed it are returned.
  size_t at = std::string::npos;
  for (size_t i = 4; i + 2 <= got.text.size() && at == std::string::npos; ++i) {
    if (std::isalpha(static_cast<unsigned char>(got.text[i])) &&
        std::isalpha(static_cast<unsigned char>(got.text[i + 1]))) {
      at = i;
    }
  }
  ASSERT_NE(at, std::string::npos) << got.text;
  const std::string stop = got.text.substr(at, 2);
  request.mutable_sampling()->add_stop(stop);
  const Streamed stopped = Generate(*stub_, request);
  ASSERT_TRUE(stopped.status.ok()) << stopped.status.error_message();
  EXPECT_EQ(stopped.last.finish_reason(), pb::STOP);
  EXPECT_EQ(stopped.text, got.text.substr(0, got.text.find(stop)));
  ASSERT_LE(stopped.tokens.size(), got.tokens.size());
  EXPECT_TRUE(std::equal(stopped.tokens.begin(), stopped.tokens.end(),
                         got.tokens.begin()));
  auto through = TheTokenizer().Decode(stopped.tokens, true);
  ASSERT_TRUE(through.ok());
  EXPECT_NE(through->find(stop), std::string::npos);
}

TEST_F(ServeTest, ForwardEqualsOfflineLogits) {
  const std::vector<int32_t> prompt = Range(5, 13);
  auto offline = OfflineRun(*dir_, prompt, 1, {}, /*logits=*/true);
  ASSERT_TRUE(offline.ok()) << offline.status();
  const std::vector<float> want =
      (*offline)["logits"].get<std::vector<float>>();

  pb::ForwardRequest request;
  request.mutable_token_ids()->Add(prompt.begin(), prompt.end());
  pb::ForwardResponse last;
  {
    grpc::ClientContext context;
    ASSERT_TRUE(stub_->Forward(&context, request, &last).ok());
  }
  EXPECT_EQ(last.vocab_size(), 1000u);
  EXPECT_EQ(last.positions(), 1u);
  EXPECT_EQ(std::vector<float>(last.logits().begin(), last.logits().end()),
            want);

  request.set_all_positions(true);
  pb::ForwardResponse all;
  {
    grpc::ClientContext context;
    ASSERT_TRUE(stub_->Forward(&context, request, &all).ok());
  }
  ASSERT_EQ(all.positions(), prompt.size());
  ASSERT_EQ(all.logits_size(), static_cast<int>(prompt.size() * 1000));
  EXPECT_TRUE(std::equal(want.begin(), want.end(), all.logits().end() - 1000));

  request.set_top_logprobs(5);
  pb::ForwardResponse top;
  {
    grpc::ClientContext context;
    ASSERT_TRUE(stub_->Forward(&context, request, &top).ok());
  }
  EXPECT_EQ(top.logits_size(), 0);
  ASSERT_EQ(top.top_size(), static_cast<int>(prompt.size()));
  // The last position's top 5: the largest logits, as log-softmax.
  double max = *std::max_element(want.begin(), want.end()), sum = 0;
  for (float x : want) sum += std::exp(x - max);
  const double log_total = max + std::log(sum);
  const pb::PositionTop& t = top.top(prompt.size() - 1);
  ASSERT_EQ(t.top_size(), 5);
  for (int i = 0; i < 5; ++i) {
    EXPECT_NEAR(t.top(i).logprob(), want[t.top(i).token_id()] - log_total,
                1e-5);
    if (i > 0) {
      EXPECT_GE(t.top(i - 1).logprob(), t.top(i).logprob());
    }
  }
  EXPECT_EQ(std::max_element(want.begin(), want.end()) - want.begin(),
            t.top(0).token_id());
}

TEST_F(ServeTest, SixteenConcurrentClientsGetWhatTheyGetAlone) {
  std::vector<pb::GenerateRequest> requests;
  for (int i = 0; i < 16; ++i) {
    Sampling s;
    if (i % 2 == 1) s = {0.9f, 40, 0.9f, static_cast<uint64_t>(100 + i)};
    s.ignore_eos = i % 4 == 3;
    pb::GenerateRequest r = Request(Range(i * 11, 1 + i % 9), 8 + i, s);
    if (i % 3 == 0) r.mutable_sampling()->set_logprobs(3);
    if (i % 5 == 0) {
      r.clear_token_ids();
      r.set_text(absl::StrCat("Client number ", i, " says hello"));
    }
    requests.push_back(r);
  }
  std::vector<Streamed> alone;
  for (const pb::GenerateRequest& r : requests) {
    alone.push_back(Generate(*stub_, r));
    ASSERT_TRUE(alone.back().status.ok())
        << alone.back().status.error_message();
  }
  std::vector<Streamed> crowd(requests.size());
  std::vector<std::thread> clients;
  for (size_t i = 0; i < requests.size(); ++i) {
    clients.emplace_back([&, i] {
      auto stub = pb::InferenceService::NewStub(daemon_->Channel());
      crowd[i] = Generate(*stub, requests[i]);
    });
  }
  for (std::thread& t : clients) t.join();
  for (size_t i = 0; i < requests.size(); ++i) {
    ASSERT_TRUE(crowd[i].status.ok())
        << i << ": " << crowd[i].status.error_code() << " "
        << crowd[i].status.error_message();
    EXPECT_EQ(crowd[i].tokens, alone[i].tokens) << "request " << i;
    EXPECT_EQ(crowd[i].text, alone[i].text) << "request " << i;
    EXPECT_EQ(crowd[i].last.finish_reason(), alone[i].last.finish_reason());
    ASSERT_EQ(crowd[i].logprobs.size(), alone[i].logprobs.size());
    for (size_t k = 0; k < crowd[i].logprobs.size(); ++k) {
      EXPECT_EQ(crowd[i].logprobs[k].SerializeAsString(),
                alone[i].logprobs[k].SerializeAsString());
    }
  }
  EXPECT_TRUE(WaitIdle(*stub_, absl::Seconds(10)));
}

TEST_F(ServeTest, CancellationFreesTheKvBlocks) {
  ASSERT_TRUE(WaitIdle(*stub_, absl::Seconds(10)));
  grpc::ClientContext context;
  auto reader =
      stub_->Generate(&context, Request({1, 2, 3}, 15000, {0, 0, 1, 0, true}));
  pb::GenerateResponse m;
  ASSERT_TRUE(reader->Read(&m));
  const pb::ModelInfo busy = Info(*stub_);
  EXPECT_EQ(busy.running_requests(), 1u);
  EXPECT_GE(busy.kv_used_tokens(), 15003u);  // reserved up front
  context.TryCancel();
  while (reader->Read(&m)) {
  }
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
  EXPECT_TRUE(WaitIdle(*stub_, absl::Seconds(10)));
  auto metrics = daemon_->Metrics();
  ASSERT_TRUE(metrics.ok());
  EXPECT_NE(
      metrics->find("df11:kv_cache_used_tokens{model_name=\"text-df11\"} 0\n"),
      std::string::npos)
      << *metrics;
  EXPECT_EQ(metrics->find("finished_reason=\"cancelled\"} 0\n"),
            std::string::npos)
      << *metrics;
}

TEST_F(ServeTest, DeadlineFreesTheKvBlocks) {
  ASSERT_TRUE(WaitIdle(*stub_, absl::Seconds(10)));
  grpc::ClientContext context;
  context.set_deadline(In(absl::Milliseconds(500)));
  const Streamed got =
      Generate(*stub_, Request({4, 5}, 15000, {0, 0, 1, 0, true}), &context);
  EXPECT_EQ(got.status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_GT(got.tokens.size(), 0u);
  EXPECT_TRUE(WaitIdle(*stub_, absl::Seconds(10)));
}

struct BadCall {
  std::string name;
  pb::GenerateRequest generate;  // used unless forward is set
  std::optional<pb::ForwardRequest> forward;
  grpc::StatusCode code;
};

pb::GenerateRequest Bad(std::function<void(pb::GenerateRequest&)> f) {
  pb::GenerateRequest r = Request({1, 2, 3}, 4);
  f(r);
  return r;
}

pb::ForwardRequest BadForward(std::vector<int32_t> ids,
                              std::optional<uint32_t> top = std::nullopt) {
  pb::ForwardRequest r;
  r.mutable_token_ids()->Add(ids.begin(), ids.end());
  if (top) r.set_top_logprobs(*top);
  return r;
}

class BadRequestTest : public ServeTest,
                       public ::testing::WithParamInterface<BadCall> {};

TEST_P(BadRequestTest, GetsItsCodeAndTheServerStaysHealthy) {
  const BadCall& c = GetParam();
  grpc::ClientContext context;
  context.set_deadline(In(absl::Seconds(30)));
  grpc::Status status;
  if (c.forward) {
    pb::ForwardResponse response;
    status = stub_->Forward(&context, *c.forward, &response);
  } else {
    status = Generate(*stub_, c.generate, &context).status;
  }
  EXPECT_EQ(status.error_code(), c.code) << status.error_message();
  EXPECT_FALSE(status.error_message().empty());
  EXPECT_EQ(HealthStatus(*daemon_->Channel()), "SERVING");
  const Streamed fine = Generate(*stub_, Request({7, 8}, 3));
  EXPECT_TRUE(fine.status.ok()) << fine.status.error_message();
  EXPECT_EQ(fine.tokens.size(), 3u);
}

const grpc::StatusCode kInvalid = grpc::StatusCode::INVALID_ARGUMENT;

INSTANTIATE_TEST_SUITE_P(
    Cases, BadRequestTest,
    ::testing::Values(
        BadCall{"TextAndIds",
                Bad([](pb::GenerateRequest& r) { r.set_text("hi"); }),
                {},
                kInvalid},
        BadCall{"EmptyPrompt", Request({}, 4), {}, kInvalid},
        BadCall{"IdOutOfRange", Request({1, 1000}, 4), {}, kInvalid},
        BadCall{"NegativeId", Request({-5}, 4), {}, kInvalid},
        BadCall{"LongerThanContext", Request({1, 2, 3}, 16382), {}, kInvalid},
        BadCall{"MaxNewZero", Request({1}, 0), {}, kInvalid},
        BadCall{"NegativeTemperature",
                Bad([](pb::GenerateRequest& r) {
                  r.mutable_sampling()->set_temperature(-1);
                }),
                {},
                kInvalid},
        BadCall{"TopPTooLarge",
                Bad([](pb::GenerateRequest& r) {
                  r.mutable_sampling()->set_top_p(1.5f);
                }),
                {},
                kInvalid},
        BadCall{"TooManyLogprobs",
                Bad([](pb::GenerateRequest& r) {
                  r.mutable_sampling()->set_logprobs(21);
                }),
                {},
                kInvalid},
        BadCall{"EmptyStop",
                Bad([](pb::GenerateRequest& r) {
                  r.mutable_sampling()->add_stop("");
                }),
                {},
                kInvalid},
        BadCall{"StopTokenOutOfRange",
                Bad([](pb::GenerateRequest& r) {
                  r.mutable_sampling()->add_stop_token_ids(5000);
                }),
                {},
                kInvalid},
        BadCall{"TooLarge",
                Request(std::vector<int32_t>(40000, 999), 1),
                {},
                grpc::StatusCode::RESOURCE_EXHAUSTED},
        BadCall{"ForwardEmpty", {}, BadForward({}), kInvalid},
        BadCall{"ForwardIdOutOfRange", {}, BadForward({3, 1000}), kInvalid},
        BadCall{"ForwardTopLogprobs21", {}, BadForward({3}, 21), kInvalid},
        BadCall{"ForwardTopLogprobs0", {}, BadForward({3}, 0), kInvalid}),
    [](const auto& info) { return info.param.name; });

TEST_F(ServeTest, AFullQueueIsResourceExhausted) {
  ASSERT_TRUE(WaitIdle(*stub_, absl::Seconds(10)));
  // 16 run (--max_batch_sequences) and 4 wait (--max_queue): the 21st is
  // refused.
  constexpr int kHeld = 20;
  std::vector<std::unique_ptr<grpc::ClientContext>> contexts;
  std::vector<std::thread> clients;
  for (int i = 0; i < kHeld; ++i) {
    contexts.push_back(std::make_unique<grpc::ClientContext>());
    contexts.back()->set_deadline(In(absl::Seconds(120)));
  }
  for (int i = 0; i < kHeld; ++i) {
    clients.emplace_back([&, i] {
      auto stub = pb::InferenceService::NewStub(daemon_->Channel());
      Generate(*stub, Request({1, 2}, 1500, {0, 0, 1, 0, true}),
               contexts[i].get());
    });
  }
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  pb::ModelInfo info;
  do {
    info = Info(*stub_);
  } while ((info.running_requests() != 16 || info.waiting_requests() != 4) &&
           absl::Now() < deadline);
  EXPECT_EQ(info.running_requests(), 16u) << daemon_->Log();
  EXPECT_EQ(info.waiting_requests(), 4u);
  const Streamed refused = Generate(*stub_, Request({3}, 2));
  EXPECT_EQ(refused.status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
      << refused.status.error_message();
  for (auto& c : contexts) c->TryCancel();
  for (std::thread& t : clients) t.join();
  EXPECT_TRUE(WaitIdle(*stub_, absl::Seconds(10)));
}

TEST_F(ServeTest, ModelInfoDescribesTheModel) {
  const pb::ModelInfo info = Info(*stub_);
  EXPECT_EQ(info.model_name(), "text-df11");
  EXPECT_EQ(info.architecture(), "LlamaForCausalLM");
  EXPECT_EQ(info.dtype(), "df11");
  EXPECT_EQ(info.tp(), 2u);
  EXPECT_EQ(info.backend(), "cpu");
  EXPECT_EQ(info.max_context(), 16384u);
  EXPECT_EQ(info.vocab_size(), 1000u);
  EXPECT_EQ(info.kv_capacity_tokens(), 40000u);
  EXPECT_GT(info.compressed_weight_bytes(), 0u);
  EXPECT_LT(info.compressed_weight_bytes(), info.original_weight_bytes());
}

// ------------------------------------------------- startup and shutdown

TEST(LifecycleTest, NotServingWhileLoadingThenSigtermDrains) {
  auto dir = TextModelDir();
  ASSERT_TRUE(dir.ok()) << dir.status();
  auto daemon =
      Daemon::Start(*dir, {"--testing_load_delay_ms=2000", "--grace_s=3"});
  ASSERT_TRUE(daemon.ok()) << daemon.status();
  Daemon& d = **daemon;
  auto stub = pb::InferenceService::NewStub(d.Channel());
  EXPECT_EQ(HealthStatus(*d.Channel()), "NOT_SERVING");
  EXPECT_EQ(Generate(*stub, Request({1}, 2)).status.error_code(),
            grpc::StatusCode::UNAVAILABLE);
  ASSERT_TRUE(d.WaitServing(absl::Seconds(60))) << d.Log();

  // One request runs past the grace period, one ends within it.
  grpc::ClientContext long_context, short_context;
  long_context.set_deadline(In(absl::Seconds(60)));
  short_context.set_deadline(In(absl::Seconds(60)));
  auto long_reader =
      stub->Generate(&long_context, Request({1, 2}, 16000, {0, 0, 1, 0, true}));
  pb::GenerateResponse m;
  ASSERT_TRUE(long_reader->Read(&m));
  auto short_reader =
      stub->Generate(&short_context, Request({3, 4}, 5, {0, 0, 1, 0, true}));
  ASSERT_TRUE(short_reader->Read(&m));

  const absl::Time sent = absl::Now();
  d.SignalRank(0, SIGTERM);
  int short_tokens = m.token_ids_size();
  while (short_reader->Read(&m)) short_tokens += m.token_ids_size();
  EXPECT_TRUE(short_reader->Finish().ok());
  EXPECT_EQ(m.finish_reason(), pb::LENGTH) << d.Log();
  EXPECT_EQ(short_tokens, 5);
  // Draining: NOT_SERVING, no new requests. The signal reaches the drain
  // through a pipe and a thread, so on a loaded machine the short request
  // may end first: allow the daemon a moment.
  std::string health = HealthStatus(*d.Channel());
  for (const absl::Time until = absl::Now() + absl::Seconds(5);
       health != "NOT_SERVING" && absl::Now() < until;
       health = HealthStatus(*d.Channel())) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_EQ(health, "NOT_SERVING");
  EXPECT_EQ(Generate(*stub, Request({1}, 2)).status.error_code(),
            grpc::StatusCode::UNAVAILABLE);
  while (long_reader->Read(&m)) {
  }
  EXPECT_TRUE(long_reader->Finish().ok());
  EXPECT_EQ(m.finish_reason(), pb::CANCELLED);
  const absl::Duration drained = absl::Now() - sent;
  EXPECT_GE(drained, absl::Seconds(2.5));
  EXPECT_LT(drained, absl::Seconds(15));
  const std::optional<int> status = d.WaitExit(absl::Seconds(20));
  ASSERT_TRUE(status.has_value()) << d.Log();
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0)
      << *status << "\n"
      << d.Log();
}

// ------------------------------------------------------------ security

// A self-signed certificate for localhost / 127.0.0.1 (openssl's CLI).
absl::StatusOr<std::pair<std::string, std::string>> MakeCert(
    const std::string& name) {
  const std::string cert = TempDir() + "/" + name + ".pem";
  const std::string key = TempDir() + "/" + name + ".key";
  auto made =
      RunCommand({"openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                  "-days", "2", "-subj", "/CN=localhost", "-addext",
                  "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", key,
                  "-out", cert},
                 absl::Seconds(60));
  if (!made.ok()) return made.status();
  return std::make_pair(cert, key);
}

std::string ReadText(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

TEST(SecurityTest, TlsAndBearerTokenRejectAndAcceptAsTheyShould) {
  auto dir = NoTokenizerModelDir();
  ASSERT_TRUE(dir.ok()) << dir.status();
  auto server_cert = MakeCert("server");
  ASSERT_TRUE(server_cert.ok()) << server_cert.status();
  auto other_cert = MakeCert("other");
  ASSERT_TRUE(other_cert.ok()) << other_cert.status();
  const std::string token_file = TempDir() + "/token";
  std::ofstream(token_file) << "s3cret-token\n";
  auto daemon = Daemon::Start(*dir, {"--tls_cert=" + server_cert->first,
                                     "--tls_key=" + server_cert->second,
                                     "--auth_token_file=" + token_file});
  ASSERT_TRUE(daemon.ok()) << daemon.status();
  Daemon& d = **daemon;

  const auto tls = [](const std::string& roots) {
    grpc::SslCredentialsOptions o;
    o.pem_root_certs = ReadText(roots);
    return grpc::SslCredentials(o);
  };
  const auto call = [&](std::shared_ptr<grpc::ChannelCredentials> creds,
                        const std::string& authorization,
                        pb::GenerateRequest request) {
    auto stub = pb::InferenceService::NewStub(d.Channel(creds));
    grpc::ClientContext context;
    context.set_deadline(In(absl::Seconds(30)));
    if (!authorization.empty()) {
      context.AddMetadata("authorization", authorization);
    }
    return Generate(*stub, request, &context);
  };
  const std::shared_ptr<grpc::ChannelCredentials> good =
      tls(server_cert->first);
  // Health over TLS, no token needed.
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  while (HealthStatus(*d.Channel(good)) != "SERVING" && absl::Now() < deadline)
    absl::SleepFor(absl::Milliseconds(50));
  ASSERT_EQ(HealthStatus(*d.Channel(good)), "SERVING") << d.Log();

  const pb::GenerateRequest ids = Request({5, 6}, 3);
  EXPECT_EQ(call(grpc::InsecureChannelCredentials(), "Bearer s3cret-token", ids)
                .status.error_code(),
            grpc::StatusCode::UNAVAILABLE);  // plaintext to a TLS port
  EXPECT_EQ(call(tls(other_cert->first), "Bearer s3cret-token", ids)
                .status.error_code(),
            grpc::StatusCode::UNAVAILABLE);  // a certificate we do not trust
  EXPECT_EQ(call(good, "", ids).status.error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(call(good, "Bearer wrong", ids).status.error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(call(good, "s3cret-token", ids).status.error_code(),
            grpc::StatusCode::UNAUTHENTICATED);  // no "Bearer "
  const Streamed ok = call(good, "Bearer s3cret-token", ids);
  EXPECT_TRUE(ok.status.ok()) << ok.status.error_message();
  EXPECT_EQ(ok.tokens.size(), 3u);
  EXPECT_EQ(ok.text, "");  // no tokenizer: no text

  // Without a tokenizer, a text prompt is refused with a clear message.
  pb::GenerateRequest text = Request({}, 3);
  text.set_text("hello");
  const Streamed refused = call(good, "Bearer s3cret-token", text);
  EXPECT_EQ(refused.status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_NE(refused.status.error_message().find("tokenizer.json"),
            std::string::npos)
      << refused.status.error_message();
}

// ------------------------------------------------------------- failures

TEST(FailureTest, AKilledRankEndsTheJobAndClientsGetUnavailable) {
  auto dir = TextModelDir();
  ASSERT_TRUE(dir.ok()) << dir.status();
  auto daemon = Daemon::Start(*dir, {});
  ASSERT_TRUE(daemon.ok()) << daemon.status();
  Daemon& d = **daemon;
  ASSERT_TRUE(d.WaitServing(absl::Seconds(60))) << d.Log();
  auto stub = pb::InferenceService::NewStub(d.Channel());
  grpc::ClientContext context;
  context.set_deadline(In(absl::Seconds(60)));
  auto reader =
      stub->Generate(&context, Request({1, 2}, 16000, {0, 0, 1, 0, true}));
  pb::GenerateResponse m;
  ASSERT_TRUE(reader->Read(&m));
  ASSERT_GT(d.RankPid(1), 0);
  const absl::Time killed = absl::Now();
  d.SignalRank(1, SIGKILL);
  while (reader->Read(&m)) {
  }
  const grpc::Status status = reader->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE)
      << status.error_code() << " " << status.error_message();
  const std::optional<int> exit = d.WaitExit(absl::Seconds(30));
  ASSERT_TRUE(exit.has_value()) << "the job did not end:\n" << d.Log();
  EXPECT_FALSE(WIFEXITED(*exit) && WEXITSTATUS(*exit) == 0) << d.Log();
  const absl::Duration took = absl::Now() - killed;
  EXPECT_LT(took, absl::Seconds(15)) << absl::FormatDuration(took);
  std::printf("job ended %s after rank 1 was killed\n",
              absl::FormatDuration(took).c_str());
}

}  // namespace
}  // namespace df11::serve::testing

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  df11::serve::testing::InitPaths(argc, argv);
  return RUN_ALL_TESTS();
}
