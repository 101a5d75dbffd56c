// Annotate keeps the code and payloads and prefixes the message; OK stays
// OK. RETURN_IF_ERROR and ASSIGN_OR_RETURN pass errors through unchanged.
#include "loader/base/status_macros.h"

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/cord.h"
#include "gtest/gtest.h"

namespace df11 {
namespace {

struct AnnotateCase {
  absl::StatusCode code;
  const char* message;
  const char* context;
  const char* want;
};

class AnnotateTest : public testing::TestWithParam<AnnotateCase> {};

TEST_P(AnnotateTest, PrefixesTheMessageAndKeepsTheCode) {
  const AnnotateCase& c = GetParam();
  const absl::Status annotated =
      Annotate(absl::Status(c.code, c.message), c.context);
  EXPECT_EQ(annotated.code(), c.code);
  EXPECT_EQ(annotated.message(), c.want);
}

INSTANTIATE_TEST_SUITE_P(
    Codes, AnnotateTest,
    testing::Values(AnnotateCase{absl::StatusCode::kDataLoss,
                                 "checksum mismatch", "rank-03.safetensors",
                                 "rank-03.safetensors: checksum mismatch"},
                    AnnotateCase{absl::StatusCode::kInvalidArgument,
                                 "bad shape", "layer 12 o_proj",
                                 "layer 12 o_proj: bad shape"},
                    AnnotateCase{absl::StatusCode::kResourceExhausted, "",
                                 "alloc", "alloc: "},
                    AnnotateCase{absl::StatusCode::kInternal, "x", "", ": x"}));

TEST(AnnotateOkTest, OkStaysOk) {
  EXPECT_TRUE(Annotate(absl::OkStatus(), "context").ok());
  EXPECT_EQ(Annotate(absl::OkStatus(), "context").message(), "");
}

TEST(AnnotatePayloadTest, KeepsPayloads) {
  absl::Status s = absl::NotFoundError("no such tensor");
  s.SetPayload("type.df11/a", absl::Cord("1"));
  s.SetPayload("type.df11/b", absl::Cord("2"));
  const absl::Status annotated = Annotate(Annotate(s, "inner"), "outer");
  EXPECT_EQ(annotated.message(), "outer: inner: no such tensor");
  EXPECT_EQ(annotated.GetPayload("type.df11/a"), absl::Cord("1"));
  EXPECT_EQ(annotated.GetPayload("type.df11/b"), absl::Cord("2"));
}

absl::Status Passes(const absl::Status& s) {
  RETURN_IF_ERROR(s);
  return absl::OkStatus();
}

absl::StatusOr<int> Doubles(const absl::StatusOr<int>& v) {
  ASSIGN_OR_RETURN(const int x, v);
  return 2 * x;
}

TEST(StatusMacrosTest, PassErrorsThroughUnchanged) {
  EXPECT_TRUE(Passes(absl::OkStatus()).ok());
  EXPECT_EQ(Passes(absl::AbortedError("a")), absl::AbortedError("a"));
  EXPECT_EQ(*Doubles(21), 42);
  EXPECT_EQ(Doubles(absl::UnknownError("u")).status(), absl::UnknownError("u"));
}

}  // namespace
}  // namespace df11
