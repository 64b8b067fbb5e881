// Access keys: a user's AK/SK pairs, which sign API calls and
// get tokens. A user manages its own without the routes' actions.
#include "common/clock.h"
#include "common/json.h"
#include "iam/api.h"

namespace atelier::iam {

bool creates_own_key(const Context& ctx) {
  // Authorization comes before validation: an unreadable body is simply not "self".
  json b = parse_json_limited(ctx.req.body);
  if (!b.is_object()) return false;
  auto cr = b.find("credential");
  return cr != b.end() && cr->is_object() && cr->value("user_id", json()).is_string() &&
         (*cr)["user_id"].get<std::string>() == ctx.caller.user_id;
}

bool lists_own_keys(const Context& ctx) {
  auto u = ctx.req.query_param("user_id");
  return !u || *u == ctx.caller.user_id;
}

bool IamApi::owns_key(const Context& ctx) {
  auto r = db.query_one("SELECT user_id FROM iam_credentials WHERE access = ?", {ctx.param("access_key")});
  return r && r->str("user_id") == ctx.caller.user_id;
}

Response IamApi::create_credential(Context& ctx) {
  auto c = ctx.in().obj("credential");
  std::string uid = c.str("user_id");
  std::string desc = c.max_len("description", c.opt_str("description").value_or(""), 255);
  user_row(ctx, uid);
  NewAccessKey k = iam.create_access_key(uid, desc);
  return json_response(201, {{"credential", {{"access", k.access}, {"secret", k.secret}, {"user_id", uid}, {"status", "active"},
                                             {"description", desc}, {"create_time", clock::iso_micro_z(k.created_at)}}}});
}

Response IamApi::list_credentials(Context& ctx) {
  std::string uid = ctx.req.query_param("user_id") ? *ctx.req.query_param("user_id") : ctx.caller.user_id;
  user_row(ctx, uid);
  json list = json::array();
  for (auto& r : db.query("SELECT * FROM iam_credentials WHERE user_id = ? ORDER BY created_at", {uid}))
    list.push_back(credential_json(r, false));
  return json_response(200, wrap("credentials", list));
}

Response IamApi::get_credential(Context& ctx) {
  return json_response(200, wrap("credential", credential_json(key_row(ctx), true)));
}

Response IamApi::update_credential(Context& ctx) {
  auto row = key_row(ctx);
  auto c = ctx.in().obj("credential");
  std::optional<std::string> status;
  if (c.has("status")) status = c.enum_str("status", {"active", "inactive"});
  auto desc = c.opt_str("description");
  if (desc) c.max_len("description", *desc, 255);
  iam.update_access_key(row.str("access"), status, desc);
  return json_response(200, wrap("credential", credential_json(key_row(ctx), false)));
}

Response IamApi::delete_credential(Context& ctx) {
  auto row = key_row(ctx);
  iam.delete_access_key(row.str("access"));
  return no_content();
}

}  // namespace atelier::iam
