// Training jobs and their versions.
#include <algorithm>
#include <cstdio>

#include "common/clock.h"
#include "common/ids.h"
#include "training/training_impl.h"
#include "training/v1_query.h"

namespace atelier::training {

ApiError job_missing(const std::string& id) {
  return ApiError(400, "ModelArts.2775", "Training job " + id + " does not exist.");
}

int64_t Service::Impl::duration(const Row& v, int64_t now) {
  int64_t s = v.i64("started_at"), e = v.i64("ended_at");
  if (s == 0) return 0;
  return (e ? e : now) - s;
}

json Service::Impl::version_json(const Row& v, const Row& job) {
  json cfg = json::parse(v.str("config"), nullptr, false);
  if (!cfg.is_object()) cfg = json::object();
  int64_t now = clock::now_ms();
  json j = {{"job_id", job.i64("id")},
            {"job_name", job.str("name")},
            {"job_desc", job.str("description")},
            {"version_id", v.i64("id")},
            {"version_name", v.str("name")},
            {"pre_version_id", v.null("pre_version_id") ? json(nullptr) : json(v.i64("pre_version_id"))},
            {"status", v.i64("status")},
            {"create_time", v.i64("created_at")},
            {"start_time", v.i64("started_at")},
            {"duration", duration(v, now)},
            {"app_url", cfg.value("app_url", "")},
            {"boot_file_url", cfg.value("boot_file_url", "")},
            {"parameter", cfg.value("parameter", json::array())},
            {"spec_id", cfg.value("spec_id", int64_t(0))},
            {"worker_server_num", cfg.value("worker_server_num", 1)},
            {"data_url", cfg.value("data_url", "")},
            {"train_url", cfg.value("train_url", "")},
            {"log_url", cfg.value("log_url", "")},
            {"dataset_id", ""},
            {"dataset_version_id", ""},
            {"dataset_name", ""},
            {"dataset_version_name", ""},
            {"data_source", json::array()},
            {"model_id", nullptr},
            {"model_metric_list", "{}"},
            {"system_metric_list", json::object()},
            {"user_image_url", ""},
            {"user_command", ""},
            {"resource_id", v.str("resource_id")},
            {"volumes", json::array()},
            {"pool_id", ""},
            {"pool_name", ""},
            {"nas_mount_path", ""},
            {"nas_share_addr", ""},
            {"nas_type", ""}};
  if (cfg.contains("data_url"))
    j["data_source"] = json::array({{{"type", "obs"}, {"data_url", cfg["data_url"]}}});
  engine_fields(j, cfg);
  return j;
}

// ---------------------------------------------------------------- lookups

Row Service::Impl::job_of(const Context& ctx) {
  int64_t id = parse_long(ctx.param("job_id"), "job_id");
  auto j = db.query_one("SELECT * FROM train_jobs WHERE id = ? AND project_id = ?", {id, ctx.caller.project_id});
  if (!j) throw job_missing(ctx.param("job_id"));
  return *j;
}

Row Service::Impl::version_of(const Context& ctx, const Row& job) {
  int64_t id = parse_long(ctx.param("version_id"), "version_id");
  auto v = db.query_one("SELECT * FROM train_versions WHERE id = ? AND job_id = ?", {id, job.i64("id")});
  if (!v)
    throw ApiError(400, "ModelArts.2775",
                   "Version " + ctx.param("version_id") + " of training job " + job.str("name") + " does not exist.");
  return *v;
}

// ---------------------------------------------------------------- create

// Inserts a queued version of `job` with a validated config, created at
// `now` (a job's first version shares the job's time); returns its row.
Row Service::Impl::insert_version(const Row& job, const json& cfg, std::optional<int64_t> pre, int64_t now) {
  int64_t vid = ids::long_id();
  int64_t n = db.query_one("SELECT next_version FROM train_jobs WHERE id = ?", {job.i64("id")})->i64("next_version");
  char name[16];
  std::snprintf(name, sizeof name, "V%04lld", static_cast<long long>(n));
  char res[16];
  std::snprintf(res, sizeof res, "job%08llx", static_cast<unsigned long long>(vid & 0xffffffffULL));
  db.exec("UPDATE train_jobs SET next_version = ? WHERE id = ?", {n + 1, job.i64("id")});
  db.exec(
      "INSERT INTO train_versions (id, job_id, project_id, name, pre_version_id, config, status, runner, resource_id, "
      "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
      {vid, job.i64("id"), job.str("project_id"), std::string(name), pre ? store::Value(*pre) : store::Value(),
       cfg.dump(), int(kInit), runner->name(), std::string(res), now});
  return *db.query_one("SELECT * FROM train_versions WHERE id = ?", {vid});
}

json Service::Impl::created(const Row& job, const Row& v) {
  return {{"is_success", true},        {"job_id", job.i64("id")},          {"job_name", job.str("name")},
          {"status", v.i64("status")}, {"create_time", v.i64("created_at")}, {"version_id", v.i64("id")},
          {"version_name", v.str("name")}, {"resource_id", v.str("resource_id")}};
}

Response Service::Impl::ok(json j) {
  j["is_success"] = true;
  return http::json_response(200, j);
}

// Stops what runs of a deleted version; its folder goes once nothing runs.
void Service::Impl::discard(const Row& v) {
  std::string dir = job_dir(v.i64("id"));
  int st = int(v.i64("status"));
  if (!v.str("handle").empty() && !terminal(st)) runner->cancel(v.str("handle"), dir);
  std::lock_guard lk(mu);
  trash.insert(dir);
}

Response Service::Impl::create_job(Context& ctx) {
  auto in = ctx.in();
  std::string name = in.str("job_name");
  if (!valid_name(name)) in.fail("job_name", "must be 1-64 of letters, digits, '_' and '-'");
  std::string desc = in.max_len("job_desc", in.opt_str("job_desc").value_or(""), 256);
  std::string ws = in.opt_str("workspace_id").value_or("0");
  auto cin = in.obj("config");
  bool first = cin.opt_bool("create_version").value_or(true);
  json cfg = parse_config(cin.node(), "config", Mode::kJob);
  json body;
  db.transaction([&] {
    if (db.query_one("SELECT id FROM train_jobs WHERE project_id = ? AND name = ?", {ctx.caller.project_id, name}))
      throw ApiError(400, "ModelArts.0103", "Job name:" + name + " is existed");
    auto count = db.query_one("SELECT COUNT(*) AS n FROM train_jobs WHERE project_id = ?", {ctx.caller.project_id});
    if (count->i64("n") >= kMaxJobs)
      throw ApiError(400, "ModelArts.0105", "This project has " + std::to_string(kMaxJobs) + " training jobs, the most it may have.");
    int64_t id = ids::long_id();
    db.exec("INSERT INTO train_jobs (id, project_id, name, description, workspace_id, config, next_version, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, 1, ?)",
            {id, ctx.caller.project_id, name, desc, ws, cfg.dump(), clock::now_ms()});
    auto job = *db.query_one("SELECT * FROM train_jobs WHERE id = ?", {id});
    if (first) {
      body = created(job, insert_version(job, cfg, std::nullopt, job.i64("created_at")));
    } else {
      body = {{"is_success", true}, {"job_id", id}, {"job_name", name}, {"status", int(kInit)},
              {"create_time", job.i64("created_at")}, {"version_id", nullptr}, {"version_name", ""}, {"resource_id", ""}};
    }
  });
  poke();
  return http::json_response(200, body);
}

Response Service::Impl::list_jobs(Context& ctx) {
  auto [per_page, page, column, order, search] =
      list_query(ctx, {{"job_name", "j.name"}, {"job_desc", "j.description"}, {"status", "v.status"},
                       {"duration", "dur"}, {"version_count", "vc"}, {"create_time", "j.created_at"}},
                 "asc");
  std::string ws = query(ctx, "workspace_id").value_or("0");
  int64_t now = clock::now_ms();
  std::string where = " WHERE j.project_id = ? AND j.workspace_id = ?";
  store::Params ps{now, ctx.caller.project_id, ws};
  if (!search.empty()) {
    where += " AND " + store::contains_ci("j.name");
    ps.push_back(store::contains_ci_pattern(search));
  }
  where += status_filter(ctx, "v.status", ps);
  std::string from =
      " FROM train_jobs j LEFT JOIN train_versions v ON v.id = (SELECT MAX(x.id) FROM train_versions x WHERE x.job_id = j.id)";
  store::Params count_ps(ps.begin() + 1, ps.end());
  int64_t total = db.query_one("SELECT COUNT(*) AS n" + from + where, count_ps)->i64("n");
  ps.push_back(per_page);
  ps.push_back((page - 1) * per_page);
  auto rows = db.query(
      "SELECT j.id, j.name, j.description, j.created_at, v.id AS vid, v.status, v.started_at, v.ended_at, "
      "CASE WHEN v.started_at IS NULL OR v.started_at = 0 THEN 0 WHEN v.ended_at = 0 THEN ? - v.started_at "
      "ELSE v.ended_at - v.started_at END AS dur, "
      "(SELECT COUNT(*) FROM train_versions c WHERE c.job_id = j.id) AS vc" +
          from + where + " ORDER BY " + column + " " + order + ", j.id " + order + " LIMIT ? OFFSET ?",
      ps);
  json jobs = json::array();
  for (auto& r : rows)
    jobs.push_back({{"job_id", r.i64("id")},
                    {"job_name", r.str("name")},
                    {"job_desc", r.str("description")},
                    {"version_id", r.null("vid") ? json(nullptr) : json(r.i64("vid"))},
                    {"status", r.null("status") ? int(kInit) : r.i64("status")},
                    {"create_time", r.i64("created_at")},
                    {"duration", r.i64("dur")},
                    {"version_count", r.i64("vc")}});
  int64_t all = db.query_one("SELECT COUNT(*) AS n FROM train_jobs WHERE project_id = ?", {ctx.caller.project_id})->i64("n");
  return ok({{"job_total_count", total}, {"job_count_limit", std::max<int64_t>(0, kMaxJobs - all)},
             {"quotas", max_running()}, {"jobs", jobs}});
}

Response Service::Impl::update_job(Context& ctx) {
  auto job = job_of(ctx);
  auto in = ctx.in();
  if (!in.node().contains("job_desc") || !in.node()["job_desc"].is_string()) in.fail("job_desc", "is required (a string)");
  std::string desc = in.max_len("job_desc", in.node()["job_desc"].get<std::string>(), 256);
  db.exec("UPDATE train_jobs SET description = ? WHERE id = ?", {desc, job.i64("id")});
  return ok(json::object());
}

Response Service::Impl::delete_job(Context& ctx) {
  auto job = job_of(ctx);
  std::vector<Row> versions;
  db.transaction([&] {
    versions = db.query("SELECT * FROM train_versions WHERE job_id = ?", {job.i64("id")});
    db.exec("DELETE FROM train_versions WHERE job_id = ?", {job.i64("id")});
    db.exec("DELETE FROM train_jobs WHERE id = ?", {job.i64("id")});
  });
  for (auto& v : versions) discard(v);
  poke();
  return ok(json::object());
}

Response Service::Impl::create_version(Context& ctx) {
  auto job = job_of(ctx);
  auto in = ctx.in();
  auto cin = in.obj("config");
  if (!cin.has("pre_version_id")) cin.fail("pre_version_id", "is required");
  // Each version writes its own output (the parent's train_url is not inherited).
  if (!cin.has("train_url")) cin.fail("train_url", "is required for a new version");
  int64_t pre = *cin.opt_int("pre_version_id", 1, INT64_MAX);
  auto parent = db.query_one("SELECT * FROM train_versions WHERE id = ? AND job_id = ?", {pre, job.i64("id")});
  if (!parent) cin.fail("pre_version_id", std::to_string(pre) + " is not a version of training job " + job.str("name"));
  // The parent's config with the changes of this request.
  json eff = json::parse(parent->str("config"));
  for (auto& [k, v] : cin.node().items())
    if (k != "pre_version_id" && k != "create_version") eff[k] = v;
  if (cin.node().contains("data_source") && !cin.node()["data_source"].is_null()) eff.erase("data_url");
  if (cin.node().contains("data_url") && !cin.node()["data_url"].is_null()) eff.erase("data_source");
  json cfg = parse_config(eff, "config", Mode::kVersion);
  std::optional<std::string> desc;
  if (in.has("job_desc")) desc = in.max_len("job_desc", *in.opt_str("job_desc"), 256);
  json body;
  db.transaction([&] {
    if (!db.query_one("SELECT id FROM train_jobs WHERE id = ?", {job.i64("id")})) throw job_missing(ctx.param("job_id"));
    if (desc) db.exec("UPDATE train_jobs SET description = ? WHERE id = ?", {*desc, job.i64("id")});
    auto j = *db.query_one("SELECT * FROM train_jobs WHERE id = ?", {job.i64("id")});
    body = created(j, insert_version(j, cfg, pre, clock::now_ms()));
    body.erase("resource_id");
  });
  poke();
  return http::json_response(200, body);
}

Response Service::Impl::list_versions(Context& ctx) {
  auto job = job_of(ctx);
  int64_t page = query_int(ctx, "page", 0, 0, 65535);
  int64_t per_page = query_int(ctx, "per_page", 10, 1, 1000);
  std::string sql = "SELECT * FROM train_versions WHERE job_id = ? ORDER BY id DESC";
  store::Params ps{job.i64("id")};
  if (page > 0) {
    sql += " LIMIT ? OFFSET ?";
    ps.push_back(per_page);
    ps.push_back((page - 1) * per_page);
  }
  json versions = json::array();
  for (auto& v : db.query(sql, ps)) {
    versions.push_back(version_json(v, job));
    versions.back()["system_metric_list"] = "{}";  // a JSON-encoded string in lists, an object elsewhere
  }
  int64_t n = db.query_one("SELECT COUNT(*) AS n FROM train_versions WHERE job_id = ?", {job.i64("id")})->i64("n");
  return ok({{"job_id", job.i64("id")}, {"job_name", job.str("name")}, {"job_desc", job.str("description")},
             {"version_count", n}, {"versions", versions}});
}

Response Service::Impl::get_version(Context& ctx) {
  auto job = job_of(ctx);
  return ok(version_json(version_of(ctx, job), job));
}

Response Service::Impl::delete_version(Context& ctx) {
  auto job = job_of(ctx);
  auto v = version_of(ctx, job);
  db.transaction([&] {
    db.exec("DELETE FROM train_versions WHERE id = ?", {v.i64("id")});
    // The last version gone, the job goes too.
    if (!db.query_one("SELECT id FROM train_versions WHERE job_id = ? LIMIT 1", {job.i64("id")}))
      db.exec("DELETE FROM train_jobs WHERE id = ?", {job.i64("id")});
  });
  discard(v);
  poke();
  return ok(json::object());
}

Response Service::Impl::stop_version(Context& ctx) {
  auto job = job_of(ctx);
  auto v = version_of(ctx, job);
  int st = int(v.i64("status"));
  int64_t now = clock::now_ms();
  if (st == kInit || st == kWaiting) {
    // Not handed to the runner yet: it ends here (launch() stops it if it was just being staged).
    if (v.str("handle").empty() &&
        db.exec("UPDATE train_versions SET status = ?, ended_at = ?, reason = 'stopped' WHERE id = ? AND status IN (?, ?) AND handle = ''",
                {int(kKilled), now, v.i64("id"), int(kInit), int(kWaiting)}) == 1) {
      poke();
      return ok(json::object());
    }
    v = *db.query_one("SELECT * FROM train_versions WHERE id = ?", {v.i64("id")});
    st = int(v.i64("status"));
  }
  if (st == kWaiting || st == kRunning) {
    db.exec("UPDATE train_versions SET status = ? WHERE id = ? AND status = ?", {int(kKilling), v.i64("id"), st});
    runner->cancel(v.str("handle"), job_dir(v.i64("id")));
    poke();
    return ok(json::object());
  }
  throw ApiError(400, "ModelArts.0105", "This job can't be stopped. job status: " + std::to_string(st));
}

}  // namespace atelier::training
