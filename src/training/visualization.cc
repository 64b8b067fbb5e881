#include "training/visualization.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <mutex>

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
constexpr size_t kMaxPoints = 1000;         // per metric in view/data
constexpr size_t kCachedJobs = 16;         // jobs whose metrics stay parsed between views

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
    const r = await fetch(location.pathname.replace(/\/+$/, '') + '/data', {credentials: 'same-origin'});
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

// The scalars read so far from each metric file of the jobs being viewed,
// so that a view every two seconds reads only what changed: a file with
// the same size and time is not read again, a file that grew (the job
// appends) is parsed from where the last read ended, any other change is
// read anew. Keeps the kCachedJobs jobs viewed last.
class MetricsCache {
 public:
  struct File {
    uint64_t size = 0;
    int64_t mtime = 0;
    size_t end = 0;  // where the last complete record ends
    bool events = false;
    std::vector<Scalar> scalars;
    std::vector<std::string> warnings;
  };
  using Files = std::map<std::string, std::shared_ptr<const File>>;  // by name under train_url
  struct View {
    Files files;
    std::vector<std::string> skipped;  // files not read, with the reason
  };

  // The metric files under `root` (event files and *.jsonl, at most
  // kMaxFiles of at most kMaxFileBytes each), brought up to date.
  View read(obs::ObjectStore& objects, int64_t job, const obs::ObsPath& root) {
    Files before;
    {
      std::lock_guard lock(mu_);
      auto& e = jobs_[job];
      e.used = ++clock_;
      before = e.files;
      if (jobs_.size() > kCachedJobs)
        jobs_.erase(std::min_element(jobs_.begin(), jobs_.end(), [](auto& a, auto& b) { return a.second.used < b.second.used; }));
    }
    Files now;
    std::vector<std::string> skipped;
    std::string marker;
    for (;;) {
      auto page = objects.list(root.bucket, root.key, "", marker, 1000);
      for (auto& o : page.objects) {
        std::string name = o.key.substr(o.key.rfind('/') + 1), rel = o.key.substr(root.key.size());
        bool events = name.find("tfevents") != std::string::npos, lines = name.size() > 6 && name.ends_with(".jsonl");
        if (!events && !lines) continue;
        if (now.size() >= kMaxFiles) break;
        if (o.size > kMaxFileBytes) {
          skipped.push_back(rel + ": larger than 64 MB, not read");
          continue;
        }
        auto it = before.find(rel);
        if (it != before.end() && it->second->size == o.size && it->second->mtime == o.mtime_ms) {
          now[rel] = it->second;  // unchanged
          continue;
        }
        auto data = objects.get_all(obs::ObsPath{root.bucket, o.key});
        if (!data) continue;
        auto f = std::make_shared<File>();
        f->size = data->size();
        f->mtime = o.mtime_ms;
        f->events = events;
        if (it != before.end() && data->size() > it->second->size) {  // appended to: parse the new part only
          *f = *it->second;
          f->size = data->size();
          f->mtime = o.mtime_ms;
        }
        std::string_view tail = std::string_view(*data).substr(f->end);
        auto res = events ? read_tfevents(tail, f->scalars) : read_jsonl(tail, f->scalars);
        f->end += res.end;
        for (auto& w : res.warnings)
          if (f->warnings.size() < 10) f->warnings.push_back(w);
        now[rel] = std::move(f);
      }
      if (!page.truncated || now.size() >= kMaxFiles) break;
      marker = page.next_marker;
    }
    std::lock_guard lock(mu_);
    jobs_[job].files = now;
    return {std::move(now), std::move(skipped)};
  }

 private:
  struct Job {
    uint64_t used = 0;
    Files files;
  };
  std::mutex mu_;
  uint64_t clock_ = 0;
  std::map<int64_t, Job> jobs_;
};

}  // namespace

