// Browser sessions: the sign-in page for people who open a page the server
// serves (a visualization job's viewer, later notebooks) in a browser. POST
// /login checks the password like POST /v3/auth/tokens, issues a token scoped
// to the project of the page asked for (or the account's region project) and
// hands it over as an HttpOnly, SameSite=Lax cookie that only routes marked
// `browser` accept. POST /logout revokes it.
#include <algorithm>
#include <map>

#include "common/clock.h"
#include "iam/api.h"

namespace atelier::iam {

namespace {

std::string html_escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

// Where to go after signing in: a path on this server only (no scheme, no
// host, no "//" or "/\" that a browser would read as another host).
std::string safe_next(const std::string& next) {
  if (next.size() > 4096 || next.empty() || next[0] != '/' || (next.size() > 1 && (next[1] == '/' || next[1] == '\\')) ||
      next.find_first_of("\r\n\t ") != std::string::npos)
    return "";
  return next;
}

std::map<std::string, std::string> form_fields(const std::string& body) {
  std::map<std::string, std::string> out;
  size_t pos = 0;
  while (pos <= body.size()) {
    size_t amp = body.find('&', pos);
    if (amp == std::string::npos) amp = body.size();
    std::string_view pair(body.data() + pos, amp - pos);
    size_t eq = pair.find('=');
    std::string k, v;
    if (eq != std::string_view::npos && http::query_decode(pair.substr(0, eq), k) && http::query_decode(pair.substr(eq + 1), v))
      out.emplace(std::move(k), std::move(v));
    pos = amp + 1;
  }
  return out;
}

Response page(int status, const std::string& html) {
  Response r;
  r.status = status;
  r.headers.add("Content-Type", "text/html;charset=UTF-8");
  r.headers.add("Cache-Control", "no-store");
  r.headers.add("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'");
  r.body = "<!doctype html><html><head><meta charset=\"utf-8\"><title>Sign in — Atelier</title><style>"
           "body{font-family:sans-serif;margin:40px auto;max-width:340px;color:#222}label{display:block;margin:10px 0 2px}"
           "input{width:100%;padding:6px;box-sizing:border-box}button{margin-top:14px;padding:6px 18px}"
           ".error{color:#b00020}</style></head><body>" +
           html + "</body></html>";
  return r;
}

Response login_form(int status, const std::string& next, const std::string& error, const std::string& account = "",
                    const std::string& user = "") {
  return page(status, "<h1>Sign in</h1>" +
                          (error.empty() ? std::string() : "<p class=\"error\" id=\"error\">" + html_escape(error) + "</p>") +
                          "<form method=\"post\" action=\"/login\">"
                          "<label for=\"account\">Account</label><input id=\"account\" name=\"account\" value=\"" +
                          html_escape(account) +
                          "\" autocomplete=\"organization\" required>"
                          "<label for=\"user\">User name</label><input id=\"user\" name=\"user\" value=\"" +
                          html_escape(user) +
                          "\" autocomplete=\"username\" required>"
                          "<label for=\"password\">Password</label><input id=\"password\" name=\"password\" type=\"password\" "
                          "autocomplete=\"current-password\" required>"
                          "<input type=\"hidden\" name=\"next\" value=\"" +
                          html_escape(next) + "\"><button type=\"submit\" id=\"submit\">Sign in</button></form>");
}

// A user without a password (a labeling team member the platform made)
// sets one with the one-time link its notice carried.
Response password_form(int status, const std::string& ticket, const std::string& error) {
  return page(status, "<h1>Choose your password</h1>" +
                          (error.empty() ? std::string() : "<p class=\"error\" id=\"error\">" + html_escape(error) + "</p>") +
                          "<form method=\"post\" action=\"/login/password\">"
                          "<label for=\"password\">Password</label><input id=\"password\" name=\"password\" type=\"password\" "
                          "autocomplete=\"new-password\" required>"
                          "<label for=\"again\">Again</label><input id=\"again\" name=\"again\" type=\"password\" "
                          "autocomplete=\"new-password\" required>"
                          "<input type=\"hidden\" name=\"ticket\" value=\"" +
                          html_escape(ticket) + "\"><button type=\"submit\" id=\"submit\">Set password</button></form>");
}

}  // namespace

Response IamApi::login_page(Context& ctx) {
  const std::string* next = ctx.req.query_param("next");
  return login_form(200, next ? safe_next(*next) : "", "");
}

Response IamApi::login(Context& ctx) {
  auto f = form_fields(ctx.req.body);
  std::string next = safe_next(f["next"]), account = f["account"], name = f["user"];
  if (account.empty() || name.empty() || f["password"].empty())
    return login_form(400, next, "Give the account, the user name and the password.", account, name);
  UserRecord user;
  try {
    auto domain = iam.domain_id_by_name(account);
    if (!domain) throw ApiError(401, "IAM.0062", "The username or password is wrong.");
    user = iam.check_password(*domain, name, "", f["password"]);
  } catch (const ApiError& e) {
    if (e.status() != 401) throw;
    return login_form(401, next, "The account, user name or password is wrong.", account, name);
  }
  if (!user.enabled || !user.domain_enabled) return login_form(403, next, "The user " + name + " is disabled.", account, name);
  if (user.access_mode == "programmatic")
    return login_form(403, next, "The user " + name + " only has programmatic access, not console access.", account, name);
  // The token is scoped to the project of the page asked for
  // (/v1/{project_id}/... or /v2/...), else to the region's project.
  std::optional<ProjectRecord> project;
  if (next.rfind("/v1/", 0) == 0 || next.rfind("/v2/", 0) == 0) {
    std::string pid = next.substr(4, next.find_first_of("/?", 4) - 4);
    project = iam.project_by_id(pid);
    if (project && (project->domain_id != user.domain_id || !project->enabled)) project.reset();
  }
  if (!project) project = iam.project_by_name(user.domain_id, iam.config().region);
  auto issued = iam.issue_token(user, project, {"password"});
  Response r;
  r.status = 303;
  r.headers.add("Location", next.empty() ? "/login/session" : next);
  r.headers.add("Cache-Control", "no-store");
  int64_t max_age = std::max<int64_t>(1, (issued.info.expires_at - issued.info.issued_at) / 1000);
  r.headers.add("Set-Cookie", std::string(http::kSessionCookie) + "=" + issued.token +
                                  "; Path=/; HttpOnly; SameSite=Lax; Max-Age=" + std::to_string(max_age));
  return r;
}

Response IamApi::session_page(Context& ctx) {
  std::string token = http::cookie_value(ctx.req.headers, http::kSessionCookie);
  auto t = token.empty() ? nullptr : iam.find_token(token);
  if (!t || t->expires_at <= clock::now_ms()) return login_form(401, "", "You are not signed in.");
  return page(200, "<h1>Signed in</h1><p id=\"who\">" + html_escape(t->user.name) + " of account " +
                       html_escape(t->user.domain_name) + ", project " + html_escape(t->project_name) +
                       ".</p><form method=\"post\" action=\"/logout\"><button type=\"submit\">Sign out</button></form>");
}

Response IamApi::password_page(Context& ctx) {
  const std::string* ticket = ctx.req.query_param("ticket");
  return password_form(200, ticket ? *ticket : "", "");
}

Response IamApi::set_password(Context& ctx) {
  auto f = form_fields(ctx.req.body);
  if (f["password"] != f["again"]) return password_form(400, f["ticket"], "The two passwords differ.");
  try {
    std::string uid = iam.redeem_password_ticket(f["ticket"], f["password"]);
    auto u = iam.user_by_id(uid);
    return page(200, "<h1>Password set</h1><p id=\"who\">" + html_escape(u ? u->name : uid) + " of account " +
                         html_escape(u ? u->domain_name : "") + ": <a href=\"/login\">sign in</a>.</p>");
  } catch (const ApiError& e) {
    return password_form(e.status() == 401 ? 401 : 400, e.status() == 401 ? "" : f["ticket"], e.what());
  }
}

Response IamApi::logout(Context& ctx) {
  std::string token = http::cookie_value(ctx.req.headers, http::kSessionCookie);
  if (auto t = token.empty() ? nullptr : iam.find_token(token)) iam.revoke_token(t->hash);
  Response r;
  r.status = 303;
  r.headers.add("Location", "/login");
  r.headers.add("Set-Cookie", std::string(http::kSessionCookie) + "=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0");
  return r;
}

}  // namespace atelier::iam
