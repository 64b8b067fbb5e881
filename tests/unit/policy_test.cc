#include "iam/policy.h"

#include <gtest/gtest.h>

#include "test_util.h"

using namespace atelier;
using namespace atelier::iam;

namespace {

std::shared_ptr<const Policy> pol(const char* text, bool custom = true) {
  return std::make_shared<const Policy>(parse_policy(json::parse(text), custom));
}

// One Allow statement on `action` with `condition` (JSON object text).
std::shared_ptr<const Policy> allow_if(const std::string& condition, const std::string& action = "modelarts:*:*") {
  return pol(("{\"Version\":\"1.1\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":[\"" + action +
              "\"],\"Condition\":" + condition + "}]}")
                 .c_str());
}

Decision eval1(const std::shared_ptr<const Policy>& p, const std::string& action, const Facts& facts = {}) {
  return evaluate({p}, action, facts);
}

bool holds(const std::string& condition, const Facts& facts) {
  return conditions_hold(json::parse(condition), facts);
}

json doc_with_statements(size_t n) {
  json st = json::array();
  for (size_t i = 0; i < n; ++i) st.push_back({{"Effect", "Allow"}, {"Action", {"modelarts:dataset:list"}}});
  return {{"Version", "1.1"}, {"Statement", st}};
}

json statement_doc(json statement) { return {{"Version", "1.1"}, {"Statement", json::array({statement})}}; }

}  // namespace

// ------------------------------------------------------------ action_matches

TEST(PolicyActionMatches, ExactAndWildcards) {
  EXPECT_TRUE(action_matches("modelarts:dataset:list", "modelarts:dataset:list"));
  EXPECT_FALSE(action_matches("modelarts:dataset:list", "modelarts:dataset:get"));
  EXPECT_TRUE(action_matches("modelarts:*:*", "modelarts:dataset:list"));
  EXPECT_TRUE(action_matches("*:*:*", "obs:object:GetObject"));
  EXPECT_TRUE(action_matches("modelarts:dataset:*", "modelarts:dataset:createImportTask"));
  EXPECT_FALSE(action_matches("modelarts:dataset:*", "modelarts:sample:listSamples"));
  EXPECT_TRUE(action_matches("modelarts:*:list", "modelarts:trainJob:list"));
  EXPECT_FALSE(action_matches("modelarts:*:list", "modelarts:trainJob:listAll"));
  EXPECT_TRUE(action_matches("obs:*:get*", "obs:object:GetObject"));
  EXPECT_FALSE(action_matches("obs:*:get*", "obs:object:PutObject"));
  // get* covers both spellings of the dataset read (ModelArts names the action both ways).
  EXPECT_TRUE(action_matches("modelarts:dataset:get*", "modelarts:dataset:get"));
  EXPECT_TRUE(action_matches("modelarts:dataset:get*", "modelarts:dataset:getDataset"));
  EXPECT_FALSE(action_matches("modelarts:dataset:get", "modelarts:dataset:getDataset"));
  EXPECT_TRUE(action_matches("modelarts:*Job*:*", "modelarts:trainJobVersion:stop"));
  EXPECT_TRUE(action_matches("model*:dataset:list", "modelarts:dataset:list"));
}

TEST(PolicyActionMatches, WildcardsStayInsideTheirSegment) {
  // A '*' in one segment must not swallow the ':' separators.
  EXPECT_FALSE(action_matches("modelarts:*", "modelarts:dataset:list"));
  EXPECT_FALSE(action_matches("modelarts:dataset*", "modelarts:dataset:list"));
  EXPECT_FALSE(action_matches("*", "modelarts:dataset:list"));
  EXPECT_FALSE(action_matches("modelarts:dataset?list", "modelarts:dataset:list"));
}

TEST(PolicyActionMatches, ServiceCaseSensitiveRestInsensitive) {
  EXPECT_FALSE(action_matches("ModelArts:dataset:list", "modelarts:dataset:list"));
  EXPECT_FALSE(action_matches("modelarts:dataset:list", "MODELARTS:dataset:list"));
  EXPECT_TRUE(action_matches("modelarts:DATASET:LIST", "modelarts:dataset:list"));
  EXPECT_TRUE(action_matches("modelarts:dataset:getdataset", "modelarts:dataset:getDataset"));
  EXPECT_TRUE(action_matches("obs:OBJECT:get*", "obs:object:GetObject"));
}

TEST(PolicyActionMatches, QuestionMarkIsOneChar) {
  EXPECT_TRUE(action_matches("modelarts:dataset:ge?", "modelarts:dataset:get"));
  EXPECT_FALSE(action_matches("modelarts:dataset:ge?", "modelarts:dataset:ge"));
  EXPECT_FALSE(action_matches("modelarts:dataset:ge?", "modelarts:dataset:gets"));
  EXPECT_TRUE(action_matches("modelarts:?ataset:get", "modelarts:dataset:get"));
  EXPECT_TRUE(action_matches("o?s:*:*", "obs:bucket:ListBucket"));
}

TEST(PolicyActionMatches, MalformedInputs) {
  EXPECT_FALSE(action_matches("", "modelarts:dataset:list"));
  EXPECT_FALSE(action_matches("modelarts:dataset:list", ""));
  EXPECT_FALSE(action_matches("modelarts:dataset:list", "modelarts"));
}

// ------------------------------------------------------------ evaluate

TEST(PolicyEvaluate, DenyWinsOverAllow) {
  auto p = pol(R"({"Version":"1.1","Statement":[
      {"Effect":"Allow","Action":["modelarts:dataset:list","modelarts:dataset:get","modelarts:sample:*"]},
      {"Effect":"Deny","Action":["modelarts:dataset:delete"]}]})");
  EXPECT_EQ(eval1(p, "modelarts:dataset:list"), Decision::kAllow);
  EXPECT_EQ(eval1(p, "modelarts:sample:addSamples"), Decision::kAllow);
  EXPECT_EQ(eval1(p, "modelarts:dataset:delete"), Decision::kDeny);
  EXPECT_EQ(eval1(p, "modelarts:dataset:create"), Decision::kNone);

  // Deny in another policy, in either order, still wins.
  auto all = pol(R"({"Version":"1.1","Statement":[{"Effect":"Allow","Action":["modelarts:*:*"]}]})");
  auto deny = pol(R"({"Version":"1.1","Statement":[{"Effect":"Deny","Action":["modelarts:pool:*"]}]})");
  EXPECT_EQ(evaluate({all, deny}, "modelarts:pool:create", {}), Decision::kDeny);
  EXPECT_EQ(evaluate({deny, all}, "modelarts:pool:create", {}), Decision::kDeny);
  EXPECT_EQ(evaluate({deny, all}, "modelarts:model:create", {}), Decision::kAllow);
  EXPECT_EQ(evaluate({deny}, "modelarts:model:create", {}), Decision::kNone);
  EXPECT_EQ(evaluate({}, "modelarts:model:create", {}), Decision::kNone);
}

