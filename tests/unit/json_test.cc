#include "common/json.h"

#include <gtest/gtest.h>

#include "test_util.h"

using atelier::json;
using atelier::JsonIn;
using atelier::parse_json_body;
using atelier::testing::api_error;

// The message of the ApiError `f` throws (and checks it is the default 400).
template <class F>
static std::string field_error(F&& f) {
  auto e = api_error(f);
  if (!e) {
    ADD_FAILURE() << "no ApiError thrown";
    return "";
  }
  EXPECT_EQ(e->status(), 400);
  EXPECT_EQ(e->code(), "ModelArts.0101");
  return e->what();
}

TEST(Json, ParseBodyAcceptsObject) {
  json j = parse_json_body(R"({"a": 1, "b": {"c": "x"}})");
  EXPECT_EQ(j["a"], 1);
  EXPECT_EQ(j["b"]["c"], "x");
  EXPECT_TRUE(parse_json_body(" {} ").empty());
}

TEST(Json, ParseBodyEmpty) {
  EXPECT_API_ERROR(parse_json_body(""), 400, "ModelArts.0101");
  EXPECT_API_ERROR(parse_json_body(" \r\n\t"), 400, "ModelArts.0101");
  json j = parse_json_body("", /*allow_empty=*/true);
  EXPECT_TRUE(j.is_object());
  EXPECT_TRUE(j.empty());
  EXPECT_TRUE(parse_json_body("  \n", true).is_object());
}

TEST(Json, ParseBodyMalformed) {
  for (const char* s : {"{", "{\"a\":}", "{'a': 1}", "{} x", "{\"a\": 1,}", "nul", "{\"a\" 1}"}) {
    auto e = api_error([&] { parse_json_body(s); });
    ASSERT_TRUE(e) << s;
    EXPECT_EQ(e->status(), 400) << s;
    EXPECT_EQ(e->code(), "ModelArts.0101") << s;
    EXPECT_NE(std::string(e->what()).find("not valid JSON"), std::string::npos) << e->what();
  }
  // allow_empty does not excuse a malformed body.
  EXPECT_API_ERROR(parse_json_body("{", true), 400, "ModelArts.0101");
}

TEST(Json, ParseBodyNonObject) {
  for (const char* s : {"[]", "[1,2]", "1", "\"str\"", "null", "true"}) {
    auto e = api_error([&] { parse_json_body(s); });
    ASSERT_TRUE(e) << s;
    EXPECT_EQ(e->status(), 400);
    EXPECT_NE(std::string(e->what()).find("must be a JSON object"), std::string::npos) << s << ": " << e->what();
  }
}

TEST(Json, StrRequiredAndNonEmpty) {
  json j = {{"name", "alice"}, {"empty", ""}, {"num", 5}, {"nul", nullptr}};
  JsonIn in(j);
  EXPECT_EQ(in.str("name"), "alice");
  EXPECT_EQ(field_error([&] { in.str("missing"); }), "Invalid parameter missing: is required");
  EXPECT_EQ(field_error([&] { in.str("nul"); }), "Invalid parameter nul: is required");
  EXPECT_EQ(field_error([&] { in.str("empty"); }), "Invalid parameter empty: must not be empty");
  EXPECT_EQ(field_error([&] { in.str("num"); }), "Invalid parameter num: must be a string");
}

TEST(Json, NestedErrorsNameDottedField) {
  json j = json::parse(R"({"user": {"name": 7, "profile": {"age": "x"}, "tags": {}}})");
  JsonIn root(j);
  JsonIn user = root.obj("user");
  EXPECT_EQ(field_error([&] { user.str("name"); }), "Invalid parameter user.name: must be a string");
  EXPECT_EQ(field_error([&] { user.str("missing"); }), "Invalid parameter user.missing: is required");
  JsonIn profile = user.obj("profile");
  EXPECT_EQ(field_error([&] { profile.opt_int("age", 0, 200); }),
            "Invalid parameter user.profile.age: must be an integer");
  EXPECT_EQ(field_error([&] { user.arr("tags"); }), "Invalid parameter user.tags: must be an array");
  EXPECT_EQ(field_error([&] { root.obj("nope"); }), "Invalid parameter nope: is required");
  EXPECT_EQ(field_error([&] { user.obj("name"); }), "Invalid parameter user.name: must be an object");
  EXPECT_EQ(user.field("x"), "user.x");
  EXPECT_EQ(JsonIn(j, "body").field("x"), "body.x");
}

