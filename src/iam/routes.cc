#include "iam/routes.h"

#include <algorithm>

#include "common/clock.h"
#include "common/crypto.h"
#include "common/error.h"
#include "common/ids.h"

namespace atelier::iam {

using http::Access;
using http::Context;
using http::ErrorShape;
using http::json_response;
using http::no_content;
using http::Response;
using http::Route;
using store::Row;

namespace {

ApiError not_found_iam(const std::string& what, const std::string& id) {
  return ApiError(404, "IAM.0004", "Could not find " + what + ": " + id + ".");
}

std::string base_url(const Context& ctx) { return ctx.base_url(); }

std::string self_url(const Context& ctx) { return base_url(ctx) + ctx.req.target; }

json list_links(const Context& ctx) {
  return {{"self", self_url(ctx)}, {"previous", nullptr}, {"next", nullptr}};
}

bool parse_bool_param(const Context& ctx, const char* name, std::optional<bool>& out) {
  auto v = ctx.req.query_param(name);
  if (!v) return false;
  if (*v == "true" || *v == "True" || *v == "1") out = true;
  else if (*v == "false" || *v == "False" || *v == "0") out = false;
  else throw ApiError(400, "IAM.0007", std::string("Request parameter ") + name + " is invalid.");
  return true;
}

// page + per_page together (iam-admin-api A.5); returns {offset, limit} or nullopt.
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

template <class T>
std::vector<T> page_of(std::vector<T> v, const std::optional<std::pair<int64_t, int64_t>>& pg) {
  if (!pg) return v;
  if (pg->first >= int64_t(v.size())) return {};
  auto b = v.begin() + pg->first;
  auto e = pg->first + pg->second >= int64_t(v.size()) ? v.end() : b + pg->second;
  return std::vector<T>(b, e);
}

// ------------------------------------------------------------------ renderers

// {key: value} without the deep copy a nested initializer list makes.
json wrap(const char* key, json value) {
  json o = json::object();
  o[key] = std::move(value);
  return o;
}

json project_json(const Context& ctx, const Row& r) {
  json j = json::object();
  j["id"] = r.str("id");
  j["name"] = r.str("name");
  j["domain_id"] = r.str("domain_id");
  j["parent_id"] = r.str("parent_id");
  j["description"] = r.str("description");
  j["enabled"] = r.flag("enabled");
  j["is_domain"] = false;
  j["links"] = json({{"self", base_url(ctx) + "/v3/projects/" + r.str("id")}, {"previous", nullptr}, {"next", nullptr}});
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
  j["links"] = json({{"self", base_url(ctx) + "/v3/users/" + r.str("id")}});
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
  j["links"] = json({{"self", base_url(ctx) + "/v3.0/OS-USER/users/" + r.str("id")}});
  return j;
}

json group_json(const Context& ctx, const Row& r) {
  json j = json::object();
  j["id"] = r.str("id");
  j["name"] = r.str("name");
  j["description"] = r.str("description");
  j["domain_id"] = r.str("domain_id");
  j["create_time"] = r.i64("created_at");
  j["links"] = json({{"self", base_url(ctx) + "/v3/groups/" + r.str("id")}, {"previous", nullptr}, {"next", nullptr}});
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
  j["links"] = json({{"self", base_url(ctx) + "/v3/roles/" + r.str("id")}});
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

// ------------------------------------------------------------------ validation of user fields

ApiError user_error(const char* code, const std::string& msg) { return ApiError(400, code, msg); }

void check_user_name(const std::string& n) {
  if (n.empty() || utf8_length(n) > 32) throw user_error("1101", "Invalid user name: 1 to 32 characters.");
  if (std::isdigit(static_cast<unsigned char>(n[0])) || n[0] == ' ')
    throw user_error("1101", "Invalid user name: it must not start with a digit or a space.");
  for (unsigned char c : n)
    if (!(std::isalnum(c) || c == ' ' || c == '-' || c == '_' || c == '.' || c >= 0x80))
      throw user_error("1101", "Invalid user name: only letters, digits, spaces, '-', '_' and '.' are allowed.");
}

void check_password_rule(const std::string& pw) {
  if (auto why = password_problem(pw)) throw user_error("1103", "Invalid password: it " + *why + ".");
}

}  // namespace

// The handlers, grouped by resource. Each lambda captures the Iam service.
std::vector<Route> routes(Iam& iam) {
  auto& db = iam.db();
  std::vector<Route> out;
  auto add = [&](std::string method, std::string path, std::string action, Access access,
                 http::RouteHandler h, http::SelfCheck self = nullptr) {
    Route r;
    r.method = std::move(method);
    r.path = std::move(path);
    r.action = std::move(action);
    r.access = access;
    r.errors = ErrorShape::kIam;
    r.handler = std::move(h);
    r.self = std::move(self);
    out.push_back(std::move(r));
  };
  auto self_user = [](const Context& c) { return c.param("user_id") == c.caller.user_id; };

  // Resolvers that keep each account's objects invisible to others (404).
  auto user_row = [&db](const Context& c, const std::string& id) {
    auto r = db.query_one("SELECT * FROM iam_users WHERE id = ? AND domain_id = ?", {id, c.caller.domain_id});
    if (!r) throw not_found_iam("user", id);
    return *r;
  };
  auto group_row = [&db](const Context& c, const std::string& id) {
    auto r = db.query_one("SELECT * FROM iam_groups WHERE id = ? AND domain_id = ?", {id, c.caller.domain_id});
    if (!r) throw not_found_iam("group", id);
    return *r;
  };
  auto project_row = [&db](const Context& c, const std::string& id) {
    auto r = db.query_one("SELECT * FROM iam_projects WHERE id = ? AND domain_id = ?", {id, c.caller.domain_id});
    if (!r) throw not_found_iam("project", id);
    return *r;
  };
  // System roles are visible to all; custom ones to their account only.
  auto role_row = [&db](const Context& c, const std::string& id) {
    auto r = db.query_one("SELECT * FROM iam_roles WHERE id = ? AND (domain_id IS NULL OR domain_id = ?)",
                          {id, c.caller.domain_id});
    if (!r) throw not_found_iam("role", id);
    return *r;
  };
  auto own_domain = [](const Context& c, const std::string& id) {
    if (id != c.caller.domain_id) throw not_found_iam("domain", id);
  };

  // ================================================================ tokens (§1)

  auto token_body = [&iam, &db](const Context& ctx, const TokenInfo& t) {
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
    if (nocatalog) {
      tok["catalog"] = json::array();
    } else {
      std::string url = base_url(ctx);
      std::string region = iam.config().region;
      auto ep = [&](const char* type, const std::string& reg) {
        return json{{"type", type}, {"id", crypto::sha256_hex(type).substr(0, 32)}, {"name", type},
                    {"endpoints", json::array({{{"id", crypto::sha256_hex(std::string(type) + "ep").substr(0, 32)},
                                                {"interface", "public"}, {"region", reg}, {"region_id", reg},
                                                {"url", url}}})}};
      };
      tok["catalog"] = json::array({ep("modelarts", region), ep("iam", "*"), ep("obs", region)});
    }
    return json{{"token", tok}};
  };

  add("POST", "/v3/auth/tokens", "", Access::kPublic, [&iam, token_body](Context& ctx) {
    auto in = ctx.in();
    auto auth = in.obj("auth");
    auto identity = auth.obj("identity");
    const json& methods = identity.arr("methods");
    if (methods.size() != 1 || !methods[0].is_string())
      identity.fail("methods", "must hold exactly one of password, token, hw_ak_sk");
    std::string method = methods[0].get<std::string>();
    UserRecord user;
    int64_t max_expiry = 0;
    if (method == "password") {
      auto pu = identity.obj("password").obj("user");
      std::string uid = pu.opt_str("id").value_or("");
      std::string domain_id;
      if (uid.empty()) {
        std::string name = pu.str("name");
        auto dom = pu.obj("domain");
        if (auto id = dom.opt_str("id")) domain_id = *id;
        else if (auto d = iam.domain_id_by_name(dom.str("name"))) domain_id = *d;
        else {
          crypto::password_verify("$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$0000000000000000000000000000000000000000000", "x");
          throw ApiError(401, "IAM.0062", "The username or password is wrong.");
        }
        user = iam.check_password(domain_id, name, "", pu.str("password"));
      } else {
        user = iam.check_password("", "", uid, pu.str("password"));
      }
    } else if (method == "token") {
      std::string presented;
      if (auto t = identity.opt_obj("token")) presented = t->opt_str("id").value_or("");
      if (presented.empty()) presented = ctx.req.headers.get("X-Auth-Token");
      auto t = presented.empty() ? nullptr : iam.find_token(presented);
      if (!t || t->expires_at <= clock::now_ms()) throw ApiError(401, "IAM.0067", "Invalid token.");
      user = t->user;
      max_expiry = t->expires_at;
    } else if (method == "hw_ak_sk") {
      auto ak = identity.obj("hw_ak_sk");
      std::string access = ak.obj("access").str("key"), secret = ak.obj("secret").str("key");
      auto key = iam.access_key(access);
      if (!key || !crypto::equal_ct(key->secret, secret))
        throw ApiError(401, "IAM.0062", "The access key or secret key is wrong.");
      if (key->status != "active") throw ApiError(401, "IAM.1107", "The access key " + access + " is inactive.");
      auto u = iam.user_by_id(key->user_id);
      if (!u) throw ApiError(401, "IAM.1106", "The user with access key " + access + " cannot be found.");
      user = *u;
      iam.touch_access_key(access, clock::now_ms());
    } else {
      identity.fail("methods", "'" + method + "' is not supported; use password, token or hw_ak_sk");
    }
    if (!user.enabled || !user.domain_enabled) throw ApiError(403, "IAM.0082", "The user " + user.name + " is disabled.");
    if (user.access_mode == "console")
      throw ApiError(403, "IAM.0081", "This user only supports console access, not programmatic access.");
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
    auto issued = iam.issue_token(user, project, {method}, max_expiry);
    auto r = json_response(201, token_body(ctx, issued.info));
    r.headers.add("X-Subject-Token", issued.token);
    return r;
  });

  // Validation and revocation name the subject token in X-Subject-Token.
  auto subject = [&iam](const Context& ctx, bool allow_expired = false) -> TokenInfo {
    const std::string& s = ctx.req.headers.get("X-Subject-Token");
    auto t = s.empty() ? nullptr : iam.find_token(s);
    if (!t || (!allow_expired && t->expires_at <= clock::now_ms()) || t->user.domain_id != ctx.caller.domain_id)
      throw ApiError(404, "IAM.0009", "X-Subject-Token is invalid in the request.");
    return *t;
  };
  auto self_subject = [&iam](const Context& ctx) {
    const std::string& s = ctx.req.headers.get("X-Subject-Token");
    auto t = s.empty() ? nullptr : iam.find_token(s);
    return !t || t->user.id == ctx.caller.user_id;  // unknown ones answer 404 in the handler
  };
  add("GET", "/v3/auth/tokens", "iam:tokens:get", Access::kGlobal, [subject, token_body](Context& ctx) {
    auto t = subject(ctx);
    auto r = json_response(200, token_body(ctx, t));
    r.headers.add("X-Subject-Token", ctx.req.headers.get("X-Subject-Token"));
    return r;
  }, self_subject);
  add("HEAD", "/v3/auth/tokens", "iam:tokens:get", Access::kGlobal, [subject](Context& ctx) {
    subject(ctx);
    return no_content(200);
  }, self_subject);
  add("DELETE", "/v3/auth/tokens", "iam:tokens:revoke", Access::kGlobal, [&iam, subject](Context& ctx) {
    iam.revoke_token(subject(ctx, /*allow_expired=*/true).hash);
    return no_content();
  }, self_subject);

  // ================================================================ projects and domains (§2)

  add("GET", "/v3/projects", "", Access::kMember, [&db](Context& ctx) {
    std::string sql = "SELECT * FROM iam_projects WHERE domain_id = ?";
    store::Params p{ctx.caller.domain_id};
    if (auto v = ctx.req.query_param("name")) { sql += " AND name = ?"; p.push_back(*v); }
    if (auto v = ctx.req.query_param("parent_id")) { sql += " AND parent_id = ?"; p.push_back(*v); }
    if (auto v = ctx.req.query_param("domain_id")) { sql += " AND domain_id = ?"; p.push_back(*v); }
    std::optional<bool> en;
    if (parse_bool_param(ctx, "enabled", en)) { sql += " AND enabled = ?"; p.push_back(*en); }
    auto pg = paging(ctx, 5000);
    json list = json::array();
    for (auto& r : page_of(db.query(sql + " ORDER BY id", p), pg)) list.push_back(project_json(ctx, r));
    return json_response(200, {{"links", list_links(ctx)}, {"projects", list}});
  });
  add("GET", "/v3/projects/{project_id}", "", Access::kMember, [project_row](Context& ctx) {
    return json_response(200, wrap("project", project_json(ctx, project_row(ctx, ctx.param("project_id")))));
  });
  add("POST", "/v3/projects", "iam:projects:createProject", Access::kGlobal, [&iam, &db, project_row](Context& ctx) {
    auto p = ctx.in().obj("project");
    std::string name = p.str("name");
    if (auto d = p.opt_str("domain_id"); d && *d != ctx.caller.domain_id)
      throw ApiError(403, "IAM.0002", "project.domain_id must be the caller's account.");
    std::string region = iam.config().region;
    auto parent_id = p.opt_str("parent_id");
    if (name == region && !parent_id) {  // SDK auto-discovery re-creating the region project (§2.3)
      auto rp = iam.project_by_name(ctx.caller.domain_id, region);
      return json_response(201, wrap("project", project_json(ctx, project_row(ctx, rp->id))));
    }
    if (utf8_length(name) > 64 || name.rfind(region + "_", 0) != 0 || name.size() == region.size() + 1)
      throw ApiError(400, "IAM.0007", "project.name must be '" + region + "_<suffix>' and at most 64 characters.");
    auto rp = iam.project_by_name(ctx.caller.domain_id, region);
    if (parent_id && *parent_id != rp->id) throw ApiError(400, "IAM.0007", "project.parent_id must be the id of project " + region + ".");
    std::string desc = p.max_len("description", p.opt_str("description").value_or(""), 255);
    if (iam.project_by_name(ctx.caller.domain_id, name))
      throw ApiError(409, "IAM.0005", "Conflict occurred when attempting to store project - name " + name + " exists.");
    std::string id = ids::hex32();
    db.exec("INSERT INTO iam_projects (id, domain_id, name, parent_id, description, created_at) VALUES (?, ?, ?, ?, ?, ?)",
            {id, ctx.caller.domain_id, name, rp->id, desc, clock::now_ms()});
    iam.changed();
    return json_response(201, wrap("project", project_json(ctx, project_row(ctx, id))));
  });
  add("PATCH", "/v3/projects/{project_id}", "iam:projects:updateProject", Access::kGlobal, [&iam, &db, project_row](Context& ctx) {
    auto row = project_row(ctx, ctx.param("project_id"));
    auto p = ctx.in().obj("project");
    auto name = p.opt_str("name");
    auto desc = p.opt_str("description");
    if (!name && !desc) p.fail("name", "name or description is required");
    std::string region = iam.config().region;
    if (name && *name != row.str("name")) {
      if (row.str("name") == region) throw ApiError(400, "IAM.0007", "A region project cannot be renamed.");
      if (utf8_length(*name) > 64 || name->rfind(region + "_", 0) != 0 || name->size() == region.size() + 1)
        throw ApiError(400, "IAM.0007", "project.name must be '" + region + "_<suffix>' and at most 64 characters.");
      if (iam.project_by_name(ctx.caller.domain_id, *name))
        throw ApiError(409, "IAM.0005", "Conflict occurred when attempting to store project - name " + *name + " exists.");
    }
    if (desc) p.max_len("description", *desc, 255);
    db.exec("UPDATE iam_projects SET name = COALESCE(?, name), description = COALESCE(?, description) WHERE id = ?",
            {name, desc, row.str("id")});
    iam.changed();
    json j = project_json(ctx, project_row(ctx, row.str("id")));
    j["extra"] = json::object();
    return json_response(200, wrap("project", j));
  });
  add("GET", "/v3/auth/projects", "", Access::kMember, [&db](Context& ctx) {
    json list = json::array();
    for (auto& r : db.query("SELECT * FROM iam_projects WHERE domain_id = ? AND enabled = 1 ORDER BY id", {ctx.caller.domain_id}))
      list.push_back(project_json(ctx, r));
    return json_response(200, {{"links", {{"self", self_url(ctx)}}}, {"projects", list}});
  });
  add("GET", "/v3/users/{user_id}/projects", "iam:projects:listProjectsForUser", Access::kGlobal,
      [&db, user_row](Context& ctx) {
        auto u = user_row(ctx, ctx.param("user_id"));
        auto rows = db.query(
            "SELECT DISTINCT p.* FROM iam_projects p WHERE p.domain_id = ? AND EXISTS (SELECT 1 FROM iam_grants g "
            "WHERE g.subject_kind = 'group' AND g.subject_id IN (SELECT group_id FROM iam_group_members WHERE user_id = ?) "
            "AND ((g.scope_kind = 'project' AND g.scope_id = p.id) OR (g.scope_kind = 'inherited' AND g.scope_id = p.domain_id))) "
            "ORDER BY p.id",
            {ctx.caller.domain_id, u.str("id")});
        json list = json::array();
        for (auto& r : rows) list.push_back(project_json(ctx, r));
        return json_response(200, {{"links", list_links(ctx)}, {"projects", list}});
      }, self_user);
  add("GET", "/v3/auth/domains", "", Access::kMember, [&db](Context& ctx) {
    auto d = db.query_one("SELECT * FROM iam_domains WHERE id = ?", {ctx.caller.domain_id});
    json dom = {{"id", d->str("id")}, {"name", d->str("name")}, {"enabled", d->flag("enabled")},
                {"description", d->str("description")},
                {"links", {{"self", base_url(ctx) + "/v3/domains/" + d->str("id")}}}};
    return json_response(200, {{"domains", json::array({dom})}, {"links", {{"self", self_url(ctx)}}}});
  });
  add("GET", "/v3/regions", "", Access::kMember, [&iam](Context& ctx) {
    json reg = {{"id", iam.config().region}, {"type", "public"}, {"description", ""}, {"parent_region_id", nullptr},
                {"links", {{"self", base_url(ctx) + "/v3/regions/" + iam.config().region}}},
                {"locales", {{"en-us", iam.config().region}}}};
    return json_response(200, {{"regions", json::array({reg})}, {"links", list_links(ctx)}});
  });

  // ================================================================ users (§3)

  // Shared by both create forms; returns the new id.
  auto create_user = [&iam, &db](Context& ctx, bool os_form) {
    auto u = ctx.in().obj("user");
    if (!u.has("name")) throw user_error("1100", "Mandatory parameter user.name is missing.");
    std::string name = u.str("name");
    check_user_name(name);
    if (auto d = u.opt_str("domain_id"); d && *d != ctx.caller.domain_id)
      throw ApiError(403, "IAM.0002", "user.domain_id must be the caller's account.");
    auto pw = u.opt_str("password");
    if (pw) check_password_rule(*pw);
    auto email = u.opt_str("email");
    if (email && (email->size() > 255 || email->find('@') == std::string::npos || email->front() == '@' || email->back() == '@'))
      throw user_error("1102", "Invalid e-mail address.");
    auto areacode = u.opt_str("areacode"), phone = u.opt_str("phone");
    if (bool(areacode) != bool(phone)) throw user_error("1106", "The country code and the mobile number must be given together.");
    if (phone && (phone->size() > 32 || phone->find_first_not_of("0123456789") != std::string::npos))
      throw user_error("1104", "Invalid mobile number.");
    std::string mode = u.opt_str("access_mode").value_or("default");
    if (mode != "default" && mode != "programmatic" && mode != "console")
      throw user_error("1120", "Invalid access_mode: use default, programmatic or console.");
    std::string desc = u.opt_str("description").value_or("");
    if (utf8_length(desc) > 255) throw user_error("1117", "Invalid user description: at most 255 characters.");
    bool enabled = u.opt_bool("enabled").value_or(true);
    bool pwd_status = u.opt_bool("pwd_status").value_or(os_form);
    auto xt = u.opt_str("xuser_type"), xi = u.opt_str("xuser_id");
    if (bool(xt) != bool(xi)) throw user_error("1105", "xuser_type and xuser_id must be given together.");
    std::string id = ids::hex32();
    int64_t now = clock::now_ms();
    db.transaction([&] {
      if (db.query_one("SELECT 1 FROM iam_users WHERE domain_id = ? AND name = ?", {ctx.caller.domain_id, name})) {
        if (os_form) throw user_error("1109", "The user name " + name + " already exists.");
        throw ApiError(409, "IAM.0005", "Conflict occurred when attempting to store user - name " + name + " exists.");
      }
      if (email && db.query_one("SELECT 1 FROM iam_users WHERE domain_id = ? AND email = ?", {ctx.caller.domain_id, *email}))
        throw user_error("1110", "The e-mail address is already used.");
      if (phone && db.query_one("SELECT 1 FROM iam_users WHERE domain_id = ? AND areacode = ? AND phone = ?",
                                {ctx.caller.domain_id, *areacode, *phone}))
        throw user_error("1111", "The mobile number is already used.");
      db.exec("INSERT INTO iam_users (id, domain_id, name, password_hash, enabled, email, areacode, phone, description, "
              "access_mode, pwd_status, xuser_type, xuser_id, created_at, updated_at, pwd_changed_at, email_confirmed) "
              "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
              {id, ctx.caller.domain_id, name, pw ? store::Value(crypto::password_hash(*pw)) : store::Value(), enabled,
               email, areacode, phone, desc, mode, pwd_status, xt, xi, now, now, pw ? store::Value(now) : store::Value(),
               bool(email)});
    });
    iam.changed();
    return id;
  };
  add("POST", "/v3.0/OS-USER/users", "iam:users:createUser", Access::kGlobal, [create_user, user_row](Context& ctx) {
    std::string id = create_user(ctx, true);
    json j = user_os(ctx, user_row(ctx, id));
    j.erase("links");
    return json_response(201, wrap("user", j));
  });
  add("POST", "/v3/users", "iam:users:createUser", Access::kGlobal, [create_user, user_row](Context& ctx) {
    std::string id = create_user(ctx, false);
    return json_response(201, wrap("user", user_keystone(ctx, user_row(ctx, id))));
  });
  add("GET", "/v3/users", "iam:users:listUsers", Access::kGlobal, [&db](Context& ctx) {
    if (auto d = ctx.req.query_param("domain_id"); d && *d != ctx.caller.domain_id)
      return json_response(200, {{"links", list_links(ctx)}, {"users", json::array()}});
    std::string sql = "SELECT * FROM iam_users WHERE domain_id = ?";
    store::Params p{ctx.caller.domain_id};
    if (auto v = ctx.req.query_param("name")) { sql += " AND name = ?"; p.push_back(*v); }
    std::optional<bool> en;
    if (parse_bool_param(ctx, "enabled", en)) { sql += " AND enabled = ?"; p.push_back(*en); }
    json list = json::array();
    for (auto& r : db.query(sql + " ORDER BY id", p)) list.push_back(user_keystone(ctx, r));
    return json_response(200, {{"links", list_links(ctx)}, {"users", list}});
  });
  add("GET", "/v3.0/OS-USER/users/{user_id}", "iam:users:getUser", Access::kGlobal, [user_row](Context& ctx) {
    return json_response(200, wrap("user", user_os(ctx, user_row(ctx, ctx.param("user_id")))));
  }, self_user);
  add("GET", "/v3/users/{user_id}", "iam:users:getUser", Access::kGlobal, [user_row](Context& ctx) {
    return json_response(200, wrap("user", user_keystone(ctx, user_row(ctx, ctx.param("user_id")))));
  }, self_user);

  auto update_user = [&iam, &db, user_row](Context& ctx, bool os_form) {
    auto row = user_row(ctx, ctx.param("user_id"));
    auto u = ctx.in().obj("user");
    if (u.node().empty()) throw user_error("1100", "At least one field of user is required.");
    auto name = u.opt_str("name");
    if (name) check_user_name(*name);
    if (auto d = u.opt_str("domain_id"); d && *d != ctx.caller.domain_id)
      throw ApiError(403, "IAM.0002", "user.domain_id must be the caller's account.");
    auto pw = u.opt_str("password");
    if (pw) {
      check_password_rule(*pw);
      if (!row.null("password_hash") && crypto::password_verify(row.str("password_hash"), *pw))
        throw user_error("1108", "The new password must differ from the old one.");
    }
    auto email = u.opt_str("email");
    if (email && (email->size() > 255 || email->find('@') == std::string::npos)) throw user_error("1102", "Invalid e-mail address.");
    auto areacode = u.opt_str("areacode"), phone = u.opt_str("phone");
    if (phone && (phone->size() > 32 || phone->find_first_not_of("0123456789") != std::string::npos))
      throw user_error("1104", "Invalid mobile number.");
    auto mode = u.opt_str("access_mode");
    if (mode && *mode != "default" && *mode != "programmatic" && *mode != "console")
      throw user_error("1120", "Invalid access_mode: use default, programmatic or console.");
    auto desc = u.opt_str("description");
    if (desc && utf8_length(*desc) > 255) throw user_error("1117", "Invalid user description: at most 255 characters.");
    auto enabled = u.opt_bool("enabled");
    auto pwd_status = u.opt_bool("pwd_status");
    if (row.flag("is_owner") && enabled && !*enabled) throw ApiError(400, "IAM.0007", "The account owner cannot be disabled.");
    if (row.flag("is_owner") && name && *name != row.str("name")) throw ApiError(400, "IAM.0007", "The account owner cannot be renamed.");
    int64_t now = clock::now_ms();
    db.transaction([&] {
      if (name && *name != row.str("name") &&
          db.query_one("SELECT 1 FROM iam_users WHERE domain_id = ? AND name = ?", {ctx.caller.domain_id, *name})) {
        if (os_form) throw user_error("1109", "The user name " + *name + " already exists.");
        throw ApiError(409, "IAM.0005", "Conflict occurred when attempting to store user - name " + *name + " exists.");
      }
      db.exec("UPDATE iam_users SET name = COALESCE(?, name), email = COALESCE(?, email), areacode = COALESCE(?, areacode), "
              "phone = COALESCE(?, phone), access_mode = COALESCE(?, access_mode), description = COALESCE(?, description), "
              "enabled = COALESCE(?, enabled), pwd_status = COALESCE(?, pwd_status), updated_at = ? WHERE id = ?",
              {name, email, areacode, phone, mode, desc, enabled, pwd_status, now, row.str("id")});
      if (email)  // an administrator's word for the address, unless the user set it on itself
        db.exec("UPDATE iam_users SET email_confirmed = ? WHERE id = ?", {row.str("id") != ctx.caller.user_id, row.str("id")});
      if (pw)
        db.exec("UPDATE iam_users SET password_hash = ?, pwd_changed_at = ? WHERE id = ?",
                {crypto::password_hash(*pw), now, row.str("id")});
    });
    // A new password or a disabled user ends every session (§1.5).
    if (pw || (enabled && !*enabled)) iam.revoke_user_tokens(row.str("id"));
    iam.changed();
    return user_row(ctx, row.str("id"));
  };
  add("PUT", "/v3.0/OS-USER/users/{user_id}", "iam:users:updateUser", Access::kGlobal, [update_user](Context& ctx) {
    return json_response(200, wrap("user", user_os(ctx, update_user(ctx, true))));
  });
  add("PATCH", "/v3/users/{user_id}", "iam:users:updateUser", Access::kGlobal, [update_user](Context& ctx) {
    json j = user_keystone(ctx, update_user(ctx, false));
    j["extra"] = {{"description", j["description"]}, {"pwd_status", j["pwd_status"]}, {"last_project_id", j["last_project_id"]}};
    return json_response(200, wrap("user", j));
  });
  add("PUT", "/v3.0/OS-USER/users/{user_id}/info", "iam:users:updateUserInfo", Access::kGlobal,
      [&iam, &db, user_row](Context& ctx) {
        auto row = user_row(ctx, ctx.param("user_id"));
        auto u = ctx.in().obj("user");
        auto email = u.opt_str("email"), mobile = u.opt_str("mobile");
        if (!email && !mobile) u.fail("email", "email or mobile is required");
        if (email && (email->size() > 255 || email->find('@') == std::string::npos)) throw user_error("1102", "Invalid e-mail address.");
        std::optional<std::string> area, phone;
        if (mobile) {
          auto dash = mobile->find('-');
          if (dash == std::string::npos) throw user_error("1104", "Invalid mobile number: use <country code>-<number>.");
          area = mobile->substr(0, dash);
          phone = mobile->substr(dash + 1);
          if (phone->empty() || phone->find_first_not_of("0123456789") != std::string::npos) throw user_error("1104", "Invalid mobile number.");
        }
        db.exec("UPDATE iam_users SET email = COALESCE(?, email), areacode = COALESCE(?, areacode), phone = COALESCE(?, phone), "
                "updated_at = ? WHERE id = ?",
                {email, area, phone, clock::now_ms(), row.str("id")});
        if (email)  // a user's own word for its address proves nothing; an administrator's does
          db.exec("UPDATE iam_users SET email_confirmed = ? WHERE id = ?", {row.str("id") != ctx.caller.user_id, row.str("id")});
        iam.changed();
        return no_content();
      }, self_user);
  add("POST", "/v3/users/{user_id}/password", "iam:users:changePassword", Access::kGlobal,
      [&iam, &db, user_row](Context& ctx) {
        auto row = user_row(ctx, ctx.param("user_id"));
        auto u = ctx.in().obj("user");
        std::string pw = u.str("password"), orig = u.str("original_password");
        if (row.null("password_hash") || !crypto::password_verify(row.str("password_hash"), orig))
          throw ApiError(401, "IAM.0062", "The original password is wrong.");
        check_password_rule(pw);
        if (pw == orig) throw user_error("1108", "The new password must differ from the old one.");
        int64_t now = clock::now_ms();
        db.exec("UPDATE iam_users SET password_hash = ?, pwd_changed_at = ?, pwd_status = 0, updated_at = ? WHERE id = ?",
                {crypto::password_hash(pw), now, now, row.str("id")});
        iam.revoke_user_tokens(row.str("id"));
        return no_content();
      }, self_user);
  add("DELETE", "/v3/users/{user_id}", "iam:users:deleteUser", Access::kGlobal, [&iam, &db, user_row](Context& ctx) {
    auto row = user_row(ctx, ctx.param("user_id"));
    if (row.flag("is_owner")) throw user_error("1107", "The account administrator cannot be deleted.");
    db.transaction([&] {
      std::string id = row.str("id");
      db.exec("DELETE FROM iam_group_members WHERE user_id = ?", {id});
      db.exec("DELETE FROM iam_grants WHERE subject_kind = 'user' AND subject_id = ?", {id});
      db.exec("DELETE FROM iam_credentials WHERE user_id = ?", {id});
      db.exec("DELETE FROM iam_tokens WHERE user_id = ?", {id});
      db.exec("DELETE FROM iam_users WHERE id = ?", {id});
    });
    iam.changed();
    return no_content();
  });

  // ================================================================ groups (§4)

  add("POST", "/v3/groups", "iam:groups:createGroup", Access::kGlobal, [&iam, &db, group_row](Context& ctx) {
    auto g = ctx.in().obj("group");
    std::string name = g.max_len("name", g.str("name"), 64);
    std::string desc = g.max_len("description", g.opt_str("description").value_or(""), 255);
    if (auto d = g.opt_str("domain_id"); d && *d != ctx.caller.domain_id)
      throw ApiError(403, "IAM.0002", "group.domain_id must be the caller's account.");
    std::string id = ids::hex32();
    db.transaction([&] {
      if (db.query_one("SELECT 1 FROM iam_groups WHERE domain_id = ? AND name = ?", {ctx.caller.domain_id, name}))
        throw ApiError(409, "IAM.0005", "Conflict occurred when attempting to store group - name " + name + " exists.");
      db.exec("INSERT INTO iam_groups (id, domain_id, name, description, created_at) VALUES (?, ?, ?, ?, ?)",
              {id, ctx.caller.domain_id, name, desc, clock::now_ms()});
    });
    iam.changed();
    return json_response(201, wrap("group", group_json(ctx, group_row(ctx, id))));
  });
  add("GET", "/v3/groups", "iam:groups:listGroups", Access::kGlobal, [&db](Context& ctx) {
    json list = json::array();
    if (auto d = ctx.req.query_param("domain_id"); d && *d != ctx.caller.domain_id)
      return json_response(200, {{"links", list_links(ctx)}, {"groups", list}});
    std::string sql = "SELECT * FROM iam_groups WHERE domain_id = ?";
    store::Params p{ctx.caller.domain_id};
    if (auto v = ctx.req.query_param("name")) { sql += " AND name = ?"; p.push_back(*v); }
    for (auto& r : db.query(sql + " ORDER BY id", p)) list.push_back(group_json(ctx, r));
    return json_response(200, {{"links", list_links(ctx)}, {"groups", list}});
  });
  add("GET", "/v3/groups/{group_id}", "iam:groups:getGroup", Access::kGlobal, [group_row](Context& ctx) {
    return json_response(200, wrap("group", group_json(ctx, group_row(ctx, ctx.param("group_id")))));
  });
  add("PATCH", "/v3/groups/{group_id}", "iam:groups:updateGroup", Access::kGlobal, [&iam, &db, group_row](Context& ctx) {
    auto row = group_row(ctx, ctx.param("group_id"));
    auto g = ctx.in().obj("group");
    auto name = g.opt_str("name"), desc = g.opt_str("description");
    if (!name && !desc) g.fail("name", "name or description is required");
    if (name) g.max_len("name", *name, 64);
    if (desc) g.max_len("description", *desc, 255);
    if (name && name->empty()) g.fail("name", "must not be empty");
    if (auto d = g.opt_str("domain_id"); d && *d != ctx.caller.domain_id)
      throw ApiError(403, "IAM.0002", "group.domain_id must be the caller's account.");
    if (name && *name != row.str("name")) {
      if (row.str("name") == "admin") throw ApiError(400, "IAM.0007", "The built-in group admin cannot be renamed.");
      if (db.query_one("SELECT 1 FROM iam_groups WHERE domain_id = ? AND name = ?", {ctx.caller.domain_id, *name}))
        throw ApiError(409, "IAM.0005", "Conflict occurred when attempting to store group - name " + *name + " exists.");
    }
    db.exec("UPDATE iam_groups SET name = COALESCE(?, name), description = COALESCE(?, description) WHERE id = ?",
            {name, desc, row.str("id")});
    iam.changed();
    return json_response(200, wrap("group", group_json(ctx, group_row(ctx, row.str("id")))));
  });
  add("DELETE", "/v3/groups/{group_id}", "iam:groups:deleteGroup", Access::kGlobal, [&iam, &db, group_row](Context& ctx) {
    auto row = group_row(ctx, ctx.param("group_id"));
    if (row.str("name") == "admin") throw ApiError(400, "IAM.0007", "The built-in group admin cannot be deleted.");
    db.transaction([&] {
      db.exec("DELETE FROM iam_grants WHERE subject_kind = 'group' AND subject_id = ?", {row.str("id")});
      db.exec("DELETE FROM iam_group_members WHERE group_id = ?", {row.str("id")});
      db.exec("DELETE FROM iam_groups WHERE id = ?", {row.str("id")});
    });
    iam.changed();
    return no_content();
  });
  add("PUT", "/v3/groups/{group_id}/users/{user_id}", "iam:permissions:addUserToGroup", Access::kGlobal,
      [&iam, &db, group_row, user_row](Context& ctx) {
        auto g = group_row(ctx, ctx.param("group_id"));
        auto u = user_row(ctx, ctx.param("user_id"));
        if (!db.query_one("SELECT 1 FROM iam_group_members WHERE group_id = ? AND user_id = ?", {g.str("id"), u.str("id")}))
          db.exec("INSERT INTO iam_group_members (group_id, user_id) VALUES (?, ?)", {g.str("id"), u.str("id")});
        iam.changed();
        return no_content();
      });
  add("HEAD", "/v3/groups/{group_id}/users/{user_id}", "iam:permissions:checkUserInGroup", Access::kGlobal,
      [&db, group_row, user_row](Context& ctx) {
        auto g = group_row(ctx, ctx.param("group_id"));
        auto u = user_row(ctx, ctx.param("user_id"));
        bool in = bool(db.query_one("SELECT 1 FROM iam_group_members WHERE group_id = ? AND user_id = ?", {g.str("id"), u.str("id")}));
        return no_content(in ? 204 : 404);
      });
  add("DELETE", "/v3/groups/{group_id}/users/{user_id}", "iam:permissions:removeUserFromGroup", Access::kGlobal,
      [&iam, &db, group_row, user_row](Context& ctx) {
        auto g = group_row(ctx, ctx.param("group_id"));
        auto u = user_row(ctx, ctx.param("user_id"));
        if (g.str("name") == "admin" && u.flag("is_owner"))
          throw ApiError(400, "IAM.0007", "The account owner cannot leave the group admin.");
        if (!db.exec("DELETE FROM iam_group_members WHERE group_id = ? AND user_id = ?", {g.str("id"), u.str("id")}))
          throw not_found_iam("membership of user " + u.str("id") + " in group", g.str("id"));
        iam.changed();
        return no_content();
      });
  add("GET", "/v3/groups/{group_id}/users", "iam:users:listUsersForGroup", Access::kGlobal, [&db, group_row](Context& ctx) {
    auto g = group_row(ctx, ctx.param("group_id"));
    json list = json::array();
    for (auto& r : db.query("SELECT u.* FROM iam_users u JOIN iam_group_members m ON m.user_id = u.id WHERE m.group_id = ? ORDER BY u.id",
                            {g.str("id")})) {
      json j = user_keystone(ctx, r);
      j["extra"] = {{"description", j["description"]}, {"last_project_id", j["last_project_id"]}, {"pwd_status", j["pwd_status"]}};
      list.push_back(j);
    }
    return json_response(200, {{"links", list_links(ctx)}, {"users", list}});
  });
  add("GET", "/v3/users/{user_id}/groups", "iam:groups:listGroupsForUser", Access::kGlobal, [&db, user_row](Context& ctx) {
    auto u = user_row(ctx, ctx.param("user_id"));
    json list = json::array();
    for (auto& r : db.query("SELECT g.* FROM iam_groups g JOIN iam_group_members m ON m.group_id = g.id WHERE m.user_id = ? ORDER BY g.id",
                            {u.str("id")}))
      list.push_back(group_json(ctx, r));
    return json_response(200, {{"links", list_links(ctx)}, {"groups", list}});
  }, self_user);

  // ================================================================ roles and policies (§5)

  add("GET", "/v3/roles", "iam:roles:listRoles", Access::kGlobal, [&db](Context& ctx) {
    std::string sql;
    store::Params p;
    if (auto d = ctx.req.query_param("domain_id")) {
      sql = "SELECT * FROM iam_roles WHERE domain_id = ?";
      p.push_back(*d == ctx.caller.domain_id ? *d : std::string("\x01"));
    } else {
      sql = "SELECT * FROM iam_roles WHERE domain_id IS NULL";
      if (auto t = ctx.req.query_param("permission_type")) {
        if (*t == "policy") sql += " AND flag = 'fine_grained'";
        else if (*t == "role") sql += " AND flag IS NULL";
        else throw ApiError(400, "IAM.0007", "Request parameter permission_type must be policy or role.");
      }
    }
    if (auto v = ctx.req.query_param("name")) { sql += " AND name = ?"; p.push_back(*v); }
    if (auto v = ctx.req.query_param("catalog")) { sql += " AND catalog = ?"; p.push_back(*v); }
    if (auto v = ctx.req.query_param("type")) {
      if (*v == "domain") sql += " AND type IN ('AA','AX')";
      else if (*v == "project") sql += " AND type IN ('AA','XA')";
      else if (*v == "all") sql += " AND type IN ('AA','AX','XA')";
      else throw ApiError(400, "IAM.0007", "Request parameter type must be domain, project or all.");
    }
    sql += " AND type <> 'XX' ORDER BY id";
    auto rows = db.query(sql, p);
    if (auto dn = ctx.req.query_param("display_name")) {  // case-sensitive substring (§5.2)
      rows.erase(std::remove_if(rows.begin(), rows.end(),
                                [&](const Row& r) { return r.str("display_name").find(*dn) == std::string::npos; }),
                 rows.end());
    }
    size_t total = rows.size();
    json list = json::array();
    for (auto& r : page_of(rows, paging(ctx, 300))) list.push_back(role_json(ctx, r));
    return json_response(200, {{"links", list_links(ctx)}, {"roles", list}, {"total_number", total}});
  });
  add("GET", "/v3/roles/{role_id}", "iam:roles:getRole", Access::kGlobal, [role_row](Context& ctx) {
    return json_response(200, wrap("role", role_json(ctx, role_row(ctx, ctx.param("role_id")))));
  });
  add("GET", "/v3.0/OS-ROLE/roles", "iam:roles:listRoles", Access::kGlobal, [&db](Context& ctx) {
    auto rows = db.query("SELECT * FROM iam_roles WHERE domain_id = ? ORDER BY id", {ctx.caller.domain_id});
    size_t total = rows.size();
    json list = json::array();
    for (auto& r : page_of(rows, paging(ctx, 300))) {
      json j = role_json(ctx, r);
      j["references"] = db.query_one("SELECT COUNT(*) AS n FROM iam_grants WHERE role_id = ?", {r.str("id")})->i64("n");
      list.push_back(j);
    }
    return json_response(200, {{"links", list_links(ctx)}, {"roles", list}, {"total_number", total}});
  });
  auto custom_row = [&db](const Context& c, const std::string& id) {
    auto r = db.query_one("SELECT * FROM iam_roles WHERE id = ? AND domain_id = ?", {id, c.caller.domain_id});
    if (!r) throw not_found_iam("custom policy", id);
    return *r;
  };
  add("GET", "/v3.0/OS-ROLE/roles/{role_id}", "iam:roles:getRole", Access::kGlobal, [&db, custom_row](Context& ctx) {
    auto r = custom_row(ctx, ctx.param("role_id"));
    json j = role_json(ctx, r);
    j["references"] = db.query_one("SELECT COUNT(*) AS n FROM iam_grants WHERE role_id = ?", {r.str("id")})->i64("n");
    return json_response(200, wrap("role", j));
  });
  // Validates a custom policy body (§5.4.3); returns the fields to store.
  struct CustomPolicy {
    std::string display_name, type, description, description_cn, policy;
  };
  auto read_custom = [&db](Context& ctx, const std::string& except_id) {
    const json& body = ctx.body();
    if (!body.contains("role") || !body["role"].is_object()) throw ApiError(400, "IAM.1000", "role must be an object.");
    const json& r = body["role"];
    for (const char* banned : {"catalog", "flag", "name"})
      if (r.contains(banned))
        throw ApiError(400, std::string(banned) == "catalog" ? "IAM.1006" : std::string(banned) == "flag" ? "IAM.1007" : "IAM.1008",
                       std::string("A custom policy must not carry role.") + banned + ".");
    CustomPolicy c;
    if (!r.contains("display_name") || !r["display_name"].is_string() ||
        r["display_name"].get<std::string>().find_first_not_of(' ') == std::string::npos)
      throw ApiError(400, "IAM.1001", "role.display_name must not be blank.");
    c.display_name = r["display_name"].get<std::string>();
    if (utf8_length(c.display_name) > 64) throw ApiError(400, "IAM.1002", "role.display_name must be at most 64 characters.");
    if (!r.contains("type") || !r["type"].is_string() || r["type"].get<std::string>().empty())
      throw ApiError(400, "IAM.1004", "role.type is required.");
    c.type = r["type"].get<std::string>();
    if (c.type != "AX" && c.type != "XA") throw ApiError(400, "IAM.1009", "role.type must be AX or XA.");
    if (!r.contains("description") || !r["description"].is_string())
      throw ApiError(400, "IAM.1103", "The role.description is required in the request body.");
    c.description = r["description"].get<std::string>();
    if (r.contains("description_cn")) {
      if (!r["description_cn"].is_string()) throw ApiError(400, "IAM.1102", "The role.description_cn in the request body is invalid.");
      c.description_cn = r["description_cn"].get<std::string>();
    }
    if (!r.contains("policy")) throw ApiError(400, "IAM.1020", "role.policy must be an object.");
    if (r["policy"].is_object() && r["policy"].contains("Statement") && r["policy"]["Statement"].is_array())
      for (auto& s : r["policy"]["Statement"])
        if (s.is_object() && s.contains("Resource") && s["Resource"].is_object())
          throw ApiError(400, "IAM.1037", "Agency policies (Resource.uri) are not supported.");
    parse_policy(r["policy"], true);
    c.policy = r["policy"].dump();
    if (db.query_one("SELECT 1 FROM iam_roles WHERE domain_id = ? AND display_name = ? AND id <> ?",
                     {ctx.caller.domain_id, c.display_name, except_id}))
      throw ApiError(409, "IAM.0005", "Conflict occurred when attempting to store role - display_name " + c.display_name + " exists.");
    return c;
  };
  add("POST", "/v3.0/OS-ROLE/roles", "iam:roles:createRole", Access::kGlobal, [&iam, &db, read_custom, custom_row](Context& ctx) {
    std::string id = ids::hex32();
    db.transaction([&] {
      CustomPolicy c = read_custom(ctx, "");
      db.exec("UPDATE iam_domains SET policy_seq = policy_seq + 1 WHERE id = ?", {ctx.caller.domain_id});
      int64_t n = db.query_one("SELECT policy_seq FROM iam_domains WHERE id = ?", {ctx.caller.domain_id})->i64("policy_seq") - 1;
      int64_t now = clock::now_ms();
      db.exec("INSERT INTO iam_roles (id, domain_id, name, display_name, catalog, type, flag, description, description_cn, "
              "policy, created_at, updated_at) VALUES (?, ?, ?, ?, 'CUSTOMED', ?, NULL, ?, ?, ?, ?, ?)",
              {id, ctx.caller.domain_id, "custom_" + ctx.caller.domain_id + "_" + std::to_string(n), c.display_name, c.type,
               c.description, c.description_cn, c.policy, now, now});
    });
    iam.changed();
    json j = role_json(ctx, custom_row(ctx, id));
    j["references"] = 0;
    return json_response(201, wrap("role", j));
  });
  add("PATCH", "/v3.0/OS-ROLE/roles/{role_id}", "iam:roles:updateRole", Access::kGlobal, [&iam, &db, read_custom, custom_row](Context& ctx) {
    auto row = custom_row(ctx, ctx.param("role_id"));
    db.transaction([&] {
      CustomPolicy c = read_custom(ctx, row.str("id"));
      db.exec("UPDATE iam_roles SET display_name = ?, type = ?, description = ?, description_cn = ?, policy = ?, updated_at = ? WHERE id = ?",
              {c.display_name, c.type, c.description, c.description_cn, c.policy, clock::now_ms(), row.str("id")});
    });
    iam.changed();
    return json_response(200, wrap("role", role_json(ctx, custom_row(ctx, row.str("id")))));
  });
  add("DELETE", "/v3.0/OS-ROLE/roles/{role_id}", "iam:roles:deleteRole", Access::kGlobal, [&iam, &db, custom_row](Context& ctx) {
    auto row = custom_row(ctx, ctx.param("role_id"));
    db.transaction([&] {
      if (db.query_one("SELECT 1 FROM iam_grants WHERE role_id = ?", {row.str("id")}))
        throw ApiError(409, "IAM.0005", "Conflict occurred when attempting to delete role - it is still granted; revoke it first.");
      db.exec("DELETE FROM iam_roles WHERE id = ?", {row.str("id")});
    });
    iam.changed();
    return no_content(200);
  });

  // ================================================================ grants (§5.5-5.9)

  // One table serves project, domain, inherited and enterprise-project grants.
  struct GrantScope {
    const char* kind;
    std::string path;   // template prefix up to .../roles
    std::string suffix; // after {role_id}
    const char* grant, *check, *revoke, *list;
  };
  auto grant_ops = [&](const GrantScope& s, std::function<std::string(const Context&)> scope_id,
                       std::function<void(const Row&)> grantable) {
    std::string item = s.path + "/{role_id}" + s.suffix;
    std::string kind = s.kind;
    auto resolve = [=](const Context& c) {
      group_row(c, c.param("group_id"));
      return scope_id(c);
    };
    add("PUT", item, s.grant, Access::kGlobal, [=, &iam, &db](Context& ctx) {
      std::string sid = resolve(ctx);
      auto role = role_row(ctx, ctx.param("role_id"));
      grantable(role);
      if (!db.query_one("SELECT 1 FROM iam_grants WHERE subject_kind = 'group' AND subject_id = ? AND role_id = ? AND "
                        "scope_kind = ? AND scope_id = ?",
                        {ctx.param("group_id"), role.str("id"), kind, sid}))
        db.exec("INSERT INTO iam_grants (subject_kind, subject_id, role_id, scope_kind, scope_id, domain_id, created_at) "
                "VALUES ('group', ?, ?, ?, ?, ?, ?)",
                {ctx.param("group_id"), role.str("id"), kind, sid, ctx.caller.domain_id, clock::now_ms()});
      iam.changed();
      return no_content();
    });
    add("HEAD", item, s.check, Access::kGlobal, [=, &db](Context& ctx) {
      std::string sid = resolve(ctx);
      role_row(ctx, ctx.param("role_id"));
      bool has = bool(db.query_one("SELECT 1 FROM iam_grants WHERE subject_kind = 'group' AND subject_id = ? AND role_id = ? "
                                   "AND scope_kind = ? AND scope_id = ?",
                                   {ctx.param("group_id"), ctx.param("role_id"), kind, sid}));
      return no_content(has ? 204 : 404);
    });
    add("DELETE", item, s.revoke, Access::kGlobal, [=, &iam, &db](Context& ctx) {
      std::string sid = resolve(ctx);
      role_row(ctx, ctx.param("role_id"));
      if (!db.exec("DELETE FROM iam_grants WHERE subject_kind = 'group' AND subject_id = ? AND role_id = ? AND scope_kind = ? "
                   "AND scope_id = ?",
                   {ctx.param("group_id"), ctx.param("role_id"), kind, sid}))
        throw not_found_iam("grant of role", ctx.param("role_id"));
      iam.changed();
      return no_content();
    });
    add("GET", s.path + s.suffix, s.list, Access::kGlobal, [=, &db](Context& ctx) {
      std::string sid = resolve(ctx);
      json list = json::array();
      for (auto& r : db.query("SELECT r.* FROM iam_roles r JOIN iam_grants g ON g.role_id = r.id WHERE g.subject_kind = 'group' "
                              "AND g.subject_id = ? AND g.scope_kind = ? AND g.scope_id = ? ORDER BY r.id",
                              {ctx.param("group_id"), kind, sid}))
        list.push_back(role_json(ctx, r));
      json body = {{"links", list_links(ctx)}, {"roles", list}};
      if (kind == "inherited") body["total_number"] = list.size();
      return json_response(200, body);
    });
  };
  auto not_domain_only = [](const Row& role) {
    if (role.str("type") == "AX" || role.str("type") == "XX")
      throw ApiError(409, "IAM.0005", "Role " + role.str("display_name") + " is granted at account scope only.");
  };
  auto not_project_only = [](const Row& role) {
    if (role.str("type") == "XA" || role.str("type") == "XX")
      throw ApiError(409, "IAM.0005", "Role " + role.str("display_name") + " is granted on projects only.");
  };
  grant_ops({"project", "/v3/projects/{project_id}/groups/{group_id}/roles", "",
             "iam:permissions:grantRoleToGroupOnProject", "iam:permissions:checkRoleForGroupOnProject",
             "iam:permissions:revokeRoleFromGroupOnProject", "iam:permissions:listRolesForGroupOnProject"},
            [project_row](const Context& c) { return project_row(c, c.param("project_id")).str("id"); }, not_domain_only);
  grant_ops({"domain", "/v3/domains/{domain_id}/groups/{group_id}/roles", "",
             "iam:permissions:grantRoleToGroupOnDomain", "iam:permissions:checkRoleForGroupOnDomain",
             "iam:permissions:revokeRoleFromGroupOnDomain", "iam:permissions:listRolesForGroupOnDomain"},
            [own_domain](const Context& c) { own_domain(c, c.param("domain_id")); return c.param("domain_id"); },
            not_project_only);
  grant_ops({"inherited", "/v3/OS-INHERIT/domains/{domain_id}/groups/{group_id}/roles", "/inherited_to_projects",
             "iam:permissions:grantRoleToGroup", "iam:permissions:checkRoleForGroup",
             "iam:permissions:revokeRoleFromGroup", "iam:permissions:listRolesForGroup"},
            [own_domain](const Context& c) { own_domain(c, c.param("domain_id")); return c.param("domain_id"); },
            [](const Row& role) {
              if (role.str("type") == "XX") throw ApiError(409, "IAM.0005", "Role " + role.str("display_name") + " cannot be granted.");
            });

  auto ep_id = [&db](const Context& c) {
    const std::string& ep = c.param("enterprise_project_id");
    if (!db.query_one("SELECT 1 FROM iam_enterprise_projects WHERE domain_id = ? AND id = ?", {c.caller.domain_id, ep}))
      throw not_found_iam("enterprise project", ep);
    return ep;
  };
  {
    std::string base = "/v3.0/OS-PERMISSION/enterprise-projects/{enterprise_project_id}/groups/{group_id}/roles";
    auto fine_grained = [](const Row& role) {
      if (role.null("flag") && role.null("domain_id"))
        throw ApiError(400, "IAM.0077", "Only fine-grained policies can be granted on enterprise projects.");
    };
    auto resolve = [ep_id, group_row](const Context& c) {
      group_row(c, c.param("group_id"));
      return ep_id(c);
    };
    add("PUT", base + "/{role_id}", "iam:permissions:grantRoleToGroupOnEnterpriseProject", Access::kGlobal,
        [=, &iam, &db](Context& ctx) {
          std::string ep = resolve(ctx);
          auto role = role_row(ctx, ctx.param("role_id"));
          fine_grained(role);
          if (!db.query_one("SELECT 1 FROM iam_grants WHERE subject_kind = 'group' AND subject_id = ? AND role_id = ? AND "
                            "scope_kind = 'ep' AND scope_id = ?",
                            {ctx.param("group_id"), role.str("id"), ep}))
            db.exec("INSERT INTO iam_grants (subject_kind, subject_id, role_id, scope_kind, scope_id, domain_id, created_at) "
                    "VALUES ('group', ?, ?, 'ep', ?, ?, ?)",
                    {ctx.param("group_id"), role.str("id"), ep, ctx.caller.domain_id, clock::now_ms()});
          iam.changed();
          return no_content();
        });
    add("DELETE", base + "/{role_id}", "iam:permissions:revokeRoleFromGroupOnEnterpriseProject", Access::kGlobal,
        [=, &iam, &db](Context& ctx) {
          std::string ep = resolve(ctx);
          if (!db.exec("DELETE FROM iam_grants WHERE subject_kind = 'group' AND subject_id = ? AND role_id = ? AND "
                       "scope_kind = 'ep' AND scope_id = ?",
                       {ctx.param("group_id"), ctx.param("role_id"), ep}))
            throw not_found_iam("grant of role", ctx.param("role_id"));
          iam.changed();
          return no_content();
        });
    add("GET", base, "iam:permissions:listRolesForGroupOnEnterpriseProject", Access::kGlobal, [=, &db](Context& ctx) {
      std::string ep = resolve(ctx);
      json list = json::array();
      for (auto& r : db.query("SELECT r.* FROM iam_roles r JOIN iam_grants g ON g.role_id = r.id WHERE g.subject_kind = 'group' "
                              "AND g.subject_id = ? AND g.scope_kind = 'ep' AND g.scope_id = ? ORDER BY r.id",
                              {ctx.param("group_id"), ep}))
        list.push_back(role_json(ctx, r));
      return json_response(200, wrap("roles", list));
    });
    add("GET", "/v3.0/OS-PERMISSION/enterprise-projects/{enterprise_project_id}/groups",
        "iam:permissions:listGroupsOnEnterpriseProject", Access::kGlobal, [ep_id, &db](Context& ctx) {
          std::string ep = ep_id(ctx);
          json list = json::array();
          for (auto& r : db.query("SELECT DISTINCT gr.* FROM iam_groups gr JOIN iam_grants g ON g.subject_id = gr.id WHERE "
                                  "g.subject_kind = 'group' AND g.scope_kind = 'ep' AND g.scope_id = ? AND gr.domain_id = ? ORDER BY gr.id",
                                  {ep, ctx.caller.domain_id}))
            list.push_back({{"createTime", r.i64("created_at")}, {"description", r.str("description")},
                            {"domainId", r.str("domain_id")}, {"id", r.str("id")}, {"name", r.str("name")}});
          return json_response(200, wrap("groups", list));
        });
    add("GET", "/v3.0/OS-PERMISSION/groups/{group_id}/enterprise-projects",
        "iam:permissions:listEnterpriseProjectsForGroup", Access::kGlobal, [group_row, &db](Context& ctx) {
          auto g = group_row(ctx, ctx.param("group_id"));
          json list = json::array();
          for (auto& r : db.query("SELECT DISTINCT scope_id FROM iam_grants WHERE subject_kind = 'group' AND subject_id = ? AND "
                                  "scope_kind = 'ep' ORDER BY scope_id",
                                  {g.str("id")}))
            list.push_back({{"projectId", r.str("scope_id")}});
          return json_response(200, {{"enterprise-projects", list}});
        });
  }

  add("GET", "/v3.0/OS-PERMISSION/role-assignments", "iam:permissions:listRoleAssignments", Access::kGlobal, [&db](Context& ctx) {
    auto q = [&](const char* k) { return ctx.req.query_param(k); };
    if (!q("domain_id")) throw ApiError(400, "IAM.0072", "'domain_id' is a required property.");
    if (*q("domain_id") != ctx.caller.domain_id) throw not_found_iam("domain", *q("domain_id"));
    std::string sql = "SELECT * FROM iam_grants WHERE domain_id = ?";
    store::Params p{ctx.caller.domain_id};
    if (auto v = q("role_id")) { sql += " AND role_id = ?"; p.push_back(*v); }
    int subjects = 0, scopes = 0;
    if (auto v = q("subject")) {
      ++subjects;
      if (*v != "user" && *v != "group" && *v != "agency") throw ApiError(400, "IAM.0007", "Request parameter subject is invalid.");
      sql += " AND subject_kind = ?";
      p.push_back(*v);
    }
    bool include_group = !(q("include_group") && *q("include_group") == "false");
    if (auto v = q("subject.user_id")) {
      ++subjects;
      if (include_group) {
        sql += " AND ((subject_kind = 'user' AND subject_id = ?) OR (subject_kind = 'group' AND subject_id IN "
               "(SELECT group_id FROM iam_group_members WHERE user_id = ?)))";
        p.push_back(*v);
        p.push_back(*v);
      } else {
        sql += " AND subject_kind = 'user' AND subject_id = ?";
        p.push_back(*v);
      }
    }
    if (auto v = q("subject.group_id")) { ++subjects; sql += " AND subject_kind = 'group' AND subject_id = ?"; p.push_back(*v); }
    if (q("subject.agency_id")) { ++subjects; sql += " AND 1 = 0"; }
    bool inherited = q("is_inherited") && *q("is_inherited") == "true";
    if (auto v = q("scope")) {
      ++scopes;
      if (*v == "project") sql += " AND scope_kind = 'project'";
      else if (*v == "domain") sql += inherited ? " AND scope_kind = 'inherited'" : " AND scope_kind = 'domain'";
      else if (*v == "enterprise_project") sql += " AND scope_kind = 'ep'";
      else throw ApiError(400, "IAM.0007", "Request parameter scope is invalid.");
    }
    if (auto v = q("scope.project_id")) { ++scopes; sql += " AND scope_kind = 'project' AND scope_id = ?"; p.push_back(*v); }
    if (auto v = q("scope.domain_id")) {
      ++scopes;
      sql += inherited ? " AND scope_kind = 'inherited' AND scope_id = ?" : " AND scope_kind = 'domain' AND scope_id = ?";
      p.push_back(*v);
    }
    if (auto v = q("scope.enterprise_projects_id")) { ++scopes; sql += " AND scope_kind = 'ep' AND scope_id = ?"; p.push_back(*v); }
    if (subjects > 1) throw ApiError(400, "IAM.0007", "Give at most one subject filter.");
    if (scopes > 1) throw ApiError(400, "IAM.0007", "Give at most one scope filter.");
    auto rows = db.query(sql + " ORDER BY created_at, role_id", p);
    size_t total = rows.size();
    json list = json::array();
    for (auto& r : page_of(rows, paging(ctx, 50))) {
      json a = {{"role", {{"id", r.str("role_id")}}}};
      a[r.str("subject_kind")] = {{"id", r.str("subject_id")}};
      std::string k = r.str("scope_kind");
      if (k == "project") a["scope"] = {{"project", {{"id", r.str("scope_id")}}}};
      else if (k == "ep") a["scope"] = {{"enterprise_project", {{"id", r.str("scope_id")}}}};
      else a["scope"] = {{"domain", {{"id", r.str("scope_id")}}}};
      a["is_inherited"] = k == "inherited";
      list.push_back(a);
    }
    return json_response(200, {{"total_num", total}, {"role_assignments", list}});
  });

  // ================================================================ access keys (§6)

  auto key_owner = [&db](const Context& c) -> std::optional<std::string> {
    auto r = db.query_one("SELECT user_id FROM iam_credentials WHERE access = ?", {c.param("access_key")});
    return r ? std::optional<std::string>(r->str("user_id")) : std::nullopt;
  };
  auto key_row = [&db](const Context& c) {
    auto r = db.query_one("SELECT c.* FROM iam_credentials c JOIN iam_users u ON u.id = c.user_id WHERE c.access = ? AND u.domain_id = ?",
                          {c.param("access_key"), c.caller.domain_id});
    if (!r) throw not_found_iam("access key", c.param("access_key"));
    return *r;
  };
  auto self_key = [key_owner](const Context& c) { return key_owner(c) == c.caller.user_id; };
  add("POST", "/v3.0/OS-CREDENTIAL/credentials", "iam:credentials:createCredential", Access::kGlobal,
      [&iam, &db, user_row](Context& ctx) {
        auto c = ctx.in().obj("credential");
        std::string uid = c.str("user_id");
        std::string desc = c.max_len("description", c.opt_str("description").value_or(""), 255);
        user_row(ctx, uid);
        std::string ak = ids::access_key(), sk = ids::secret_key();
        int64_t now = clock::now_ms();
        db.transaction([&] {
          if (db.query_one("SELECT COUNT(*) AS n FROM iam_credentials WHERE user_id = ?", {uid})->i64("n") >= 2)
            throw ApiError(400, "akSkNumExceed", "akSkNumExceed: a user may hold at most 2 access keys.");
          db.exec("INSERT INTO iam_credentials (access, user_id, secret_sealed, status, description, created_at) VALUES (?, ?, ?, 'active', ?, ?)",
                  {ak, uid, iam.seal_secret(sk), desc, now});
        });
        iam.changed();
        return json_response(201, {{"credential", {{"access", ak}, {"secret", sk}, {"user_id", uid}, {"status", "active"},
                                                   {"description", desc}, {"create_time", clock::iso_micro_z(now)}}}});
      },
      [](const Context& c) {
        // Authorization comes before validation: an unreadable body is simply not "self".
        json b = parse_json_limited(c.req.body);
        if (!b.is_object()) return false;
        auto cr = b.find("credential");
        return cr != b.end() && cr->is_object() && cr->value("user_id", json()).is_string() &&
               (*cr)["user_id"].get<std::string>() == c.caller.user_id;
      });
  add("GET", "/v3.0/OS-CREDENTIAL/credentials", "iam:credentials:listCredentials", Access::kGlobal, [&db, user_row](Context& ctx) {
    std::string uid = ctx.req.query_param("user_id") ? *ctx.req.query_param("user_id") : ctx.caller.user_id;
    user_row(ctx, uid);
    json list = json::array();
    for (auto& r : db.query("SELECT * FROM iam_credentials WHERE user_id = ? ORDER BY created_at", {uid}))
      list.push_back(credential_json(r, false));
    return json_response(200, wrap("credentials", list));
  }, [](const Context& c) {
    auto u = c.req.query_param("user_id");
    return !u || *u == c.caller.user_id;
  });
  add("GET", "/v3.0/OS-CREDENTIAL/credentials/{access_key}", "iam:credentials:getCredential", Access::kGlobal,
      [key_row](Context& ctx) { return json_response(200, wrap("credential", credential_json(key_row(ctx), true))); }, self_key);
  add("PUT", "/v3.0/OS-CREDENTIAL/credentials/{access_key}", "iam:credentials:updateCredential", Access::kGlobal,
      [&iam, &db, key_row](Context& ctx) {
        auto row = key_row(ctx);
        auto c = ctx.in().obj("credential");
        std::optional<std::string> status;
        if (c.has("status")) status = c.enum_str("status", {"active", "inactive"});
        auto desc = c.opt_str("description");
        if (desc) c.max_len("description", *desc, 255);
        db.exec("UPDATE iam_credentials SET status = COALESCE(?, status), description = COALESCE(?, description) WHERE access = ?",
                {status, desc, row.str("access")});
        iam.changed();
        return json_response(200, wrap("credential", credential_json(key_row(ctx), false)));
      }, self_key);
  add("DELETE", "/v3.0/OS-CREDENTIAL/credentials/{access_key}", "iam:credentials:deleteCredential", Access::kGlobal,
      [&iam, &db, key_row](Context& ctx) {
        auto row = key_row(ctx);
        db.exec("DELETE FROM iam_credentials WHERE access = ?", {row.str("access")});
        iam.revoke_user_tokens(row.str("user_id"));
        return no_content();
      }, self_key);

  return out;
}

}  // namespace atelier::iam
