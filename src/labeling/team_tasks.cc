// Team labeling tasks: a dataset's samples split among the
// labelers of one or more teams, each labeler annotating their share and
// reviewers passing or rejecting it. The task keeps every member's work in
// its own items (task_items: one per sample and labeler), apart from the
// dataset, until acceptance writes the accepted ones back.
//
// Assignment is even and deterministic: the selected samples in seq order,
// sample i and repetition k going to labeler (i + k) mod L of the labelers
// sorted by worker id; one INSERT ... SELECT per repetition, so a million
// samples are assigned inside SQLite in seconds. When the labelers change,
// the items nobody has worked on yet are dealt again among the new ones;
// work done stays with whoever did it.
//
// Members act as themselves: the routes a member uses declare a self check
// (the caller is a member of this task), so a member needs no IAM policy and
// sees only their own items (404 for the others).
#include <algorithm>
#include <memory>
#include <set>

#include "common/clock.h"
#include "common/error.h"
#include "common/ids.h"
#include "data/dataset_rows.h"
#include "data/query_params.h"
#include "data/search.h"
#include "labeling/internal.h"
#include "labeling/team_tasks.h"

namespace atelier::labeling {

using http::Context;
using http::Response;
using http::Route;
using store::Database;
using store::Row;

namespace {

ApiError task_missing(const std::string& id) {
  return ApiError(400, "ModelArts.4619", "The team labeling task " + id + " does not exist.");
}

// The samples `s` a task's options select (scope, conditions); binds go to `p`.
std::string selection_where(const json& opt, const std::string& dataset_id, store::Params& p) {
  p.push_back(dataset_id);
  std::string where = "s.dataset_id = ?";
  if (opt.value("scope", "all") == "unlabeled") where += " AND s.state = 'UN_ANNOTATION'";
  if (opt.contains("conditions"))
    for (auto& c : opt["conditions"]) where += " AND (" + data::condition_sql(c, p) + ")";
  return where;
}

}  // namespace

std::vector<store::Migration> task_migrations() {
  return {{"labeling/002_tasks", R"SQL(
CREATE TABLE workforce_tasks (
  id TEXT PRIMARY KEY, project_id TEXT NOT NULL, dataset_id TEXT NOT NULL, name TEXT NOT NULL,
  description TEXT NOT NULL, status INTEGER NOT NULL, repetition INTEGER NOT NULL, options TEXT NOT NULL,
  config TEXT NOT NULL, created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL, UNIQUE (dataset_id, name));
CREATE TABLE task_members (
  task_id TEXT NOT NULL, worker_id TEXT NOT NULL, workforce_id TEXT NOT NULL, email TEXT NOT NULL,
  user_id TEXT NOT NULL, role INTEGER NOT NULL, idx INTEGER NOT NULL, PRIMARY KEY (task_id, worker_id));
CREATE INDEX task_members_user ON task_members (user_id, task_id);
CREATE INDEX task_members_idx ON task_members (task_id, idx);
CREATE TABLE task_items (
  task_id TEXT NOT NULL, seq BIGINT NOT NULL, worker_id TEXT NOT NULL, state INTEGER NOT NULL,
  labels TEXT NOT NULL DEFAULT '[]', comment TEXT NOT NULL DEFAULT '', score TEXT NOT NULL DEFAULT '',
  updated_at BIGINT NOT NULL, PRIMARY KEY (task_id, worker_id, seq));
CREATE INDEX task_items_seq ON task_items (task_id, seq);
CREATE INDEX task_items_state ON task_items (task_id, state);
)SQL"},
          {"labeling/003_acceptance", R"SQL(
ALTER TABLE workforce_tasks ADD COLUMN check_id TEXT NOT NULL DEFAULT '';
ALTER TABLE task_members ADD COLUMN email_status INTEGER NOT NULL DEFAULT 0;
ALTER TABLE task_members ADD COLUMN notified_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE workforce_tasks ADD COLUMN synced_at BIGINT NOT NULL DEFAULT 0;
CREATE TABLE acceptances (
  id TEXT PRIMARY KEY, task_id TEXT NOT NULL, status INTEGER NOT NULL, sampling_num INTEGER NOT NULL,
  sampling_rate REAL, total INTEGER NOT NULL, action INTEGER, created_at BIGINT NOT NULL, ended_at BIGINT NOT NULL DEFAULT 0);
CREATE INDEX acceptances_task ON acceptances (task_id, created_at);
CREATE TABLE acceptance_items (
  check_id TEXT NOT NULL, seq BIGINT NOT NULL, worker_id TEXT NOT NULL, verdict INTEGER,
  comment TEXT NOT NULL DEFAULT '', score TEXT NOT NULL DEFAULT '', PRIMARY KEY (check_id, worker_id, seq));
)SQL"}};
}

std::vector<Route> task_routes(Database& db, iam::Iam& iam, const mail::Smtp& smtp, const std::string& public_url) {
  using A = TeamTasksApi;
  auto api = std::make_shared<A>(db, iam, smtp, public_url);
  auto h = [&api](Response (A::*fn)(Context&)) { return http::handler(api, fn); };
  // On member routes a member of the task acts without the route's action.
  const http::SelfCheck member = [api](const Context& ctx) { return api->is_member(ctx); };
  const std::string get = "modelarts:dataset:getWorkforceTask", update = "modelarts:dataset:updateWorkforceTask";
  const std::vector<std::string> objects = {"obs:object:GetObject"};
  const bool page = false;  // not a browser page
  const http::Restriction annotators = [api](const Context& ctx) { api->no_reviewer(ctx); };
  const http::Restriction reviewers = [api](const Context& ctx) { api->no_labeler(ctx); };
  auto out = http::route_table("/v2/{project_id}/datasets/{dataset_id}/workforce-tasks", http::ErrorShape::kModelArts, {
      {"GET", "", "modelarts:dataset:listWorkforceTasks", {}, h(&A::list)},
      {"POST", "", "modelarts:dataset:createWorkforceTask", {}, h(&A::create)},
      {"GET", "/{workforce_task_id}", get, {}, h(&A::get), page, member},
      {"PUT", "/{workforce_task_id}", update, {}, h(&A::update)},
      {"POST", "/{workforce_task_id}", update, {}, h(&A::start)},
      {"DELETE", "/{workforce_task_id}", "modelarts:dataset:deleteWorkforceTask", {}, h(&A::remove)},
      {"GET", "/{workforce_task_id}/data-annotations/stats", get, {}, h(&A::stats), page, member},
      {"GET", "/{workforce_task_id}/metrics", get, {}, h(&A::metrics)},
      {"GET", "/{workforce_task_id}/data-annotations/samples", "modelarts:sample:listSamples", objects, h(&A::list_items),
       page, member},
      {"GET", "/{workforce_task_id}/data-annotations/samples/{sample_id}", "modelarts:sample:getSample", objects,
       h(&A::get_item), page, member},
      {"PUT", "/{workforce_task_id}/data-annotations/samples", update, {}, h(&A::annotate), page, member, annotators},
      {"POST", "/{workforce_task_id}/data-annotations/review", update, {}, h(&A::review), page, member, reviewers},
      {"POST", "/{workforce_task_id}/notify", update, {}, h(&A::notify)},
      {"POST", "/{workforce_task_id}/acceptance", update, {}, h(&A::start_acceptance)},
      {"POST", "/{workforce_task_id}/acceptance/batch-comment", update, {}, h(&A::judge)},
      {"GET", "/{workforce_task_id}/acceptance/report", get, {}, h(&A::report)},
      {"PUT", "/{workforce_task_id}/acceptance/status", update, {}, h(&A::end_acceptance)},
  });
  // Member-scoped (no action): any member of the account lists their own tasks.
  for (auto& r : http::route_table("/v2/{project_id}/workforces", http::ErrorShape::kModelArts, {
           {"GET", "/worker-tasks", "", {}, h(&A::worker_tasks)},
       }))
    out.push_back(std::move(r));
  return out;
}

bool TeamTasksApi::is_member(const Context& ctx) { return me(ctx).has_value(); }

void TeamTasksApi::no_reviewer(const Context& ctx) {
  if (auto m = me(ctx); m && m->role == 1)
    throw ApiError(403, "ModelArts.4600", "Reviewers review; labelers and managers annotate.");
}

void TeamTasksApi::no_labeler(const Context& ctx) {
  if (auto m = me(ctx); m && m->role == 0)
    throw ApiError(403, "ModelArts.4600", "Labelers do not review; reviewers and managers do.");
}


Row TeamTasksApi::task_row(const Context& ctx) {
  // A deleted dataset takes its tasks with it.
  auto r = db_.query_one("SELECT t.* FROM workforce_tasks t JOIN datasets d ON d.id = t.dataset_id AND d.status <> 2 "
                         "WHERE t.id = ? AND t.dataset_id = ? AND t.project_id = ?",
                         {ctx.param("workforce_task_id"), ctx.param("dataset_id"), ctx.caller.project_id});
  if (!r) throw task_missing(ctx.param("workforce_task_id"));
  return *r;
}

// The caller as a member of the path's task, if it is one.
std::optional<Member> TeamTasksApi::me(const Context& ctx) {
  // Still a member of the team, with the role the team gives now: a member
  // taken out of the team, or given another role, is that at once.
  auto r = db_.query_one("SELECT m.worker_id, m.workforce_id, m.email, m.user_id, w.role FROM task_members m "
                         "JOIN workforce_tasks t ON t.id = m.task_id JOIN workers w ON w.id = m.worker_id AND w.user_id = m.user_id "
                         "WHERE m.task_id = ? AND m.user_id = ? AND t.project_id = ? AND t.dataset_id = ? ORDER BY w.role LIMIT 1",
                         {ctx.param("workforce_task_id"), ctx.caller.user_id, ctx.caller.project_id, ctx.param("dataset_id")});
  if (!r) return std::nullopt;
  return Member{r->str("worker_id"), r->str("workforce_id"), r->str("email"), r->str("user_id"), int(r->i64("role"))};
}

// The members a workforces_config names: whole teams, or the listed
// members of each (by worker_id or email). Throws a 400 naming what is wrong.
std::vector<Member> TeamTasksApi::members_of(const Context& ctx, const JsonIn& cfg) {
  std::vector<Member> ms;
  if (cfg.has("agency") && !cfg.has("workforces")) return ms;
  const json& teams = cfg.arr("workforces");
  if (teams.empty()) cfg.fail("workforces", "must name at least one team");
  std::set<std::string> seen;
  for (size_t i = 0; i < teams.size(); ++i) {
    JsonIn t(teams[i], cfg.field("workforces") + "[" + std::to_string(i) + "]");
    std::string wf = t.str("workforce_id");
    if (!db_.query_one("SELECT id FROM workforces WHERE id = ? AND project_id = ?", {wf, ctx.caller.project_id}))
      throw ApiError(400, "ModelArts.4601", "The labeling team " + wf + " does not exist.");
    std::vector<Row> rows;
    if (t.has("workers") && !t.node()["workers"].empty()) {
      const json& ws = t.arr("workers");
      for (auto& w : ws) {
        if (!w.is_object() || (w.contains("worker_id") && !w["worker_id"].is_string()) ||
            (w.contains("email") && !w["email"].is_string()))
          t.fail("workers", "must be members: {\"worker_id\": \"...\"} or {\"email\": \"...\"}");
        std::string id = w.value("worker_id", ""), email = w.value("email", "");
        auto r = !id.empty() ? db_.query_one("SELECT * FROM workers WHERE id = ? AND workforce_id = ?", {id, wf})
                             : db_.query_one("SELECT * FROM workers WHERE email = ? AND workforce_id = ?", {email, wf});
        if (!r) throw ApiError(400, "ModelArts.4604", "No member " + (id.empty() ? email : id) + " in team " + wf + ".");
        rows.push_back(*r);
      }
    } else {
      rows = db_.query("SELECT * FROM workers WHERE workforce_id = ? ORDER BY id", {wf});
    }
    for (auto& r : rows)
      if (seen.insert(r.str("id")).second)
        ms.push_back({r.str("id"), wf, r.str("email"), r.str("user_id"), int(r.i64("role"))});
  }
  std::sort(ms.begin(), ms.end(), [](auto& a, auto& b) { return a.worker_id < b.worker_id; });
  return ms;
}

// Adds the selected samples not in the task yet, numbered on from `base`
// (so samples added later continue the rotation), each to `rep` labelers.
// Inside the caller's transaction.
void TeamTasksApi::add_samples(const Row& t, int64_t labelers, int64_t base) {
  std::string id = t.str("id");
  int64_t rep = t.i64("repetition");
  json opt = json::parse(t.str("options"));
  store::Params p;
  std::string where = selection_where(opt, t.str("dataset_id"), p);
  std::string limit;
  if (opt.contains("count")) {
    auto have = db_.query_one("SELECT COUNT(DISTINCT seq) AS n FROM task_items WHERE task_id = ?", {id});
    limit = " LIMIT " + std::to_string(std::max<int64_t>(0, opt["count"].get<int64_t>() - (have ? have->i64("n") : 0)));
  }
  db_.exec("CREATE TEMP TABLE IF NOT EXISTS deal (i INTEGER PRIMARY KEY, seq BIGINT NOT NULL)", {});
  db_.exec("DELETE FROM deal", {});
  p.push_back(id);
  db_.exec("INSERT INTO deal (i, seq) SELECT ROW_NUMBER() OVER (ORDER BY s.seq) - 1, s.seq FROM samples s WHERE " + where +
              " AND NOT EXISTS (SELECT 1 FROM task_items x WHERE x.task_id = ? AND x.seq = s.seq) ORDER BY s.seq" + limit,
           p);
  int64_t now = clock::now_ms();
  for (int64_t k = 0; k < rep; ++k)
    db_.exec("INSERT INTO task_items (task_id, seq, worker_id, state, updated_at) SELECT ?, d.seq, m.worker_id, 0, ? "
             "FROM deal d JOIN task_members m ON m.task_id = ? AND m.idx = (d.i + ? + ?) % ?",
             {id, now, id, base, k, labelers});
  db_.exec("DELETE FROM deal", {});
  db_.exec("UPDATE workforce_tasks SET synced_at = ? WHERE id = ?", {now, id});
}

// Deals the task's samples that nobody works on yet among its labelers:
// the selected samples not yet in the task, and the items still
// unannotated (whose labeler may be gone). Inside the caller's transaction.
void TeamTasksApi::deal(const Row& t, const std::vector<Member>& ms) {
  std::string id = t.str("id");
  db_.exec("DELETE FROM task_members WHERE task_id = ?", {id});
  int64_t labelers = 0;
  for (auto& m : ms) {
    db_.exec("INSERT INTO task_members (task_id, worker_id, workforce_id, email, user_id, role, idx) VALUES (?, ?, ?, ?, ?, ?, ?)",
             {id, m.worker_id, m.workforce_id, m.email, m.user_id, m.role, m.role == 0 ? labelers : int64_t(-1)});
    if (m.role == 0) ++labelers;
  }
  int64_t rep = t.i64("repetition");
  if (labelers == 0) throw bad_request("Invalid parameter workforces_config: the teams have no labeler (role 0)");
  if (rep > labelers)
    throw bad_request("Invalid parameter repetition: " + std::to_string(rep) + " labelers per sample, but the teams have " +
                      std::to_string(labelers));
  db_.exec("DELETE FROM task_items WHERE task_id = ? AND seq IN (SELECT seq FROM task_items WHERE task_id = ? GROUP BY seq "
           "HAVING MAX(state) = 0)",
           {id, id});
  // An untouched item of someone gone, on a sample others have worked on
  // (repetition > 1), moves to a labeler who does not hold that sample yet.
  std::vector<std::string> by_idx(static_cast<size_t>(labelers));
  for (auto& m : db_.query("SELECT worker_id, idx FROM task_members WHERE task_id = ? AND role = 0", {id}))
    by_idx[size_t(m.i64("idx"))] = m.str("worker_id");
  for (auto& it : db_.query("SELECT seq, worker_id FROM task_items WHERE task_id = ? AND state = 0 AND worker_id NOT IN "
                            "(SELECT worker_id FROM task_members WHERE task_id = ? AND role = 0)",
                            {id, id})) {
    int64_t seq = it.i64("seq");
    std::string to;
    for (int64_t j = 0; j < labelers && to.empty(); ++j) {
      const std::string& cand = by_idx[size_t((seq + j) % labelers)];
      if (!db_.query_one("SELECT 1 FROM task_items WHERE task_id = ? AND seq = ? AND worker_id = ?", {id, seq, cand})) to = cand;
    }
    if (to.empty())
      db_.exec("DELETE FROM task_items WHERE task_id = ? AND seq = ? AND worker_id = ?", {id, seq, it.str("worker_id")});
    else
      db_.exec("UPDATE task_items SET worker_id = ? WHERE task_id = ? AND seq = ? AND worker_id = ?", {to, id, seq, it.str("worker_id")});
  }
  add_samples(t, labelers, 0);
}

// synchronize_data (a task option): samples the dataset gained since the task last
// looked go to the labelers, continuing the rotation. Run when the task
// is read, so a member's next page shows them.
void TeamTasksApi::sync_new(const Row& t) {
  json opt = json::parse(t.str("options"), nullptr, false);
  int st = int(t.i64("status"));
  if (!opt.is_object() || !opt.value("synchronize_data", false) || (st != kRunning && st != kRejected)) return;
  auto d = db_.query_one("SELECT data_updated_at FROM datasets WHERE id = ?", {t.str("dataset_id")});
  if (!d || d->i64("data_updated_at") < t.i64("synced_at")) return;
  db_.transaction([&] {
    auto fresh = db_.query_one("SELECT * FROM workforce_tasks WHERE id = ? AND synced_at = ?", {t.str("id"), t.i64("synced_at")});
    if (!fresh) return;  // another request synchronized it meanwhile
    auto l = db_.query_one("SELECT COUNT(*) AS n FROM task_members WHERE task_id = ? AND role = 0", {t.str("id")});
    auto have = db_.query_one("SELECT COUNT(DISTINCT seq) AS n FROM task_items WHERE task_id = ?", {t.str("id")});
    if (!l || l->i64("n") == 0) return;
    add_samples(*fresh, l->i64("n"), have ? have->i64("n") : 0);
  });
}

// Item counts by state of a task, or of one worker's items in it.
json TeamTasksApi::stats_of(const std::string& task, const std::string* worker) {
  json s = json::object();
  for (auto k : kStateKeys) s[k] = 0;
  store::Params p{task};
  std::string sql = "SELECT state, COUNT(*) AS n FROM task_items WHERE task_id = ?";
  if (worker) {
    sql += " AND worker_id = ?";
    p.push_back(*worker);
  }
  int64_t total = 0;
  for (auto& r : db_.query(sql + " GROUP BY state", p)) {
    int st = int(r.i64("state"));
    if (st >= 0 && st <= kItemRejected) s[kStateKeys[st]] = r.i64("n");
    total += r.i64("n");
  }
  s["total"] = total;
  s["auto_annotation"] = 0;
  return s;
}

// A task as the API shows it; `detail`: with every member's stats.
json TeamTasksApi::task_json(const Row& t, bool detail) {
  json opt = json::parse(t.str("options"), nullptr, false);
  json cfg = json::parse(t.str("config"), nullptr, false);
  json st = stats_of(t.str("id"), nullptr);
  json j = {{"task_id", t.str("id")},
            {"task_name", t.str("name")},
            {"dataset_id", t.str("dataset_id")},
            {"description", t.str("description")},
            {"status", t.i64("status")},
            {"repetition", t.i64("repetition")},
            {"auto_sync_dataset", opt.value("auto_sync_dataset", true)},
            {"synchronize_data", opt.value("synchronize_data", false)},
            {"synchronize_auto_labeling_data", opt.value("synchronize_auto_labeling_data", false)},
            {"workforces_config", cfg},
            {"sample_stats",
             {{"total_sample_count", st["total"]},
              {"unannotated_sample_count", st["un_annotation"]},
              {"unreviewed_sample_count", st["unreviewed"]},
              {"uncheck_sample_count", st["uncheck"]},
              {"accepted_sample_count", st["accepted"]},
              {"rejected_sample_count", st["rejected"]},
              {"sampled_sample_count", 0},
              {"auto_annotation_sample_count", 0},
              {"deleted_sample_count", 0}}},
            {"create_time", t.i64("created_at")},
            {"update_time", t.i64("updated_at")}};
  auto counts = db_.query("SELECT COUNT(DISTINCT workforce_id) AS teams, SUM(CASE WHEN role = 0 THEN 1 ELSE 0 END) AS labelers, "
                          "SUM(CASE WHEN role = 1 THEN 1 ELSE 0 END) AS reviewers FROM task_members WHERE task_id = ?",
                          {t.str("id")});
  if (!counts.empty())
    j["workforce_stats"] = {{"workforce_count", counts[0].i64("teams")},
                            {"labeler_count", counts[0].null("labelers") ? 0 : counts[0].i64("labelers")},
                            {"reviewer_count", counts[0].null("reviewers") ? 0 : counts[0].i64("reviewers")}};
  if (detail) {
    json ws = json::array();
    for (auto& m : db_.query("SELECT * FROM task_members WHERE task_id = ? ORDER BY email, worker_id", {t.str("id")})) {
      std::string wid = m.str("worker_id");
      ws.push_back({{"worker_id", wid},
                    {"email", m.str("email")},
                    {"role", m.i64("role")},
                    {"task_id", t.str("id")},
                    {"workforce_task_name", t.str("name")},
                    {"dataset_id", t.str("dataset_id")},
                    {"task_status", t.i64("status")},
                    {"sample_stats", stats_of(t.str("id"), &wid)}});
    }
    j["worker_stats"] = ws;
  }
  return j;
}

// ---------------------------------------------------------------- tasks

Response TeamTasksApi::list(Context& ctx) {
  auto d = data::dataset_in_project(db_, ctx);
  auto [offset, limit] = data::page(ctx, 1000, 1000);
  auto total = db_.query_one("SELECT COUNT(*) AS n FROM workforce_tasks WHERE dataset_id = ?", {d.str("id")});
  json list = json::array();
  for (auto& t : db_.query("SELECT * FROM workforce_tasks WHERE dataset_id = ? ORDER BY created_at DESC, id LIMIT ? OFFSET ?",
                           {d.str("id"), limit, offset}))
    list.push_back(task_json(t, false));
  return http::json_response(200, {{"count", total ? total->i64("n") : 0}, {"tasks", list}});
}

Response TeamTasksApi::create(Context& ctx) {
  auto d = data::dataset_in_project(db_, ctx);
  auto in = ctx.in();
  std::string name = in.str("task_name");
  if (utf8_length(name) > 64) in.fail("task_name", "must be 1 to 64 characters");
  for (unsigned char c : name)
    if (!(std::isalnum(c) || c == '-' || c == '_' || c >= 0x80)) in.fail("task_name", "letters, digits, '-' and '_' only");
  std::string desc = in.opt_str("description").value_or("");
  if (utf8_length(desc) > 256 || desc.find_first_of("^!<>=&\"'") != std::string::npos)
    in.fail("description", "0 to 256 characters without ^ ! < > = & \" '");
  int64_t rep = in.has("repetition") ? *in.opt_int("repetition", 1, 100) : 1;
  json opt = {{"auto_sync_dataset", in.opt_bool("auto_sync_dataset").value_or(true)},
              {"synchronize_data", in.opt_bool("synchronize_data").value_or(false)},
              {"synchronize_auto_labeling_data", in.opt_bool("synchronize_auto_labeling_data").value_or(false)}};
  if (in.has("data_sync_type")) opt["data_sync_type"] = *in.opt_int("data_sync_type", 0, 3);
  // Which samples (beyond the API, as the ModelArts console offers): all or
  // the unlabeled ones, at most `sample_count` of them, and the samples
  // matching `sample_conditions` (URL-encoded SearchCondition array).
  if (in.has("labeled_scope")) opt["scope"] = in.enum_str("labeled_scope", {"all", "unlabeled"});
  if (in.has("sample_count") && in.has("sample_rate")) in.fail("sample_rate", "give sample_count or sample_rate, not both");
  if (in.has("sample_count")) opt["count"] = *in.opt_int("sample_count", 1, INT64_MAX);
  std::optional<double> rate;
  if (in.has("sample_rate")) {
    const json& v = in.node()["sample_rate"];
    if (!v.is_number() || v.get<double>() <= 0 || v.get<double>() > 1) in.fail("sample_rate", "must be in (0, 1]");
    rate = v.get<double>();
  }
  if (in.has("sample_conditions")) {
    std::string raw = in.str("sample_conditions"), dec;
    if (!http::query_decode(raw, dec)) in.fail("sample_conditions", "is not URL-encoded");
    json conds = parse_json_limited(dec);
    if (!conds.is_array()) in.fail("sample_conditions", "must be a URL-encoded JSON array of search conditions");
    store::Params probe;
    for (auto& c : conds) data::condition_sql(c, probe);  // a bad condition is a 400 now, not at start
    opt["conditions"] = conds;
  }
  if (!in.has("workforces_config")) in.fail("workforces_config", "is required");
  auto cfg = in.obj("workforces_config");
  auto ms = members_of(ctx, cfg);
  if (rate) {  // a share of the selection as it is now
    store::Params p;
    std::string where = selection_where(opt, d.str("id"), p);
    auto n = db_.query_one("SELECT COUNT(*) AS n FROM samples s WHERE " + where, p);
    opt["count"] = std::max<int64_t>(1, std::llround(*rate * double(n ? n->i64("n") : 0)));
  }
  std::string id = ids::base62_19();
  int64_t now = clock::now_ms();
  bool start = !ms.empty();
  db_.transaction([&] {
    if (db_.query_one("SELECT id FROM workforce_tasks WHERE dataset_id = ? AND name = ?", {d.str("id"), name}))
      throw ApiError(400, "ModelArts.4620", "A team labeling task named " + name + " already exists on the dataset.");
    db_.exec("INSERT INTO workforce_tasks (id, project_id, dataset_id, name, description, status, repetition, options, config, "
             "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
             {id, ctx.caller.project_id, d.str("id"), name, desc, start ? int(kStarting) : int(kCreated), rep, opt.dump(),
              cfg.node().dump(), now, now});
    if (start) {
      auto t = db_.query_one("SELECT * FROM workforce_tasks WHERE id = ?", {id});
      deal(*t, ms);
      db_.exec("UPDATE workforce_tasks SET status = ? WHERE id = ?", {int(kRunning), id});
    }
  });
  return http::json_response(200, {{"task_id", id}});
}

Response TeamTasksApi::get(Context& ctx) {
  auto t = task_row(ctx);
  sync_new(t);
  json j = task_json(t, true);
  if (auto m = me(ctx); m && m->role == 0) {  // a labeler sees their own progress, not their teammates'
    json mine = json::array();
    for (auto& w : j["worker_stats"])
      if (w["worker_id"] == m->worker_id) mine.push_back(w);
    j["worker_stats"] = mine;
  }
  return http::json_response(200, j);
}

// Update and start: a new member list deals the work again.
Response TeamTasksApi::reconfigure(Context& ctx, bool starting) {
  auto t = task_row(ctx);
  auto in = ctx.in();
  std::string name = t.str("name"), desc = t.str("description");
  if (!starting && in.has("task_name")) {
    name = in.str("task_name");
    if (utf8_length(name) > 64) in.fail("task_name", "must be 1 to 64 characters");
  }
  if (!starting && in.has("description")) {
    desc = in.opt_str("description").value_or("");
    if (utf8_length(desc) > 256 || desc.find_first_of("^!<>=&\"'") != std::string::npos)
      in.fail("description", "0 to 256 characters without ^ ! < > = & \" '");
  }
  std::optional<std::vector<Member>> ms;
  json cfg = json::parse(t.str("config"));
  if (in.has("workforces_config")) {
    auto c = in.obj("workforces_config");
    ms = members_of(ctx, c);
    cfg = c.node();
  } else if (starting) {
    in.fail("workforces_config", "is required to start the task");
  }
  int st = int(t.i64("status"));
  if (starting && st != kCreated && st != kRejected)
    throw ApiError(400, "ModelArts.4621", "The task has started already (status " + std::to_string(st) + ").");
  if (ms && (st == kAccepting || st == kSyncing || st == kSampling))
    throw ApiError(400, "ModelArts.4621", "The task's members cannot change during an acceptance (status " + std::to_string(st) + ").");
  db_.transaction([&] {
    if (name != t.str("name") &&
        db_.query_one("SELECT id FROM workforce_tasks WHERE dataset_id = ? AND name = ?", {t.str("dataset_id"), name}))
      throw ApiError(400, "ModelArts.4620", "A team labeling task named " + name + " already exists on the dataset.");
    int next = st;
    if (ms && !ms->empty()) {
      deal(t, *ms);
      if (st == kCreated || st == kRejected) next = kRunning;
    }
    db_.exec("UPDATE workforce_tasks SET name = ?, description = ?, config = ?, status = ?, updated_at = ? WHERE id = ?",
             {name, desc, cfg.dump(), next, clock::now_ms(), t.str("id")});
  });
  return http::json_response(200, json::object());
}

Response TeamTasksApi::update(Context& ctx) { return reconfigure(ctx, false); }

Response TeamTasksApi::start(Context& ctx) { return reconfigure(ctx, true); }

Response TeamTasksApi::remove(Context& ctx) {
  auto t = task_row(ctx);
  db_.transaction([&] {
    db_.exec("DELETE FROM task_items WHERE task_id = ?", {t.str("id")});
    db_.exec("DELETE FROM task_members WHERE task_id = ?", {t.str("id")});
    db_.exec("DELETE FROM workforce_tasks WHERE id = ?", {t.str("id")});
  });
  return http::no_content();
}

Response TeamTasksApi::stats(Context& ctx) {
  auto t = task_row(ctx);
  sync_new(t);
  auto m = me(ctx);
  const std::string* worker = m && m->role == 0 ? &m->worker_id : nullptr;  // a labeler sees their own
  return http::json_response(200, {{"sample_stats", stats_of(t.str("id"), worker)}});
}

Response TeamTasksApi::metrics(Context& ctx) {
  auto t = task_row(ctx);
  json by = json::object();
  for (auto& m : db_.query("SELECT worker_id, email FROM task_members WHERE task_id = ? AND role = 0", {t.str("id")})) {
    json s = json::object();
    for (auto k : kStateKeys) s[k] = 0;
    s["auto_annotation"] = 0;
    by[m.str("email")] = s;
  }
  for (auto& r : db_.query("SELECT m.email, i.state, COUNT(*) AS n FROM task_items i JOIN task_members m ON m.task_id = i.task_id "
                           "AND m.worker_id = i.worker_id WHERE i.task_id = ? GROUP BY m.email, i.state",
                           {t.str("id")})) {
    int st = int(r.i64("state"));
    if (st >= 0 && st <= kItemRejected) by[r.str("email")][kStateKeys[st]] = r.i64("n");
  }
  return http::json_response(200, {{"sample_stats", by}});
}

// E-mail to the task's members through the configured SMTP
// server: each gets the task, their share and where to sign in. The
// result per address tells what happened; email_status and
// last_notify_time of the member follow it.
Response TeamTasksApi::notify(Context& ctx) {
  auto t = task_row(ctx);
  auto in = ctx.in();
  const json& emails = in.arr("emails");
  if (emails.empty()) in.fail("emails", "must name at least one member");
  for (auto& e : emails)
    if (!e.is_string()) in.fail("emails", "must be e-mail addresses");
  if (smtp_.url.empty())
    throw ApiError(503, "ModelArts.6699", "No SMTP server is configured (smtp_url): e-mail cannot be sent.");
  std::vector<Row> members;
  for (auto& e : emails) {
    std::string a = e.get<std::string>();
    for (auto& c : a) c = char(std::tolower(static_cast<unsigned char>(c)));
    auto m = db_.query_one("SELECT * FROM task_members WHERE task_id = ? AND email = ? ORDER BY role LIMIT 1", {t.str("id"), a});
    if (!m) throw ApiError(400, "ModelArts.4604", "No member of the task has the e-mail address " + e.get<std::string>() + ".");
    members.push_back(*m);
  }
  auto d = db_.query_one("SELECT name FROM datasets WHERE id = ?", {t.str("dataset_id")});
  json results = json::array();
  bool all = true;
  int64_t now = clock::now_ms();
  for (auto& m : members) {
    json r = {{"success", true}};
    int status = 3;
    if (now - m.i64("notified_at") < 60000) {
      r = {{"success", false}, {"error_code", "ModelArts.4627"}, {"error_msg", "Notified less than a minute ago; try later."}};
      all = false;
      results.push_back(r);
      continue;
    }
    std::string wid = m.str("worker_id");
    json st = stats_of(t.str("id"), &wid);
    static const char* roles[] = {"labeler", "reviewer", "team manager", "dataset owner"};
    mail::Message msg;
    msg.to = m.str("email");
    msg.subject = "Team labeling task " + t.str("name") + " is waiting for you";
    msg.body = "Hello,\n\nyou are a " + std::string(roles[std::clamp<int64_t>(m.i64("role"), 0, 3)]) + " of the team labeling task \"" +
               t.str("name") + "\" on dataset \"" + (d ? d->str("name") : t.str("dataset_id")) + "\".\n\n" +
               "Your share: " + std::to_string(st["total"].get<int64_t>()) + " items, " +
               std::to_string(st["un_annotation"].get<int64_t>()) + " to annotate, " +
               std::to_string(st["rejected"].get<int64_t>()) + " sent back for rework.\n\n" +
               "Sign in at " + public_url_ + "/login to work on it (task " + t.str("id") + ").\n";
    // A member the platform made has no password yet: the notice carries a
    // one-time link to choose one (valid a week; a new notice replaces it).
    if (auto ticket = iam_.password_ticket(m.str("user_id")))
      msg.body += "\nYour user name is " + (iam_.user_by_id(m.str("user_id")) ? iam_.user_by_id(m.str("user_id"))->name : "") +
                  " (account " + ctx.caller.domain_name + "). Choose your password first: " + public_url_ +
                  "/login/password?ticket=" + *ticket + "\n";
    try {
      mail::send(smtp_, msg);
    } catch (const std::exception& e) {
      status = 2;
      all = false;
      r = {{"success", false}, {"error_code", "ModelArts.6699"}, {"error_msg", std::string("Sending failed: ") + e.what()}};
    }
    db_.exec("UPDATE task_members SET email_status = ?, notified_at = ? WHERE task_id = ? AND worker_id = ?",
             {status, now, t.str("id"), wid});
    if (status == 3) db_.exec("UPDATE workers SET notified_at = ? WHERE id = ?", {now, wid});
    results.push_back(r);
  }
  return http::json_response(200, {{"success", all}, {"results", results}});
}

// A member's tasks across the project.
Response TeamTasksApi::worker_tasks(Context& ctx) {
  auto [offset, limit] = data::page(ctx, 10, 100);
  std::string order = order_by(ctx, {{"create_time", "t.created_at"}, {"workforce_task_name", "t.name"}}, "t.id");
  std::string where = "m.user_id = ? AND t.project_id = ?";
  store::Params p{ctx.caller.user_id, ctx.param("project_id")};
  if (auto v = data::qp(ctx, "search_content"); v && !v->empty()) {
    where += " AND " + store::contains_ci("t.name");
    p.push_back(store::contains_ci_pattern(*v));
  }
  auto total = db_.query_one("SELECT COUNT(*) AS n FROM task_members m JOIN workforce_tasks t ON t.id = m.task_id JOIN datasets d ON "
                             "d.id = t.dataset_id AND d.status <> 2 WHERE " + where,
                             p);
  p.push_back(limit);
  p.push_back(offset);
  json list = json::array();
  for (auto& r : db_.query("SELECT m.*, t.name, t.dataset_id, t.status, t.created_at AS tc, t.updated_at AS tu, d.type AS dtype "
                           "FROM task_members m JOIN workforce_tasks t ON t.id = m.task_id JOIN datasets d ON d.id = t.dataset_id "
                           "AND d.status <> 2 "
                           "WHERE " + where + order + " LIMIT ? OFFSET ?",
                           p)) {
    json s = json::object();
    for (auto k : kStateKeys) s[k] = 0;
    for (auto& c : db_.query("SELECT state, COUNT(*) AS n FROM task_items WHERE task_id = ? AND worker_id = ? GROUP BY state",
                             {r.str("task_id"), r.str("worker_id")}))
      if (c.i64("state") >= 0 && c.i64("state") <= kItemRejected) s[kStateKeys[c.i64("state")]] = c.i64("n");
    list.push_back({{"worker_id", r.str("worker_id")},
                    {"email", r.str("email")},
                    {"role", r.i64("role")},
                    {"task_id", r.str("task_id")},
                    {"workforce_task_name", r.str("name")},
                    {"dataset_id", r.str("dataset_id")},
                    {"dataset_type", r.i64("dtype")},
                    {"task_status", r.i64("status")},
                    {"sample_stats", s},
                    {"email_status", r.i64("email_status")},
                    {"last_notify_time", r.i64("notified_at")},
                    {"create_time", r.i64("tc")},
                    {"update_time", r.i64("tu")}});
  }
  return http::json_response(200, {{"count", total ? total->i64("n") : 0}, {"worker_tasks", list}});
}

}  // namespace atelier::labeling
