// Tokens: issue with a password, a token or an access key;
// validate, check and revoke the token X-Subject-Token names.
#include "common/clock.h"
#include "common/crypto.h"
#include "iam/api.h"

namespace atelier::iam {

namespace {

// The user that auth.identity proves (401 when it proves none). A token
// identity caps the new token's expiry at its own (`max_expiry`).
UserRecord identify(Iam& iam, const Context& ctx, const JsonIn& identity, const std::string& method, int64_t& max_expiry) {
  if (method == "password") {
    auto pu = identity.obj("password").obj("user");
    std::string uid = pu.opt_str("id").value_or("");
    if (!uid.empty()) return iam.check_password("", "", uid, pu.str("password"));
    std::string name = pu.str("name");
    auto dom = pu.obj("domain");
    std::string domain_id;
    if (auto id = dom.opt_str("id")) domain_id = *id;
    else if (auto d = iam.domain_id_by_name(dom.str("name"))) domain_id = *d;
    else {  // hash anyway, so that timing does not tell account names apart
      crypto::password_verify("$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$0000000000000000000000000000000000000000000", "x");
      throw ApiError(401, "IAM.0062", "The username or password is wrong.");
    }
    return iam.check_password(domain_id, name, "", pu.str("password"));
  }
  if (method == "token") {
    std::string presented;
    if (auto t = identity.opt_obj("token")) presented = t->opt_str("id").value_or("");
    if (presented.empty()) presented = ctx.req.headers.get("X-Auth-Token");
    auto t = presented.empty() ? nullptr : iam.find_token(presented);
    if (!t || t->expires_at <= clock::now_ms()) throw ApiError(401, "IAM.0067", "Invalid token.");
    max_expiry = t->expires_at;
    return t->user;
  }
  if (method == "hw_ak_sk") {
    auto ak = identity.obj("hw_ak_sk");
    std::string access = ak.obj("access").str("key"), secret = ak.obj("secret").str("key");
    auto key = iam.access_key(access);
    if (!key || !crypto::equal_ct(key->secret, secret))
      throw ApiError(401, "IAM.0062", "The access key or secret key is wrong.");
    if (key->status != "active") throw ApiError(401, "IAM.1107", "The access key " + access + " is inactive.");
    auto u = iam.user_by_id(key->user_id);
    if (!u) throw ApiError(401, "IAM.1106", "The user with access key " + access + " cannot be found.");
    iam.touch_access_key(access, clock::now_ms());
    return *u;
  }
  identity.fail("methods", "'" + method + "' is not supported; use password, token or hw_ak_sk");
}

// The project auth.scope names (404 when it is not the user's), or none for
// a domain scope or no scope.
std::optional<ProjectRecord> scope_project(Iam& iam, const JsonIn& auth, const UserRecord& user) {
  std::optional<ProjectRecord> project;
  if (auto scope = auth.opt_obj("scope")) {
    if (auto p = scope->opt_obj("project")) {
      if (auto id = p->opt_str("id")) project = iam.project_by_id(*id);
      else project = iam.project_by_name(user.domain_id, p->str("name"));
      if (!project || project->domain_id != user.domain_id || !project->enabled)
        throw ApiError(404, "IAM.0004", "Could not find the project of the scope.");
    } else if (auto d = scope->opt_obj("domain")) {
      std::string did = d->opt_str("id").value_or("");
      if (did.empty()) did = iam.domain_id_by_name(d->str("name")).value_or("");
      if (did != user.domain_id) throw ApiError(404, "IAM.0004", "Could not find the domain of the scope.");
    }
  }
  return project;
}

// The catalog of a token: this server serves every service.
json catalog(const Context& ctx, const std::string& region) {
  std::string url = ctx.base_url();
  auto ep = [&](const char* type, const std::string& reg) {
    return json{{"type", type}, {"id", crypto::sha256_hex(type).substr(0, 32)}, {"name", type},
                {"endpoints", json::array({{{"id", crypto::sha256_hex(std::string(type) + "ep").substr(0, 32)},
                                            {"interface", "public"}, {"region", reg}, {"region_id", reg},
                                            {"url", url}}})}};
  };
  return json::array({ep("modelarts", region), ep("iam", "*"), ep("obs", region)});
}

}  // namespace

json IamApi::token_body(const Context& ctx, const TokenInfo& t) {
  json user = {{"id", t.user.id},
               {"name", t.user.name},
               {"password_expires_at", ""},
               {"domain", {{"id", t.user.domain_id}, {"name", t.user.domain_name}}}};
  json tok = {{"methods", t.methods},
              {"expires_at", clock::iso_micro_z(t.expires_at)},
              {"issued_at", clock::iso_micro_z(t.issued_at)},
              {"user", user}};
  std::string scope_kind = t.project_id.empty() ? "domain" : "project";
  std::string scope_id = t.project_id.empty() ? t.user.domain_id : t.project_id;
  if (!t.project_id.empty())
    tok["project"] = {{"id", t.project_id},
                      {"name", t.project_name},
                      {"domain", {{"id", t.user.domain_id}, {"name", t.user.domain_name}}}};
  else
    tok["domain"] = {{"id", t.user.domain_id}, {"name", t.user.domain_name}};
  json roles = json::array();
  for (auto& r : db.query("SELECT DISTINCT r.id, r.name FROM iam_grants g JOIN iam_roles r ON r.id = g.role_id "
                          "WHERE g.subject_kind = 'group' AND g.subject_id IN (SELECT group_id FROM "
                          "iam_group_members WHERE user_id = ?) AND ((g.scope_kind = ? AND g.scope_id = ?) OR "
                          "(g.scope_kind = 'inherited' AND g.scope_id = ?))",
                          {t.user.id, scope_kind, scope_id, t.user.domain_id}))
    roles.push_back({{"id", r.str("id")}, {"name", r.str("name")}});
  if (t.user.is_owner || iam.in_admin_group(t.user.id)) roles.push_back({{"id", "0"}, {"name", "te_admin"}});
  tok["roles"] = roles;
  bool nocatalog = ctx.req.query_param("nocatalog") && !ctx.req.query_param("nocatalog")->empty();
  tok["catalog"] = nocatalog ? json::array() : catalog(ctx, iam.config().region);
  return json{{"token", tok}};
}

TokenInfo IamApi::subject_token(const Context& ctx, bool allow_expired) {
  const std::string& s = ctx.req.headers.get("X-Subject-Token");
  auto t = s.empty() ? nullptr : iam.find_token(s);
  if (!t || (!allow_expired && t->expires_at <= clock::now_ms()) || t->user.domain_id != ctx.caller.domain_id)
    throw ApiError(404, "IAM.0009", "X-Subject-Token is invalid in the request.");
  return *t;
}

bool IamApi::owns_subject_token(const Context& ctx) {
  const std::string& s = ctx.req.headers.get("X-Subject-Token");
  auto t = s.empty() ? nullptr : iam.find_token(s);
  return !t || t->user.id == ctx.caller.user_id;
}

Response IamApi::issue_token(Context& ctx) {
  auto in = ctx.in();
  auto auth = in.obj("auth");
  auto identity = auth.obj("identity");
  const json& methods = identity.arr("methods");
  if (methods.size() != 1 || !methods[0].is_string())
    identity.fail("methods", "must hold exactly one of password, token, hw_ak_sk");
  std::string method = methods[0].get<std::string>();
  int64_t max_expiry = 0;
  UserRecord user = identify(iam, ctx, identity, method, max_expiry);
  if (!user.enabled || !user.domain_enabled) throw ApiError(403, "IAM.0082", "The user " + user.name + " is disabled.");
  if (user.access_mode == "console")
    throw ApiError(403, "IAM.0081", "This user only supports console access, not programmatic access.");
  auto issued = iam.issue_token(user, scope_project(iam, auth, user), {method}, max_expiry);
  auto r = json_response(201, token_body(ctx, issued.info));
  r.headers.add("X-Subject-Token", issued.token);
  return r;
}

Response IamApi::validate_token(Context& ctx) {
  auto t = subject_token(ctx);
  auto r = json_response(200, token_body(ctx, t));
  r.headers.add("X-Subject-Token", ctx.req.headers.get("X-Subject-Token"));
  return r;
}

Response IamApi::check_token(Context& ctx) {
  subject_token(ctx);
  return no_content(200);
}

Response IamApi::revoke_token(Context& ctx) {
  iam.revoke_token(subject_token(ctx, /*allow_expired=*/true).hash);
  return no_content();
}

}  // namespace atelier::iam
