#include "loader/engine/sampling.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "loader/engine/philox.h"

namespace df11 {
namespace {

// Known answers from Random123's kat_vectors for philox4x32 with 10 rounds.
TEST(PhiloxTest, KnownAnswers) {
  struct Kat {
    Philox4x32 counter;
    uint32_t key0, key1;
    Philox4x32 want;
  };
  const Kat kats[] = {
      {{{0, 0, 0, 0}},
       0,
       0,
       {{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}}},
      {{{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}},
       0xffffffff,
       0xffffffff,
       {{0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}}},
      {{{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}},
       0xa4093822,
       0x299f31d0,
       {{0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}}},
  };
  for (const Kat& k : kats) {
    const Philox4x32 got = Philox4x32_10(k.counter, k.key0, k.key1);
    for (int i = 0; i < 4; ++i) EXPECT_EQ(got.v[i], k.want.v[i]) << i;
  }
}

SampleRequest Request(SamplingParams params, int64_t position = 0) {
  SampleRequest r;
  r.sample = true;
  r.params = params;
  r.position = position;
  return r;
}

std::vector<int32_t> Draw(const SamplingParams& params,
                          const std::vector<float>& logits, int n,
                          uint64_t stream = 0) {
  std::vector<int32_t> out;
  for (int i = 0; i < n; ++i) {
    SampleRequest r = Request(params, i);
    r.stream = stream;
    out.push_back(SampleRow(r, logits).token);
  }
  return out;
}

struct OnlyCase {
  const char* name;
  SamplingParams params;
  std::vector<float> logits;
  std::vector<int32_t> allowed;  // every draw must be one of these
};

class SampleOnlyTest : public testing::TestWithParam<OnlyCase> {};

TEST_P(SampleOnlyTest, DrawsOnlyAllowedIds) {
  const OnlyCase& c = GetParam();
  for (int32_t id : Draw(c.params, c.logits, 500)) {
    EXPECT_NE(std::find(c.allowed.begin(), c.allowed.end(), id),
              c.allowed.end())
        << id;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Cases, SampleOnlyTest,
    testing::Values(
        OnlyCase{"greedy", {0.0f, 0, 1.0f, 1}, {0.1f, 2.0f, 1.9f, -3}, {1}},
        OnlyCase{"greedy_tie_lowest_id", {0.0f, 0, 1.0f, 1}, {1, 3, 3, 0}, {1}},
        OnlyCase{"top_k_1", {1.5f, 1, 1.0f, 2}, {0.1f, 2.0f, 1.9f, -3}, {1}},
        OnlyCase{"top_k_2", {5.0f, 2, 1.0f, 3}, {0.1f, 2.0f, 1.9f, -3}, {1, 2}},
        OnlyCase{
            "top_k_tie_lowest_ids", {5.0f, 2, 1.0f, 3}, {1, 1, 1, 1}, {0, 1}},
        OnlyCase{"top_p_small", {1.0f, 0, 0.1f, 4}, {0.0f, 1.0f, 0.5f}, {1}},
        // probs ~ 0.51, 0.31, 0.19: mass 0.8 needs the top two.
        OnlyCase{"top_p_two", {1.0f, 0, 0.8f, 5}, {1.0f, 0.5f, 0.0f}, {0, 1}}),
    [](const testing::TestParamInfo<OnlyCase>& info) {
      return std::string(info.param.name);
    });

TEST(SampleRowTest, KeyedBySeedStreamAndPositionOnly) {
  const std::vector<float> flat(64, 0.0f);
  const SamplingParams a{1.0f, 0, 1.0f, 42};
  SamplingParams b = a;
  b.seed = 43;
  EXPECT_EQ(Draw(a, flat, 100), Draw(a, flat, 100));
  EXPECT_NE(Draw(a, flat, 100), Draw(b, flat, 100));
  EXPECT_NE(Draw(a, flat, 100, /*stream=*/0), Draw(a, flat, 100, 1));
  // A draw is a function of its key: the 37th alone equals the 37th of many.
  EXPECT_EQ(SampleRow(Request(a, 37), flat).token, Draw(a, flat, 100)[37]);
}

TEST(SampleRowTest, NoSampleNoToken) {
  SampleRequest r = Request({0.0f, 0, 1.0f, 0});
  r.sample = false;
  EXPECT_EQ(SampleRow(r, {1, 2, 3}).token, -1);
}

// The exact probabilities the sampling order defines, in double.
std::vector<double> Exact(const SamplingParams& p,
                          const std::vector<float>& logits) {
  std::vector<int32_t> ids(logits.size());
  std::iota(ids.begin(), ids.end(), 0);
  std::stable_sort(ids.begin(), ids.end(),
                   [&](int a, int b) { return logits[a] > logits[b]; });
  if (p.top_k > 0) ids.resize(std::min<size_t>(p.top_k, ids.size()));
  std::vector<double> w;
  double total = 0;
  for (int32_t id : ids) {
    w.push_back(std::exp(static_cast<double>(logits[id]) / p.temperature));
    total += w.back();
  }
  size_t keep = ids.size();
  double mass = 0;
  for (size_t i = 0; i < ids.size() && p.top_p < 1; ++i) {
    mass += w[i] / total;
    if (mass >= p.top_p) {
      keep = i + 1;
      break;
    }
  }
  double kept = 0;
  for (size_t i = 0; i < keep; ++i) kept += w[i];
  std::vector<double> probs(logits.size(), 0.0);
  for (size_t i = 0; i < keep; ++i) probs[ids[i]] = w[i] / kept;
  return probs;
}

struct DistributionCase {
  const char* name;
  SamplingParams params;
};

class SampleDistributionTest : public testing::TestWithParam<DistributionCase> {
};

// Pearson's chi-square of 40000 draws against the exact probabilities: the
// bound is the 1e-6 upper quantile for up to 9 degrees of freedom, so a
// correct sampler fails about once in a million runs and a wrong
// temperature, cut or renormalization fails every time.
TEST_P(SampleDistributionTest, FrequenciesMatchExactProbabilities) {
  const std::vector<float> logits = {2.0f,  1.5f,  1.4f,  0.3f, 0.0f,
                                     -0.2f, -1.0f, -2.5f, 0.9f, 1.1f};
  const SamplingParams& p = GetParam().params;
  const std::vector<double> probs = Exact(p, logits);
  const int n = 40000;
  std::vector<int> counts(logits.size(), 0);
  for (int32_t id : Draw(p, logits, n)) ++counts[id];
  double chi2 = 0;
  for (size_t i = 0; i < probs.size(); ++i) {
    if (probs[i] == 0) {
      EXPECT_EQ(counts[i], 0) << "token " << i << " is outside the cut";
      continue;
    }
    const double expected = probs[i] * n;
    chi2 += (counts[i] - expected) * (counts[i] - expected) / expected;
  }
  EXPECT_LT(chi2, 42.0) << GetParam().name;
}

INSTANTIATE_TEST_SUITE_P(
    Cases, SampleDistributionTest,
    testing::Values(DistributionCase{"t1", {1.0f, 0, 1.0f, 11}},
                    DistributionCase{"t0_5", {0.5f, 0, 1.0f, 12}},
                    DistributionCase{"t2", {2.0f, 0, 1.0f, 13}},
                    DistributionCase{"top_k3", {1.0f, 3, 1.0f, 14}},
                    DistributionCase{"top_p0_7", {1.0f, 0, 0.7f, 15}},
                    DistributionCase{"all", {0.8f, 5, 0.9f, 16}}),
    [](const testing::TestParamInfo<DistributionCase>& info) {
      return std::string(info.param.name);
    });

TEST(SampleRowTest, LogprobsAreLogSoftmaxOfTheLogits) {
  const std::vector<float> logits = {0.5f, 3.0f, -1.0f, 3.0f, 2.0f};
  SampleRequest r = Request({0.0f, 0, 1.0f, 0});
  r.logprobs = 3;
  const SampledToken t = SampleRow(r, logits);
  double total = 0;
  for (float x : logits) total += std::exp(static_cast<double>(x));
  EXPECT_EQ(t.token, 1);
  EXPECT_NEAR(t.logprob, 3.0 - std::log(total), 1e-6);
  ASSERT_EQ(t.top.size(), 3u);
  EXPECT_EQ(t.top[0].token, 1);  // ties by lower id
  EXPECT_EQ(t.top[1].token, 3);
  EXPECT_EQ(t.top[2].token, 4);
  EXPECT_NEAR(t.top[2].logprob, 2.0 - std::log(total), 1e-6);
  r.logprobs = -1;
  EXPECT_TRUE(SampleRow(r, logits).top.empty());
}

struct InvalidCase {
  SampleRequest request;
  const char* message;
};

SampleRequest WithParams(SamplingParams p, int32_t logprobs = -1) {
  SampleRequest r = Request(p);
  r.logprobs = logprobs;
  return r;
}

class SampleValidateTest : public testing::TestWithParam<InvalidCase> {};

TEST_P(SampleValidateTest, Rejected) {
  const absl::Status s = ValidateSampleRequest(GetParam().request);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find(GetParam().message), std::string::npos) << s;
}

INSTANTIATE_TEST_SUITE_P(
    Cases, SampleValidateTest,
    testing::Values(InvalidCase{WithParams({-1.0f, 0, 1.0f, 0}), "temperature"},
                    InvalidCase{WithParams({NAN, 0, 1.0f, 0}), "temperature"},
                    InvalidCase{WithParams({1.0f, -2, 1.0f, 0}), "top_k -2"},
                    InvalidCase{WithParams({1.0f, 0, 0.0f, 0}), "top_p"},
                    InvalidCase{WithParams({1.0f, 0, 1.5f, 0}), "top_p"},
                    InvalidCase{WithParams({1.0f, 0, 1.0f, 0}, 21), "logprobs"},
                    InvalidCase{WithParams({1.0f, 0, 1.0f, 0}, -2),
                                "logprobs"}));

TEST(SampleValidateTest, ValidParamsAccepted) {
  EXPECT_TRUE(ValidateSampling({0.7f, 40, 0.9f, 1}).ok());
  EXPECT_TRUE(ValidateSampling({}).ok());
  EXPECT_TRUE(ValidateSampleRequest(WithParams({}, 20)).ok());
}

}  // namespace
}  // namespace df11
