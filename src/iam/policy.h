// The fine-grained policy language (Version 1.1: Effect, Action, Condition)
// and its evaluation: an explicit Deny wins, otherwise an Allow is needed.
#pragma once
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/json.h"

namespace atelier::iam {

struct Statement {
  bool allow = true;
  std::vector<std::string> actions;
  json condition;  // {"Operator": {"key": ["v", ...]}} or null
  bool has_resource = false;
};

struct Policy {
  std::string version;
  std::vector<Statement> statements;
  bool has_conditions = false;  // any statement carries a Condition
};

// Parses a policy document. With `custom`, applies the custom-policy rules
// (Version 1.1 only, 1..8 statements, 1..100 actions, known operators...) and
// throws ApiError(400, "IAM.10xx") naming the problem.
Policy parse_policy(const json& doc, bool custom);

// `pattern` may hold '*' and '?'; service part compared exactly (lower case),
// resource type and operation case-insensitively.
bool action_matches(std::string_view pattern, std::string_view action);

// Condition keys known about the request: g:UserId, g:ProjectName, ...
using Facts = std::map<std::string, std::string>;

bool conditions_hold(const json& condition, const Facts& facts);

enum class Decision { kNone, kAllow, kDeny };

// The combined verdict of `policies` on one action.
Decision evaluate(const std::vector<std::shared_ptr<const Policy>>& policies,
                  std::string_view action, const Facts& facts);

}  // namespace atelier::iam
