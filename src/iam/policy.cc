#include "iam/policy.h"

#include <arpa/inet.h>

#include <cctype>
#include <cstring>
#include <set>

#include "common/clock.h"

namespace atelier::iam {

static ApiError perr(const char* code, const std::string& msg) { return ApiError(400, code, msg); }

static const std::set<std::string, std::less<>> kBaseOperators = {
    "StringEquals", "StringNotEquals", "StringEqualsIgnoreCase", "StringNotEqualsIgnoreCase",
    "StringLike", "StringNotLike", "StringStartWith", "StringEndWith", "StringNotStartWith",
    "StringNotEndWith", "NumberEquals", "NumberNotEquals", "NumberLessThan",
    "NumberLessThanEquals", "NumberGreaterThan", "NumberGreaterThanEquals", "DateLessThan",
    "DateGreaterThan", "DateLessThanEquals", "DateGreaterThanEquals", "DateEquals",
    "DateNotEquals", "Bool", "IpAddress", "NotIpAddress", "IsNullOrEmpty", "Null"};

static std::string_view base_operator(std::string_view op, bool& if_exists) {
  static constexpr std::string_view kSuffix = "IfExists";
  if_exists = op.size() > kSuffix.size() && op.substr(op.size() - kSuffix.size()) == kSuffix;
  return if_exists ? op.substr(0, op.size() - kSuffix.size()) : op;
}

// service:resourceType:operation, three non-empty segments.
static bool valid_action(std::string_view a) {
  if (a.empty() || a.size() > 128) return false;
  int colons = 0;
  char prev = ':';
  for (char c : a) {
    if (c == ':') {
      if (prev == ':') return false;
      ++colons;
    } else if (!std::isalnum(static_cast<unsigned char>(c)) && c != '*' && c != '?' && c != '_' && c != '-') {
      return false;
    }
    prev = c;
  }
  return colons == 2 && prev != ':';
}

static bool parse_cidr(std::string_view s, uint32_t& addr, int& bits);

Policy parse_policy(const json& doc, bool custom) {
  if (!doc.is_object()) throw perr("IAM.1020", "The policy must be an object.");
  if (custom && doc.dump().size() > 6144) throw perr("IAM.1021", "The policy must be at most 6144 characters.");
  Policy p;
  auto v = doc.find("Version");
  if (v == doc.end() || !v->is_string()) throw perr("IAM.1024", "policy.Version is required.");
  p.version = v->get<std::string>();
  if (custom && p.version != "1.1") throw perr("IAM.1024", "The policy Version of a fine-grained policy must be 1.1.");
  if (p.version != "1.1" && p.version != "1.0") throw perr("IAM.1024", "policy.Version must be 1.0 or 1.1.");
  if (custom && doc.contains("Depends")) throw perr("IAM.1025", "A fine-grained policy must not carry Depends.");
  auto st = doc.find("Statement");
  if (st == doc.end() || !st->is_array()) throw perr("IAM.1027", "policy.Statement must be an array.");
  if (custom && (st->empty() || st->size() > 8)) throw perr("IAM.1028", "policy.Statement must hold 1 to 8 statements.");
  for (size_t i = 0; i < st->size(); ++i) {
    const json& s = (*st)[i];
    std::string where = "policy.Statement[" + std::to_string(i) + "]";
    if (!s.is_object()) throw perr("IAM.1027", where + " must be an object.");
    Statement out;
    auto eff = s.find("Effect");
    if (eff == s.end() || !eff->is_string()) throw perr("IAM.1029", where + ".Effect must be Allow or Deny.");
    std::string e = eff->get<std::string>();
    for (char& c : e) c = char(std::tolower(static_cast<unsigned char>(c)));
    if (e != "allow" && e != "deny") throw perr("IAM.1029", where + ".Effect must be Allow or Deny.");
    out.allow = e == "allow";
    if (s.contains("NotAction")) {
      if (s.contains("Action")) throw perr("IAM.1031", where + " must not have both Action and NotAction.");
      throw perr("IAM.1030", where + ".NotAction is not supported; use Action.");
    }
    auto act = s.find("Action");
    if (act == s.end() || !act->is_array() || act->empty())
      throw perr("IAM.1030", where + ".Action must be a non-empty array.");
    if (custom && act->size() > 100) throw perr("IAM.1033", where + ".Action must hold at most 100 actions.");
    for (auto& a : *act) {
      if (!a.is_string()) throw perr("IAM.1030", where + ".Action must hold strings.");
      std::string s2 = a.get<std::string>();
      if (s2.size() > 128) throw perr("IAM.1034", where + ".Action '" + s2.substr(0, 40) + "...' is longer than 128 characters.");
      if (!valid_action(s2))
        throw perr("IAM.1035", where + ".Action '" + s2 + "' must look like service:resourceType:operation.");
      out.actions.push_back(s2);
    }
    if (auto c = s.find("Condition"); c != s.end() && !c->is_null()) {
      if (!c->is_object() || c->empty() || c->size() > 10)
        throw perr("IAM.1050", where + ".Condition must be an object with 1 to 10 operators.");
      for (auto& [op, keys] : c->items()) {
        bool ifx;
        if (!kBaseOperators.count(base_operator(op, ifx)))
          throw perr("IAM.1059", where + ".Condition operator '" + op + "' is not supported.");
        if (!keys.is_object() || keys.empty()) throw perr("IAM.1051", where + ".Condition." + op + " must map keys to values.");
        for (auto& [k, vals] : keys.items()) {
          if (k.empty() || k.size() > 1024) throw perr("IAM.1052", where + ".Condition." + op + " has an invalid key.");
          if (!vals.is_array()) throw perr("IAM.1053", where + ".Condition." + op + "." + k + " must be an array.");
          if (vals.empty() || vals.size() > 10)
            throw perr("IAM.1054", where + ".Condition." + op + "." + k + " must hold 1 to 10 values.");
          for (auto& x : vals) {
            if (!x.is_string()) throw perr("IAM.1060", where + ".Condition." + op + "." + k + " values must be strings.");
            uint32_t a;
            int b;
            bool ip_op = base_operator(op, ifx) == "IpAddress" || base_operator(op, ifx) == "NotIpAddress";
            if (ip_op && !parse_cidr(x.get<std::string>(), a, b))
              throw perr("IAM.1055", where + ".Condition." + op + "." + k + " value '" + x.get<std::string>() +
                                         "' is not an IPv4 address or CIDR range.");
          }
        }
      }
      out.condition = *c;
      p.has_conditions = true;
    }
    if (auto r = s.find("Resource"); r != s.end() && !r->is_null()) {
      if (!r->is_array() || r->size() > 10) throw perr("IAM.1037", where + ".Resource must be an array of at most 10 items.");
      for (auto& x : *r) {
        if (!x.is_string()) throw perr("IAM.1037", where + ".Resource must hold strings.");
        std::string rs = x.get<std::string>();
        if (std::count(rs.begin(), rs.end(), ':') != 4)
          throw perr("IAM.1038", where + ".Resource '" + rs + "' must look like service:region:account:type:path.");
      }
      out.has_resource = true;
    }
    p.statements.push_back(std::move(out));
  }
  return p;
}

// Glob with '*' (any run) and '?' (one char); `ci` folds ASCII case (action
// names are ASCII; this runs for every statement of every request).
static bool glob(std::string_view p, std::string_view s, bool ci) {
  size_t pi = 0, si = 0, star = std::string_view::npos, mark = 0;
  auto fold = [](char c) { return c >= 'A' && c <= 'Z' ? char(c + 32) : c; };
  auto eq = [ci, fold](char a, char b) { return ci ? fold(a) == fold(b) : a == b; };
  while (si < s.size()) {
    if (pi < p.size() && (p[pi] == '?' || eq(p[pi], s[si]))) {
      ++pi;
      ++si;
    } else if (pi < p.size() && p[pi] == '*') {
      star = pi++;
      mark = si;
    } else if (star != std::string_view::npos) {
      pi = star + 1;
      si = ++mark;
    } else {
      return false;
    }
  }
  while (pi < p.size() && p[pi] == '*') ++pi;
  return pi == p.size();
}

// Splits "a:b:c" into exactly three segments.
static bool three(std::string_view s, std::string_view out[3]) {
  size_t c1 = s.find(':');
  if (c1 == std::string_view::npos) return false;
  size_t c2 = s.find(':', c1 + 1);
  if (c2 == std::string_view::npos || s.find(':', c2 + 1) != std::string_view::npos) return false;
  out[0] = s.substr(0, c1);
  out[1] = s.substr(c1 + 1, c2 - c1 - 1);
  out[2] = s.substr(c2 + 1);
  return true;
}

bool action_matches(std::string_view pattern, std::string_view action) {
  std::string_view p[3], a[3];
  if (!three(pattern, p) || !three(action, a)) return false;
  // Wildcards stay inside their segment; the service is compared exactly.
  return glob(p[0], a[0], false) && glob(p[1], a[1], true) && glob(p[2], a[2], true);
}

static bool ieq(std::string_view a, std::string_view b) {
  return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}

// "a.b.c.d" or "a.b.c.d/n" with n in 0..32; false on anything else.
static bool parse_cidr(std::string_view s, uint32_t& addr, int& bits) {
  std::string c(s);
  bits = 32;
  if (auto slash = c.find('/'); slash != std::string::npos) {
    std::string n = c.substr(slash + 1);
    if (n.empty() || n.size() > 2 || n.find_first_not_of("0123456789") != std::string::npos) return false;
    bits = std::stoi(n);
    if (bits > 32) return false;
    c.resize(slash);
  }
  in_addr a{};
  if (inet_pton(AF_INET, c.c_str(), &a) != 1) return false;
  addr = ntohl(a.s_addr);
  return true;
}

static bool ip_in(std::string_view ip, std::string_view cidr) {
  uint32_t a, b;
  int ip_bits, bits;
  if (!parse_cidr(ip, a, ip_bits) || ip_bits != 32 || !parse_cidr(cidr, b, bits)) return false;
  uint32_t mask = bits == 0 ? 0 : bits == 32 ? 0xffffffffu : ~((1u << (32 - bits)) - 1);
  return (a & mask) == (b & mask);
}

static bool one(std::string_view op, const std::string& fact, const std::string& want) {
  auto num = [](const std::string& s, double& out) {
    char* end = nullptr;
    out = std::strtod(s.c_str(), &end);
    return end && *end == '\0' && !s.empty();
  };
  if (op == "StringEquals") return fact == want;
  if (op == "StringEqualsIgnoreCase") return ieq(fact, want);
  if (op == "StringLike") return glob(want, fact, false);
  if (op == "StringStartWith") return fact.rfind(want, 0) == 0;
  if (op == "StringEndWith") return fact.size() >= want.size() && fact.compare(fact.size() - want.size(), want.size(), want) == 0;
  if (op == "Bool") return ieq(fact, want);
  if (op == "IpAddress") return ip_in(fact, want);
  if (op.rfind("Number", 0) == 0) {
    double a, b;
    if (!num(fact, a) || !num(want, b)) return false;
    if (op == "NumberEquals") return a == b;
    if (op == "NumberLessThan") return a < b;
    if (op == "NumberLessThanEquals") return a <= b;
    if (op == "NumberGreaterThan") return a > b;
    if (op == "NumberGreaterThanEquals") return a >= b;
  }
  if (op.rfind("Date", 0) == 0) {
    auto a = clock::parse_iso(fact), b = clock::parse_iso(want);
    if (!a || !b) return false;
    if (op == "DateLessThan") return *a < *b;
    if (op == "DateGreaterThan") return *a > *b;
    if (op == "DateLessThanEquals") return *a <= *b;
    if (op == "DateGreaterThanEquals") return *a >= *b;
    if (op == "DateEquals") return *a == *b;
  }
  return false;
}

bool conditions_hold(const json& condition, const Facts& facts) {
  if (!condition.is_object()) return true;
  for (auto& [op_full, keys] : condition.items()) {
    bool if_exists;
    std::string op(base_operator(op_full, if_exists));
    for (auto& [key, vals] : keys.items()) {
      auto it = facts.find(key);
      bool present = it != facts.end() && !it->second.empty();
      if (op == "IsNullOrEmpty" || op == "Null") {
        bool want_null = !vals.empty() && vals[0].is_string() && ieq(vals[0].get<std::string>(), "true");
        if (want_null == present) return false;
        continue;
      }
      if (!present) {
        if (if_exists) continue;
        // Negated operators hold when there is nothing to compare.
        bool negated = op.find("Not") != std::string::npos;
        if (negated) continue;
        return false;
      }
      bool negated = op == "StringNotEquals" || op == "StringNotEqualsIgnoreCase" ||
                     op == "StringNotLike" || op == "StringNotStartWith" || op == "StringNotEndWith" ||
                     op == "NumberNotEquals" || op == "DateNotEquals" || op == "NotIpAddress";
      std::string pos_op = op;
      if (negated) {
        if (op == "NotIpAddress") pos_op = "IpAddress";
        else if (op == "NumberNotEquals") pos_op = "NumberEquals";
        else if (op == "DateNotEquals") pos_op = "DateEquals";
        else pos_op.erase(pos_op.find("Not"), 3);
      }
      bool any = false;
      for (auto& v : vals)
        if (v.is_string() && one(pos_op, it->second, v.get<std::string>())) any = true;
      if (negated ? any : !any) return false;
    }
  }
  return true;
}

Decision evaluate(const std::vector<std::shared_ptr<const Policy>>& policies,
                  std::string_view action, const Facts& facts) {
  Decision d = Decision::kNone;
  for (auto& p : policies) {
    for (auto& s : p->statements) {
      bool hit = false;
      for (auto& a : s.actions)
        if (action_matches(a, action)) {
          hit = true;
          break;
        }
      // Requests carry no resource names yet (ModelArts actions are project
      // level), so a statement limited by Resource cannot be shown to apply:
      // its Allow grants nothing, its Deny still denies (fail safe).
      if (!hit || (s.has_resource && s.allow) || !conditions_hold(s.condition, facts)) continue;
      if (!s.allow) return Decision::kDeny;
      d = Decision::kAllow;
    }
  }
  return d;
}

}  // namespace atelier::iam
