#include "loader/engine/sampler.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace df11 {
namespace {

std::vector<int32_t> Draw(const SamplingParams& params,
                          const std::vector<float>& logits, int n) {
  Sampler sampler(params);
  std::vector<int32_t> out;
  for (int i = 0; i < n; ++i) out.push_back(sampler.Next(logits));
  return out;
}

struct OnlyCase {
  const char* name;
  SamplingParams params;
  std::vector<float> logits;
  std::vector<int32_t> allowed;  // every draw must be one of these
};

class SamplerOnlyTest : public testing::TestWithParam<OnlyCase> {};

TEST_P(SamplerOnlyTest, DrawsOnlyAllowedIds) {
  const OnlyCase& c = GetParam();
  for (int32_t id : Draw(c.params, c.logits, 500)) {
    EXPECT_NE(std::find(c.allowed.begin(), c.allowed.end(), id),
              c.allowed.end())
        << id;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Cases, SamplerOnlyTest,
    testing::Values(
        OnlyCase{"greedy", {0.0f, 0, 1.0f, 1}, {0.1f, 2.0f, 1.9f, -3}, {1}},
        OnlyCase{"greedy_tie_lowest_id", {0.0f, 0, 1.0f, 1}, {1, 3, 3, 0}, {1}},
        OnlyCase{"top_k_1", {1.5f, 1, 1.0f, 2}, {0.1f, 2.0f, 1.9f, -3}, {1}},
        OnlyCase{"top_k_2", {5.0f, 2, 1.0f, 3}, {0.1f, 2.0f, 1.9f, -3}, {1, 2}},
        OnlyCase{"top_p_small", {1.0f, 0, 0.1f, 4}, {0.0f, 1.0f, 0.5f}, {1}},
        // probs ~ 0.51, 0.31, 0.19: mass 0.8 needs the top two.
        OnlyCase{"top_p_two", {1.0f, 0, 0.8f, 5}, {1.0f, 0.5f, 0.0f}, {0, 1}}),
    [](const testing::TestParamInfo<OnlyCase>& info) {
      return std::string(info.param.name);
    });

TEST(SamplerTest, SameSeedSameTokensOtherSeedOthers) {
  const std::vector<float> flat(64, 0.0f);
  const SamplingParams a{1.0f, 0, 1.0f, 42};
  SamplingParams b = a;
  b.seed = 43;
  EXPECT_EQ(Draw(a, flat, 100), Draw(a, flat, 100));
  EXPECT_NE(Draw(a, flat, 100), Draw(b, flat, 100));
}

TEST(SamplerTest, FrequenciesFollowSoftmaxOfScaledLogits) {
  // temperature 2 over logits 2*log(p) gives back p.
  const std::vector<double> p = {0.5, 0.3, 0.2};
  std::vector<float> logits;
  for (double x : p) logits.push_back(static_cast<float>(2 * std::log(x)));
  const int n = 20000;
  std::vector<int> counts(3, 0);
  for (int32_t id : Draw({2.0f, 0, 1.0f, 7}, logits, n)) ++counts[id];
  for (int i = 0; i < 3; ++i) {
    EXPECT_NEAR(static_cast<double>(counts[i]) / n, p[i], 0.015) << i;
  }
}

struct InvalidCase {
  SamplingParams params;
  const char* message;
};

class SamplerValidateTest : public testing::TestWithParam<InvalidCase> {};

TEST_P(SamplerValidateTest, Rejected) {
  const absl::Status s = ValidateSampling(GetParam().params);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find(GetParam().message), std::string::npos) << s;
}

INSTANTIATE_TEST_SUITE_P(
    Cases, SamplerValidateTest,
    testing::Values(InvalidCase{{-1.0f, 0, 1.0f, 0}, "temperature"},
                    InvalidCase{{NAN, 0, 1.0f, 0}, "temperature"},
                    InvalidCase{{1.0f, -2, 1.0f, 0}, "top_k -2"},
                    InvalidCase{{1.0f, 0, 0.0f, 0}, "top_p"},
                    InvalidCase{{1.0f, 0, 1.5f, 0}, "top_p"}));

TEST(SamplerTest, ValidParamsAccepted) {
  EXPECT_TRUE(ValidateSampling({0.7f, 40, 0.9f, 1}).ok());
  EXPECT_TRUE(ValidateSampling({}).ok());
}

}  // namespace
}  // namespace df11
