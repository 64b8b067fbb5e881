#include "http/http.h"

#include <gtest/gtest.h>

using namespace atelier::http;

TEST(PercentDecode, Valid) {
  std::string out;
  ASSERT_TRUE(percent_decode("plain", out));
  EXPECT_EQ(out, "plain");
  ASSERT_TRUE(percent_decode("a%2Fb", out));
  EXPECT_EQ(out, "a/b");
  ASSERT_TRUE(percent_decode("%41%42%43", out));
  EXPECT_EQ(out, "ABC");
  ASSERT_TRUE(percent_decode("%e4%B8%ad", out));  // either hex case
  EXPECT_EQ(out, "\xe4\xb8\xad");
  ASSERT_TRUE(percent_decode("a+b%20c", out));  // '+' is not a space here
  EXPECT_EQ(out, "a+b c");
  ASSERT_TRUE(percent_decode("%00", out));
  EXPECT_EQ(out, std::string(1, '\0'));
  ASSERT_TRUE(percent_decode("%2525", out));  // decoded once only
  EXPECT_EQ(out, "%25");
  ASSERT_TRUE(percent_decode("", out));
  EXPECT_EQ(out, "");
  ASSERT_TRUE(percent_decode("ends%41", out));
  EXPECT_EQ(out, "endsA");
}

TEST(PercentDecode, MalformedRejected) {
  std::string out;
  for (const char* s : {"%", "%4", "abc%", "abc%4", "%zz", "%4g", "%g4", "a%%41", "%-1", "% 1"}) {
    EXPECT_FALSE(percent_decode(s, out)) << s;
  }
}

TEST(PercentDecode, ClearsOutput) {
  std::string out = "stale";
  ASSERT_TRUE(percent_decode("x", out));
  EXPECT_EQ(out, "x");
}

TEST(PercentEncode, UnreservedKeptOthersUpperHex) {
  EXPECT_EQ(percent_encode("AZaz09-_.~"), "AZaz09-_.~");
  EXPECT_EQ(percent_encode("a b"), "a%20b");
  EXPECT_EQ(percent_encode("a/b"), "a%2Fb");
  EXPECT_EQ(percent_encode("a+b=c&d"), "a%2Bb%3Dc%26d");
  EXPECT_EQ(percent_encode("%"), "%25");
  EXPECT_EQ(percent_encode("\xe4\xb8\xad"), "%E4%B8%AD");
  EXPECT_EQ(percent_encode(std::string(1, '\0')), "%00");
  EXPECT_EQ(percent_encode("*!'()"), "%2A%21%27%28%29");
  EXPECT_EQ(percent_encode(""), "");
}

TEST(PercentEncode, RoundTripEveryByte) {
  std::string all;
  for (int i = 0; i < 256; ++i) all.push_back(char(i));
  std::string out;
  ASSERT_TRUE(percent_decode(percent_encode(all), out));
  EXPECT_EQ(out, all);
}

TEST(Headers, CaseInsensitiveLookup) {
  Headers h;
  h.add("Content-Type", "application/json");
  h.add("X-Sdk-Date", "20210302T091500Z");
  EXPECT_EQ(h.get("content-type"), "application/json");
  EXPECT_EQ(h.get("CONTENT-TYPE"), "application/json");
  EXPECT_TRUE(h.has("x-sdk-date"));
  EXPECT_FALSE(h.has("x-sdk-dat"));
  EXPECT_FALSE(h.has("Content-Type2"));
  EXPECT_EQ(h.get("missing"), "");
}

TEST(Headers, EmptyValueVsAbsent) {
  Headers h;
  h.add("X-Empty", "");
  EXPECT_TRUE(h.has("x-empty"));
  EXPECT_EQ(h.get("x-empty"), "");
  EXPECT_FALSE(h.has("x-other"));
}

