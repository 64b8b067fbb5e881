// Groups and their members. Every account has the group
// "admin", whose members may do everything: it keeps its name, and the
// account owner stays in it.
#include "iam/api.h"

namespace atelier::iam {

Response IamApi::create_group(Context& ctx) {
  auto g = ctx.in().obj("group");
  std::string name = g.max_len("name", g.str("name"), 64);
  std::string desc = g.max_len("description", g.opt_str("description").value_or(""), 255);
  check_own_domain(ctx, g, "group");
  std::string id = iam.create_group(ctx.caller.domain_id, name, desc);
  return json_response(201, wrap("group", group_json(ctx, group_row(ctx, id))));
}

Response IamApi::list_groups(Context& ctx) {
  json list = json::array();
  if (auto d = ctx.req.query_param("domain_id"); d && *d != ctx.caller.domain_id)
    return json_response(200, {{"links", list_links(ctx)}, {"groups", list}});
  std::string sql = "SELECT * FROM iam_groups WHERE domain_id = ?";
  store::Params p{ctx.caller.domain_id};
  if (auto v = ctx.req.query_param("name")) { sql += " AND name = ?"; p.push_back(*v); }
  for (auto& r : db.query(sql + " ORDER BY id", p)) list.push_back(group_json(ctx, r));
  return json_response(200, {{"links", list_links(ctx)}, {"groups", list}});
}

Response IamApi::get_group(Context& ctx) {
  return json_response(200, wrap("group", group_json(ctx, group_row(ctx, ctx.param("group_id")))));
}

Response IamApi::update_group(Context& ctx) {
  auto row = group_row(ctx, ctx.param("group_id"));
  auto g = ctx.in().obj("group");
  auto name = g.opt_str("name"), desc = g.opt_str("description");
  if (!name && !desc) g.fail("name", "name or description is required");
  if (name) g.max_len("name", *name, 64);
  if (desc) g.max_len("description", *desc, 255);
  if (name && name->empty()) g.fail("name", "must not be empty");
  check_own_domain(ctx, g, "group");
  if (name && *name != row.str("name") && row.str("name") == "admin")
    throw ApiError(400, "IAM.0007", "The built-in group admin cannot be renamed.");
  iam.update_group(row.str("id"), name, desc);
  return json_response(200, wrap("group", group_json(ctx, group_row(ctx, row.str("id")))));
}

Response IamApi::delete_group(Context& ctx) {
  auto row = group_row(ctx, ctx.param("group_id"));
  if (row.str("name") == "admin") throw ApiError(400, "IAM.0007", "The built-in group admin cannot be deleted.");
  iam.delete_group(row.str("id"));
  return no_content();
}

Response IamApi::add_group_member(Context& ctx) {
  auto g = group_row(ctx, ctx.param("group_id"));
  auto u = user_row(ctx, ctx.param("user_id"));
  iam.add_group_member(g.str("id"), u.str("id"));
  return no_content();
}

Response IamApi::check_group_member(Context& ctx) {
  auto g = group_row(ctx, ctx.param("group_id"));
  auto u = user_row(ctx, ctx.param("user_id"));
  bool in = bool(db.query_one("SELECT 1 FROM iam_group_members WHERE group_id = ? AND user_id = ?", {g.str("id"), u.str("id")}));
  return no_content(in ? 204 : 404);
}

Response IamApi::remove_group_member(Context& ctx) {
  auto g = group_row(ctx, ctx.param("group_id"));
  auto u = user_row(ctx, ctx.param("user_id"));
  if (g.str("name") == "admin" && u.flag("is_owner"))
    throw ApiError(400, "IAM.0007", "The account owner cannot leave the group admin.");
  if (!iam.remove_group_member(g.str("id"), u.str("id")))
    throw not_found_iam("membership of user " + u.str("id") + " in group", g.str("id"));
  return no_content();
}

Response IamApi::list_group_users(Context& ctx) {
  auto g = group_row(ctx, ctx.param("group_id"));
  json list = json::array();
  for (auto& r : db.query("SELECT u.* FROM iam_users u JOIN iam_group_members m ON m.user_id = u.id WHERE m.group_id = ? ORDER BY u.id",
                          {g.str("id")})) {
    json j = user_keystone(ctx, r);
    j["extra"] = {{"description", j["description"]}, {"last_project_id", j["last_project_id"]}, {"pwd_status", j["pwd_status"]}};
    list.push_back(j);
  }
  return json_response(200, {{"links", list_links(ctx)}, {"users", list}});
}

Response IamApi::list_user_groups(Context& ctx) {
  auto u = user_row(ctx, ctx.param("user_id"));
  json list = json::array();
  for (auto& r : db.query("SELECT g.* FROM iam_groups g JOIN iam_group_members m ON m.group_id = g.id WHERE m.user_id = ? ORDER BY g.id",
                          {u.str("id")}))
    list.push_back(group_json(ctx, r));
  return json_response(200, {{"links", list_links(ctx)}, {"groups", list}});
}

}  // namespace atelier::iam
