// Projects, the caller's account and the region. Every account
// has its region's project; the projects made here are its children, named
// <region>_<suffix>.
#include "common/json.h"
#include "iam/api.h"

namespace atelier::iam {

namespace {

// A child project's name: <region>_<suffix>, at most 64 characters.
void check_project_name(const std::string& name, const std::string& region) {
  if (utf8_length(name) > 64 || name.rfind(region + "_", 0) != 0 || name.size() == region.size() + 1)
    throw ApiError(400, "IAM.0007", "project.name must be '" + region + "_<suffix>' and at most 64 characters.");
}

}  // namespace

Response IamApi::list_projects(Context& ctx) {
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
}

Response IamApi::get_project(Context& ctx) {
  return json_response(200, wrap("project", project_json(ctx, project_row(ctx, ctx.param("project_id")))));
}

Response IamApi::create_project(Context& ctx) {
  auto p = ctx.in().obj("project");
  std::string name = p.str("name");
  check_own_domain(ctx, p, "project");
  std::string region = iam.config().region;
  auto parent_id = p.opt_str("parent_id");
  if (name == region && !parent_id) {  // SDK auto-discovery re-creating the region project
    auto rp = iam.project_by_name(ctx.caller.domain_id, region);
    return json_response(201, wrap("project", project_json(ctx, project_row(ctx, rp->id))));
  }
  check_project_name(name, region);
  auto rp = iam.project_by_name(ctx.caller.domain_id, region);
  if (parent_id && *parent_id != rp->id) throw ApiError(400, "IAM.0007", "project.parent_id must be the id of project " + region + ".");
  std::string desc = p.max_len("description", p.opt_str("description").value_or(""), 255);
  if (iam.project_by_name(ctx.caller.domain_id, name)) throw Iam::project_name_taken(name);
  std::string id = iam.create_project(ctx.caller.domain_id, name, rp->id, desc);
  return json_response(201, wrap("project", project_json(ctx, project_row(ctx, id))));
}

Response IamApi::update_project(Context& ctx) {
  auto row = project_row(ctx, ctx.param("project_id"));
  auto p = ctx.in().obj("project");
  auto name = p.opt_str("name");
  auto desc = p.opt_str("description");
  if (!name && !desc) p.fail("name", "name or description is required");
  std::string region = iam.config().region;
  if (name && *name != row.str("name")) {
    if (row.str("name") == region) throw ApiError(400, "IAM.0007", "A region project cannot be renamed.");
    check_project_name(*name, region);
    if (iam.project_by_name(ctx.caller.domain_id, *name)) throw Iam::project_name_taken(*name);
  }
  if (desc) p.max_len("description", *desc, 255);
  iam.update_project(row.str("id"), name, desc);
  json j = project_json(ctx, project_row(ctx, row.str("id")));
  j["extra"] = json::object();
  return json_response(200, wrap("project", j));
}

Response IamApi::list_auth_projects(Context& ctx) {
  json list = json::array();
  for (auto& r : db.query("SELECT * FROM iam_projects WHERE domain_id = ? AND enabled = 1 ORDER BY id", {ctx.caller.domain_id}))
    list.push_back(project_json(ctx, r));
  return json_response(200, {{"links", {{"self", self_url(ctx)}}}, {"projects", list}});
}

Response IamApi::list_user_projects(Context& ctx) {
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
}

Response IamApi::list_auth_domains(Context& ctx) {
  auto d = db.query_one("SELECT * FROM iam_domains WHERE id = ?", {ctx.caller.domain_id});
  json dom = {{"id", d->str("id")}, {"name", d->str("name")}, {"enabled", d->flag("enabled")},
              {"description", d->str("description")},
              {"links", {{"self", ctx.base_url() + "/v3/domains/" + d->str("id")}}}};
  return json_response(200, {{"domains", json::array({dom})}, {"links", {{"self", self_url(ctx)}}}});
}

Response IamApi::list_regions(Context& ctx) {
  const std::string& region = iam.config().region;
  json reg = {{"id", region}, {"type", "public"}, {"description", ""}, {"parent_region_id", nullptr},
              {"links", {{"self", ctx.base_url() + "/v3/regions/" + region}}},
              {"locales", {{"en-us", region}}}};
  return json_response(200, {{"regions", json::array({reg})}, {"links", list_links(ctx)}});
}

}  // namespace atelier::iam