TEST(PolicyEvaluate, AllowLimitedToResourcesDoesNotGrantEverywhere) {
  // evaluate() has no resource to compare with; an Allow restricted to one
  // bucket must not turn into an Allow on every bucket (fail safe).
  auto p = pol(R"({"Version":"1.1","Statement":[{"Effect":"Allow","Action":["obs:object:GetObject"],
      "Resource":["obs:*:*:object:bucket-a/*"]}]})");
  EXPECT_NE(eval1(p, "obs:object:GetObject"), Decision::kAllow);
}

TEST(PolicyEvaluate, ConditionGatesStatement) {
  auto p = allow_if(R"({"StringEquals":{"g:ProjectName":["cn-north-4"]}})", "modelarts:dataset:*");
  EXPECT_EQ(eval1(p, "modelarts:dataset:list", {{"g:ProjectName", "cn-north-4"}}), Decision::kAllow);
  EXPECT_EQ(eval1(p, "modelarts:dataset:list", {{"g:ProjectName", "cn-north-1"}}), Decision::kNone);
  EXPECT_EQ(eval1(p, "modelarts:dataset:list", {}), Decision::kNone);
  // A Deny whose condition fails does not deny.
  auto d = pol(R"({"Version":"1.1","Statement":[
      {"Effect":"Allow","Action":["modelarts:*:*"]},
      {"Effect":"Deny","Action":["modelarts:*:delete"],"Condition":{"StringEquals":{"g:UserName":["intern"]}}}]})");
  EXPECT_EQ(eval1(d, "modelarts:dataset:delete", {{"g:UserName", "intern"}}), Decision::kDeny);
  EXPECT_EQ(eval1(d, "modelarts:dataset:delete", {{"g:UserName", "lead"}}), Decision::kAllow);
}

