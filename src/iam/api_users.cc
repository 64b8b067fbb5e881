// Users in both forms the service has: Keystone's /v3/users and
// Huawei's /v3.0/OS-USER/users, which words field errors as bare codes
// ("1101") and shows more of the user.
#include "common/crypto.h"
#include "common/json.h"
#include "iam/api.h"

namespace atelier::iam {

namespace {

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

// An address to store on a user; a new user's may not begin or end with '@' either.
void check_email(const std::optional<std::string>& email, bool new_user = false) {
  if (email && (email->size() > 255 || email->find('@') == std::string::npos ||
                (new_user && (email->front() == '@' || email->back() == '@'))))
    throw user_error("1102", "Invalid e-mail address.");
}

void check_phone(const std::optional<std::string>& phone) {
  if (phone && (phone->size() > 32 || phone->find_first_not_of("0123456789") != std::string::npos))
    throw user_error("1104", "Invalid mobile number.");
}

void check_access_mode(const std::optional<std::string>& mode) {
  if (mode && *mode != "default" && *mode != "programmatic" && *mode != "console")
    throw user_error("1120", "Invalid access_mode: use default, programmatic or console.");
}

void check_description(const std::optional<std::string>& desc) {
  if (desc && utf8_length(*desc) > 255) throw user_error("1117", "Invalid user description: at most 255 characters.");
}

// How a taken name is worded: the OS-USER form's own code, else Iam's 409.
std::optional<ApiError> name_taken(bool os_form, const std::optional<std::string>& name) {
  if (!os_form || !name) return std::nullopt;
  return user_error("1109", "The user name " + *name + " already exists.");
}

}  // namespace

std::string IamApi::add_user(Context& ctx, bool os_form) {
  auto u = ctx.in().obj("user");
  if (!u.has("name")) throw user_error("1100", "Mandatory parameter user.name is missing.");
  UserFields f;
  f.name = u.str("name");
  check_user_name(*f.name);
  check_own_domain(ctx, u, "user");
  f.password = u.opt_str("password");
  if (f.password) check_password_rule(*f.password);
  f.email = u.opt_str("email");
  check_email(f.email, /*new_user=*/true);
  f.areacode = u.opt_str("areacode");
  f.phone = u.opt_str("phone");
  if (bool(f.areacode) != bool(f.phone)) throw user_error("1106", "The country code and the mobile number must be given together.");
  check_phone(f.phone);
  f.access_mode = u.opt_str("access_mode").value_or("default");
  check_access_mode(f.access_mode);
  f.description = u.opt_str("description").value_or("");
  check_description(f.description);
  f.enabled = u.opt_bool("enabled").value_or(true);
  f.pwd_status = u.opt_bool("pwd_status").value_or(os_form);
  f.xuser_type = u.opt_str("xuser_type");
  f.xuser_id = u.opt_str("xuser_id");
  if (bool(f.xuser_type) != bool(f.xuser_id)) throw user_error("1105", "xuser_type and xuser_id must be given together.");
  return iam.create_user(ctx.caller.domain_id, f, name_taken(os_form, f.name));
}

Row IamApi::change_user(Context& ctx, bool os_form) {
  auto row = user_row(ctx, ctx.param("user_id"));
  auto u = ctx.in().obj("user");
  if (u.node().empty()) throw user_error("1100", "At least one field of user is required.");
  UserFields f;
  f.name = u.opt_str("name");
  if (f.name) check_user_name(*f.name);
  check_own_domain(ctx, u, "user");
  f.password = u.opt_str("password");
  if (f.password) {
    check_password_rule(*f.password);
    if (!row.null("password_hash") && crypto::password_verify(row.str("password_hash"), *f.password))
      throw user_error("1108", "The new password must differ from the old one.");
  }
  f.email = u.opt_str("email");
  check_email(f.email);
  f.areacode = u.opt_str("areacode");
  f.phone = u.opt_str("phone");
  check_phone(f.phone);
  f.access_mode = u.opt_str("access_mode");
  check_access_mode(f.access_mode);
  f.description = u.opt_str("description");
  check_description(f.description);
  f.enabled = u.opt_bool("enabled");
  f.pwd_status = u.opt_bool("pwd_status");
  if (row.flag("is_owner") && f.enabled && !*f.enabled) throw ApiError(400, "IAM.0007", "The account owner cannot be disabled.");
  if (row.flag("is_owner") && f.name && *f.name != row.str("name"))
    throw ApiError(400, "IAM.0007", "The account owner cannot be renamed.");
  iam.update_user(row.str("id"), f, row.str("id") != ctx.caller.user_id, name_taken(os_form, f.name));
  return user_row(ctx, row.str("id"));
}

Response IamApi::create_os_user(Context& ctx) {
  std::string id = add_user(ctx, true);
  json j = user_os(ctx, user_row(ctx, id));
  j.erase("links");
  return json_response(201, wrap("user", j));
}

Response IamApi::create_user(Context& ctx) {
  std::string id = add_user(ctx, false);
  return json_response(201, wrap("user", user_keystone(ctx, user_row(ctx, id))));
}

Response IamApi::list_users(Context& ctx) {
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
}

Response IamApi::get_os_user(Context& ctx) {
  return json_response(200, wrap("user", user_os(ctx, user_row(ctx, ctx.param("user_id")))));
}

Response IamApi::get_user(Context& ctx) {
  return json_response(200, wrap("user", user_keystone(ctx, user_row(ctx, ctx.param("user_id")))));
}

Response IamApi::update_os_user(Context& ctx) {
  return json_response(200, wrap("user", user_os(ctx, change_user(ctx, true))));
}

Response IamApi::update_user(Context& ctx) {
  json j = user_keystone(ctx, change_user(ctx, false));
  j["extra"] = {{"description", j["description"]}, {"pwd_status", j["pwd_status"]}, {"last_project_id", j["last_project_id"]}};
  return json_response(200, wrap("user", j));
}

Response IamApi::update_user_info(Context& ctx) {
  auto row = user_row(ctx, ctx.param("user_id"));
  auto u = ctx.in().obj("user");
  UserFields f;
  f.email = u.opt_str("email");
  auto mobile = u.opt_str("mobile");
  if (!f.email && !mobile) u.fail("email", "email or mobile is required");
  check_email(f.email);
  if (mobile) {
    auto dash = mobile->find('-');
    if (dash == std::string::npos) throw user_error("1104", "Invalid mobile number: use <country code>-<number>.");
    f.areacode = mobile->substr(0, dash);
    f.phone = mobile->substr(dash + 1);
    if (f.phone->empty() || f.phone->find_first_not_of("0123456789") != std::string::npos)
      throw user_error("1104", "Invalid mobile number.");
  }
  iam.update_user(row.str("id"), f, row.str("id") != ctx.caller.user_id);
  return no_content();
}

Response IamApi::change_password(Context& ctx) {
  auto row = user_row(ctx, ctx.param("user_id"));
  auto u = ctx.in().obj("user");
  std::string pw = u.str("password"), orig = u.str("original_password");
  if (row.null("password_hash") || !crypto::password_verify(row.str("password_hash"), orig))
    throw ApiError(401, "IAM.0062", "The original password is wrong.");
  check_password_rule(pw);
  if (pw == orig) throw user_error("1108", "The new password must differ from the old one.");
  iam.change_password(row.str("id"), pw);
  return no_content();
}

Response IamApi::delete_user(Context& ctx) {
  auto row = user_row(ctx, ctx.param("user_id"));
  if (row.flag("is_owner")) throw user_error("1107", "The account administrator cannot be deleted.");
  iam.delete_user(row.str("id"));
  return no_content();
}

}  // namespace atelier::iam
