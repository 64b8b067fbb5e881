// Grants of roles to groups: on a project, on the
// account, on the account inherited by all its projects, and on an
// enterprise project; and the account's role assignments.
#include "iam/api.h"

namespace atelier::iam {

const char* grant_scope_kind(GrantScope s) {
  switch (s) {
    case GrantScope::kProject: return "project";
    case GrantScope::kDomain: return "domain";
    case GrantScope::kInherited: return "inherited";
    case GrantScope::kEnterpriseProject: return "ep";
  }
  return "";
}

namespace {

// Refuses a role that cannot be granted on the scope. A role's type says
// where it applies (AA both, AX the account, XA projects, XX neither); a
// grant inherited by the projects takes all but XX, and enterprise projects
// take fine-grained policies only.
void check_grantable(const Row& role, GrantScope s) {
  const std::string type = role.str("type");
  switch (s) {
    case GrantScope::kProject:
      if (type == "AX" || type == "XX")
        throw ApiError(409, "IAM.0005", "Role " + role.str("display_name") + " is granted at account scope only.");
      break;
    case GrantScope::kDomain:
      if (type == "XA" || type == "XX")
        throw ApiError(409, "IAM.0005", "Role " + role.str("display_name") + " is granted on projects only.");
      break;
    case GrantScope::kInherited:
      if (type == "XX") throw ApiError(409, "IAM.0005", "Role " + role.str("display_name") + " cannot be granted.");
      break;
    case GrantScope::kEnterpriseProject:
      if (role.null("flag") && role.null("domain_id"))
        throw ApiError(400, "IAM.0077", "Only fine-grained policies can be granted on enterprise projects.");
      break;
  }
}

// The role assignments query's filters: at most one subject and one scope.
std::pair<std::string, store::Params> assignment_query(const Context& ctx) {
  auto q = [&](const char* k) { return ctx.req.query_param(k); };
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
  return {sql + " ORDER BY created_at, role_id", p};
}

json assignment_json(const Row& r) {
  json a = {{"role", {{"id", r.str("role_id")}}}};
  a[r.str("subject_kind")] = {{"id", r.str("subject_id")}};
  std::string k = r.str("scope_kind");
  if (k == "project") a["scope"] = {{"project", {{"id", r.str("scope_id")}}}};
  else if (k == "ep") a["scope"] = {{"enterprise_project", {{"id", r.str("scope_id")}}}};
  else a["scope"] = {{"domain", {{"id", r.str("scope_id")}}}};
  a["is_inherited"] = k == "inherited";
  return a;
}

}  // namespace

std::string IamApi::grant_scope_id(const Context& ctx, GrantScope s) {
  group_row(ctx, ctx.param("group_id"));
  switch (s) {
    case GrantScope::kProject: return project_row(ctx, ctx.param("project_id")).str("id");
    case GrantScope::kDomain:
    case GrantScope::kInherited:
      if (ctx.param("domain_id") != ctx.caller.domain_id) throw not_found_iam("domain", ctx.param("domain_id"));
      return ctx.param("domain_id");
    case GrantScope::kEnterpriseProject: return enterprise_project_id(ctx);
  }
  return "";
}

json IamApi::granted_roles(const Context& ctx, GrantScope s, const std::string& scope_id) {
  json list = json::array();
  for (auto& r : db.query("SELECT r.* FROM iam_roles r JOIN iam_grants g ON g.role_id = r.id WHERE g.subject_kind = 'group' "
                          "AND g.subject_id = ? AND g.scope_kind = ? AND g.scope_id = ? ORDER BY r.id",
                          {ctx.param("group_id"), grant_scope_kind(s), scope_id}))
    list.push_back(role_json(ctx, r));
  return list;
}

Response IamApi::grant_role(Context& ctx, GrantScope s) {
  std::string sid = grant_scope_id(ctx, s);
  auto role = role_row(ctx, ctx.param("role_id"));
  check_grantable(role, s);
  iam.grant_role(ctx.caller.domain_id, ctx.param("group_id"), role.str("id"), grant_scope_kind(s), sid);
  return no_content();
}

Response IamApi::check_role(Context& ctx, GrantScope s) {
  std::string sid = grant_scope_id(ctx, s);
  role_row(ctx, ctx.param("role_id"));
  bool has = bool(db.query_one("SELECT 1 FROM iam_grants WHERE subject_kind = 'group' AND subject_id = ? AND role_id = ? "
                               "AND scope_kind = ? AND scope_id = ?",
                               {ctx.param("group_id"), ctx.param("role_id"), grant_scope_kind(s), sid}));
  return no_content(has ? 204 : 404);
}

Response IamApi::revoke_role(Context& ctx, GrantScope s) {
  std::string sid = grant_scope_id(ctx, s);
  // On an enterprise project an unknown role is simply not granted.
  if (s != GrantScope::kEnterpriseProject) role_row(ctx, ctx.param("role_id"));
  if (!iam.revoke_role(ctx.param("group_id"), ctx.param("role_id"), grant_scope_kind(s), sid))
    throw not_found_iam("grant of role", ctx.param("role_id"));
  return no_content();
}

Response IamApi::list_group_roles(Context& ctx, GrantScope s) {
  json list = granted_roles(ctx, s, grant_scope_id(ctx, s));
  json body = {{"links", list_links(ctx)}, {"roles", list}};
  if (s == GrantScope::kInherited) body["total_number"] = list.size();
  return json_response(200, body);
}

Response IamApi::list_group_roles_on_ep(Context& ctx) {
  const GrantScope s = GrantScope::kEnterpriseProject;
  return json_response(200, wrap("roles", granted_roles(ctx, s, grant_scope_id(ctx, s))));
}

Response IamApi::list_groups_on_ep(Context& ctx) {
  std::string ep = enterprise_project_id(ctx);
  json list = json::array();
  for (auto& r : db.query("SELECT DISTINCT gr.* FROM iam_groups gr JOIN iam_grants g ON g.subject_id = gr.id WHERE "
                          "g.subject_kind = 'group' AND g.scope_kind = 'ep' AND g.scope_id = ? AND gr.domain_id = ? ORDER BY gr.id",
                          {ep, ctx.caller.domain_id}))
    list.push_back({{"createTime", r.i64("created_at")}, {"description", r.str("description")},
                    {"domainId", r.str("domain_id")}, {"id", r.str("id")}, {"name", r.str("name")}});
  return json_response(200, wrap("groups", list));
}

Response IamApi::list_eps_for_group(Context& ctx) {
  auto g = group_row(ctx, ctx.param("group_id"));
  json list = json::array();
  for (auto& r : db.query("SELECT DISTINCT scope_id FROM iam_grants WHERE subject_kind = 'group' AND subject_id = ? AND "
                          "scope_kind = 'ep' ORDER BY scope_id",
                          {g.str("id")}))
    list.push_back({{"projectId", r.str("scope_id")}});
  return json_response(200, {{"enterprise-projects", list}});
}

Response IamApi::list_role_assignments(Context& ctx) {
  auto domain = ctx.req.query_param("domain_id");
  if (!domain) throw ApiError(400, "IAM.0072", "'domain_id' is a required property.");
  if (*domain != ctx.caller.domain_id) throw not_found_iam("domain", *domain);
  auto [sql, p] = assignment_query(ctx);
  auto rows = db.query(sql, p);
  size_t total = rows.size();
  json list = json::array();
  for (auto& r : page_of(rows, paging(ctx, 50))) list.push_back(assignment_json(r));
  return json_response(200, {{"total_num", total}, {"role_assignments", list}});
}

}  // namespace atelier::iam
