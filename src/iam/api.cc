// What the IAM handlers share: the resolvers of the objects a path names,
// query parameters and paging, and the renderers of stored rows.
#include "common/clock.h"
#include "iam/api.h"

namespace atelier::iam {

// ---------------------------------------------------------------- resolvers

Row IamApi::user_row(const Context& ctx, const std::string& id) {
  auto r = db.query_one("SELECT * FROM iam_users WHERE id = ? AND domain_id = ?", {id, ctx.caller.domain_id});
  if (!r) throw not_found_iam("user", id);
  return *r;
}

Row IamApi::group_row(const Context& ctx, const std::string& id) {
  auto r = db.query_one("SELECT * FROM iam_groups WHERE id = ? AND domain_id = ?", {id, ctx.caller.domain_id});
  if (!r) throw not_found_iam("group", id);
  return *r;
}

Row IamApi::project_row(const Context& ctx, const std::string& id) {
  auto r = db.query_one("SELECT * FROM iam_projects WHERE id = ? AND domain_id = ?", {id, ctx.caller.domain_id});
  if (!r) throw not_found_iam("project", id);
  return *r;
}

Row IamApi::role_row(const Context& ctx, const std::string& id) {
  auto r = db.query_one("SELECT * FROM iam_roles WHERE id = ? AND (domain_id IS NULL OR domain_id = ?)",
                        {id, ctx.caller.domain_id});
  if (!r) throw not_found_iam("role", id);
  return *r;
}

Row IamApi::custom_row(const Context& ctx, const std::string& id) {
  auto r = db.query_one("SELECT * FROM iam_roles WHERE id = ? AND domain_id = ?", {id, ctx.caller.domain_id});
  if (!r) throw not_found_iam("custom policy", id);
  return *r;
}

Row IamApi::key_row(const Context& ctx) {
  auto r = db.query_one("SELECT c.* FROM iam_credentials c JOIN iam_users u ON u.id = c.user_id WHERE c.access = ? AND u.domain_id = ?",
                        {ctx.param("access_key"), ctx.caller.domain_id});
  if (!r) throw not_found_iam("access key", ctx.param("access_key"));
  return *r;
}

std::string IamApi::enterprise_project_id(const Context& ctx) {
  const std::string& ep = ctx.param("enterprise_project_id");
  if (!db.query_one("SELECT 1 FROM iam_enterprise_projects WHERE domain_id = ? AND id = ?", {ctx.caller.domain_id, ep}))
    throw not_found_iam("enterprise project", ep);
  return ep;
}

bool is_self_user(const Context& ctx) { return ctx.param("user_id") == ctx.caller.user_id; }

// ---------------------------------------------------------------- errors, query parameters, paging

ApiError not_found_iam(const std::string& what, const std::string& id) {
  return ApiError(404, "IAM.0004", "Could not find " + what + ": " + id + ".");
}

ApiError user_error(const char* code, const std::string& msg) { return ApiError(400, code, msg); }

std::string self_url(const Context& ctx) { return ctx.base_url() + ctx.req.target; }

json list_links(const Context& ctx) {
  return {{"self", self_url(ctx)}, {"previous", nullptr}, {"next", nullptr}};
}

json wrap(const char* key, json value) {
  json o = json::object();
  o[key] = std::move(value);
  return o;
}

void check_own_domain(const Context& ctx, const JsonIn& in, const char* object) {
  if (auto d = in.opt_str("domain_id"); d && *d != ctx.caller.domain_id)
    throw ApiError(403, "IAM.0002", std::string(object) + ".domain_id must be the caller's account.");
}

bool parse_bool_param(const Context& ctx, const char* name, std::optional<bool>& out) {
  auto v = ctx.req.query_param(name);
  if (!v) return false;
  if (*v == "true" || *v == "True" || *v == "1") out = true;
  else if (*v == "false" || *v == "False" || *v == "0") out = false;
  else throw ApiError(400, "IAM.0007", std::string("Request parameter ") + name + " is invalid.");
  return true;
}

std::optional<std::pair<int64_t, int64_t>> paging(const Context& ctx, int64_t max_per_page) {
  auto p = ctx.req.query_param("page"), pp = ctx.req.query_param("per_page");
  if (!p && !pp) return std::nullopt;
  if (!p || !pp) throw ApiError(400, "IAM.0007", "page and per_page must be given together.");
  auto num = [](const std::string& s, int64_t& out) {
    if (s.empty() || s.size() > 9 || s.find_first_not_of("0123456789") != std::string::npos) return false;
    out = std::stoll(s);
    return true;
  };
  int64_t page, per;
  if (!num(*p, page) || page < 1) throw ApiError(400, "IAM.0007", "Request parameter page is invalid.");
  if (!num(*pp, per) || per < 1 || per > max_per_page)
    throw ApiError(400, "IAM.0007", "Request parameter per_page must be 1.." + std::to_string(max_per_page) + ".");
  return std::make_pair((page - 1) * per, per);
}

// ---------------------------------------------------------------- renderers

json project_json(const Context& ctx, const Row& r) {
  json j = json::object();
  j["id"] = r.str("id");
  j["name"] = r.str("name");
  j["domain_id"] = r.str("domain_id");
  j["parent_id"] = r.str("parent_id");
  j["description"] = r.str("description");
  j["enabled"] = r.flag("enabled");
  j["is_domain"] = false;
  j["links"] = json({{"self", ctx.base_url() + "/v3/projects/" + r.str("id")}, {"previous", nullptr}, {"next", nullptr}});
  return j;
}

json user_keystone(const Context& ctx, const Row& r) {
  json j = json::object();
  j["id"] = r.str("id");
  j["name"] = r.str("name");
  j["domain_id"] = r.str("domain_id");
  j["enabled"] = r.flag("enabled");
  j["description"] = r.str("description");
  j["password_expires_at"] = nullptr;
  j["pwd_status"] = r.flag("pwd_status");
  j["last_project_id"] = r.null("last_project_id") ? json(nullptr) : json(r.str("last_project_id"));
  j["pwd_strength"] = r.null("password_hash") ? "low" : "high";
  j["access_mode"] = r.str("access_mode");
  j["links"] = json({{"self", ctx.base_url() + "/v3/users/" + r.str("id")}});
  return j;
}

json user_os(const Context& ctx, const Row& r) {
  json j = json::object();
  j["id"] = r.str("id");
  j["name"] = r.str("name");
  j["domain_id"] = r.str("domain_id");
  j["enabled"] = r.flag("enabled");
  j["pwd_status"] = r.flag("pwd_status");
  j["access_mode"] = r.str("access_mode");
  j["description"] = r.str("description");
  j["email"] = r.str("email");
  j["areacode"] = r.str("areacode");
  j["phone"] = r.str("phone");
  j["xuser_id"] = r.str("xuser_id");
  j["xuser_type"] = r.str("xuser_type");
  j["xdomain_id"] = "";
  j["xdomain_type"] = "";
  j["is_domain_owner"] = r.flag("is_owner");
  j["create_time"] = clock::iso_micro(r.i64("created_at"));
  j["update_time"] = clock::iso_micro(r.i64("updated_at"));
  j["last_login_time"] = r.null("last_login_at") ? json(nullptr) : json(clock::iso_micro(r.i64("last_login_at")));
  j["pwd_strength"] = r.null("password_hash") ? "None" : "Strong";
  j["links"] = json({{"self", ctx.base_url() + "/v3.0/OS-USER/users/" + r.str("id")}});
  return j;
}

json group_json(const Context& ctx, const Row& r) {
  json j = json::object();
  j["id"] = r.str("id");
  j["name"] = r.str("name");
  j["description"] = r.str("description");
  j["domain_id"] = r.str("domain_id");
  j["create_time"] = r.i64("created_at");
  j["links"] = json({{"self", ctx.base_url() + "/v3/groups/" + r.str("id")}, {"previous", nullptr}, {"next", nullptr}});
  return j;
}

json role_json(const Context& ctx, const Row& r) {
  json j = json::object();
  j["id"] = r.str("id");
  j["name"] = r.str("name");
  j["display_name"] = r.str("display_name");
  j["catalog"] = r.str("catalog");
  j["type"] = r.str("type");
  j["description"] = r.str("description");
  j["description_cn"] = r.str("description_cn");
  j["domain_id"] = r.null("domain_id") ? json(nullptr) : json(r.str("domain_id"));
  j["flag"] = r.null("flag") ? json(nullptr) : json(r.str("flag"));
  j["policy"] = json::parse(r.str("policy"), nullptr, false);
  j["links"] = json({{"self", ctx.base_url() + "/v3/roles/" + r.str("id")}});
  if (!r.null("domain_id")) {
    j["created_time"] = std::to_string(r.i64("created_at"));
    j["updated_time"] = std::to_string(r.i64("updated_at"));
  }
  return j;
}

json credential_json(const Row& r, bool with_last_use) {
  json j = json::object();
  j["access"] = r.str("access");
  j["user_id"] = r.str("user_id");
  j["status"] = r.str("status");
  j["description"] = r.str("description");
  j["create_time"] = clock::iso_micro_z(r.i64("created_at"));
  if (with_last_use)
    j["last_use_time"] = r.null("last_use_at") ? json(nullptr) : json(clock::iso_micro_z(r.i64("last_use_at")));
  return j;
}

}  // namespace atelier::iam
