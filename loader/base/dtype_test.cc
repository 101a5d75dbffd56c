#include "loader/base/dtype.h"

#include <cstdint>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace df11 {
namespace {

TEST(DtypeTest, NamesAndSizesRoundTrip) {
  struct Case {
    const char* name;
    Dtype dtype;
    size_t size;
  };
  const Case cases[] = {
      {"BOOL", Dtype::kBool, 1},      {"U8", Dtype::kU8, 1},
      {"I8", Dtype::kI8, 1},          {"U16", Dtype::kU16, 2},
      {"I16", Dtype::kI16, 2},        {"F16", Dtype::kF16, 2},
      {"BF16", Dtype::kBF16, 2},      {"U32", Dtype::kU32, 4},
      {"I32", Dtype::kI32, 4},        {"F32", Dtype::kF32, 4},
      {"U64", Dtype::kU64, 8},        {"I64", Dtype::kI64, 8},
      {"F64", Dtype::kF64, 8},        {"F8_E4M3", Dtype::kF8E4M3, 1},
      {"F8_E5M2", Dtype::kF8E5M2, 1},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    absl::StatusOr<Dtype> d = ParseDtype(c.name);
    ASSERT_TRUE(d.ok()) << d.status();
    EXPECT_EQ(*d, c.dtype);
    EXPECT_EQ(DtypeName(c.dtype), c.name);
    EXPECT_EQ(DtypeSize(c.dtype), c.size);
  }
}

TEST(DtypeTest, UnknownNameIsInvalidArgumentNamingIt) {
  for (const char* name : {"bf16", "", "BF16 ", "Q8"}) {
    absl::StatusOr<Dtype> d = ParseDtype(name);
    EXPECT_EQ(d.status().code(), absl::StatusCode::kInvalidArgument) << name;
    EXPECT_NE(d.status().message().find(absl::StrCat("'", name, "'")),
              absl::string_view::npos)
        << d.status();
  }
}

TEST(NumElementsTest, ProductOfDimensions) {
  struct Case {
    std::vector<uint64_t> shape;
    uint64_t elements;
  };
  const Case cases[] = {
      {{}, 1},
      {{0}, 0},
      {{7}, 7},
      {{3, 0, 5}, 0},
      {{389, 64}, 24896},
      {{1, 1, 1, 1}, 1},
      {{uint64_t{1} << 32, 3}, uint64_t{3} << 32},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(NumElements(c.shape), c.elements);
  }
}

}  // namespace
}  // namespace df11