// ------------------------------------------------------------ conditions

TEST(PolicyConditions, StringOperators) {
  Facts f{{"g:ProjectName", "cn-north-4"}, {"g:UserName", "Alice"}};
  EXPECT_TRUE(holds(R"({"StringEquals":{"g:ProjectName":["cn-north-1","cn-north-4"]}})", f));  // values ORed
  EXPECT_FALSE(holds(R"({"StringEquals":{"g:ProjectName":["CN-NORTH-4"]}})", f));
  EXPECT_TRUE(holds(R"({"StringEqualsIgnoreCase":{"g:ProjectName":["CN-NORTH-4"]}})", f));
  EXPECT_TRUE(holds(R"({"StringNotEquals":{"g:ProjectName":["cn-north-1"]}})", f));
  EXPECT_FALSE(holds(R"({"StringNotEquals":{"g:ProjectName":["cn-north-1","cn-north-4"]}})", f));
  EXPECT_TRUE(holds(R"({"StringLike":{"g:ProjectName":["cn-*"]}})", f));
  EXPECT_TRUE(holds(R"({"StringLike":{"g:ProjectName":["cn-north-?"]}})", f));
  EXPECT_FALSE(holds(R"({"StringLike":{"g:ProjectName":["ap-*"]}})", f));
  EXPECT_TRUE(holds(R"({"StringNotLike":{"g:ProjectName":["ap-*"]}})", f));
  EXPECT_TRUE(holds(R"({"StringStartWith":{"g:ProjectName":["cn-"]}})", f));
  EXPECT_FALSE(holds(R"({"StringStartWith":{"g:ProjectName":["north"]}})", f));
  EXPECT_TRUE(holds(R"({"StringNotStartWith":{"g:ProjectName":["ap-"]}})", f));
  EXPECT_TRUE(holds(R"({"StringEndWith":{"g:ProjectName":["-4"]}})", f));
  EXPECT_FALSE(holds(R"({"StringEndWith":{"g:ProjectName":["cn-north-4-x"]}})", f));
  EXPECT_FALSE(holds(R"({"StringNotEndWith":{"g:ProjectName":["-4"]}})", f));
}

TEST(PolicyConditions, OperatorsAndKeysAreAnded) {
  Facts f{{"g:ProjectName", "cn-north-4"}, {"g:UserName", "alice"}};
  EXPECT_TRUE(holds(R"({"StringEquals":{"g:ProjectName":["cn-north-4"],"g:UserName":["alice"]}})", f));
  EXPECT_FALSE(holds(R"({"StringEquals":{"g:ProjectName":["cn-north-4"],"g:UserName":["bob"]}})", f));
  EXPECT_FALSE(holds(R"({"StringEquals":{"g:ProjectName":["cn-north-4"]},"StringStartWith":{"g:UserName":["b"]}})", f));
  EXPECT_TRUE(holds(R"({"StringEquals":{"g:ProjectName":["cn-north-4"]},"StringStartWith":{"g:UserName":["a"]}})", f));
}

TEST(PolicyConditions, Numbers) {
  Facts f{{"g:MFAAge", "5"}};
  EXPECT_TRUE(holds(R"({"NumberLessThan":{"g:MFAAge":["10"]}})", f));  // numeric, not "5" < "10" as text
  EXPECT_FALSE(holds(R"({"NumberLessThan":{"g:MFAAge":["5"]}})", f));
  EXPECT_TRUE(holds(R"({"NumberLessThanEquals":{"g:MFAAge":["5"]}})", f));
  EXPECT_TRUE(holds(R"({"NumberGreaterThan":{"g:MFAAge":["4.5"]}})", f));
  EXPECT_FALSE(holds(R"({"NumberGreaterThanEquals":{"g:MFAAge":["6"]}})", f));
  EXPECT_TRUE(holds(R"({"NumberEquals":{"g:MFAAge":["5.0"]}})", f));
  EXPECT_TRUE(holds(R"({"NumberNotEquals":{"g:MFAAge":["6"]}})", f));
  EXPECT_FALSE(holds(R"({"NumberNotEquals":{"g:MFAAge":["5"]}})", f));
  // Not a number: no match.
  EXPECT_FALSE(holds(R"({"NumberLessThan":{"g:MFAAge":["ten"]}})", f));
  EXPECT_FALSE(holds(R"({"NumberLessThan":{"g:MFAAge":["10"]}})", {{"g:MFAAge", "5x"}}));
}