std::vector<store::Migration> visualization::migrations() {
  return {{"training/002_visualization", R"SQL(
CREATE TABLE viz_jobs (
  id BIGINT PRIMARY KEY, project_id TEXT NOT NULL, name TEXT NOT NULL, description TEXT NOT NULL,
  train_url TEXT NOT NULL, job_type TEXT NOT NULL, status INTEGER NOT NULL, schedule_hours INTEGER NOT NULL,
  resource_id TEXT NOT NULL, workspace_id TEXT NOT NULL, created_at BIGINT NOT NULL, started_at BIGINT NOT NULL,
  ended_at BIGINT NOT NULL DEFAULT 0, stop_at BIGINT NOT NULL DEFAULT 0, UNIQUE (project_id, name));
)SQL"}};
}

namespace {

// The handlers of visualization jobs and of their viewer.
class VisualizationApi {
 public:
  VisualizationApi(Database& db, obs::ObjectStore& objects, TensorBoards& boards)
      : db_(db), objects_(objects), boards_(boards) {}

  Response create(Context& ctx);      // a new job, running at once
  Response list(Context& ctx);        // a page of the project's jobs
  Response get(Context& ctx);         // one job
  Response update(Context& ctx);      // its description
  Response remove(Context& ctx);      // the job, and its TensorBoard
  Response stop(Context& ctx);        // a running job
  Response restart(Context& ctx);     // a stopped or completed job
  Response view(Context& ctx);        // service_url: TensorBoard, or the built-in page
  Response view_below(Context& ctx);  // what TensorBoard's page fetches
  Response view_data(Context& ctx);   // the built-in page's metrics

 private:
  Row job(const Context& ctx);
  Row running(Context& ctx);
  Response tensorboard(Context& ctx, const Row& r);

  Database& db_;
  obs::ObjectStore& objects_;
  TensorBoards& boards_;
  MetricsCache cache_;
};

}  // namespace

std::vector<Route> visualization::routes(Database& db, obs::ObjectStore& objects, TensorBoards& boards) {
  using A = VisualizationApi;
  auto api = std::make_shared<A>(db, objects, boards);
  auto h = [&api](Response (A::*fn)(Context&)) { return http::handler(api, fn); };
  const std::vector<std::string> obs = {"obs:bucket:HeadBucket", "obs:bucket:ListBucket", "obs:bucket:ListAllMyBuckets"};
  const std::string get = "modelarts:tensorboard:get";
  const bool browser = true;  // opened in a browser (sign-in at /login)
  return http::route_table("/v1/{project_id}/visualization-jobs", http::ErrorShape::kModelArtsV1, {
      {"POST", "", "modelarts:tensorboard:create", obs, h(&A::create)},
      {"GET", "", "modelarts:tensorboard:list", {}, h(&A::list)},
      {"GET", "/{job_id}", get, {}, h(&A::get)},
      {"PUT", "/{job_id}", "modelarts:tensorboard:update", {}, h(&A::update)},
      {"DELETE", "/{job_id}", "modelarts:tensorboard:delete", {}, h(&A::remove)},
      {"POST", "/{job_id}/stop", "modelarts:tensorboard:stop", {}, h(&A::stop)},
      {"POST", "/{job_id}/restart", "modelarts:tensorboard:restart", obs, h(&A::restart)},
      {"GET", "/{job_id}/view", get, {}, h(&A::view), browser},
      {"GET", "/{job_id}/view/{path+}", get, {}, h(&A::view_below), browser},
      {"POST", "/{job_id}/view/{path+}", get, {}, h(&A::view_below), browser},
      {"GET", "/{job_id}/view/data", get, {}, h(&A::view_data), browser},
  });
}

Row VisualizationApi::job(const Context& ctx) {
  auto r = db_.query_one("SELECT * FROM viz_jobs WHERE id = ? AND project_id = ?",
                         {parse_long(ctx.param("job_id"), "job_id"), ctx.caller.project_id});
  if (!r) throw missing_job(ctx.param("job_id"));
  apply_schedule(db_, *r);
  return *r;
}

Response VisualizationApi::create(Context& ctx) {
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
  db_.transaction([&] {
    if (db_.query_one("SELECT id FROM viz_jobs WHERE project_id = ? AND name = ?", {ctx.caller.project_id, name}))
      throw ApiError(400, "ModelArts.0103", "Job name:" + name + " is existed");
    if (db_.query_one("SELECT COUNT(*) AS n FROM viz_jobs WHERE project_id = ?", {ctx.caller.project_id})->i64("n") >= kMaxJobs)
      throw ApiError(400, "ModelArts.0105", "This project has " + std::to_string(kMaxJobs) + " visualization jobs, the most it may have.");
    db_.exec("INSERT INTO viz_jobs (id, project_id, name, description, train_url, job_type, status, schedule_hours, "
             "resource_id, workspace_id, created_at, started_at, stop_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
             {id, ctx.caller.project_id, name, desc, p.str(), type, int(kRunning), hours, std::string(res),
              in.opt_str("workspace_id").value_or("0"), now, now, hours ? now + hours * 3600000 : 0});
  });
  auto r = *db_.query_one("SELECT * FROM viz_jobs WHERE id = ?", {id});
  json j = job_json(ctx, r);
  return ok({{"job_id", id}, {"job_name", name}, {"status", int(kRunning)}, {"create_time", now}, {"service_url", j["service_url"]}});
}

Response VisualizationApi::list(Context& ctx) {
  auto [per_page, page, column, order, search] = list_query(
      ctx, {{"job_id", "id"}, {"job_name", "name"}, {"job_desc", "description"}, {"create_time", "created_at"}, {"status", "status"}},
      "asc");
  // Scheduled stops due by now are applied before the statuses are filtered.
  for (auto& r : db_.query("SELECT * FROM viz_jobs WHERE project_id = ? AND status = ? AND stop_at > 0 AND stop_at <= ?",
                           {ctx.caller.project_id, int(kRunning), clock::now_ms()})) {
    Row copy = r;
    apply_schedule(db_, copy);
  }
  std::string where = " WHERE project_id = ? AND workspace_id = ?";
  store::Params ps{ctx.caller.project_id, query(ctx, "workspace_id").value_or("0")};
  if (!search.empty()) {
    where += " AND " + store::contains_ci("name");
    ps.push_back(store::contains_ci_pattern(search));
  }
  where += status_filter(ctx, "status", ps);
  int64_t total = db_.query_one("SELECT COUNT(*) AS n FROM viz_jobs" + where, ps)->i64("n");
  ps.push_back(per_page);
  ps.push_back((page - 1) * per_page);
  json jobs = json::array();
  for (auto& r : db_.query("SELECT * FROM viz_jobs" + where + " ORDER BY " + column + " " + order + ", id " + order +
                               " LIMIT ? OFFSET ?",
                           ps))
    jobs.push_back(job_json(ctx, r));
  int64_t all = db_.query_one("SELECT COUNT(*) AS n FROM viz_jobs WHERE project_id = ?", {ctx.caller.project_id})->i64("n");
  return ok({{"job_total_count", total}, {"job_count_limit", std::max<int64_t>(0, kMaxJobs - all)}, {"quotas", kMaxJobs},
             {"jobs", jobs}});
}

Response VisualizationApi::get(Context& ctx) { return ok(job_json(ctx, job(ctx))); }

Response VisualizationApi::update(Context& ctx) {
  auto r = job(ctx);
  auto in = ctx.in();
  if (!in.node().contains("job_desc") || !in.node()["job_desc"].is_string()) in.fail("job_desc", "is required (a string)");
  db_.exec("UPDATE viz_jobs SET description = ? WHERE id = ?",
           {in.max_len("job_desc", in.node()["job_desc"].get<std::string>(), 256), r.i64("id")});
  return ok(json::object());
}

Response VisualizationApi::remove(Context& ctx) {
  auto r = job(ctx);
  db_.exec("DELETE FROM viz_jobs WHERE id = ?", {r.i64("id")});
  boards_.stop(r.i64("id"));
  return ok(json::object());
}

Response VisualizationApi::stop(Context& ctx) {
  auto r = job(ctx);
  if (r.i64("status") != kRunning)
    throw ApiError(400, "ModelArts.0105", "This job can't be stopped. job status: " + std::to_string(r.i64("status")));
  db_.exec("UPDATE viz_jobs SET status = ?, ended_at = ? WHERE id = ? AND status = ?",
           {int(kStopped), clock::now_ms(), r.i64("id"), int(kRunning)});
  boards_.stop(r.i64("id"));
  return ok(json::object());
}

Response VisualizationApi::restart(Context& ctx) {
  auto r = job(ctx);
  if (r.i64("status") == kRunning)
    throw ApiError(400, "ModelArts.0105", "This job can't be resubmit. job status: " + std::to_string(r.i64("status")));
  int64_t now = clock::now_ms(), hours = r.i64("schedule_hours");
  db_.exec("UPDATE viz_jobs SET status = ?, started_at = ?, ended_at = 0, stop_at = ? WHERE id = ?",
           {int(kRunning), now, hours ? now + hours * 3600000 : 0, r.i64("id")});
  return ok(json::object());
}

// The viewer, at the job's service_url, for the callers who may get the
// job: TensorBoard when the host has it (every path below view/ goes to it,
// but view/data), else the built-in page.
Row VisualizationApi::running(Context& ctx) {
  auto r = job(ctx);
  if (r.i64("status") != kRunning) {
    boards_.stop(r.i64("id"));  // stopped, or its schedule ended it
    throw ApiError(400, "ModelArts.0105", "The visualization job is not running (status " + std::to_string(r.i64("status")) +
                                             "): restart it to view its metrics.");
  }
  return r;
}

Response VisualizationApi::tensorboard(Context& ctx, const Row& r) {
  std::string prefix = "/v1/" + r.str("project_id") + "/visualization-jobs/" + std::to_string(r.i64("id")) + "/view";
  auto up = std::make_shared<http::Upstream>();
  up->host = "127.0.0.1";
  up->port = boards_.port(r.i64("id"), prefix, obs::parse_path(r.str("train_url")));
  up->target = ctx.req.target;
  up->headers = http::headers_for_upstream(ctx.req);
  http::Response resp;
  resp.upstream = std::move(up);
  return resp;
}

Response VisualizationApi::view(Context& ctx) {
  auto r = running(ctx);
  if (!boards_.executable().empty()) return tensorboard(ctx, r);
  http::Response resp;
  resp.status = 200;
  resp.headers.add("Content-Type", "text/html;charset=UTF-8");
  resp.headers.add("Content-Security-Policy", "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'");
  resp.body = kPage;
  return resp;
}

Response VisualizationApi::view_below(Context& ctx) {
  auto r = running(ctx);
  if (boards_.executable().empty())
    throw ApiError(404, "APIGW.0101", "The API does not exist or has not been published: " + ctx.req.method + " " + ctx.req.path);
  return tensorboard(ctx, r);
}

Response VisualizationApi::view_data(Context& ctx) {
  auto r = running(ctx);
  auto root = obs::parse_path(r.str("train_url"));
  auto view = cache_.read(objects_, r.i64("id"), root);
  std::map<std::string, std::vector<std::pair<int64_t, double>>> by_tag;
  json names = json::array(), warnings = json::array();
  for (auto& [name, f] : view.files) {
    names.push_back(name);
    for (auto& w : f->warnings) warnings.push_back(name + ": " + w);
    for (auto& sc : f->scalars)
      if (std::isfinite(sc.value)) by_tag[sc.tag].push_back({sc.step, sc.value});
  }
  for (auto& w : view.skipped) warnings.push_back(w);
  json tags = json::object(), counts = json::object();
  for (auto& [tag, pts] : by_tag) {
    std::stable_sort(pts.begin(), pts.end(), [](auto& a, auto& b) { return a.first < b.first; });
    // Long series are thinned evenly to kMaxPoints, first and last kept
    // (a chart is a few hundred pixels wide; TensorBoard samples too).
    json arr = json::array();
    size_t n = pts.size(), shown = std::min(n, kMaxPoints);
    for (size_t i = 0; i < shown; ++i) {
      auto& [step, v] = pts[shown < 2 ? i : i * (n - 1) / (shown - 1)];
      arr.push_back({step, v});
    }
    tags[tag] = std::move(arr);
    counts[tag] = n;
  }
  return ok({{"job_name", r.str("name")}, {"train_url", r.str("train_url")}, {"files", names}, {"warnings", warnings},
             {"scalars", tags}, {"counts", counts}});
}

}  // namespace atelier::training
