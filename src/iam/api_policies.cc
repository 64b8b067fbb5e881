// Roles and policies: the system catalogue every account
// sees, and the custom policies of an account.
#include <algorithm>

#include "common/json.h"
#include "iam/api.h"

namespace atelier::iam {

namespace {

// A custom policy body, validated; the display name's uniqueness is
// Iam's to check.
CustomRole read_custom(Context& ctx) {
  const json& body = ctx.body();
  if (!body.contains("role") || !body["role"].is_object()) throw ApiError(400, "IAM.1000", "role must be an object.");
  const json& r = body["role"];
  for (const char* banned : {"catalog", "flag", "name"})
    if (r.contains(banned))
      throw ApiError(400, std::string(banned) == "catalog" ? "IAM.1006" : std::string(banned) == "flag" ? "IAM.1007" : "IAM.1008",
                     std::string("A custom policy must not carry role.") + banned + ".");
  CustomRole c;
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
  return c;
}

// A custom policy with how many grants name it.
json custom_json(store::Database& db, const Context& ctx, const Row& r) {
  json j = role_json(ctx, r);
  j["references"] = db.query_one("SELECT COUNT(*) AS n FROM iam_grants WHERE role_id = ?", {r.str("id")})->i64("n");
  return j;
}

}  // namespace

Response IamApi::list_roles(Context& ctx) {
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
  if (auto dn = ctx.req.query_param("display_name")) {  // case-sensitive substring
    rows.erase(std::remove_if(rows.begin(), rows.end(),
                              [&](const Row& r) { return r.str("display_name").find(*dn) == std::string::npos; }),
               rows.end());
  }
  size_t total = rows.size();
  json list = json::array();
  for (auto& r : page_of(rows, paging(ctx, 300))) list.push_back(role_json(ctx, r));
  return json_response(200, {{"links", list_links(ctx)}, {"roles", list}, {"total_number", total}});
}

Response IamApi::get_role(Context& ctx) {
  return json_response(200, wrap("role", role_json(ctx, role_row(ctx, ctx.param("role_id")))));
}

Response IamApi::list_custom_roles(Context& ctx) {
  auto rows = db.query("SELECT * FROM iam_roles WHERE domain_id = ? ORDER BY id", {ctx.caller.domain_id});
  size_t total = rows.size();
  json list = json::array();
  for (auto& r : page_of(rows, paging(ctx, 300))) list.push_back(custom_json(db, ctx, r));
  return json_response(200, {{"links", list_links(ctx)}, {"roles", list}, {"total_number", total}});
}

Response IamApi::get_custom_role(Context& ctx) {
  return json_response(200, wrap("role", custom_json(db, ctx, custom_row(ctx, ctx.param("role_id")))));
}

Response IamApi::create_custom_role(Context& ctx) {
  std::string id = iam.create_custom_role(ctx.caller.domain_id, read_custom(ctx));
  json j = role_json(ctx, custom_row(ctx, id));
  j["references"] = 0;
  return json_response(201, wrap("role", j));
}

Response IamApi::update_custom_role(Context& ctx) {
  auto row = custom_row(ctx, ctx.param("role_id"));
  iam.update_custom_role(row.str("id"), read_custom(ctx));
  return json_response(200, wrap("role", role_json(ctx, custom_row(ctx, row.str("id")))));
}

Response IamApi::delete_custom_role(Context& ctx) {
  auto row = custom_row(ctx, ctx.param("role_id"));
  iam.delete_custom_role(row.str("id"));
  return no_content(200);
}

}  // namespace atelier::iam
