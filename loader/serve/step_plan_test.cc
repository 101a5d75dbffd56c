// The step plan's wire form: what rank 0 encodes every rank decodes, and
// bytes of another version or no plan at all are refused.
#include "loader/serve/step_plan.h"

#include <string>

#include "gtest/gtest.h"
#include "loader/serve/step_plan.pb.h"

namespace df11::serve {
namespace {

ServePlan Sample() {
  ServePlan plan;
  plan.remove = {7, 1ull << 40};
  plan.add = {{9, 300}, {10, 1}};
  SequenceStep prefill;
  prefill.id = 9;
  prefill.tokens = {1, 2, 3};
  prefill.logits = LogitsWanted::kAll;
  plan.step.items.push_back(prefill);
  SequenceStep decode;
  decode.id = 3;
  decode.tokens = {128255};
  decode.sample.sample = true;
  decode.sample.params = {0.7f, 40, 0.9f, 1234567890123ull};
  decode.sample.stream = 5;
  decode.sample.logprobs = 20;
  plan.step.items.push_back(decode);
  return plan;
}

void ExpectSame(const ServePlan& a, const ServePlan& b) {
  EXPECT_EQ(a.shutdown, b.shutdown);
  EXPECT_EQ(a.remove, b.remove);
  EXPECT_EQ(a.add, b.add);
  ASSERT_EQ(a.step.items.size(), b.step.items.size());
  for (size_t i = 0; i < a.step.items.size(); ++i) {
    const SequenceStep& x = a.step.items[i];
    const SequenceStep& y = b.step.items[i];
    EXPECT_EQ(x.id, y.id);
    EXPECT_EQ(x.tokens, y.tokens);
    EXPECT_EQ(x.logits, y.logits);
    EXPECT_EQ(x.sample.sample, y.sample.sample);
    EXPECT_EQ(x.sample.params.temperature, y.sample.params.temperature);
    EXPECT_EQ(x.sample.params.top_k, y.sample.params.top_k);
    EXPECT_EQ(x.sample.params.top_p, y.sample.params.top_p);
    EXPECT_EQ(x.sample.params.seed, y.sample.params.seed);
    EXPECT_EQ(x.sample.stream, y.sample.stream);
    EXPECT_EQ(x.sample.logprobs, y.sample.logprobs);
  }
}

TEST(StepPlanTest, RoundTrips) {
  for (const ServePlan& plan : {Sample(), ServePlan{}, ServePlan{true}}) {
    auto back = DecodePlan(EncodePlan(plan));
    ASSERT_TRUE(back.ok()) << back.status();
    ExpectSame(plan, *back);
  }
}

TEST(StepPlanTest, EmptyMeansNothingToDo) {
  EXPECT_TRUE(ServePlan{}.empty());
  EXPECT_FALSE(ServePlan{true}.empty());
  EXPECT_FALSE(Sample().empty());
}

TEST(StepPlanTest, RefusesAnotherVersion) {
  StepPlanProto p;
  ASSERT_TRUE(p.ParseFromString(EncodePlan(Sample())));
  p.set_version(kPlanVersion + 1);
  auto got = DecodePlan(p.SerializeAsString());
  EXPECT_EQ(got.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(got.status().message().find("version"), absl::string_view::npos);
}

TEST(StepPlanTest, RefusesBytesThatAreNoPlan) {
  std::string bytes = EncodePlan(Sample());
  for (const std::string& bad :
       {std::string("\xff\xff\xff", 3), bytes.substr(0, bytes.size() / 2),
        std::string()}) {
    EXPECT_EQ(DecodePlan(bad).status().code(), absl::StatusCode::kDataLoss)
        << bad.size();
  }
}

TEST(StepPlanTest, RefusesAnUnknownLogitsKind) {
  StepPlanProto p;
  ASSERT_TRUE(p.ParseFromString(EncodePlan(Sample())));
  p.mutable_items(0)->set_logits(3);
  EXPECT_EQ(DecodePlan(p.SerializeAsString()).status().code(),
            absl::StatusCode::kDataLoss);
}

}  // namespace
}  // namespace df11::serve