TEST(Headers, MultipleValuesInOrder) {
  Headers h;
  h.add("Accept", "a");
  h.add("X-Other", "o");
  h.add("ACCEPT", "b");
  h.add("accept", "c");
  EXPECT_EQ(h.get("accept"), "a");  // first one
  auto all = h.all("Accept");
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0], "a");
  EXPECT_EQ(all[1], "b");
  EXPECT_EQ(all[2], "c");
  EXPECT_TRUE(h.all("none").empty());
  ASSERT_EQ(h.items().size(), 4u);
  EXPECT_EQ(h.items()[2].first, "ACCEPT");  // name kept as sent
}

TEST(Headers, SetReplacesAllCaseVariants) {
  Headers h;
  h.add("Content-Length", "1");
  h.add("X-Keep", "k");
  h.add("content-length", "2");
  h.set("CONTENT-LENGTH", "3");
  auto all = h.all("content-length");
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0], "3");
  EXPECT_EQ(h.get("x-keep"), "k");
  EXPECT_EQ(h.items().size(), 2u);
  h.set("New", "n");
  EXPECT_EQ(h.get("new"), "n");
}

static Request req_with_query(std::string q) {
  Request r;
  r.method = "GET";
  r.raw_query = std::move(q);
  return r;
}

TEST(RequestQuery, ParsesPairsInArrivalOrder) {
  Request r = req_with_query("b=2&a=1&b=3");
  auto q = r.query();
  ASSERT_EQ(q.size(), 3u);
  EXPECT_EQ(q[0], (std::pair<std::string, std::string>{"b", "2"}));
  EXPECT_EQ(q[1], (std::pair<std::string, std::string>{"a", "1"}));
  EXPECT_EQ(q[2], (std::pair<std::string, std::string>{"b", "3"}));
  ASSERT_NE(r.query_param("b"), nullptr);
  EXPECT_EQ(*r.query_param("b"), "2");  // first value
  EXPECT_EQ(*r.query_param("a"), "1");
  EXPECT_EQ(r.query_param("c"), nullptr);
  EXPECT_EQ(r.query_param("B"), nullptr);  // keys are case-sensitive
}

TEST(RequestQuery, DecodingAndEdgeCases) {
  Request r = req_with_query("name=a%20b&plus=a+b&flag&empty=&&k%3D=v%3D1&bad=%zz&%41=x&=novalue");
  auto q = r.query();
  std::vector<std::pair<std::string, std::string>> want = {
      {"name", "a b"}, {"plus", "a b"}, {"flag", ""}, {"empty", ""},
      {"k=", "v=1"},   {"bad", "%zz"},  {"A", "x"},   {"", "novalue"}};
  EXPECT_EQ(q, want);
  EXPECT_EQ(*r.query_param("flag"), "");
  EXPECT_EQ(*r.query_param("plus"), "a b");
}

TEST(RequestQuery, EmptyAndTrailingSeparators) {
  EXPECT_TRUE(req_with_query("").query().empty());
  EXPECT_TRUE(req_with_query("&&&").query().empty());
  auto q = req_with_query("a=1&").query();
  ASSERT_EQ(q.size(), 1u);
  EXPECT_EQ(q[0].second, "1");
  auto q2 = req_with_query("&a=1").query();
  ASSERT_EQ(q2.size(), 1u);
  EXPECT_EQ(q2[0].first, "a");
  // Only the first '=' splits.
  auto q3 = req_with_query("expr=a=b").query();
  ASSERT_EQ(q3.size(), 1u);
  EXPECT_EQ(q3[0].second, "a=b");
}

TEST(RequestQuery, QueryParamBeforeQuery) {
  Request r = req_with_query("limit=10");
  ASSERT_NE(r.query_param("limit"), nullptr);  // parses lazily without an explicit query()
  EXPECT_EQ(*r.query_param("limit"), "10");
  EXPECT_EQ(r.query().size(), 1u);  // and only once
}

TEST(ReasonPhrase, Common) {
  EXPECT_STREQ(reason_phrase(200), "OK");
  EXPECT_STREQ(reason_phrase(401), "Unauthorized");
  EXPECT_STREQ(reason_phrase(403), "Forbidden");
  EXPECT_STREQ(reason_phrase(404), "Not Found");
  EXPECT_STREQ(reason_phrase(405), "Method Not Allowed");
  EXPECT_STREQ(reason_phrase(500), "Internal Server Error");
}