TEST(PolicyConditions, Dates) {
  Facts f{{"g:CurrentTime", "2024-06-01T12:00:00.000000Z"}};
  EXPECT_TRUE(holds(R"({"DateGreaterThan":{"g:CurrentTime":["2024-01-01T00:00:00Z"]}})", f));
  EXPECT_FALSE(holds(R"({"DateGreaterThan":{"g:CurrentTime":["2024-06-01T12:00:00Z"]}})", f));
  EXPECT_TRUE(holds(R"({"DateGreaterThanEquals":{"g:CurrentTime":["2024-06-01T12:00:00Z"]}})", f));
  EXPECT_TRUE(holds(R"({"DateLessThan":{"g:CurrentTime":["2024-06-01T12:00:00.001Z"]}})", f));
  EXPECT_FALSE(holds(R"({"DateLessThan":{"g:CurrentTime":["2023-12-31T23:59:59Z"]}})", f));
  EXPECT_TRUE(holds(R"({"DateEquals":{"g:CurrentTime":["2024-06-01T12:00:00Z"]}})", f));
  EXPECT_TRUE(holds(R"({"DateNotEquals":{"g:CurrentTime":["2024-06-01T12:00:01Z"]}})", f));
  EXPECT_FALSE(holds(R"({"DateGreaterThan":{"g:CurrentTime":["not a date"]}})", f));
}

TEST(PolicyConditions, Bool) {
  EXPECT_TRUE(holds(R"({"Bool":{"g:MFAPresent":["true"]}})", {{"g:MFAPresent", "true"}}));
  EXPECT_TRUE(holds(R"({"Bool":{"g:MFAPresent":["TRUE"]}})", {{"g:MFAPresent", "true"}}));
  EXPECT_FALSE(holds(R"({"Bool":{"g:MFAPresent":["true"]}})", {{"g:MFAPresent", "false"}}));
  EXPECT_FALSE(holds(R"({"Bool":{"g:MFAPresent":["true"]}})", {}));
}

TEST(PolicyConditions, IpAddressCidr) {
  const char* c = R"({"IpAddress":{"g:SourceIp":["10.0.0.0/8","192.168.1.7"]}})";
  EXPECT_TRUE(holds(c, {{"g:SourceIp", "10.1.2.3"}}));
  EXPECT_TRUE(holds(c, {{"g:SourceIp", "10.255.255.255"}}));
  EXPECT_FALSE(holds(c, {{"g:SourceIp", "11.0.0.1"}}));
  EXPECT_TRUE(holds(c, {{"g:SourceIp", "192.168.1.7"}}));  // a bare address is a /32
  EXPECT_FALSE(holds(c, {{"g:SourceIp", "192.168.1.8"}}));
  EXPECT_FALSE(holds(c, {{"g:SourceIp", "garbage"}}));
  EXPECT_FALSE(holds(c, {}));
  EXPECT_TRUE(holds(R"({"IpAddress":{"g:SourceIp":["172.16.0.0/12"]}})", {{"g:SourceIp", "172.31.255.1"}}));
  EXPECT_FALSE(holds(R"({"IpAddress":{"g:SourceIp":["172.16.0.0/12"]}})", {{"g:SourceIp", "172.32.0.1"}}));
  EXPECT_TRUE(holds(R"({"IpAddress":{"g:SourceIp":["0.0.0.0/0"]}})", {{"g:SourceIp", "8.8.8.8"}}));
  EXPECT_TRUE(holds(R"({"NotIpAddress":{"g:SourceIp":["10.0.0.0/8"]}})", {{"g:SourceIp", "11.0.0.1"}}));
  EXPECT_FALSE(holds(R"({"NotIpAddress":{"g:SourceIp":["10.0.0.0/8"]}})", {{"g:SourceIp", "10.0.0.1"}}));
}

