// Team labeling tasks (spec §2.1): a dataset's samples split among the
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
#include <map>
#include <set>

#include "common/clock.h"
#include "common/crypto.h"
#include "common/mail.h"
#include "common/error.h"
#include "common/ids.h"
#include "data/core.h"
#include "labeling/labeling.h"
#include "labeling/internal.h"

namespace atelier::labeling {

using http::Context;
using http::Route;
using store::Database;
using store::Row;

namespace {

// Task status (§2.0).
enum TaskStatus { kStarting = 0, kRunning = 1, kAccepting = 2, kPassed = 3, kRejected = 4, kSyncing = 5, kCreated = 6, kSampling = 7 };
// Item state: the states of §2.1.7's stats.
enum ItemState { kUnannotated = 0, kUnreviewed = 1, kUncheck = 2, kAccepted = 3, kItemRejected = 4 };
const char* kStateKeys[] = {"un_annotation", "unreviewed", "uncheck", "accepted", "rejected"};

ApiError task_missing(const std::string& id) {
  return ApiError(400, "ModelArts.4619", "The team labeling task " + id + " does not exist.");
}

// sample_state of the member lists, as item states (case-insensitive, §2.1.7).
std::optional<int> state_of(std::string v) {
  for (auto& c : v) c = char(std::tolower(static_cast<unsigned char>(c)));
  if (v == "__unannotated__" || v == "un_annotation" || v == "__none__") return kUnannotated;
  if (v == "__unreviewed__" || v == "unreviewed") return kUnreviewed;
  if (v == "__uncheck__" || v == "uncheck" || v == "__reviewed__") return kUncheck;
  if (v == "__accepted__" || v == "accepted") return kAccepted;
  if (v == "__rejected__" || v == "rejected") return kItemRejected;
  return std::nullopt;
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

struct Member {
  std::string worker_id, workforce_id, email, user_id;
  int role = 0;
};

// One SampleComment (§2.0) of a review or an acceptance: the sample, whose
// item (worker_id; may be empty where one sample has one item), the verdict.
struct Verdict {
  int64_t seq = -1;
  std::string sample_id, worker, comment, score;
  bool accept = false;
};

std::vector<Verdict> read_verdicts(const JsonIn& in, const std::string& dataset_id) {
  const json& comments = in.arr("comments");
  if (comments.empty()) in.fail("comments", "must hold at least one verdict");
  std::vector<Verdict> vs;
  for (size_t i = 0; i < comments.size(); ++i) {
    JsonIn c(comments[i], "comments[" + std::to_string(i) + "]");
    Verdict v;
    auto accept = c.opt_bool("accept");
    if (!accept) c.fail("accept", "is required (true or false)");
    v.accept = *accept;
    v.comment = c.opt_str("comment").value_or("");
    if (utf8_length(v.comment) > 256 || v.comment.find_first_of("!<>=&\"'") != std::string::npos)
      c.fail("comment", "0 to 256 characters without ! < > = & \" '");
    v.score = c.opt_str("score").value_or("");
    if (!v.score.empty() && v.score != "A" && v.score != "B" && v.score != "C" && v.score != "D") c.fail("score", "A, B, C or D");
    v.sample_id = c.str("sample_id");
    v.seq = data::sample_seq(dataset_id, v.sample_id);
    v.worker = c.opt_str("worker_id").value_or("");
    vs.push_back(std::move(v));
  }
  return vs;
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
  std::vector<Route> out;
  auto add = [&](std::string method, std::string path, std::string action, std::vector<std::string> depends,
                 http::RouteHandler h) {
    out.push_back(data::v2_route(std::move(method), "/datasets/{dataset_id}/workforce-tasks" + path, std::move(action),
                                 std::move(depends), std::move(h)));
  };
  auto task_row = [&db](const Context& ctx) {
    // A deleted dataset takes its tasks with it.
    auto r = db.query_one("SELECT t.* FROM workforce_tasks t JOIN datasets d ON d.id = t.dataset_id AND d.status <> 2 "
                          "WHERE t.id = ? AND t.dataset_id = ? AND t.project_id = ?",
                          {ctx.param("workforce_task_id"), ctx.param("dataset_id"), ctx.caller.project_id});
    if (!r) throw task_missing(ctx.param("workforce_task_id"));
    return *r;
  };
  // The caller as a member of the path's task, if it is one.
  auto me = [&db](const Context& ctx) -> std::optional<Member> {
    // Still a member of the team, with the role the team gives now: a member
    // taken out of the team, or given another role, is that at once.
    auto r = db.query_one("SELECT m.worker_id, m.workforce_id, m.email, m.user_id, w.role FROM task_members m "
                          "JOIN workforce_tasks t ON t.id = m.task_id JOIN workers w ON w.id = m.worker_id AND w.user_id = m.user_id "
                          "WHERE m.task_id = ? AND m.user_id = ? AND t.project_id = ? AND t.dataset_id = ? ORDER BY w.role LIMIT 1",
                          {ctx.param("workforce_task_id"), ctx.caller.user_id, ctx.caller.project_id, ctx.param("dataset_id")});
    if (!r) return std::nullopt;
    return Member{r->str("worker_id"), r->str("workforce_id"), r->str("email"), r->str("user_id"), int(r->i64("role"))};
  };
  auto member_self = [me](const Context& ctx) { return me(ctx).has_value(); };

  // The members a workforces_config names: whole teams, or the listed
  // members of each (by worker_id or email). Throws a 400 naming what is wrong.
  auto members_of = [&db](const Context& ctx, const JsonIn& cfg) {
    std::vector<Member> ms;
    if (cfg.has("agency") && !cfg.has("workforces")) return ms;
    const json& teams = cfg.arr("workforces");
    if (teams.empty()) cfg.fail("workforces", "must name at least one team");
    std::set<std::string> seen;
    for (size_t i = 0; i < teams.size(); ++i) {
      JsonIn t(teams[i], cfg.field("workforces") + "[" + std::to_string(i) + "]");
      std::string wf = t.str("workforce_id");
      if (!db.query_one("SELECT id FROM workforces WHERE id = ? AND project_id = ?", {wf, ctx.caller.project_id}))
        throw ApiError(400, "ModelArts.4601", "The labeling team " + wf + " does not exist.");
      std::vector<Row> rows;
      if (t.has("workers") && !t.node()["workers"].empty()) {
        const json& ws = t.arr("workers");
        for (auto& w : ws) {
          if (!w.is_object() || (w.contains("worker_id") && !w["worker_id"].is_string()) ||
              (w.contains("email") && !w["email"].is_string()))
            t.fail("workers", "must be members: {\"worker_id\": \"...\"} or {\"email\": \"...\"}");
          std::string id = w.value("worker_id", ""), email = w.value("email", "");
          auto r = !id.empty() ? db.query_one("SELECT * FROM workers WHERE id = ? AND workforce_id = ?", {id, wf})
                               : db.query_one("SELECT * FROM workers WHERE email = ? AND workforce_id = ?", {email, wf});
          if (!r) throw ApiError(400, "ModelArts.4604", "No member " + (id.empty() ? email : id) + " in team " + wf + ".");
          rows.push_back(*r);
        }
      } else {
        rows = db.query("SELECT * FROM workers WHERE workforce_id = ? ORDER BY id", {wf});
      }
      for (auto& r : rows)
        if (seen.insert(r.str("id")).second)
          ms.push_back({r.str("id"), wf, r.str("email"), r.str("user_id"), int(r.i64("role"))});
    }
    std::sort(ms.begin(), ms.end(), [](auto& a, auto& b) { return a.worker_id < b.worker_id; });
    return ms;
  };

  // Adds the selected samples not in the task yet, numbered on from `base`
  // (so samples added later continue the rotation), each to `rep` labelers.
  // Inside the caller's transaction.
  auto add_samples = [&db](const Row& t, int64_t labelers, int64_t base) {
    std::string id = t.str("id");
    int64_t rep = t.i64("repetition");
    json opt = json::parse(t.str("options"));
    store::Params p;
    std::string where = selection_where(opt, t.str("dataset_id"), p);
    std::string limit;
    if (opt.contains("count")) {
      auto have = db.query_one("SELECT COUNT(DISTINCT seq) AS n FROM task_items WHERE task_id = ?", {id});
      limit = " LIMIT " + std::to_string(std::max<int64_t>(0, opt["count"].get<int64_t>() - (have ? have->i64("n") : 0)));
    }
    db.exec("CREATE TEMP TABLE IF NOT EXISTS deal (i INTEGER PRIMARY KEY, seq BIGINT NOT NULL)", {});
    db.exec("DELETE FROM deal", {});
    p.push_back(id);
    db.exec("INSERT INTO deal (i, seq) SELECT ROW_NUMBER() OVER (ORDER BY s.seq) - 1, s.seq FROM samples s WHERE " + where +
                " AND NOT EXISTS (SELECT 1 FROM task_items x WHERE x.task_id = ? AND x.seq = s.seq) ORDER BY s.seq" + limit,
            p);
    int64_t now = clock::now_ms();
    for (int64_t k = 0; k < rep; ++k)
      db.exec("INSERT INTO task_items (task_id, seq, worker_id, state, updated_at) SELECT ?, d.seq, m.worker_id, 0, ? "
              "FROM deal d JOIN task_members m ON m.task_id = ? AND m.idx = (d.i + ? + ?) % ?",
              {id, now, id, base, k, labelers});
    db.exec("DELETE FROM deal", {});
    db.exec("UPDATE workforce_tasks SET synced_at = ? WHERE id = ?", {now, id});
  };

  // Deals the task's samples that nobody works on yet among its labelers:
  // the selected samples not yet in the task, and the items still
  // unannotated (whose labeler may be gone). Inside the caller's transaction.
  auto deal = [&db, add_samples](const Row& t, const std::vector<Member>& ms) {
    std::string id = t.str("id");
    db.exec("DELETE FROM task_members WHERE task_id = ?", {id});
    int64_t labelers = 0;
    for (auto& m : ms) {
      db.exec("INSERT INTO task_members (task_id, worker_id, workforce_id, email, user_id, role, idx) VALUES (?, ?, ?, ?, ?, ?, ?)",
              {id, m.worker_id, m.workforce_id, m.email, m.user_id, m.role, m.role == 0 ? labelers : int64_t(-1)});
      if (m.role == 0) ++labelers;
    }
    int64_t rep = t.i64("repetition");
    if (labelers == 0) throw bad_request("Invalid parameter workforces_config: the teams have no labeler (role 0)");
    if (rep > labelers)
      throw bad_request("Invalid parameter repetition: " + std::to_string(rep) + " labelers per sample, but the teams have " +
                        std::to_string(labelers));
    db.exec("DELETE FROM task_items WHERE task_id = ? AND seq IN (SELECT seq FROM task_items WHERE task_id = ? GROUP BY seq "
            "HAVING MAX(state) = 0)",
            {id, id});
    // An untouched item of someone gone, on a sample others have worked on
    // (repetition > 1), moves to a labeler who does not hold that sample yet.
    std::vector<std::string> by_idx(static_cast<size_t>(labelers));
    for (auto& m : db.query("SELECT worker_id, idx FROM task_members WHERE task_id = ? AND role = 0", {id}))
      by_idx[size_t(m.i64("idx"))] = m.str("worker_id");
    for (auto& it : db.query("SELECT seq, worker_id FROM task_items WHERE task_id = ? AND state = 0 AND worker_id NOT IN "
                             "(SELECT worker_id FROM task_members WHERE task_id = ? AND role = 0)",
                             {id, id})) {
      int64_t seq = it.i64("seq");
      std::string to;
      for (int64_t j = 0; j < labelers && to.empty(); ++j) {
        const std::string& cand = by_idx[size_t((seq + j) % labelers)];
        if (!db.query_one("SELECT 1 FROM task_items WHERE task_id = ? AND seq = ? AND worker_id = ?", {id, seq, cand})) to = cand;
      }
      if (to.empty())
        db.exec("DELETE FROM task_items WHERE task_id = ? AND seq = ? AND worker_id = ?", {id, seq, it.str("worker_id")});
      else
        db.exec("UPDATE task_items SET worker_id = ? WHERE task_id = ? AND seq = ? AND worker_id = ?", {to, id, seq, it.str("worker_id")});
    }
    add_samples(t, labelers, 0);
  };

  // synchronize_data (§2.0): samples the dataset gained since the task last
  // looked go to the labelers, continuing the rotation. Run when the task
  // is read, so a member's next page shows them.
  auto sync_new = [&db, add_samples](const Row& t) {
    json opt = json::parse(t.str("options"), nullptr, false);
    int st = int(t.i64("status"));
    if (!opt.is_object() || !opt.value("synchronize_data", false) || (st != kRunning && st != kRejected)) return;
    auto d = db.query_one("SELECT data_updated_at FROM datasets WHERE id = ?", {t.str("dataset_id")});
    if (!d || d->i64("data_updated_at") < t.i64("synced_at")) return;
    db.transaction([&] {
      auto fresh = db.query_one("SELECT * FROM workforce_tasks WHERE id = ? AND synced_at = ?", {t.str("id"), t.i64("synced_at")});
      if (!fresh) return;  // another request synchronized it meanwhile
      auto l = db.query_one("SELECT COUNT(*) AS n FROM task_members WHERE task_id = ? AND role = 0", {t.str("id")});
      auto have = db.query_one("SELECT COUNT(DISTINCT seq) AS n FROM task_items WHERE task_id = ?", {t.str("id")});
      if (!l || l->i64("n") == 0) return;
      add_samples(*fresh, l->i64("n"), have ? have->i64("n") : 0);
    });
  };

  auto stats_of = [&db](const std::string& task, const std::string* worker) {
    json s = json::object();
    for (auto k : kStateKeys) s[k] = 0;
    store::Params p{task};
    std::string sql = "SELECT state, COUNT(*) AS n FROM task_items WHERE task_id = ?";
    if (worker) {
      sql += " AND worker_id = ?";
      p.push_back(*worker);
    }
    int64_t total = 0;
    for (auto& r : db.query(sql + " GROUP BY state", p)) {
      int st = int(r.i64("state"));
      if (st >= 0 && st <= kItemRejected) s[kStateKeys[st]] = r.i64("n");
      total += r.i64("n");
    }
    s["total"] = total;
    s["auto_annotation"] = 0;
    return s;
  };

  auto task_json = [&db, stats_of](const Row& t, bool detail) {
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
    auto counts = db.query("SELECT COUNT(DISTINCT workforce_id) AS teams, SUM(CASE WHEN role = 0 THEN 1 ELSE 0 END) AS labelers, "
                           "SUM(CASE WHEN role = 1 THEN 1 ELSE 0 END) AS reviewers FROM task_members WHERE task_id = ?",
                           {t.str("id")});
    if (!counts.empty())
      j["workforce_stats"] = {{"workforce_count", counts[0].i64("teams")},
                              {"labeler_count", counts[0].null("labelers") ? 0 : counts[0].i64("labelers")},
                              {"reviewer_count", counts[0].null("reviewers") ? 0 : counts[0].i64("reviewers")}};
    if (detail) {
      json ws = json::array();
      for (auto& m : db.query("SELECT * FROM task_members WHERE task_id = ? ORDER BY email, worker_id", {t.str("id")})) {
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
  };

  // ---------------------------------------------------------------- tasks

  add("GET", "", "modelarts:dataset:listWorkforceTasks", {}, [&db, task_json](Context& ctx) {
    auto d = data::dataset_in_project(db, ctx);
    auto [offset, limit] = data::page(ctx, 1000, 1000);
    auto total = db.query_one("SELECT COUNT(*) AS n FROM workforce_tasks WHERE dataset_id = ?", {d.str("id")});
    json list = json::array();
    for (auto& t : db.query("SELECT * FROM workforce_tasks WHERE dataset_id = ? ORDER BY created_at DESC, id LIMIT ? OFFSET ?",
                            {d.str("id"), limit, offset}))
      list.push_back(task_json(t, false));
    return http::json_response(200, {{"count", total ? total->i64("n") : 0}, {"tasks", list}});
  });

  add("POST", "", "modelarts:dataset:createWorkforceTask", {}, [&db, members_of, deal](Context& ctx) {
    auto d = data::dataset_in_project(db, ctx);
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
    // Which samples (beyond the reference, as the console offers): all or
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
      auto n = db.query_one("SELECT COUNT(*) AS n FROM samples s WHERE " + where, p);
      opt["count"] = std::max<int64_t>(1, std::llround(*rate * double(n ? n->i64("n") : 0)));
    }
    std::string id = ids::base62_19();
    int64_t now = clock::now_ms();
    bool start = !ms.empty();
    db.transaction([&] {
      if (db.query_one("SELECT id FROM workforce_tasks WHERE dataset_id = ? AND name = ?", {d.str("id"), name}))
        throw ApiError(400, "ModelArts.4620", "A team labeling task named " + name + " already exists on the dataset.");
      db.exec("INSERT INTO workforce_tasks (id, project_id, dataset_id, name, description, status, repetition, options, config, "
              "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
              {id, ctx.caller.project_id, d.str("id"), name, desc, start ? int(kStarting) : int(kCreated), rep, opt.dump(),
               cfg.node().dump(), now, now});
      if (start) {
        auto t = db.query_one("SELECT * FROM workforce_tasks WHERE id = ?", {id});
        deal(*t, ms);
        db.exec("UPDATE workforce_tasks SET status = ? WHERE id = ?", {int(kRunning), id});
      }
    });
    return http::json_response(200, {{"task_id", id}});
  });

  add("GET", "/{workforce_task_id}", "modelarts:dataset:getWorkforceTask", {}, [task_row, task_json, sync_new, me](Context& ctx) {
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
  });
  out.back().self = member_self;

  // Update (§2.1.4) and start (§2.1.5): a new member list deals the work again.
  auto reconfigure = [&db, task_row, members_of, deal](Context& ctx, bool starting) {
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
    db.transaction([&] {
      if (name != t.str("name") &&
          db.query_one("SELECT id FROM workforce_tasks WHERE dataset_id = ? AND name = ?", {t.str("dataset_id"), name}))
        throw ApiError(400, "ModelArts.4620", "A team labeling task named " + name + " already exists on the dataset.");
      int next = st;
      if (ms && !ms->empty()) {
        deal(t, *ms);
        if (st == kCreated || st == kRejected) next = kRunning;
      }
      db.exec("UPDATE workforce_tasks SET name = ?, description = ?, config = ?, status = ?, updated_at = ? WHERE id = ?",
              {name, desc, cfg.dump(), next, clock::now_ms(), t.str("id")});
    });
    return http::json_response(200, json::object());
  };
  add("PUT", "/{workforce_task_id}", "modelarts:dataset:updateWorkforceTask", {},
      [reconfigure](Context& ctx) { return reconfigure(ctx, false); });
  add("POST", "/{workforce_task_id}", "modelarts:dataset:updateWorkforceTask", {},
      [reconfigure](Context& ctx) { return reconfigure(ctx, true); });

  add("DELETE", "/{workforce_task_id}", "modelarts:dataset:deleteWorkforceTask", {}, [&db, task_row](Context& ctx) {
    auto t = task_row(ctx);
    db.transaction([&] {
      db.exec("DELETE FROM task_items WHERE task_id = ?", {t.str("id")});
      db.exec("DELETE FROM task_members WHERE task_id = ?", {t.str("id")});
      db.exec("DELETE FROM workforce_tasks WHERE id = ?", {t.str("id")});
    });
    return http::no_content();
  });

  add("GET", "/{workforce_task_id}/data-annotations/stats", "modelarts:dataset:getWorkforceTask", {},
      [task_row, stats_of, me, sync_new](Context& ctx) {
        auto t = task_row(ctx);
        sync_new(t);
        auto m = me(ctx);
        const std::string* worker = m && m->role == 0 ? &m->worker_id : nullptr;  // a labeler sees their own
        return http::json_response(200, {{"sample_stats", stats_of(t.str("id"), worker)}});
      });
  out.back().self = member_self;

  add("GET", "/{workforce_task_id}/metrics", "modelarts:dataset:getWorkforceTask", {}, [&db, task_row](Context& ctx) {
    auto t = task_row(ctx);
    json by = json::object();
    for (auto& m : db.query("SELECT worker_id, email FROM task_members WHERE task_id = ? AND role = 0", {t.str("id")})) {
      json s = json::object();
      for (auto k : kStateKeys) s[k] = 0;
      s["auto_annotation"] = 0;
      by[m.str("email")] = s;
    }
    for (auto& r : db.query("SELECT m.email, i.state, COUNT(*) AS n FROM task_items i JOIN task_members m ON m.task_id = i.task_id "
                            "AND m.worker_id = i.worker_id WHERE i.task_id = ? GROUP BY m.email, i.state",
                            {t.str("id")})) {
      int st = int(r.i64("state"));
      if (st >= 0 && st <= kItemRejected) by[r.str("email")][kStateKeys[st]] = r.i64("n");
    }
    return http::json_response(200, {{"sample_stats", by}});
  });

  // ---------------------------------------------------------------- a member's samples

  // The task's items a caller may see: a labeler their own, a reviewer and
  // the owner all (optionally one worker's).
  auto item_scope = [me](const Context& ctx, const Row& t, store::Params& p) {
    std::string where = "i.task_id = ?";
    p.push_back(t.str("id"));
    auto m = me(ctx);
    if (m && m->role == 0) {
      where += " AND i.worker_id = ?";
      p.push_back(m->worker_id);
    } else if (auto w = data::qp(ctx, "worker_id")) {
      where += " AND i.worker_id = ?";
      p.push_back(*w);
    }
    return where;
  };
  auto item_json = [](const Context& ctx, const Row& r) {
    json j = data::sample_json(ctx, r, /*labels=*/false);  // the item's labels, not the dataset's
    j["worker_id"] = r.str("worker_id");
    j["labels"] = json::parse(r.str("item_labels"), nullptr, false);
    j["sample_status"] = std::string(kStateKeys[std::clamp<int64_t>(r.i64("item_state"), 0, kItemRejected)]);
    if (!r.str("comment").empty()) j["review_comment"] = r.str("comment");
    if (!r.str("score").empty()) j["review_score"] = r.str("score");
    return j;
  };
  constexpr const char* kItemSelect =
      "SELECT s.*, i.worker_id, i.state AS item_state, i.labels AS item_labels, i.comment, i.score FROM task_items i "
      "JOIN samples s ON s.dataset_id = ? AND s.seq = i.seq WHERE ";

  add("GET", "/{workforce_task_id}/data-annotations/samples", "modelarts:sample:listSamples", {"obs:object:GetObject"},
      [&db, task_row, item_scope, item_json, sync_new](Context& ctx) {
        auto t = task_row(ctx);
        sync_new(t);
        store::Params p{t.str("dataset_id")};
        std::string where = item_scope(ctx, t, p);
        if (auto v = data::qp(ctx, "sample_state")) {
          auto st = state_of(*v);
          if (!st) throw bad_request("Invalid parameter sample_state: " + *v);
          where += " AND i.state = ?";
          p.push_back(int64_t(*st));
        }
        // label_name: items whose labels (stored as written, keys sorted) name it.
        if (auto v = data::qp(ctx, "label_name"); v && !v->empty()) {
          where += " AND " + store::contains_ci("i.labels");
          p.push_back(store::contains_ci_pattern("\"name\":" + json(*v).dump()));
        }
        // search_conditions (§1.4.7), ANDed, over the items' samples.
        if (auto v = data::qp(ctx, "search_conditions"); v && !v->empty()) {
          json conds = parse_json_limited(*v);
          if (!conds.is_array()) throw bad_request("Invalid parameter search_conditions: must be a JSON array");
          p.push_back(t.str("dataset_id"));
          std::string cond = "EXISTS (SELECT 1 FROM samples s WHERE s.dataset_id = ? AND s.seq = i.seq";
          for (auto& c : conds) cond += " AND (" + data::condition_sql(c, p) + ")";
          where += " AND " + cond + ")";
        }
        auto [offset, limit] = data::page(ctx, 10, 100);
        store::Params q(p.begin() + 1, p.end());  // the item filter's binds
        auto total = db.query_one("SELECT COUNT(*) AS n FROM task_items i WHERE " + where, q);
        json list = json::array();
        // The page's keys first, from the indexes alone: SQLite builds every
        // row it skips for an OFFSET, and a deep page would join thousands of
        // samples only to drop them. One labeler's items come in the order
        // of their primary key (worker, seq).
        bool one = where.find("i.worker_id = ?") != std::string::npos;
        std::string order = one ? " ORDER BY i.seq" : " ORDER BY i.seq, i.worker_id";
        std::string sql = "SELECT s.*, i.worker_id, i.state AS item_state, i.labels AS item_labels, i.comment, i.score FROM "
                          "(SELECT i.seq, i.worker_id FROM task_items i WHERE " + where + order + " LIMIT ? OFFSET ?) k "
                          "JOIN task_items i ON i.task_id = ? AND i.worker_id = k.worker_id AND i.seq = k.seq "
                          "JOIN samples s ON s.dataset_id = ? AND s.seq = i.seq" + order;
        q.push_back(limit);
        q.push_back(offset);
        q.push_back(t.str("id"));
        q.push_back(t.str("dataset_id"));
        for (auto& r : db.query(sql, q)) list.push_back(item_json(ctx, r));
        return http::json_response(200, {{"sample_count", total ? total->i64("n") : 0}, {"samples", list}});
      });
  out.back().self = member_self;

  add("GET", "/{workforce_task_id}/data-annotations/samples/{sample_id}", "modelarts:sample:getSample", {"obs:object:GetObject"},
      [&db, task_row, item_scope, item_json](Context& ctx) {
        auto t = task_row(ctx);
        int64_t seq = data::sample_seq(t.str("dataset_id"), ctx.param("sample_id"));
        store::Params p{t.str("dataset_id")};
        std::string where = item_scope(ctx, t, p) + " AND i.seq = ?";
        p.push_back(seq);
        auto rows = db.query(std::string(kItemSelect) + where + " ORDER BY i.worker_id LIMIT 1", p);
        if (rows.empty()) throw ApiError(404, "ModelArts.4343", "The sample " + ctx.param("sample_id") + " is not in your share of the task.");
        return http::json_response(200, item_json(ctx, rows[0]));
      });
  out.back().self = member_self;

  // A labeler submits annotations for their own items (§2.1.11): the labels
  // must exist in the dataset and fit its samples, as in manual annotation.
  // All or none.
  add("PUT", "/{workforce_task_id}/data-annotations/samples", "modelarts:dataset:updateWorkforceTask", {},
      [&db, task_row, me](Context& ctx) {
        auto t = task_row(ctx);
        auto m = me(ctx);
        if (m && m->role == 1) throw ApiError(403, "ModelArts.4600", "Reviewers review; labelers and managers annotate.");
        int st = int(t.i64("status"));
        if (st != kRunning && st != kRejected)
          throw ApiError(400, "ModelArts.4621", "The task does not take annotations now (status " + std::to_string(st) + ").");
        auto in = ctx.in();
        const json& samples = in.arr("samples");
        if (samples.empty()) in.fail("samples", "must hold at least one sample");
        auto d = db.query_one("SELECT * FROM datasets WHERE id = ?", {t.str("dataset_id")});
        auto defined = data::defined_labels(db, t.str("dataset_id"));
        struct Change {
          int64_t seq;
          std::string worker;
          json labels;
        };
        std::vector<Change> changes;
        for (size_t i = 0; i < samples.size(); ++i) {
          JsonIn s(samples[i], "samples[" + std::to_string(i) + "]");
          std::string sid = s.str("sample_id");
          std::string worker = m && m->role == 0 ? m->worker_id : s.opt_str("worker_id").value_or("");
          if (worker.empty()) s.fail("worker_id", "is required (whose item)");
          int64_t seq = data::sample_seq(t.str("dataset_id"), sid);
          auto row = db.query_one("SELECT s.*, i.state AS item_state FROM task_items i JOIN samples s ON s.dataset_id = ? "
                                  "AND s.seq = i.seq WHERE i.task_id = ? AND i.worker_id = ? AND i.seq = ?",
                                  {t.str("dataset_id"), t.str("id"), worker, seq});
          if (!row) throw ApiError(404, "ModelArts.4343", "The sample " + sid + " is not in the share of worker " + worker + ".");
          int ist = int(row->i64("item_state"));
          if (ist != kUnannotated && ist != kUnreviewed && ist != kItemRejected)
            throw ApiError(400, "ModelArts.4621", "The sample " + sid + " has been reviewed; it cannot change now.");
          json meta = json::parse(row->str("metadata"), nullptr, false);
          data::SampleFacts facts{int(d->i64("type")), row->i64("size"), meta.is_object() ? meta : json::object()};
          changes.push_back({seq, worker, data::checked_labels(s.has("labels") ? s.arr("labels") : json::array(), facts,
                                                               s.field("labels"), defined, ctx.caller.user_name)});
        }
        int64_t now = clock::now_ms();
        db.transaction([&] {
          for (auto& c : changes)
            db.exec("UPDATE task_items SET labels = ?, state = ?, updated_at = ? WHERE task_id = ? AND worker_id = ? AND seq = ?",
                    {c.labels.dump(), c.labels.empty() ? int(kUnannotated) : int(kUnreviewed), now, t.str("id"), c.worker, c.seq});
        });
        json results = json::array();
        for (size_t i = 0; i < changes.size(); ++i) results.push_back({{"success", true}});
        return http::json_response(200, {{"success", true}, {"results", results}});
      });
  out.back().self = member_self;

  // Reviewers pass (uncheck: awaiting the owner's acceptance) or reject
  // (back to the labeler, with the comment) labeled items (§2.1.12).
  add("POST", "/{workforce_task_id}/data-annotations/review", "modelarts:dataset:updateWorkforceTask", {},
      [&db, task_row, me](Context& ctx) {
        auto t = task_row(ctx);
        auto m = me(ctx);
        if (m && m->role == 0) throw ApiError(403, "ModelArts.4600", "Labelers do not review; reviewers and managers do.");
        auto vs = read_verdicts(ctx.in(), t.str("dataset_id"));
        for (auto& v : vs) {
          if (v.worker.empty()) throw bad_request("Invalid parameter comments: worker_id is required (whose item)");
          auto it = db.query_one("SELECT state FROM task_items WHERE task_id = ? AND worker_id = ? AND seq = ?", {t.str("id"), v.worker, v.seq});
          if (!it) throw ApiError(404, "ModelArts.4343", "No item of worker " + v.worker + " for sample " + v.sample_id + ".");
          if (it->i64("state") != kUnreviewed)
            throw ApiError(400, "ModelArts.4621", "The item of sample " + v.sample_id + " is not awaiting review.");
        }
        int64_t now = clock::now_ms();
        db.transaction([&] {
          for (auto& v : vs)
            db.exec("UPDATE task_items SET state = ?, comment = ?, score = ?, updated_at = ? WHERE task_id = ? AND worker_id = ? AND seq = ?",
                    {v.accept ? int(kUncheck) : int(kItemRejected), v.comment, v.score, now, t.str("id"), v.worker, v.seq});
        });
        return http::json_response(200, json::object());
      });
  out.back().self = member_self;

  // E-mail to the task's members (§2.1.14) through the configured SMTP
  // server: each gets the task, their share and where to sign in. The
  // result per address tells what happened; email_status and
  // last_notify_time of the member follow it.
  add("POST", "/{workforce_task_id}/notify", "modelarts:dataset:updateWorkforceTask", {}, [&db, &iam, task_row, stats_of, smtp, public_url](Context& ctx) {
    auto t = task_row(ctx);
    auto in = ctx.in();
    const json& emails = in.arr("emails");
    if (emails.empty()) in.fail("emails", "must name at least one member");
    for (auto& e : emails)
      if (!e.is_string()) in.fail("emails", "must be e-mail addresses");
    if (smtp.url.empty())
      throw ApiError(503, "ModelArts.6699", "No SMTP server is configured (smtp_url): e-mail cannot be sent.");
    std::vector<Row> members;
    for (auto& e : emails) {
      std::string a = e.get<std::string>();
      for (auto& c : a) c = char(std::tolower(static_cast<unsigned char>(c)));
      auto m = db.query_one("SELECT * FROM task_members WHERE task_id = ? AND email = ? ORDER BY role LIMIT 1", {t.str("id"), a});
      if (!m) throw ApiError(400, "ModelArts.4604", "No member of the task has the e-mail address " + e.get<std::string>() + ".");
      members.push_back(*m);
    }
    auto d = db.query_one("SELECT name FROM datasets WHERE id = ?", {t.str("dataset_id")});
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
                 "Sign in at " + public_url + "/login to work on it (task " + t.str("id") + ").\n";
      // A member the platform made has no password yet: the notice carries a
      // one-time link to choose one (valid a week; a new notice replaces it).
      if (auto ticket = iam.password_ticket(m.str("user_id")))
        msg.body += "\nYour user name is " + (iam.user_by_id(m.str("user_id")) ? iam.user_by_id(m.str("user_id"))->name : "") +
                    " (account " + ctx.caller.domain_name + "). Choose your password first: " + public_url +
                    "/login/password?ticket=" + *ticket + "\n";
      try {
        mail::send(smtp, msg);
      } catch (const std::exception& e) {
        status = 2;
        all = false;
        r = {{"success", false}, {"error_code", "ModelArts.6699"}, {"error_msg", std::string("Sending failed: ") + e.what()}};
      }
      db.exec("UPDATE task_members SET email_status = ?, notified_at = ? WHERE task_id = ? AND worker_id = ?",
              {status, now, t.str("id"), wid});
      if (status == 3) db.exec("UPDATE workers SET notified_at = ? WHERE id = ?", {now, wid});
      results.push_back(r);
    }
    return http::json_response(200, {{"success", all}, {"results", results}});
  });

  // ---------------------------------------------------------------- acceptance (§2.2)
  //
  // An acceptance samples the labeled items (labeled, reviewed or not, and
  // not yet accepted): `sampling_num` of them, or `sampling_rate` of them
  // (at least one), chosen by a hash of the acceptance id, so the choice is
  // random-looking but reproducible. The owner (or a team manager) gives a
  // verdict per sampled item with batch-comment, then ends it with status:
  // accepted labels go into the dataset as manual annotations, rejected
  // items go back to their labelers with the comments.

  auto grade = [](double avg) -> std::string {
    if (avg <= 0) return "";
    return avg >= 3.5 ? "A" : avg >= 2.5 ? "B" : avg >= 1.5 ? "C" : "D";
  };
  // CheckTaskStats of one acceptance (or of all of a task's, check == "").
  auto check_stats = [&db, grade](const std::string& task, const std::string& check) {
    std::string where = check.empty() ? "a.task_id = ?" : "a.id = ?";
    auto c = db.query_one("SELECT COUNT(*) AS sampled, SUM(CASE WHEN i.verdict IS NOT NULL THEN 1 ELSE 0 END) AS checked, "
                          "SUM(CASE WHEN i.verdict = 1 THEN 1 ELSE 0 END) AS accepted, "
                          "SUM(CASE WHEN i.verdict = 0 THEN 1 ELSE 0 END) AS rejected, "
                          "SUM(CASE i.score WHEN 'A' THEN 4 WHEN 'B' THEN 3 WHEN 'C' THEN 2 WHEN 'D' THEN 1 ELSE 0 END) AS points, "
                          "SUM(CASE WHEN i.score <> '' THEN 1 ELSE 0 END) AS scored "
                          "FROM acceptance_items i JOIN acceptances a ON a.id = i.check_id WHERE " + where + " AND a.status <> 2",
                          {check.empty() ? task : check});
    auto a = check.empty() ? db.query_one("SELECT SUM(total) AS total, SUM(sampling_num) AS num FROM acceptances WHERE task_id = ? "
                                          "AND status <> 2", {task})
                           : db.query_one("SELECT total, sampling_num AS num, sampling_rate FROM acceptances WHERE id = ?", {check});
    auto n = [](const std::optional<Row>& r, const char* k) { return r && !r->null(k) ? r->i64(k) : int64_t(0); };
    int64_t sampled = n(c, "sampled"), checked = n(c, "checked"), accepted = n(c, "accepted"), scored = n(c, "scored");
    json j = {{"task_id", check},
              {"sampling_num", n(a, "num")},
              {"total_sample_count", n(a, "total")},
              {"sampled_sample_count", sampled},
              {"checked_sample_count", checked},
              {"unchecked_sample_count", sampled - checked},
              {"accepted_sample_count", accepted},
              {"rejected_sample_count", n(c, "rejected")},
              {"pass_rate", checked ? double(accepted) / double(checked) : 0.0},
              {"score", grade(scored ? double(n(c, "points")) / double(scored) : 0)},
              {"total_score", n(c, "points")}};
    j["sampling_rate"] = a && !check.empty() && !a->null("sampling_rate") ? (*a)["sampling_rate"].f64()
                         : n(a, "total") ? double(n(a, "num")) / double(n(a, "total")) : 0.0;
    return j;
  };

  add("POST", "/{workforce_task_id}/acceptance", "modelarts:dataset:updateWorkforceTask", {}, [&db, task_row](Context& ctx) {
    auto t = task_row(ctx);
    int st = int(t.i64("status"));
    if (st == kAccepting || st == kSyncing || st == kSampling)
      throw ApiError(400, "ModelArts.4623", "An acceptance is already running for this task.");
    if (st != kRunning && st != kRejected)
      throw ApiError(400, "ModelArts.4621", "The task is not running (status " + std::to_string(st) + ").");
    auto in = ctx.in();
    if (in.has("sampling_num") == in.has("sampling_rate")) in.fail("sampling_num", "give sampling_num or sampling_rate");
    auto pool = db.query("SELECT seq, worker_id FROM task_items WHERE task_id = ? AND state IN (?, ?)",
                         {t.str("id"), int(kUnreviewed), int(kUncheck)});
    if (pool.empty()) throw ApiError(400, "ModelArts.4625", "No labeled sample awaits acceptance.");
    int64_t total = int64_t(pool.size()), num = 0;
    std::optional<double> rate;
    if (in.has("sampling_num")) {
      num = *in.opt_int("sampling_num", 1, INT64_MAX);
      if (num > total) in.fail("sampling_num", "is more than the " + std::to_string(total) + " labeled samples");
    } else {
      const json& v = in.node()["sampling_rate"];
      if (!v.is_number() || v.get<double>() <= 0 || v.get<double>() > 1) in.fail("sampling_rate", "must be in (0, 1]");
      rate = v.get<double>();
      num = std::max<int64_t>(1, std::llround(*rate * double(total)));
    }
    std::string id = ids::base62_19();
    std::vector<std::pair<std::string, size_t>> keyed;
    for (size_t i = 0; i < pool.size(); ++i)
      keyed.push_back({crypto::md5_hex(id + ":" + std::to_string(pool[i].i64("seq")) + ":" + pool[i].str("worker_id")), i});
    std::sort(keyed.begin(), keyed.end());
    int64_t now = clock::now_ms();
    db.transaction([&] {
      db.exec("INSERT INTO acceptances (id, task_id, status, sampling_num, sampling_rate, total, created_at) VALUES (?, ?, 0, ?, ?, ?, ?)",
              {id, t.str("id"), num, rate ? store::Value(*rate) : store::Value(), total, now});
      for (int64_t k = 0; k < num; ++k) {
        const Row& r = pool[keyed[size_t(k)].second];
        db.exec("INSERT INTO acceptance_items (check_id, seq, worker_id) VALUES (?, ?, ?)", {id, r.i64("seq"), r.str("worker_id")});
      }
      db.exec("UPDATE workforce_tasks SET status = ?, check_id = ?, updated_at = ? WHERE id = ?", {int(kAccepting), id, now, t.str("id")});
    });
    return http::json_response(200, {{"task_id", id}});
  });

  add("POST", "/{workforce_task_id}/acceptance/batch-comment", "modelarts:dataset:updateWorkforceTask", {},
      [&db, task_row](Context& ctx) {
        auto t = task_row(ctx);
        if (t.i64("status") != kAccepting) throw ApiError(400, "ModelArts.4621", "No acceptance is open on this task.");
        std::vector<Verdict> vs;
        for (auto& v : read_verdicts(ctx.in(), t.str("dataset_id"))) {  // no worker_id: every sampled item of the sample
          auto items = db.query("SELECT worker_id FROM acceptance_items WHERE check_id = ? AND seq = ?" +
                                    std::string(v.worker.empty() ? "" : " AND worker_id = ?"),
                                v.worker.empty() ? store::Params{t.str("check_id"), v.seq}
                                                 : store::Params{t.str("check_id"), v.seq, v.worker});
          if (items.empty()) throw ApiError(404, "ModelArts.4343", "The sample " + v.sample_id + " is not among the sampled ones.");
          for (auto& it : items) {
            vs.push_back(v);
            vs.back().worker = it.str("worker_id");
          }
        }
        db.transaction([&] {
          for (auto& v : vs)
            db.exec("UPDATE acceptance_items SET verdict = ?, comment = ?, score = ? WHERE check_id = ? AND seq = ? AND worker_id = ?",
                    {int(v.accept), v.comment, v.score, t.str("check_id"), v.seq, v.worker});
        });
        return http::json_response(200, json::object());
      });

  add("GET", "/{workforce_task_id}/acceptance/report", "modelarts:dataset:getWorkforceTask", {},
      [&db, task_row, check_stats, grade](Context& ctx) {
        auto t = task_row(ctx);
        std::string check = t.str("check_id");
        if (auto v = data::qp(ctx, "checking_task_id")) {
          if (!db.query_one("SELECT id FROM acceptances WHERE id = ? AND task_id = ?", {*v, t.str("id")}))
            throw ApiError(400, "ModelArts.4612", "The acceptance " + *v + " does not exist.");
          check = *v;
        }
        if (check.empty()) throw ApiError(400, "ModelArts.4612", "The task has had no acceptance.");
        json workers = json::array();
        for (auto& w : db.query("SELECT i.worker_id, m.email, COUNT(*) AS sampled, SUM(CASE WHEN verdict IS NOT NULL THEN 1 ELSE 0 END) "
                                "AS checked, SUM(CASE WHEN verdict = 1 THEN 1 ELSE 0 END) AS accepted, SUM(CASE WHEN verdict = 0 THEN 1 "
                                "ELSE 0 END) AS rejected, SUM(CASE score WHEN 'A' THEN 4 WHEN 'B' THEN 3 WHEN 'C' THEN 2 WHEN 'D' THEN 1 "
                                "ELSE 0 END) AS points, SUM(CASE WHEN score <> '' THEN 1 ELSE 0 END) AS scored FROM acceptance_items i "
                                "LEFT JOIN task_members m ON m.task_id = ? AND m.worker_id = i.worker_id WHERE i.check_id = ? "
                                "GROUP BY i.worker_id, m.email ORDER BY i.worker_id",
                                {t.str("id"), check})) {
          int64_t checked = w.i64("checked"), scored = w.i64("scored");
          workers.push_back({{"worker_id", w.str("worker_id")},
                             {"email", w.null("email") ? "" : w.str("email")},
                             {"sampled_sample_count", w.i64("sampled")},
                             {"checked_sample_count", checked},
                             {"accepted_sample_count", w.i64("accepted")},
                             {"rejected_sample_count", w.i64("rejected")},
                             {"pass_rate", checked ? double(w.i64("accepted")) / double(checked) : 0.0},
                             {"average_score", scored ? double(w.i64("points")) / double(scored) : 0.0},
                             {"score", grade(scored ? double(w.i64("points")) / double(scored) : 0)}});
        }
        return http::json_response(200, {{"checking_stats", check_stats(t.str("id"), check)},
                                         {"total_stats", check_stats(t.str("id"), "")},
                                         {"worker_stats", workers}});
      });

  add("PUT", "/{workforce_task_id}/acceptance/status", "modelarts:dataset:updateWorkforceTask", {},
      [&db, task_row, item_json](Context& ctx) {
        auto t = task_row(ctx);
        if (t.i64("status") != kAccepting) throw ApiError(400, "ModelArts.4621", "No acceptance is open on this task.");
        auto in = ctx.in();
        if (!in.has("action")) in.fail("action", "is required (0 to 5)");
        int action = int(*in.opt_int("action", 0, 5));
        bool overwrite = in.opt_bool("overwrite_last_result").value_or(false);
        const std::string task = t.str("id"), check = t.str("check_id"), ds = t.str("dataset_id");
        if (action == 3) {  // samples whose labelers disagree (repetition > 1)
          auto [offset, limit] = data::page(ctx, 10, 100);
          std::string conflict = "SELECT seq FROM task_items WHERE task_id = ? AND state IN (1, 2) AND seq IN (SELECT seq FROM "
                                 "acceptance_items WHERE check_id = ?) GROUP BY seq HAVING COUNT(DISTINCT labels) > 1";
          auto total = db.query_one("SELECT COUNT(*) AS n FROM (" + conflict + ") c", {task, check});
          json list = json::array();
          for (auto& r : db.query("SELECT s.*, i.worker_id, i.state AS item_state, i.labels AS item_labels, i.comment, i.score "
                                  "FROM task_items i JOIN samples s ON s.dataset_id = ? AND s.seq = i.seq WHERE i.task_id = ? AND "
                                  "i.seq IN (" + conflict + " ORDER BY seq LIMIT ? OFFSET ?) ORDER BY i.seq, i.worker_id",
                                  {ds, task, task, check, limit, offset}))
            list.push_back(item_json(ctx, r));
          return http::json_response(200, {{"sample_count", total ? total->i64("n") : 0}, {"samples", list}});
        }
        int64_t now = clock::now_ms();
        int64_t written = 0;
        db.transaction([&] {
          if (action == 2) {  // cancel: as if it never was
            db.exec("UPDATE acceptances SET status = 2, action = 2, ended_at = ? WHERE id = ?", {now, check});
            db.exec("UPDATE workforce_tasks SET status = ?, updated_at = ? WHERE id = ?", {int(kRunning), now, task});
            return;
          }
          // Every labeled item, with the verdict of this acceptance if it was sampled.
          auto items = db.query("SELECT i.seq, i.worker_id, i.labels, a.verdict, a.comment AS check_comment, "
                                "CASE WHEN a.seq IS NULL THEN 0 ELSE 1 END AS sampled FROM task_items i "
                                "LEFT JOIN acceptance_items a ON a.check_id = ? AND a.seq = i.seq AND a.worker_id = i.worker_id "
                                "WHERE i.task_id = ? AND i.state IN (?, ?) ORDER BY i.seq, i.worker_id",
                                {check, task, int(kUnreviewed), int(kUncheck)});
          data::SampleWriter w(db, ds);
          int64_t last_written = -1;
          for (auto& it : items) {
            bool judged = it.i64("sampled") && !it.null("verdict");
            bool ok = judged && it.i64("verdict") == 1, bad = judged && it.i64("verdict") == 0;
            // 0 accept all; 1 reject all; 4 all but the rejected; 5 only the accepted (the rejected go back).
            bool accept = action == 0 || (action == 4 && !bad) || (action == 5 && ok);
            bool reject = action == 1 || ((action == 4 || action == 5) && bad);
            if (reject) {
              db.exec("UPDATE task_items SET state = ?, comment = ?, updated_at = ? WHERE task_id = ? AND worker_id = ? AND seq = ?",
                      {int(kItemRejected), it.null("check_comment") ? std::string() : it.str("check_comment"), now, task,
                       it.str("worker_id"), it.i64("seq")});
              continue;
            }
            if (!accept) continue;
            db.exec("UPDATE task_items SET state = ?, updated_at = ? WHERE task_id = ? AND worker_id = ? AND seq = ?",
                    {int(kAccepted), now, task, it.str("worker_id"), it.i64("seq")});
            if (it.i64("seq") == last_written) continue;  // repetition: the first accepted labeler's labels
            auto row = db.query_one("SELECT * FROM samples WHERE dataset_id = ? AND seq = ?", {ds, it.i64("seq")});
            if (!row) continue;  // deleted from the dataset meanwhile
            if (!overwrite && row->str("state") != "UN_ANNOTATION") continue;  // keep what the dataset has
            w.relabel(*row, json::parse(it.str("labels")), nullptr, it.str("worker_id"), nullptr);
            last_written = it.i64("seq");
            ++written;
          }
          w.commit();
          auto left = db.query_one("SELECT COUNT(*) AS n FROM task_items WHERE task_id = ? AND state <> ?", {task, int(kAccepted)});
          auto back = db.query_one("SELECT COUNT(*) AS n FROM task_items WHERE task_id = ? AND state = ?", {task, int(kItemRejected)});
          int next = back && back->i64("n") > 0 ? kRejected : left && left->i64("n") == 0 ? kPassed : kRunning;
          db.exec("UPDATE acceptances SET status = 1, action = ?, ended_at = ? WHERE id = ?", {action, now, check});
          db.exec("UPDATE workforce_tasks SET status = ?, updated_at = ? WHERE id = ?", {next, now, task});
        });
        return http::json_response(200, {{"sample_count", written}, {"samples", json::array()}});
      });
  return out;
}

// A member's tasks across the project (§2.1.13): member-scoped.
std::vector<Route> member_routes(Database& db) {
  std::vector<Route> out;
  out.push_back(data::v2_route("GET", "/workforces/worker-tasks", "", {}, [&db](Context& ctx) {
    auto [offset, limit] = data::page(ctx, 10, 100);
    std::string order = order_by(ctx, {{"create_time", "t.created_at"}, {"workforce_task_name", "t.name"}}, "t.id");
    std::string where = "m.user_id = ? AND t.project_id = ?";
    store::Params p{ctx.caller.user_id, ctx.param("project_id")};
    if (auto v = data::qp(ctx, "search_content"); v && !v->empty()) {
      where += " AND " + store::contains_ci("t.name");
      p.push_back(store::contains_ci_pattern(*v));
    }
    auto total = db.query_one("SELECT COUNT(*) AS n FROM task_members m JOIN workforce_tasks t ON t.id = m.task_id JOIN datasets d ON "
                              "d.id = t.dataset_id AND d.status <> 2 WHERE " + where,
                              p);
    p.push_back(limit);
    p.push_back(offset);
    json list = json::array();
    for (auto& r : db.query("SELECT m.*, t.name, t.dataset_id, t.status, t.created_at AS tc, t.updated_at AS tu, d.type AS dtype "
                            "FROM task_members m JOIN workforce_tasks t ON t.id = m.task_id JOIN datasets d ON d.id = t.dataset_id "
                            "AND d.status <> 2 "
                            "WHERE " + where + order + " LIMIT ? OFFSET ?",
                            p)) {
      json s = json::object();
      for (auto k : kStateKeys) s[k] = 0;
      for (auto& c : db.query("SELECT state, COUNT(*) AS n FROM task_items WHERE task_id = ? AND worker_id = ? GROUP BY state",
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
  }));
  return out;
}

}  // namespace atelier::labeling