TEST(Json, OptionalAccessors) {
  json j = json::parse(R"({"s": "v", "b": true, "i": 42, "neg": -3, "f": 1.5, "bs": "true",
                          "big": 18446744073709551615, "o": {"k": 1}, "nul": null})");
  JsonIn in(j);
  EXPECT_EQ(in.opt_str("s"), "v");
  EXPECT_FALSE(in.opt_str("missing").has_value());
  EXPECT_FALSE(in.opt_str("nul").has_value());
  EXPECT_EQ(field_error([&] { in.opt_str("i"); }), "Invalid parameter i: must be a string");

  EXPECT_EQ(in.opt_bool("b"), true);
  EXPECT_FALSE(in.opt_bool("missing").has_value());
  EXPECT_EQ(field_error([&] { in.opt_bool("bs"); }), "Invalid parameter bs: must be a boolean");
  EXPECT_EQ(field_error([&] { in.opt_bool("i"); }), "Invalid parameter i: must be a boolean");

  EXPECT_EQ(in.opt_int("i", 0, 100), 42);
  EXPECT_EQ(in.opt_int("neg", -10, 10), -3);
  EXPECT_EQ(in.opt_int("i", 42, 42), 42);  // bounds are inclusive
  EXPECT_FALSE(in.opt_int("missing", 0, 1).has_value());
  EXPECT_EQ(field_error([&] { in.opt_int("i", 0, 41); }), "Invalid parameter i: must be between 0 and 41");
  EXPECT_EQ(field_error([&] { in.opt_int("neg", 0, 10); }), "Invalid parameter neg: must be between 0 and 10");
  EXPECT_EQ(field_error([&] { in.opt_int("f", 0, 10); }), "Invalid parameter f: must be an integer");
  EXPECT_EQ(field_error([&] { in.opt_int("s", 0, 10); }), "Invalid parameter s: must be an integer");
  EXPECT_EQ(field_error([&] { in.opt_int("b", 0, 10); }), "Invalid parameter b: must be an integer");
  // An unsigned value beyond int64 must not wrap to a negative number that passes the range.
  EXPECT_EQ(field_error([&] { in.opt_int("big", -1, 1000); }),
            "Invalid parameter big: must be between -1 and 1000");

  auto o = in.opt_obj("o");
  ASSERT_TRUE(o.has_value());
  EXPECT_EQ(o->node()["k"], 1);
  EXPECT_FALSE(in.opt_obj("missing").has_value());
  EXPECT_EQ(field_error([&] { in.opt_obj("s"); }), "Invalid parameter s: must be an object");

  EXPECT_TRUE(in.has("s"));
  EXPECT_FALSE(in.has("nul"));
  EXPECT_FALSE(in.has("missing"));
}

TEST(Json, EnumAndMaxLen) {
  json j = {{"mode", "fast"}, {"bad", "medium"}};
  JsonIn in(j);
  EXPECT_EQ(in.enum_str("mode", {"fast", "slow"}), "fast");
  EXPECT_EQ(field_error([&] { in.enum_str("bad", {"fast", "slow"}); }),
            "Invalid parameter bad: must be one of fast, slow");
  EXPECT_EQ(field_error([&] { in.enum_str("missing", {"fast"}); }), "Invalid parameter missing: is required");
  EXPECT_EQ(in.max_len("mode", "abcd", 4), "abcd");
  EXPECT_EQ(field_error([&] { in.max_len("mode", "abcde", 4); }),
            "Invalid parameter mode: must be at most 4 characters");
}

namespace {
struct IamErrors : atelier::FieldErrorFactory {
  atelier::ApiError make(const std::string& field, const std::string& problem) const override {
    return atelier::ApiError(400, "IAM.0073", field + "|" + problem);
  }
};
}  // namespace

TEST(Json, CustomErrorFactoryPropagatesToChildren) {
  IamErrors f;
  json j = json::parse(R"({"user": {"name": ""}})");
  JsonIn in(j, "", &f);
  auto e = api_error([&] { in.obj("user").str("name"); });
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code(), "IAM.0073");
  EXPECT_EQ(std::string(e->what()), "user.name|must not be empty");
}

TEST(Json, NestingLimit) {
  auto nested = [](size_t n) { return "{\"k\":" + std::string(n - 1, '[') + std::string(n - 1, ']') + "}"; };
  EXPECT_NO_THROW(parse_json_body(nested(atelier::kMaxJsonDepth)));
  for (size_t n : {atelier::kMaxJsonDepth + 1, size_t(100000)}) {
    auto e = api_error([&] { parse_json_body(nested(n)); });
    ASSERT_TRUE(e) << n;
    EXPECT_EQ(e->status(), 400);
    EXPECT_NE(std::string(e->what()).find("deeper than 64"), std::string::npos) << e->what();
  }
  bool too_deep = true;
  EXPECT_FALSE(atelier::parse_json_limited("[[1],{\"a\":[2]}]", &too_deep).is_discarded());
  EXPECT_FALSE(too_deep);
  EXPECT_TRUE(atelier::parse_json_limited(std::string(65, '[') + std::string(65, ']'), &too_deep).is_discarded());
  EXPECT_TRUE(too_deep);
  EXPECT_TRUE(atelier::parse_json_limited("[1,", &too_deep).is_discarded());
  EXPECT_FALSE(too_deep);
}

TEST(Json, ValidUtf8) {
  for (const char* s : {"", "abc", "\xc3\xa9", "\xe2\x80\xae", "\xf0\x9f\x98\x80", "\xef\xbf\xbf"})
    EXPECT_TRUE(atelier::valid_utf8(s)) << s;
  for (const char* s : {"\xff", "\xc3", "\xc0\xaf", "\xe0\x80\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "a\x80",
                        "\xe2\x80", "\xf8\x88\x80\x80\x80"})
    EXPECT_FALSE(atelier::valid_utf8(s)) << s;
}

TEST(Json, ParseRatio) {
  EXPECT_EQ(atelier::parse_ratio("0.8"), 0.8);
  EXPECT_EQ(atelier::parse_ratio("1.00"), 1.0);
  EXPECT_EQ(atelier::parse_ratio("0"), 0.0);
  EXPECT_EQ(atelier::parse_ratio(".5"), 0.5);
  for (const char* s : {"", ".", "1e-400", "1e-320", "nan", "NaN", "inf", "-0.5", "+0.5", "1.5", " 0.5", "0.5 ", "0x1p-3",
                        "0.5e0", "1..0", "0.000000000000000000000000000000001"})
    EXPECT_FALSE(atelier::parse_ratio(s)) << s;
}
