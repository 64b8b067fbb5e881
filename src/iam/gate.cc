#include "iam/gate.h"

#include "common/clock.h"
#include "common/error.h"
#include "iam/signer.h"
#include "obs/object_store.h"

namespace atelier::iam {

using http::Access;
using http::ErrorShape;

namespace {
// The same failure worded for the route's family.
ApiError refuse(const http::Context& ctx, int status, const char* ma_code, const char* iam_code,
                const std::string& msg) {
  return ApiError(status, ctx.route.errors == ErrorShape::kIam ? iam_code : ma_code, msg);
}
}  // namespace

// The checks every caller passes whatever its credentials: an enabled user
// of an enabled account, using the access its user allows; then the caller
// is known to the context.
void Gate::admit_user(http::Context& ctx, const UserRecord& user, bool session) {
  if (!user.enabled || !user.domain_enabled) throw refuse(ctx, 403, "ModelArts.0108", "IAM.0082", "The user " + user.name + " is disabled.");
  // A browser session is console access; everything else is programmatic.
  if (!session && user.access_mode == "console")
    throw refuse(ctx, 403, "ModelArts.0108", "IAM.0081", "This user only supports console access, not programmatic access.");
  if (session && user.access_mode == "programmatic")
    throw refuse(ctx, 403, "ModelArts.0108", "IAM.0081", "This user only supports programmatic access, not console access.");
  ctx.caller.user_id = user.id;
  ctx.caller.user_name = user.name;
  ctx.caller.domain_id = user.domain_id;
  ctx.caller.domain_name = user.domain_name;
  ctx.caller.is_owner = user.is_owner;
}

std::shared_ptr<const UserRecord> Gate::authenticate(http::Context& ctx, std::shared_ptr<const TokenInfo>& token_out) {
  const auto& h = ctx.req.headers;
  std::shared_ptr<const UserRecord> userp;
  // A browser route also takes the session cookie of /login, when the
  // request carries no credentials of its own.
  std::string session;
  if (ctx.route.browser && !h.has("X-Auth-Token") && !h.has("Authorization"))
    session = http::cookie_value(h, http::kSessionCookie);
  if (h.has("X-Auth-Token") || !session.empty()) {
    auto t = iam_.find_token(session.empty() ? h.get("X-Auth-Token") : session);
    if (!t) throw refuse(ctx, 401, "ModelArts.0203", "IAM.0067", "The token is invalid.");
    if (t->expires_at <= clock::now_ms()) throw refuse(ctx, 401, "ModelArts.0202", "IAM.0066", "The token has expired.");
    userp = std::shared_ptr<const UserRecord>(t, &t->user);  // shares the token's ownership
    ctx.caller.auth_method = session.empty() ? "token" : "session";
    ctx.caller.token_hash = t->hash;
    token_out = t;
  } else if (h.has("Authorization")) {
    auto auth = parse_authorization(h.get("Authorization"));
    if (!auth)
      throw refuse(ctx, 401, "ModelArts.0206", "IAM.0001",
                   "Malformed Authorization header; expected SDK-HMAC-SHA256 Access=..., SignedHeaders=..., Signature=...");
    bool signs_host = false, signs_date = false;
    for (auto& n : auth->signed_headers) {
      signs_host |= n == "host";
      signs_date |= n == "x-sdk-date";
    }
    if (!signs_host || !signs_date)
      throw refuse(ctx, 401, "ModelArts.0206", "IAM.0001", "The signature must cover the host and x-sdk-date headers.");
    auto date = clock::parse_sdk_date(h.get("X-Sdk-Date"));
    if (!date) throw refuse(ctx, 401, "ModelArts.0206", "IAM.0001", "X-Sdk-Date is missing or not YYYYMMDDTHHMMSSZ.");
    int64_t now = clock::now_ms();
    if (std::llabs(now - *date) > iam_.config().max_clock_skew_ms)
      throw refuse(ctx, 401, "ModelArts.0207", "IAM.0001", "The request signature has expired (X-Sdk-Date too far from server time).");
    auto key = iam_.access_key(auth->access_key);
    // One message for an unknown key and a bad signature: do not tell which.
    if (!key || !verify(ctx.req, *auth, key->secret))
      throw refuse(ctx, 401, "ModelArts.0208", "IAM.0001", "Verify Authorization header failed: the signature does not match.");
    if (key->status != "active") throw refuse(ctx, 401, "ModelArts.0208", "IAM.1107", "The access key " + key->access + " is inactive.");
    auto u = iam_.user_by_id(key->user_id);
    if (!u) throw refuse(ctx, 401, "ModelArts.0208", "IAM.1106", "The user of access key " + key->access + " cannot be found.");
    userp = std::move(u);
    ctx.caller.auth_method = "aksk";
    ctx.caller.access_key = key->access;
    if (now - key->last_use_at > 60000) iam_.touch_access_key(key->access, now);  // at most once a minute
  } else {
    throw refuse(ctx, 401, "ModelArts.0201", "IAM.0001",
                 "The request you have made requires authentication: send X-Auth-Token or an SDK-HMAC-SHA256 Authorization header.");
  }
  admit_user(ctx, *userp, !session.empty());
  return userp;
}

void Gate::admit(http::Context& ctx) {
  authorize(ctx);
  if (ctx.route.restrict) ctx.route.restrict(ctx);
  if (!ctx.route.object_paths.empty()) check_object_paths(ctx);
}

namespace {
// Calls fn(value, field) for each string the pointer `where` reaches in `node`.
void each_at(const json& node, std::string_view where, const std::string& field,
             const std::function<void(const std::string&, const std::string&)>& fn) {
  if (where.empty()) {
    if (node.is_string()) fn(node.get_ref<const std::string&>(), field);
    return;
  }
  where.remove_prefix(1);  // the '/'
  size_t slash = where.find('/');
  std::string_view step = where.substr(0, slash), rest = slash == std::string_view::npos ? "" : where.substr(slash);
  if (step == "*") {
    if (!node.is_array()) return;
    for (size_t i = 0; i < node.size(); ++i) each_at(node[i], rest, field + "[" + std::to_string(i) + "]", fn);
  } else if (node.is_object()) {
    auto it = node.find(std::string(step));
    if (it != node.end()) each_at(*it, rest, field.empty() ? std::string(step) : field + "." + std::string(step), fn);
  }
}
}  // namespace

// Values that are not strings or not paths are left to the handler, which
// refuses them with its own 400; only a well-formed path names a bucket.
void Gate::check_object_paths(http::Context& ctx) {
  auto check = [&](const std::string& value, const std::string& field, bool write) {
    std::optional<obs::ObsPath> p;
    try {
      p = obs::parse_location(value, field);
    } catch (const ApiError&) {
      return;
    }
    buckets_.admit(ctx.caller.domain_id, p->bucket, write ? obs::Buckets::Use::kWrite : obs::Buckets::Use::kRead, field);
  };
  for (const auto& f : ctx.route.object_paths) {
    auto use = f.write ? obs::Buckets::Use::kWrite : obs::Buckets::Use::kRead;
    if (f.where.starts_with("{")) {  // a path parameter that is a bucket name
      std::string name = f.where.substr(1, f.where.size() - 2);
      if (!ctx.param(name).empty()) buckets_.admit(ctx.caller.domain_id, ctx.param(name), use, name);
      continue;
    }
    if (f.where.starts_with("^")) {  // a header whose value is a path
      std::string name = f.where.substr(1);
      if (ctx.req.headers.has(name)) check(ctx.req.headers.get(name), name, f.write);
      continue;
    }
    if (f.where.starts_with("?")) {
      std::string name = f.where.substr(1);
      for (auto& [k, v] : ctx.req.query())
        if (k == name) check(v, name, f.write);
      continue;
    }
    if (ctx.req.body.empty()) continue;
    each_at(ctx.body(), f.where, "", [&](const std::string& v, const std::string& field) { check(v, field, f.write); });
  }
}

void Gate::admit_signed(http::Context& ctx, const std::string& access_key) {
  auto key = iam_.access_key(access_key);
  if (!key || key->status != "active") throw ApiError(403, "IAM.1107", "The access key " + access_key + " is not active.");
  auto user = iam_.user_by_id(key->user_id);
  if (!user) throw ApiError(403, "IAM.1106", "The user of access key " + access_key + " cannot be found.");
  ctx.caller.auth_method = "aksk";
  ctx.caller.access_key = key->access;
  admit_user(ctx, *user, false);
  int64_t now = clock::now_ms();
  if (now - key->last_use_at > 60000) iam_.touch_access_key(key->access, now);  // at most once a minute
  authorize(ctx, *user, nullptr);
  if (ctx.route.restrict) ctx.route.restrict(ctx);
  if (!ctx.route.object_paths.empty()) check_object_paths(ctx);
}

void Gate::authorize(http::Context& ctx) {
  std::shared_ptr<const TokenInfo> token;
  auto userp = authenticate(ctx, token);
  authorize(ctx, *userp, token.get());
}

void Gate::authorize(http::Context& ctx, const UserRecord& user, const TokenInfo* token) {
  const auto& route = ctx.route;
  const auto& h = ctx.req.headers;
  // X-Domain-Id (IAM SDK GlobalCredentials) must name the caller's account.
  if (h.has("X-Domain-Id") && h.get("X-Domain-Id") != user.domain_id)
    throw refuse(ctx, 403, "ModelArts.0108", "IAM.0002", "X-Domain-Id does not match the caller's account.");
  if (route.access == Access::kMember) return;

  // Condition keys, computed only if a policy in play has conditions.
  const ProjectRecord* in_project = nullptr;
  auto facts = [&] {
    Facts f{{"g:UserId", user.id},
            {"g:UserName", user.name},
            {"g:DomainName", user.domain_name},
            {"g:CurrentTime", clock::iso_micro_z(clock::now_ms())},
            {"g:MFAPresent", "false"},
            {"g:SourceIp", ctx.req.remote_addr}};
    if (in_project) {
      f["g:ProjectName"] = in_project->name;
      f["g:ProjectId"] = in_project->id;
    }
    return f;
  };
  std::vector<std::string> actions{route.action};
  actions.insert(actions.end(), route.depends.begin(), route.depends.end());

  if (route.access == Access::kGlobal) {
    if (route.self && route.self(ctx)) return;
    if (auto denied = iam_.first_denied(user, nullptr, actions, facts))
      throw ApiError(403, "IAM.0003", "Policy doesn't allow " + *denied + " to be performed.");
    return;
  }

  // Project-level route: the {project_id} of the path must be a project of
  // the caller's account; another account's project does not exist for it.
  const std::string& pid = ctx.param("project_id");
  auto project = iam_.project_by_id(pid);
  if (!project || project->domain_id != user.domain_id)
    throw refuse(ctx, 404, "ModelArts.0015", "IAM.0004", "Project " + pid + " does not exist.");
  if (token) {
    if (token->project_id.empty())
      throw refuse(ctx, 401, "ModelArts.0212", "IAM.1109", "The token is not scoped to a project; ask for a project-scoped token.");
    if (token->project_id != pid)
      throw refuse(ctx, 403, "ModelArts.0210", "IAM.0002", "The project ID in the URL does not match the token.");
  } else if (h.has("X-Project-Id") && h.get("X-Project-Id") != pid) {
    throw refuse(ctx, 403, "ModelArts.0210", "IAM.0002", "The project ID in the URL does not match X-Project-Id.");
  }
  if (!project->enabled) throw refuse(ctx, 403, "ModelArts.0108", "IAM.0002", "Project " + project->name + " is disabled.");
  ctx.caller.project_id = project->id;
  ctx.caller.project_name = project->name;
  in_project = &*project;
  // The caller's own part of a resource (a labeling team member's task):
  // declared by the route, decided here like every other grant.
  if (route.self && route.self(ctx)) return;
  std::string ep = route.enterprise_project ? route.enterprise_project(ctx) : "";
  if (auto denied = iam_.first_denied(user, &*project, actions, facts, ep))
    throw refuse(ctx, 403, "ModelArts.0108", "IAM.0003",
                 "You are not authorized to perform the (" + *denied + ") operation.");
}

}  // namespace atelier::iam