TEST(PolicyConditions, MalformedCidrMatchesNothing) {
  // A prefix length that is not a number must not turn into /0 (= every address).
  EXPECT_FALSE(holds(R"({"IpAddress":{"g:SourceIp":["10.0.0.0/abc"]}})", {{"g:SourceIp", "192.168.1.1"}}));
  EXPECT_FALSE(holds(R"({"IpAddress":{"g:SourceIp":["10.0.0.0/"]}})", {{"g:SourceIp", "192.168.1.1"}}));
  EXPECT_FALSE(holds(R"({"IpAddress":{"g:SourceIp":["10.0.0.0/-8"]}})", {{"g:SourceIp", "192.168.1.1"}}));
}

TEST(PolicyConditions, IfExists) {
  const char* c = R"({"StringEqualsIfExists":{"g:ProjectName":["cn-north-4"]}})";
  EXPECT_TRUE(holds(c, {}));                                    // absent key: holds
  EXPECT_TRUE(holds(c, {{"g:ProjectName", ""}}));               // empty counts as absent
  EXPECT_TRUE(holds(c, {{"g:ProjectName", "cn-north-4"}}));
  EXPECT_FALSE(holds(c, {{"g:ProjectName", "cn-north-1"}}));    // present: compared
  EXPECT_FALSE(holds(R"({"StringEquals":{"g:ProjectName":["cn-north-4"]}})", {}));  // without IfExists
  EXPECT_TRUE(holds(R"({"StringEndWithIfExists":{"g:UserName":["-ops"]}})", {}));
  EXPECT_FALSE(holds(R"({"StringEndWithIfExists":{"g:UserName":["-ops"]}})", {{"g:UserName", "bob"}}));
  EXPECT_TRUE(holds(R"({"NumberLessThanIfExists":{"g:MFAAge":["10"]}})", {}));
}

TEST(PolicyConditions, NegatedOperatorsWithAbsentKey) {
  EXPECT_TRUE(holds(R"({"StringNotEquals":{"g:UserName":["bob"]}})", {}));
  EXPECT_TRUE(holds(R"({"NotIpAddress":{"g:SourceIp":["10.0.0.0/8"]}})", {}));
}

TEST(PolicyConditions, IsNullOrEmpty) {
  const char* want_null = R"({"IsNullOrEmpty":{"g:MFAAge":["true"]}})";
  const char* want_value = R"({"IsNullOrEmpty":{"g:MFAAge":["false"]}})";
  EXPECT_TRUE(holds(want_null, {}));
  EXPECT_TRUE(holds(want_null, {{"g:MFAAge", ""}}));
  EXPECT_FALSE(holds(want_null, {{"g:MFAAge", "5"}}));
  EXPECT_FALSE(holds(want_value, {}));
  EXPECT_TRUE(holds(want_value, {{"g:MFAAge", "5"}}));
  EXPECT_TRUE(holds(R"({"Null":{"g:MFAAge":["TRUE"]}})", {}));
}

TEST(PolicyConditions, NullConditionAlwaysHolds) {
  EXPECT_TRUE(conditions_hold(json(), {}));
  EXPECT_TRUE(conditions_hold(json::object(), {}));
}

// ------------------------------------------------------------ parse_policy

TEST(PolicyParse, ValidCustomPolicy) {
  auto p = parse_policy(json::parse(R"({
    "Version": "1.1",
    "Statement": [
      {"Effect": "Allow",
       "Action": ["modelarts:dataset:list", "modelarts:dataset:get", "modelarts:sample:*"],
       "Condition": {"StringEquals": {"g:ProjectName": ["cn-north-4"]}}},
      {"Effect": "Deny", "Action": ["modelarts:dataset:delete"],
       "Resource": ["obs:*:*:bucket:*"]}
    ]})"),
                        true);
  EXPECT_EQ(p.version, "1.1");
  ASSERT_EQ(p.statements.size(), 2u);
  EXPECT_TRUE(p.statements[0].allow);
  EXPECT_EQ(p.statements[0].actions.size(), 3u);
  EXPECT_EQ(p.statements[0].condition["StringEquals"]["g:ProjectName"][0], "cn-north-4");
  EXPECT_FALSE(p.statements[0].has_resource);
  EXPECT_FALSE(p.statements[1].allow);
  EXPECT_TRUE(p.statements[1].has_resource);
  EXPECT_TRUE(p.statements[1].condition.is_null());
}

