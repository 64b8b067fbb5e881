#include "labeling/labeling.h"

#include "labeling/internal.h"

#include <algorithm>
#include <memory>
#include <set>

#include "common/clock.h"
#include "common/error.h"
#include "common/ids.h"
#include "data/fields.h"
#include "data/query_params.h"

namespace atelier::labeling {

using http::Context;
using http::Response;
using http::Route;
using store::Database;
using store::Row;

namespace {

ApiError team_missing(const std::string& id) {
  return ApiError(400, "ModelArts.4601", "The labeling team " + id + " does not exist.");
}
ApiError member_missing(const std::string& id) {
  return ApiError(400, "ModelArts.4604", "The team member " + id + " does not exist.");
}

// 1-64 letters, digits, '_' and '-'.
void check_name(const JsonIn& in, const char* key, const std::string& v) {
  if (v.empty() || v.size() > 64 ||
      v.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") != std::string::npos)
    in.fail(key, "must be 1 to 64 letters, digits, '_' or '-'");
}

// 0-256 characters without ^ ! < > = & " '.
std::string description(const JsonIn& in) {
  std::string d = in.opt_str("description").value_or("");
  if (utf8_length(d) > 256) in.fail("description", "must be at most 256 characters");
  if (d.find_first_of("^!<>=&\"'") != std::string::npos) in.fail("description", "must not contain ^ ! < > = & \" '");
  return d;
}

bool valid_email(const std::string& e) {
  size_t at = e.find('@');
  return e.size() <= 254 && at != std::string::npos && at > 0 && e.find('@', at + 1) == std::string::npos &&
         e.find('.', at + 2) != std::string::npos && e.back() != '.' &&
         e.find_first_of(" \t\r\n,;<>()[]\\\"") == std::string::npos;
}

// `role` as a number or a numeral string (clients send either, e.g. "2").
int parse_role(const JsonIn& in, int max) {
  const json& v = in.node()["role"];
  int64_t role = -1;
  if (v.is_number_integer()) role = v.get<int64_t>();
  else if (v.is_string() && v.get<std::string>().size() == 1 && std::isdigit(static_cast<unsigned char>(v.get<std::string>()[0])))
    role = v.get<std::string>()[0] - '0';
  if (role < 0 || role > max)
    in.fail("role", "must be 0 (labeler), 1 (reviewer)" + std::string(max >= 2 ? ", 2 (team manager)" : "") +
                        (max >= 3 ? ", 3 (dataset owner)" : ""));
  return int(role);
}

json workforce_json(Database& db, const Row& r) {
  auto n = db.query_one("SELECT COUNT(*) AS n FROM workers WHERE workforce_id = ?", {r.str("id")});
  return {{"workforce_id", r.str("id")},
          {"workforce_name", r.str("name")},
          {"description", r.str("description")},
          {"workspace_id", r.str("workspace_id")},
          {"worker_count", n ? n->i64("n") : 0},
          {"create_time", r.i64("created_at")},
          {"update_time", r.i64("updated_at")}};
}

// A worker's status: 2 once its user has signed in, 1 when told by e-mail, else 0.
json worker_json(const Row& r) {
  int status = !r.null("last_login_at") ? 2 : r.i64("notified_at") > 0 ? 1 : 0;
  return {{"worker_id", r.str("id")},
          {"workforce_id", r.str("workforce_id")},
          {"email", r.str("email")},
          {"description", r.str("description")},
          {"role", r.i64("role")},
          {"status", status},
          {"user_name", r.str("user_name")},
          {"create_time", r.i64("created_at")},
          {"update_time", r.i64("updated_at")}};
}

// A member with items still to do in a task that has not passed (4628).
void check_no_open_work(Database& db, const std::string& worker_id) {
  if (db.query_one("SELECT i.task_id FROM task_items i JOIN workforce_tasks t ON t.id = i.task_id WHERE i.worker_id = ? "
                   "AND i.state IN (0, 1, 4) AND t.status <> 3 LIMIT 1",
                   {worker_id}))
    throw ApiError(400, "ModelArts.4628", "The member " + worker_id +
                                              " still has unfinished labeling work; take them out of the task first.");
}

constexpr const char* kWorkerSelect =
    "SELECT w.*, u.name AS user_name, u.last_login_at FROM workers w LEFT JOIN iam_users u ON u.id = w.user_id";


}  // namespace

static std::vector<store::Migration> team_migrations();

std::string order_by(const Context& ctx, std::initializer_list<std::pair<const char*, const char*>> keys, const std::string& tie) {
  std::string col = keys.begin()->second;
  if (auto v = data::qp(ctx, "sort_by")) {
    bool found = false;
    for (auto& [k, c] : keys)
      if (*v == k) col = c, found = true;
    if (!found) {
      std::string names;
      for (auto& [k, c] : keys) names += (names.empty() ? "" : ", ") + std::string(k);
      throw bad_request("Invalid parameter sort_by: one of " + names);
    }
  }
  std::string dir = "DESC";
  if (auto v = data::qp(ctx, "order")) {
    if (*v == "asc") dir = "ASC";
    else if (*v != "desc") throw bad_request("Invalid parameter order: asc or desc");
  }
  return " ORDER BY " + col + " " + dir + ", " + tie + " " + dir;
}


std::vector<store::Migration> migrations() {
  auto all = team_migrations();
  for (auto& m : task_migrations()) all.push_back(std::move(m));
  return all;
}

static std::vector<store::Migration> team_migrations() {
  return {{"labeling/001_workforces", R"SQL(
CREATE TABLE workforces (
  id TEXT PRIMARY KEY, project_id TEXT NOT NULL, name TEXT NOT NULL, description TEXT NOT NULL,
  workspace_id TEXT NOT NULL, created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL, UNIQUE (project_id, name));
CREATE TABLE workers (
  id TEXT PRIMARY KEY, workforce_id TEXT NOT NULL REFERENCES workforces(id) ON DELETE CASCADE,
  project_id TEXT NOT NULL, email TEXT NOT NULL, user_id TEXT NOT NULL, role INTEGER NOT NULL,
  description TEXT NOT NULL, notified_at BIGINT NOT NULL DEFAULT 0, created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL, UNIQUE (workforce_id, email));
CREATE INDEX workers_project ON workers (project_id, created_at);
CREATE INDEX workers_user ON workers (user_id);
)SQL"}};
}

namespace {

// Addresses given one, comma-separated or as an array (the field is
// named plural but typed as one string), lower-cased; each a valid
// address, none twice, 1-100 of them.
std::vector<std::string> read_emails(const JsonIn& in) {
  if (!in.has("emails")) in.fail("emails", "is required");
  std::vector<std::string> emails;
  const json& e = in.node()["emails"];
  auto take = [&](const std::string& list) {
    size_t pos = 0;
    while (pos <= list.size()) {
      size_t comma = list.find(',', pos);
      if (comma == std::string::npos) comma = list.size();
      std::string one = list.substr(pos, comma - pos);
      one.erase(0, one.find_first_not_of(' '));
      one.erase(one.find_last_not_of(' ') + 1);
      if (!one.empty()) emails.push_back(one);
      pos = comma + 1;
    }
  };
  if (e.is_string()) take(e.get<std::string>());
  else if (e.is_array())
    for (auto& x : e) {
      if (!x.is_string()) in.fail("emails", "must be e-mail addresses");
      take(x.get<std::string>());
    }
  else in.fail("emails", "must be an e-mail address or a list of them");
  if (emails.empty()) in.fail("emails", "is required");
  if (emails.size() > 100) in.fail("emails", "at most 100 addresses at once");
  std::set<std::string> seen;
  for (auto& a : emails) {
    for (auto& c : a) c = char(std::tolower(static_cast<unsigned char>(c)));
    if (!valid_email(a)) in.fail("emails", "'" + a + "' is not an e-mail address");
    if (!seen.insert(a).second) in.fail("emails", "'" + a + "' is given twice");
  }
  return emails;
}

// The handlers of labeling teams and their members.
class TeamsApi {
 public:
  TeamsApi(Database& db, iam::Iam& iam) : db_(db), iam_(iam) {}

  Response list_teams(Context& ctx);     // a page of the project's teams
  Response create_team(Context& ctx);    // a new team, without members
  Response get_team(Context& ctx);       // one team
  Response update_team(Context& ctx);    // its name and description
  Response remove_team(Context& ctx);    // a team and its members, when none has open work
  Response list_all(Context& ctx);       // a page of the members of every team
  Response list_members(Context& ctx);   // a page of one team's members
  Response add_members(Context& ctx);    // members by e-mail, all or none
  Response remove_members(Context& ctx); // members by id, all or none
  Response get_member(Context& ctx);     // one member
  Response update_member(Context& ctx);  // a member's role and description
  Response remove_member(Context& ctx);  // a member without open work

 private:
  Row team(const Context& ctx);
  Row member(const Context& ctx);
  Response members_page(Context& ctx, const std::string* workforce);

  Database& db_;
  iam::Iam& iam_;
};

}  // namespace

std::vector<Route> routes(Database& db, iam::Iam& iam, const mail::Smtp& smtp, const std::string& public_url) {
  using A = TeamsApi;
  auto api = std::make_shared<A>(db, iam);
  auto h = [&api](Response (A::*fn)(Context&)) { return http::handler(api, fn); };
  const std::string get = "modelarts:processTask:getWorkforce", update = "modelarts:processTask:updateWorkforce";
  auto out = http::route_table("/v2/{project_id}/workforces", http::ErrorShape::kModelArts, {
      {"GET", "", "modelarts:processTask:listWorkforce", {}, h(&A::list_teams)},
      {"POST", "", "modelarts:processTask:createWorkforce", {}, h(&A::create_team)},
      {"GET", "/{workforce_id}", get, {}, h(&A::get_team)},
      {"PUT", "/{workforce_id}", update, {}, h(&A::update_team)},
      {"DELETE", "/{workforce_id}", update, {}, h(&A::remove_team)},  // no delete action: deleting needs updateWorkforce
      {"GET", "/workers", get, {}, h(&A::list_all)},  // "workers" is a literal that wins over {workforce_id}
      {"GET", "/{workforce_id}/workers", get, {}, h(&A::list_members)},
      {"POST", "/{workforce_id}/workers", update, {}, h(&A::add_members)},
      {"POST", "/{workforce_id}/workers/batch-delete", update, {}, h(&A::remove_members)},
      {"GET", "/{workforce_id}/workers/{worker_id}", get, {}, h(&A::get_member)},
      {"PUT", "/{workforce_id}/workers/{worker_id}", update, {}, h(&A::update_member)},
      {"DELETE", "/{workforce_id}/workers/{worker_id}", update, {}, h(&A::remove_member)},
  });
  for (auto& r : task_routes(db, iam, smtp, public_url)) out.push_back(std::move(r));
  return out;
}

Row TeamsApi::team(const Context& ctx) {
  auto r = db_.query_one("SELECT * FROM workforces WHERE id = ? AND project_id = ?", {ctx.param("workforce_id"), ctx.caller.project_id});
  if (!r) throw team_missing(ctx.param("workforce_id"));
  return *r;
}

Row TeamsApi::member(const Context& ctx) {
  auto t = team(ctx);
  auto r = db_.query_one(std::string(kWorkerSelect) + " WHERE w.id = ? AND w.workforce_id = ?", {ctx.param("worker_id"), t.str("id")});
  if (!r) throw member_missing(ctx.param("worker_id"));
  return *r;
}

// ---------------------------------------------------------------- teams

Response TeamsApi::list_teams(Context& ctx) {
  auto [offset, limit] = data::page(ctx, 10, 100);
  std::string where = " WHERE project_id = ?";
  store::Params p{ctx.caller.project_id};
  if (auto v = data::qp(ctx, "search_content"); v && !v->empty()) {
    where += " AND " + store::contains_ci("name");
    p.push_back(store::contains_ci_pattern(*v));
  }
  if (data::qp(ctx, "workforce_task_id"))
    throw bad_request("Invalid parameter workforce_task_id: team labeling tasks are not available yet");
  auto total = db_.query_one("SELECT COUNT(*) AS n FROM workforces" + where, p);
  std::string sql = "SELECT * FROM workforces" + where +
                    order_by(ctx, {{"create_time", "created_at"}, {"workforce_name", "name"}}, "id") + " LIMIT ? OFFSET ?";
  p.push_back(limit);
  p.push_back(offset);
  json list = json::array();
  for (auto& r : db_.query(sql, p)) list.push_back(workforce_json(db_, r));
  return http::json_response(200, {{"total_number", total ? total->i64("n") : 0}, {"workforces", list}});
}

Response TeamsApi::create_team(Context& ctx) {
  auto in = ctx.in();
  std::string name = in.str("workforce_name");
  check_name(in, "workforce_name", name);
  std::string desc = description(in);
  std::string ws = in.opt_str("workspace_id").value_or("0");
  std::string id = ids::base62_19();
  int64_t now = clock::now_ms();
  db_.transaction([&] {
    if (db_.query_one("SELECT id FROM workforces WHERE project_id = ? AND name = ?", {ctx.caller.project_id, name}))
      throw ApiError(400, "ModelArts.4602", "A labeling team named " + name + " already exists.");
    db_.exec("INSERT INTO workforces (id, project_id, name, description, workspace_id, created_at, updated_at) "
             "VALUES (?, ?, ?, ?, ?, ?, ?)",
             {id, ctx.caller.project_id, name, desc, ws, now, now});
  });
  return http::json_response(201, {{"workforce_id", id}});
}

Response TeamsApi::get_team(Context& ctx) { return http::json_response(200, workforce_json(db_, team(ctx))); }

Response TeamsApi::update_team(Context& ctx) {
  auto t = team(ctx);
  auto in = ctx.in();
  std::string name = t.str("name"), desc = t.str("description");
  if (in.has("workforce_name")) {
    name = in.str("workforce_name");
    check_name(in, "workforce_name", name);
  }
  if (in.has("description")) desc = description(in);
  db_.transaction([&] {
    if (name != t.str("name") &&
        db_.query_one("SELECT id FROM workforces WHERE project_id = ? AND name = ?", {ctx.caller.project_id, name}))
      throw ApiError(400, "ModelArts.4602", "A labeling team named " + name + " already exists.");
    db_.exec("UPDATE workforces SET name = ?, description = ?, updated_at = ? WHERE id = ?",
             {name, desc, clock::now_ms(), t.str("id")});
  });
  return http::json_response(200, json::object());
}

Response TeamsApi::remove_team(Context& ctx) {
  auto t = team(ctx);
  // Checked inside the transaction that deletes, so no work is dealt to a
  // member in between.
  db_.transaction([&] {
    for (auto& w : db_.query("SELECT id FROM workers WHERE workforce_id = ?", {t.str("id")})) check_no_open_work(db_, w.str("id"));
    db_.exec("DELETE FROM workers WHERE workforce_id = ?", {t.str("id")});
    db_.exec("DELETE FROM workforces WHERE id = ?", {t.str("id")});
  });
  return http::no_content();
}

// ---------------------------------------------------------------- members

Response TeamsApi::members_page(Context& ctx, const std::string* workforce) {
  auto [offset, limit] = data::page(ctx, 10, 100);
  std::string where = " WHERE w.project_id = ?";
  store::Params p{ctx.caller.project_id};
  if (workforce) {
    where += " AND w.workforce_id = ?";
    p.push_back(*workforce);
  }
  if (auto v = data::qp(ctx, "role")) {
    if (v->size() != 1 || (*v)[0] < '0' || (*v)[0] > '3') throw bad_request("Invalid parameter role: 0, 1, 2 or 3");
    where += " AND w.role = ?";
    p.push_back(int64_t((*v)[0] - '0'));
  }
  auto total = db_.query_one("SELECT COUNT(*) AS n FROM workers w" + where, p);
  std::string sql = std::string(kWorkerSelect) + where +
                    order_by(ctx, {{"create_time", "w.created_at"}, {"email", "w.email"}}, "w.id") + " LIMIT ? OFFSET ?";
  p.push_back(limit);
  p.push_back(offset);
  json list = json::array();
  for (auto& r : db_.query(sql, p)) list.push_back(worker_json(r));
  return http::json_response(200, {{"total_number", total ? total->i64("n") : 0}, {"workers", list}});
}

Response TeamsApi::list_all(Context& ctx) { return members_page(ctx, nullptr); }

Response TeamsApi::list_members(Context& ctx) {
  std::string id = team(ctx).str("id");
  return members_page(ctx, &id);
}

Response TeamsApi::add_members(Context& ctx) {
  auto t = team(ctx);
  auto in = ctx.in();
  std::vector<std::string> emails = read_emails(in);
  if (!in.has("role")) in.fail("role", "is required");
  int role = parse_role(in, 2);
  std::string desc = description(in);
  int64_t now = clock::now_ms();
  db_.transaction([&] {
    for (auto& a : emails)
      if (db_.query_one("SELECT id FROM workers WHERE workforce_id = ? AND email = ?", {t.str("id"), a}))
        throw ApiError(400, "ModelArts.4605", "The team already has a member with the e-mail address " + a + ".");
    if (role == 2 && (emails.size() > 1 || db_.query_one("SELECT id FROM workers WHERE workforce_id = ? AND role = 2", {t.str("id")})))
      throw ApiError(400, "ModelArts.4617", "A team has at most one manager.");
    for (auto& a : emails) {
      auto [user_id, made] = iam_.user_for_email(ctx.caller.domain_id, a);
      (void)made;
      db_.exec("INSERT INTO workers (id, workforce_id, project_id, email, user_id, role, description, created_at, updated_at) "
               "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
               {ids::hex32(), t.str("id"), ctx.caller.project_id, a, user_id, role, desc, now, now});
    }
    db_.exec("UPDATE workforces SET updated_at = ? WHERE id = ?", {now, t.str("id")});
  });
  return http::json_response(201, json::object());
}

Response TeamsApi::remove_members(Context& ctx) {
  auto t = team(ctx);
  auto in = ctx.in();
  const json& ws = in.arr("workers");
  if (ws.empty()) in.fail("workers", "must name at least one member");
  std::vector<std::string> ids;
  for (auto& w : ws) {
    if (!w.is_string()) in.fail("workers", "must be member ids");
    ids.push_back(w.get<std::string>());
  }
  json results = json::array();
  db_.transaction([&] {
    // All or none (batches are atomic): an unknown id deletes nobody.
    std::string missing;
    for (auto& id : ids)
      if (!db_.query_one("SELECT id FROM workers WHERE id = ? AND workforce_id = ?", {id, t.str("id")}))
        missing += (missing.empty() ? "" : ", ") + id;
    if (!missing.empty())
      throw ApiError(400, "ModelArts.4604", "No such member of the team: " + missing + "; nobody was deleted.");
    for (auto& id : ids) check_no_open_work(db_, id);
    results = json::array();
    for (auto& id : ids) {
      db_.exec("DELETE FROM workers WHERE id = ? AND workforce_id = ?", {id, t.str("id")});
      results.push_back({{"success", true}});
    }
    db_.exec("UPDATE workforces SET updated_at = ? WHERE id = ?", {clock::now_ms(), t.str("id")});
  });
  return http::json_response(200, {{"success", true}, {"results", results}});
}

Response TeamsApi::get_member(Context& ctx) { return http::json_response(200, worker_json(member(ctx))); }

Response TeamsApi::update_member(Context& ctx) {
  auto m = member(ctx);
  auto in = ctx.in();
  int64_t role = m.i64("role");
  std::string desc = m.str("description");
  if (in.has("role")) role = parse_role(in, 3);
  if (in.has("description")) desc = description(in);
  if (role == 2 && m.i64("role") != 2 &&
      db_.query_one("SELECT id FROM workers WHERE workforce_id = ? AND role = 2", {m.str("workforce_id")}))
    throw ApiError(400, "ModelArts.4617", "A team has at most one manager.");
  db_.exec("UPDATE workers SET role = ?, description = ?, updated_at = ? WHERE id = ?", {role, desc, clock::now_ms(), m.str("id")});
  return http::json_response(200, json::object());
}

Response TeamsApi::remove_member(Context& ctx) {
  auto m = member(ctx);
  db_.transaction([&] {
    check_no_open_work(db_, m.str("id"));
    db_.exec("DELETE FROM workers WHERE id = ?", {m.str("id")});
  });
  return http::no_content();
}

}  // namespace atelier::labeling
