#include "training/visualization.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "common/clock.h"
#include "common/error.h"
#include "common/ids.h"
#include "training/metrics.h"
#include "training/v1_query.h"

namespace atelier::training {

using http::Context;
using http::Response;
using http::Route;
using store::Database;
using store::Row;

namespace {

enum Status { kRunning = 8, kCompleted = 10, kStopped = 12 };
constexpr int64_t kMaxJobs = 1000;        // per project (job_count_limit)
constexpr size_t kMaxFiles = 200;         // metric files read per view
constexpr uint64_t kMaxFileBytes = 64 << 20;

ApiError missing_job(const std::string& id) {
  return ApiError(400, "ModelArts.2775", "Visualization job " + id + " does not exist.");
}

Response ok(json j) {
  j["is_success"] = true;
  return http::json_response(200, j);
}

// A running job whose scheduled stop has passed ends now (COMPLETED: it ran its time).
void apply_schedule(Database& db, Row& r) {
  int64_t now = clock::now_ms();
  if (r.i64("status") == kRunning && r.i64("stop_at") > 0 && r.i64("stop_at") <= now) {
    db.exec("UPDATE viz_jobs SET status = ?, ended_at = CASE WHEN stop_at > started_at THEN stop_at ELSE started_at END "
            "WHERE id = ? AND status = ?",
            {int(kCompleted), r.i64("id"), int(kRunning)});
    r = *db.query_one("SELECT * FROM viz_jobs WHERE id = ?", {r.i64("id")});
  }
}

json job_json(const Context& ctx, const Row& r) {
  int64_t now = clock::now_ms();
  int64_t start = r.i64("started_at"), end = r.i64("ended_at");
  bool running = r.i64("status") == kRunning;
  return {{"job_id", r.i64("id")},
          {"job_name", r.str("name")},
          {"job_desc", r.str("description")},
          {"status", r.i64("status")},
          {"create_time", r.i64("created_at")},
          {"duration", start ? (running ? now : end) - start : 0},
          {"service_url", ctx.base_url() + "/v1/" + r.str("project_id") + "/visualization-jobs/" + std::to_string(r.i64("id")) + "/view"},
          {"train_url", r.str("train_url")},
          {"resource_id", r.str("resource_id")},
          {"remaining_duration", running && r.i64("stop_at") ? json(std::max<int64_t>(0, r.i64("stop_at") - now)) : json(nullptr)},
          {"job_type", r.str("job_type")}};
}

// schedule: {type: stop, time_unit: HOURS, duration: 0..24}, or an array of one such object.
int64_t schedule_hours(const JsonIn& in) {
  if (!in.has("schedule")) return 0;
  const json& node = in.node()["schedule"];
  const json* one = &node;
  if (node.is_array()) {
    if (node.size() != 1) in.fail("schedule", "must be one object (or an array of one)");
    one = &node[0];
  }
  JsonIn s(*one, in.field("schedule"));
  s.enum_str("type", {"stop"});
  s.enum_str("time_unit", {"HOURS"});
  if (!s.has("duration")) s.fail("duration", "is required");
  return *s.opt_int("duration", 0, 24);
}

// The viewer: one SVG line chart per metric, drawn from view/data and
// redrawn every two seconds while the job runs. No outside scripts.
constexpr const char* kPage = R"HTML(<!doctype html>
<html><head><meta charset="utf-8"><title>Metrics</title>
<style>
body{font-family:sans-serif;margin:16px;color:#222}h1{font-size:18px}.chart{display:inline-block;margin:8px;border:1px solid #ddd;padding:6px}
.chart h2{font-size:14px;margin:0 0 4px}#status{color:#666;font-size:12px}svg{background:#fafafa}
</style></head><body>
<h1 id="title">Metrics</h1><div id="status">loading…</div><div id="charts"></div>
<script>
const W = 420, H = 220, P = 36;
function chart(tag, points) {
  let box = document.getElementById('chart-' + tag);
  if (!box) {
    box = document.createElement('div'); box.className = 'chart'; box.id = 'chart-' + tag;
    box.innerHTML = '<h2></h2><svg width="' + W + '" height="' + H + '"></svg>';
    box.querySelector('h2').textContent = tag;
    document.getElementById('charts').appendChild(box);
  }
  const xs = points.map(p => p[0]), ys = points.map(p => p[1]);
  const x0 = Math.min(...xs), x1 = Math.max(...xs), y0 = Math.min(...ys), y1 = Math.max(...ys);
  const sx = x => P + (x1 > x0 ? (x - x0) / (x1 - x0) : 0.5) * (W - 2 * P);
  const sy = y => H - P - (y1 > y0 ? (y - y0) / (y1 - y0) : 0.5) * (H - 2 * P);
  const d = points.map((p, i) => (i ? 'L' : 'M') + sx(p[0]).toFixed(1) + ' ' + sy(p[1]).toFixed(1)).join(' ');
  box.querySelector('svg').innerHTML =
    '<path class="line" d="' + d + '" fill="none" stroke="#1f77b4" stroke-width="1.5"/>' +
    '<text x="' + P + '" y="' + (H - 8) + '" font-size="10">step ' + x0 + '</text>' +
    '<text x="' + (W - P) + '" y="' + (H - 8) + '" font-size="10" text-anchor="end">' + x1 + '</text>' +
    '<text x="4" y="' + (P - 8) + '" font-size="10">' + y1.toPrecision(4) + '</text>' +
    '<text x="4" y="' + (H - P + 12) + '" font-size="10">' + y0.toPrecision(4) + '</text>';
  box.dataset.points = points.length;
}
async function refresh() {
  try {
    const r = await fetch('view/data', {credentials: 'same-origin'});
    const j = await r.json();
    if (!r.ok) { document.getElementById('status').textContent = j.error_message || r.status; return; }
    document.getElementById('title').textContent = j.job_name + ' — ' + j.train_url;
    for (const [tag, pts] of Object.entries(j.scalars)) chart(tag, pts);
    document.getElementById('status').textContent =
      Object.keys(j.scalars).length + ' metrics from ' + j.files.length + ' files' + (j.warnings.length ? ' — ' + j.warnings.join('; ') : '');
  } catch (e) { document.getElementById('status').textContent = 'error: ' + e; }
}
refresh(); setInterval(refresh, 2000);
</script></body></html>
)HTML";

}  // namespace

std::vector<store::Migration> visualization_migrations() {
  return {{"training/002_visualization", R"SQL(
CREATE TABLE viz_jobs (
  id BIGINT PRIMARY KEY, project_id TEXT NOT NULL, name TEXT NOT NULL, description TEXT NOT NULL,
  train_url TEXT NOT NULL, job_type TEXT NOT NULL, status INTEGER NOT NULL, schedule_hours INTEGER NOT NULL,
  resource_id TEXT NOT NULL, workspace_id TEXT NOT NULL, created_at BIGINT NOT NULL, started_at BIGINT NOT NULL,
  ended_at BIGINT NOT NULL DEFAULT 0, stop_at BIGINT NOT NULL DEFAULT 0, UNIQUE (project_id, name));
)SQL"}};
}

std::vector<Route> visualization_routes(Database& db, obs::ObjectStore& objects) {
  std::vector<Route> out;
  auto add = [&](std::string method, std::string path, std::string action, std::vector<std::string> depends,
                 http::RouteHandler h) {
    out.push_back(http::project_route(std::move(method), "/v1/{project_id}/visualization-jobs" + path, std::move(action),
                                      std::move(depends), std::move(h), http::ErrorShape::kModelArtsV1));
  };
  const std::vector<std::string> obs_deps = {"obs:bucket:HeadBucket", "obs:bucket:ListBucket", "obs:bucket:ListAllMyBuckets"};
  auto job = [&db](const Context& ctx) {
    auto r = db.query_one("SELECT * FROM viz_jobs WHERE id = ? AND project_id = ?",
                          {parse_long(ctx.param("job_id"), "job_id"), ctx.caller.project_id});
    if (!r) throw missing_job(ctx.param("job_id"));
    apply_schedule(db, *r);
    return *r;
  };

  add("POST", "", "modelarts:tensorboard:create", obs_deps, [&db](Context& ctx) {
    auto in = ctx.in();
    std::string name = in.str("job_name");
    if (name.size() > 20 || name.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") !=
                                std::string::npos)
      in.fail("job_name", "must be 1-20 of letters, digits, '_' and '-'");
    std::string desc = in.max_len("job_desc", in.opt_str("job_desc").value_or(""), 256);
    std::string raw = in.str("train_url");
    auto p = obs::parse_path(raw, "train_url");
    if (!p.key.empty() && p.key.back() != '/') p.key += '/';
    std::string type = in.has("job_type") ? in.enum_str("job_type", {"tensorboard", "mindinsight"}) : "tensorboard";
    if (in.has("flavor")) in.obj("flavor").str("code");
    int64_t hours = schedule_hours(in);
    int64_t now = clock::now_ms(), id = ids::long_id();
    char res[16];
    std::snprintf(res, sizeof res, "tb%08llx", static_cast<unsigned long long>(id & 0xffffffffULL));
    db.transaction([&] {
      if (db.query_one("SELECT id FROM viz_jobs WHERE project_id = ? AND name = ?", {ctx.caller.project_id, name}))
        throw ApiError(400, "ModelArts.0103", "Job name:" + name + " is existed");
      if (db.query_one("SELECT COUNT(*) AS n FROM viz_jobs WHERE project_id = ?", {ctx.caller.project_id})->i64("n") >= kMaxJobs)
        throw ApiError(400, "ModelArts.0105", "This project has " + std::to_string(kMaxJobs) + " visualization jobs, the most it may have.");
      db.exec("INSERT INTO viz_jobs (id, project_id, name, description, train_url, job_type, status, schedule_hours, "
              "resource_id, workspace_id, created_at, started_at, stop_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
              {id, ctx.caller.project_id, name, desc, p.str(), type, int(kRunning), hours, std::string(res),
               in.opt_str("workspace_id").value_or("0"), now, now, hours ? now + hours * 3600000 : 0});
    });
    auto r = *db.query_one("SELECT * FROM viz_jobs WHERE id = ?", {id});
    json j = job_json(ctx, r);
    return ok({{"job_id", id}, {"job_name", name}, {"status", int(kRunning)}, {"create_time", now}, {"service_url", j["service_url"]}});
  });

  add("GET", "", "modelarts:tensorboard:list", {}, [&db](Context& ctx) {
    auto [per_page, page, column, order, search] = list_query(
        ctx, {{"job_id", "id"}, {"job_name", "name"}, {"job_desc", "description"}, {"create_time", "created_at"}, {"status", "status"}},
        "asc");
    // Scheduled stops due by now are applied before the statuses are filtered.
    for (auto& r : db.query("SELECT * FROM viz_jobs WHERE project_id = ? AND status = ? AND stop_at > 0 AND stop_at <= ?",
                            {ctx.caller.project_id, int(kRunning), clock::now_ms()})) {
      Row copy = r;
      apply_schedule(db, copy);
    }
    std::string where = " WHERE project_id = ? AND workspace_id = ?";
    store::Params ps{ctx.caller.project_id, query(ctx, "workspace_id").value_or("0")};
    if (!search.empty()) {
      where += " AND name LIKE ? ESCAPE '\\'";
      ps.push_back("%" + like_escape(search) + "%");
    }
    where += status_filter(ctx, "status", ps);
    int64_t total = db.query_one("SELECT COUNT(*) AS n FROM viz_jobs" + where, ps)->i64("n");
    ps.push_back(per_page);
    ps.push_back((page - 1) * per_page);
    json jobs = json::array();
    for (auto& r : db.query("SELECT * FROM viz_jobs" + where + " ORDER BY " + column + " " + order + ", id " + order +
                                " LIMIT ? OFFSET ?",
                            ps))
      jobs.push_back(job_json(ctx, r));
    int64_t all = db.query_one("SELECT COUNT(*) AS n FROM viz_jobs WHERE project_id = ?", {ctx.caller.project_id})->i64("n");
    return ok({{"job_total_count", total}, {"job_count_limit", std::max<int64_t>(0, kMaxJobs - all)}, {"quotas", kMaxJobs},
               {"jobs", jobs}});
  });

  add("GET", "/{job_id}", "modelarts:tensorboard:get", {}, [job](Context& ctx) { return ok(job_json(ctx, job(ctx))); });

  add("PUT", "/{job_id}", "modelarts:tensorboard:update", {}, [&db, job](Context& ctx) {
    auto r = job(ctx);
    auto in = ctx.in();
    if (!in.node().contains("job_desc") || !in.node()["job_desc"].is_string()) in.fail("job_desc", "is required (a string)");
    db.exec("UPDATE viz_jobs SET description = ? WHERE id = ?",
            {in.max_len("job_desc", in.node()["job_desc"].get<std::string>(), 256), r.i64("id")});
    return ok(json::object());
  });

  add("DELETE", "/{job_id}", "modelarts:tensorboard:delete", {}, [&db, job](Context& ctx) {
    auto r = job(ctx);
    db.exec("DELETE FROM viz_jobs WHERE id = ?", {r.i64("id")});
    return ok(json::object());
  });

  add("POST", "/{job_id}/stop", "modelarts:tensorboard:stop", {}, [&db, job](Context& ctx) {
    auto r = job(ctx);
    if (r.i64("status") != kRunning)
      throw ApiError(400, "ModelArts.0105", "This job can't be stopped. job status: " + std::to_string(r.i64("status")));
    db.exec("UPDATE viz_jobs SET status = ?, ended_at = ? WHERE id = ? AND status = ?",
            {int(kStopped), clock::now_ms(), r.i64("id"), int(kRunning)});
    return ok(json::object());
  });

  add("POST", "/{job_id}/restart", "modelarts:tensorboard:restart", obs_deps, [&db, job](Context& ctx) {
    auto r = job(ctx);
    if (r.i64("status") == kRunning)
      throw ApiError(400, "ModelArts.0105", "This job can't be resubmit. job status: " + std::to_string(r.i64("status")));
    int64_t now = clock::now_ms(), hours = r.i64("schedule_hours");
    db.exec("UPDATE viz_jobs SET status = ?, started_at = ?, ended_at = 0, stop_at = ? WHERE id = ?",
            {int(kRunning), now, hours ? now + hours * 3600000 : 0, r.i64("id")});
    return ok(json::object());
  });

  // The viewer, at the job's service_url, for the callers who may get the job.
  auto running = [job](Context& ctx) {
    auto r = job(ctx);
    if (r.i64("status") != kRunning)
      throw ApiError(400, "ModelArts.0105", "The visualization job is not running (status " + std::to_string(r.i64("status")) +
                                               "): restart it to view its metrics.");
    return r;
  };
  add("GET", "/{job_id}/view", "modelarts:tensorboard:get", {}, [running](Context& ctx) {
    running(ctx);
    http::Response resp;
    resp.status = 200;
    resp.headers.add("Content-Type", "text/html;charset=UTF-8");
    resp.headers.add("Content-Security-Policy", "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'");
    resp.body = kPage;
    return resp;
  });
  add("GET", "/{job_id}/view/data", "modelarts:tensorboard:get", {}, [&objects, running](Context& ctx) {
    auto r = running(ctx);
    auto root = obs::parse_path(r.str("train_url"));
    std::vector<std::string> files;
    json warnings = json::array();
    std::vector<Scalar> scalars;
    std::string marker;
    for (;;) {
      auto page = objects.list(root.bucket, root.key, "", marker, 1000);
      for (auto& o : page.objects) {
        std::string name = o.key.substr(o.key.rfind('/') + 1);
        bool events = name.find("tfevents") != std::string::npos, lines = name.size() > 6 && name.ends_with(".jsonl");
        if (!events && !lines) continue;
        if (files.size() >= kMaxFiles) break;
        if (o.size > kMaxFileBytes) {
          warnings.push_back(o.key.substr(root.key.size()) + ": larger than 64 MB, not read");
          continue;
        }
        auto data = objects.get_all(obs::ObsPath{root.bucket, o.key});
        if (!data) continue;
        auto res = events ? read_tfevents(*data, scalars) : read_jsonl(*data, scalars);
        for (auto& w : res.warnings) warnings.push_back(o.key.substr(root.key.size()) + ": " + w);
        files.push_back(o.key.substr(root.key.size()));
      }
      if (!page.truncated || files.size() >= kMaxFiles) break;
      marker = page.next_marker;
    }
    std::map<std::string, std::vector<std::pair<int64_t, double>>> by_tag;
    for (auto& s : scalars)
      if (std::isfinite(s.value)) by_tag[s.tag].push_back({s.step, s.value});
    json tags = json::object();
    for (auto& [tag, pts] : by_tag) {
      std::stable_sort(pts.begin(), pts.end(), [](auto& a, auto& b) { return a.first < b.first; });
      json arr = json::array();
      for (auto& [step, v] : pts) arr.push_back({step, v});
      tags[tag] = arr;
    }
    return ok({{"job_name", r.str("name")}, {"train_url", r.str("train_url")}, {"files", files}, {"warnings", warnings},
               {"scalars", tags}});
  });
  return out;
}

}  // namespace atelier::training