TEST(PolicyParse, Version) {
  json d = doc_with_statements(1);
  d["Version"] = "1.0";
  EXPECT_API_ERROR(parse_policy(d, true), 400, "IAM.1024");
  EXPECT_NO_THROW(parse_policy(d, false));  // a system role may be 1.0
  d["Version"] = "2.0";
  EXPECT_API_ERROR(parse_policy(d, false), 400, "IAM.1024");
  d["Version"] = 1.1;
  EXPECT_API_ERROR(parse_policy(d, true), 400, "IAM.1024");
  d.erase("Version");
  EXPECT_API_ERROR(parse_policy(d, true), 400, "IAM.1024");
}

TEST(PolicyParse, StatementCount) {
  EXPECT_API_ERROR(parse_policy(doc_with_statements(0), true), 400, "IAM.1028");
  EXPECT_API_ERROR(parse_policy(doc_with_statements(9), true), 400, "IAM.1028");
  EXPECT_NO_THROW(parse_policy(doc_with_statements(1), true));
  EXPECT_NO_THROW(parse_policy(doc_with_statements(8), true));
  EXPECT_NO_THROW(parse_policy(doc_with_statements(9), false));  // limits are for custom policies
  EXPECT_API_ERROR(parse_policy(json::parse(R"({"Version":"1.1"})"), true), 400, "IAM.1027");
  EXPECT_API_ERROR(parse_policy(json::parse(R"({"Version":"1.1","Statement":{}})"), true), 400, "IAM.1027");
  EXPECT_API_ERROR(parse_policy(json::parse("[]"), true), 400, "IAM.1020");
}

TEST(PolicyParse, Effect) {
  EXPECT_API_ERROR(parse_policy(statement_doc({{"Effect", "Maybe"}, {"Action", {"a:b:c"}}}), true), 400, "IAM.1029");
  EXPECT_API_ERROR(parse_policy(statement_doc({{"Action", {"a:b:c"}}}), true), 400, "IAM.1029");
  EXPECT_API_ERROR(parse_policy(statement_doc({{"Effect", true}, {"Action", {"a:b:c"}}}), true), 400, "IAM.1029");
  EXPECT_FALSE(parse_policy(statement_doc({{"Effect", "Deny"}, {"Action", {"a:b:c"}}}), true).statements[0].allow);
}

TEST(PolicyParse, ActionRules) {
  EXPECT_API_ERROR(parse_policy(statement_doc({{"Effect", "Allow"}}), true), 400, "IAM.1030");
  EXPECT_API_ERROR(parse_policy(statement_doc({{"Effect", "Allow"}, {"Action", json::array()}}), true), 400, "IAM.1030");
  EXPECT_API_ERROR(parse_policy(statement_doc({{"Effect", "Allow"}, {"Action", "modelarts:dataset:list"}}), true), 400,
                   "IAM.1030");
  EXPECT_API_ERROR(parse_policy(statement_doc({{"Effect", "Allow"}, {"Action", {1}}}), true), 400, "IAM.1030");
  EXPECT_API_ERROR(parse_policy(statement_doc({{"Effect", "Allow"}, {"NotAction", {"a:b:c"}}}), true), 400, "IAM.1030");

  json many = json::array();
  for (int i = 0; i < 101; ++i) many.push_back("modelarts:dataset:op" + std::to_string(i));
  EXPECT_API_ERROR(parse_policy(statement_doc({{"Effect", "Allow"}, {"Action", many}}), true), 400, "IAM.1033");
  many.erase(many.end() - 1);
  EXPECT_NO_THROW(parse_policy(statement_doc({{"Effect", "Allow"}, {"Action", many}}), true));
}

