#include "loader/base/strict_json.h"

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace df11 {
namespace {

using ::testing::HasSubstr;
using Json = nlohmann::json;

struct ParseCase {
  const char* label;
  std::string text;
  const char* message;  // the whole message; "" when the text is valid
};

class ParseStrictJsonTest : public ::testing::TestWithParam<ParseCase> {};

TEST_P(ParseStrictJsonTest, RejectsDuplicateKeysNamingThePath) {
  const ParseCase& c = GetParam();
  absl::StatusOr<Json> json = ParseStrictJson(c.text, "dir/f.json");
  if (*c.message == '\0') {
    EXPECT_TRUE(json.ok()) << json.status();
    return;
  }
  ASSERT_FALSE(json.ok());
  EXPECT_EQ(json.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(json.status().message(), c.message);
}

INSTANTIATE_TEST_SUITE_P(
    Table, ParseStrictJsonTest,
    ::testing::Values(
        ParseCase{"plain", R"({"a": 1, "b": {"a": 2}, "c": [{"a": 3}]})", ""},
        ParseCase{"same_key_in_siblings",
                  R"([{"k": 1}, {"k": 2}, {"k": {"k": 3}}])", ""},
        ParseCase{"scalar_root", "3", ""},
        ParseCase{"top_level", R"({"a": 1, "b": 2, "a": 3})",
                  "dir/f.json: duplicate key \"a\""},
        ParseCase{"nested", R"({"x": {"y": {"k": 1, "k": 1}}})",
                  "dir/f.json: x.y: duplicate key \"k\""},
        ParseCase{"in_array",
                  R"({"tensors": [{"n": 1}, {"n": 2},)"
                  R"( {"shards": [[], {"a": 1, "a": 2}]}]})",
                  "dir/f.json: tensors[2].shards[1]: duplicate key \"a\""},
        ParseCase{"after_nested_containers",
                  R"({"t": [[1, [2]], {"z": 0}, 5, {"q": 1, "q": 1}]})",
                  "dir/f.json: t[3]: duplicate key \"q\""},
        ParseCase{"quoted_key_path",
                  R"({"model.norm.weight": {"dtype": 1, "dtype": 2}})",
                  "dir/f.json: [\"model.norm.weight\"]: duplicate key "
                  "\"dtype\""},
        ParseCase{"first_of_two", R"({"a": {"b": 1, "b": 2}, "c": 1, "c": 2})",
                  "dir/f.json: a: duplicate key \"b\""},
        ParseCase{"syntax", "{\n  \"a\": 1,,\n}",
                  "dir/f.json: not valid JSON: parse error at line 2, column "
                  "10: syntax error while parsing object key - unexpected "
                  "','; expected string literal"},
        ParseCase{"truncated", R"({"a": [1, 2)",
                  "dir/f.json: not valid JSON: parse error at line 1, column "
                  "12: syntax error while parsing array - unexpected end of "
                  "input; expected ']'"},
        ParseCase{"trailing_garbage", "{} x",
                  "dir/f.json: not valid JSON: parse error at line 1, column "
                  "4: syntax error while parsing value - invalid literal; "
                  "last read: '{} x'; expected end of input"},
        ParseCase{"empty", "",
                  "dir/f.json: not valid JSON: parse error at line 1, column "
                  "1: syntax error while parsing value - unexpected end of "
                  "input; expected '[', '{', or a literal"}),
    [](const auto& info) { return std::string(info.param.label); });

TEST(ParseStrictJsonTest, InvalidUtf8IsNotValidJson) {
  absl::StatusOr<Json> json = ParseStrictJson("{\"a\xff\": 1}", "f.json");
  ASSERT_FALSE(json.ok());
  EXPECT_THAT(std::string(json.status().message()),
              HasSubstr("f.json: not valid JSON: parse error at line 1"));
}

TEST(JsonPathTest, IdentifiersJoinWithADotOthersAreQuoted) {
  EXPECT_EQ(JsonPathJoin("", "a"), "a");
  EXPECT_EQ(JsonPathJoin("a", "b_2"), "a.b_2");
  EXPECT_EQ(JsonPathJoin("a", "_x"), "a._x");
  EXPECT_EQ(JsonPathJoin("a", "2b"), "a[\"2b\"]");
  EXPECT_EQ(JsonPathJoin("vocab", "<s>"), "vocab[\"<s>\"]");
  EXPECT_EQ(JsonPathJoin("", "x.y"), "[\"x.y\"]");
  EXPECT_EQ(JsonPathJoin("m", ""), "m[\"\"]");
  EXPECT_EQ(JsonPathJoin("m", "q\""), "m[\"q\\\"\"]");
  EXPECT_EQ(JsonPathIndex("t", 3), "t[3]");
  EXPECT_EQ(JsonPathIndex("", 0), "[0]");
}

const char kDoc[] = R"({
  "u": 7, "neg": -2, "big": 18446744073709551615, "f": 1.5, "fi": 2.0,
  "s": "text", "b": true, "n": null, "arr": [1, "x", {"k": 1}],
  "obj": {"a": 1, "b.c": {"d": [true]}},
  "long": "0123456789012345678901234567890123456789012345"
})";

// A read of one value of kDoc, by its path.
struct ReadCase {
  const char* label;
  std::function<absl::Status(const JsonNode& doc)> read;
  const char* message;  // the whole message; "" when the read succeeds
};

class JsonNodeReadTest : public ::testing::TestWithParam<ReadCase> {};

TEST_P(JsonNodeReadTest, NamesTheFileThePathAndTheValue) {
  const Json json = Json::parse(kDoc);
  const JsonNode doc(json, "d.json");
  const absl::Status status = GetParam().read(doc);
  if (*GetParam().message == '\0') {
    EXPECT_TRUE(status.ok()) << status;
  } else {
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(status.message(), GetParam().message);
  }
}

// The status of reading `v` with `expect` as the wanted value.
template <typename T>
absl::Status Want(const absl::StatusOr<T>& v, const T& expect) {
  if (!v.ok()) return v.status();
  if (*v != expect) return absl::InternalError("wrong value");
  return absl::OkStatus();
}

constexpr uint64_t kU64Max = std::numeric_limits<uint64_t>::max();

INSTANTIATE_TEST_SUITE_P(
    Table, JsonNodeReadTest,
    ::testing::Values(
        ReadCase{"u64", [](auto& d) { return Want(d.Field("u").U64(), 7ul); },
                 ""},
        ReadCase{"u64_max",
                 [](auto& d) { return Want(d.Field("big").U64(), kU64Max); },
                 ""},
        ReadCase{"u64_negative",
                 [](auto& d) { return d.Field("neg").U64().status(); },
                 "d.json: neg: expected an unsigned integer, got -2"},
        ReadCase{"u64_float",
                 [](auto& d) { return d.Field("fi").U64().status(); },
                 "d.json: fi: expected an unsigned integer, got 2.0"},
        ReadCase{"u64_range",
                 [](auto& d) { return d.Field("u").U64(8, 10).status(); },
                 "d.json: u: expected an integer in [8, 10], got 7"},
        ReadCase{"u64_minimum",
                 [](auto& d) { return d.Field("u").U64(8).status(); },
                 "d.json: u: expected an integer >= 8, got 7"},
        ReadCase{"u64_missing",
                 [](auto& d) { return d.Field("nope").U64().status(); },
                 "d.json: nope: missing"},
        ReadCase{"u64_null",
                 [](auto& d) { return d.Field("n").U64().status(); },
                 "d.json: n: expected an unsigned integer, got null"},
        ReadCase{"int", [](auto& d) { return Want(d.Field("neg").Int(), -2l); },
                 ""},
        ReadCase{"int_range",
                 [](auto& d) { return d.Field("neg").Int(0, 5).status(); },
                 "d.json: neg: expected an integer in [0, 5], got -2"},
        ReadCase{"int_too_big",
                 [](auto& d) { return d.Field("big").Int(0).status(); },
                 "d.json: big: expected an integer >= 0, got "
                 "18446744073709551615"},
        ReadCase{"int_string",
                 [](auto& d) { return d.Field("s").Int().status(); },
                 "d.json: s: expected an integer, got \"text\""},
        ReadCase{"double_of_int",
                 [](auto& d) { return Want(d.Field("u").Double(), 7.0); }, ""},
        ReadCase{"double_above",
                 [](auto& d) { return d.Field("neg").Double(0).status(); },
                 "d.json: neg: expected a number > 0, got -2"},
        ReadCase{"double_bool",
                 [](auto& d) { return d.Field("b").Double().status(); },
                 "d.json: b: expected a number, got true"},
        ReadCase{"bool",
                 [](auto& d) { return Want(d.Field("b").Bool(), true); }, ""},
        ReadCase{"bool_int",
                 [](auto& d) { return d.Field("u").Bool().status(); },
                 "d.json: u: expected true or false, got 7"},
        ReadCase{"string",
                 [](auto& d) {
                   return Want(d.Field("s").String(), std::string("text"));
                 },
                 ""},
        ReadCase{"string_long_value_is_cut",
                 [](auto& d) { return d.Field("arr").String().status(); },
                 "d.json: arr: expected a string, got [1,\"x\",{\"k\":1}]"},
        ReadCase{"long_value_is_cut",
                 [](auto& d) { return d.Field("long").Int().status(); },
                 "d.json: long: expected an integer, got "
                 "\"012345678901234567890123456789012345678..."},
        ReadCase{"nested_path",
                 [](auto& d) {
                   return d.Field("obj").Field("b.c").Field("d").U64().status();
                 },
                 "d.json: obj[\"b.c\"].d: expected an unsigned integer, got "
                 "[true]"},
        ReadCase{"field_of_non_object",
                 [](auto& d) { return d.Field("u").Field("x").Int().status(); },
                 "d.json: u.x: missing"},
        ReadCase{"element_path",
                 [](auto& d) -> absl::Status {
                   absl::StatusOr<std::vector<JsonNode>> e =
                       d.Field("arr").Elements();
                   if (!e.ok()) return e.status();
                   return (*e)[2].Field("k").String().status();
                 },
                 "d.json: arr[2].k: expected a string, got 1"},
        ReadCase{"elements_of_object",
                 [](auto& d) { return d.Field("obj").Elements().status(); },
                 "d.json: obj: expected an array, got {\"a\":1,\"b.c\":{\"d\":"
                 "[true]}}"},
        ReadCase{"member_path",
                 [](auto& d) -> absl::Status {
                   auto m = d.Field("obj").Members();
                   if (!m.ok()) return m.status();
                   if (m->size() != 2 || (*m)[0].first != "a" ||
                       (*m)[1].first != "b.c") {
                     return absl::InternalError("wrong members");
                   }
                   return (*m)[1].second.Bool().status();
                 },
                 "d.json: obj[\"b.c\"]: expected true or false, got "
                 "{\"d\":[true]}"},
        ReadCase{"members_of_array",
                 [](auto& d) { return d.Field("arr").Members().status(); },
                 "d.json: arr: expected an object, got [1,\"x\",{\"k\":1}]"},
        ReadCase{"root_error", [](auto& d) { return d.Error("not a model"); },
                 "d.json: not a model"},
        ReadCase{"expect_object_missing",
                 [](auto& d) { return d.Field("x").ExpectObject(); },
                 "d.json: x: missing"},
        ReadCase{"known_fields",
                 [](auto& d) {
                   return d.Field("obj").ExpectFields({"a", "b.c"});
                 },
                 ""},
        ReadCase{"unknown_field",
                 [](auto& d) {
                   return d.Field("obj").ExpectFields({"a", "b"});
                 },
                 "d.json: obj: unknown field \"b.c\" (known: a, b)"},
        ReadCase{"unknown_field_at_root",
                 [](auto& d) { return d.ExpectFields({"u"}); },
                 "d.json: unknown field \"arr\" (known: u)"},
        ReadCase{"fields_of_string",
                 [](auto& d) { return d.Field("s").ExpectFields({"a"}); },
                 "d.json: s: expected an object, got \"text\""},
        ReadCase{"optional_absent",
                 [](auto& d) -> absl::Status {
                   absl::Status s = Want(d.Field("x").BoolOr(true), true);
                   if (s.ok()) s = Want(d.Field("x").IntOr(-4), -4l);
                   if (s.ok()) s = Want(d.Field("x").DoubleOr(0.5), 0.5);
                   if (s.ok())
                     s = Want(d.Field("x").StringOr("dflt"),
                              std::string("dflt"));
                   return s;
                 },
                 ""},
        ReadCase{"optional_null",
                 [](auto& d) -> absl::Status {
                   absl::Status s = Want(d.Field("n").BoolOr(false), false);
                   if (s.ok()) s = Want(d.Field("n").IntOr(3, 0, 9), 3l);
                   return s;
                 },
                 ""},
        ReadCase{"optional_present",
                 [](auto& d) { return Want(d.Field("u").IntOr(3, 0, 9), 7l); },
                 ""},
        ReadCase{"optional_wrong_type",
                 [](auto& d) { return d.Field("s").BoolOr(false).status(); },
                 "d.json: s: expected true or false, got \"text\""},
        ReadCase{"optional_out_of_range",
                 [](auto& d) { return d.Field("u").IntOr(1, 1, 5).status(); },
                 "d.json: u: expected an integer in [1, 5], got 7"},
        ReadCase{"optional_double_above",
                 [](auto& d) { return d.Field("f").DoubleOr(1, 2).status(); },
                 "d.json: f: expected a number > 2, got 1.5"}),
    [](const auto& info) { return std::string(info.param.label); });

TEST(JsonNodeTest, PresenceAndNull) {
  const Json json = Json::parse(kDoc);
  const JsonNode doc(json, "d.json");
  EXPECT_TRUE(doc.present());
  EXPECT_TRUE(doc.Field("n").present());
  EXPECT_TRUE(doc.Field("n").absent_or_null());
  EXPECT_FALSE(doc.Field("nope").present());
  EXPECT_TRUE(doc.Field("nope").absent_or_null());
  EXPECT_FALSE(doc.Field("u").absent_or_null());
  EXPECT_EQ(doc.Field("obj").Field("b.c").path(), "obj[\"b.c\"]");
  EXPECT_EQ(doc.Field("u").where(), "d.json");
}

TEST(JsonNodeTest, AWhereThatNamesMoreThanAFile) {
  const Json json = Json::parse(R"({"dtype": 3})");
  const JsonNode entry(json, "x.safetensors: tensor 'w'");
  EXPECT_EQ(entry.Field("dtype").String().status().message(),
            "x.safetensors: tensor 'w': dtype: expected a string, got 3");
}

}  // namespace
}  // namespace df11