TEST(PolicyParse, MalformedActions) {
  for (const char* a : {"modelarts:dataset", "modelarts", "modelarts:dataset:list:extra", "modelarts dataset:list",
                        "modelarts:data set:list", "modelarts:dataset:list!", "", "modelarts:dataset:li/st"}) {
    EXPECT_API_ERROR(parse_policy(statement_doc({{"Effect", "Allow"}, {"Action", {a}}}), true), 400, "IAM.1035");
  }
  for (const char* a : {"modelarts:dataset:list", "*:*:*", "obs:*:get*", "modelarts:train_job-x:ge?"}) {
    EXPECT_NO_THROW(parse_policy(statement_doc({{"Effect", "Allow"}, {"Action", {a}}}), true)) << a;
  }
}

TEST(PolicyParse, EmptyActionSegmentsRejected) {
  for (const char* a : {"::", "modelarts::list", ":dataset:list", "modelarts:dataset:"}) {
    SCOPED_TRACE(a);
    EXPECT_API_ERROR(parse_policy(statement_doc({{"Effect", "Allow"}, {"Action", {a}}}), true), 400, "IAM.1035");
  }
}

TEST(PolicyParse, ConditionRules) {
  auto with_cond = [](json cond) {
    return statement_doc({{"Effect", "Allow"}, {"Action", {"modelarts:*:*"}}, {"Condition", cond}});
  };
  EXPECT_API_ERROR(parse_policy(with_cond({{"StringFoo", {{"g:UserName", {"a"}}}}}), true), 400, "IAM.1059");
  EXPECT_API_ERROR(parse_policy(with_cond({{"StringFooIfExists", {{"g:UserName", {"a"}}}}}), true), 400, "IAM.1059");
  EXPECT_API_ERROR(parse_policy(with_cond({{"IfExists", {{"g:UserName", {"a"}}}}}), true), 400, "IAM.1059");
  EXPECT_NO_THROW(parse_policy(with_cond({{"StringEqualsIfExists", {{"g:UserName", {"a"}}}}}), true));

  json ten = json::array(), eleven;
  for (int i = 0; i < 10; ++i) ten.push_back("v" + std::to_string(i));
  eleven = ten;
  eleven.push_back("v10");
  EXPECT_NO_THROW(parse_policy(with_cond({{"StringEquals", {{"g:UserName", ten}}}}), true));
  EXPECT_API_ERROR(parse_policy(with_cond({{"StringEquals", {{"g:UserName", eleven}}}}), true), 400, "IAM.1054");
  EXPECT_API_ERROR(parse_policy(with_cond({{"StringEquals", {{"g:UserName", json::array()}}}}), true), 400, "IAM.1054");
  EXPECT_API_ERROR(parse_policy(with_cond({{"StringEquals", {{"g:UserName", "a"}}}}), true), 400, "IAM.1053");
  EXPECT_API_ERROR(parse_policy(with_cond({{"StringEquals", {{"g:UserName", {1}}}}}), true), 400, "IAM.1060");
  EXPECT_API_ERROR(parse_policy(with_cond(json::object()), true), 400, "IAM.1050");
  EXPECT_API_ERROR(parse_policy(with_cond({{"StringEquals", json::object()}}), true), 400, "IAM.1051");
}

TEST(PolicyParse, ResourceRules) {
  auto with_res = [](json res) {
    return statement_doc({{"Effect", "Allow"}, {"Action", {"obs:*:*"}}, {"Resource", res}});
  };
  EXPECT_NO_THROW(parse_policy(with_res({"obs:*:*:bucket:*"}), true));
  EXPECT_API_ERROR(parse_policy(with_res({"obs:bucket:*"}), true), 400, "IAM.1038");
  EXPECT_API_ERROR(parse_policy(with_res("obs:*:*:bucket:*"), true), 400, "IAM.1037");
}

TEST(PolicyParse, SizeLimit) {
  json many = json::array();
  for (int i = 0; i < 100; ++i) many.push_back("modelarts:dataset:" + std::string(60, 'a') + std::to_string(i));
  EXPECT_API_ERROR(parse_policy(statement_doc({{"Effect", "Allow"}, {"Action", many}}), true), 400, "IAM.1021");
}
