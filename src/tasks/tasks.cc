#include "tasks/tasks.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "common/clock.h"
#include "common/error.h"
#include "common/ids.h"

namespace atelier::tasks {

std::vector<store::Migration> Queue::migrations() {
  return {{"tasks/001_init", R"SQL(
CREATE TABLE tasks (
  id TEXT PRIMARY KEY, kind TEXT NOT NULL, project_id TEXT NOT NULL, resource_id TEXT NOT NULL,
  status TEXT NOT NULL, params TEXT NOT NULL, progress TEXT NOT NULL DEFAULT '{}', result TEXT NOT NULL DEFAULT '{}',
  error_code TEXT NOT NULL DEFAULT '', error_msg TEXT NOT NULL DEFAULT '',
  created_at BIGINT NOT NULL, started_at BIGINT NOT NULL DEFAULT 0, ended_at BIGINT NOT NULL DEFAULT 0);
CREATE INDEX tasks_resource ON tasks (kind, resource_id, created_at);
CREATE INDEX tasks_status ON tasks (status, created_at);
)SQL"}};
}

static Task task_from(const store::Row& r) {
  Task t;
  t.id = r.str("id");
  t.kind = r.str("kind");
  t.project_id = r.str("project_id");
  t.resource_id = r.str("resource_id");
  t.status = r.str("status");
  t.params = json::parse(r.str("params"), nullptr, false);
  t.progress = json::parse(r.str("progress"), nullptr, false);
  t.result = json::parse(r.str("result"), nullptr, false);
  t.error_code = r.str("error_code");
  t.error_msg = r.str("error_msg");
  t.created_at = r.i64("created_at");
  t.started_at = r.i64("started_at");
  t.ended_at = r.i64("ended_at");
  return t;
}

void TaskContext::progress(const json& p) {
  db_.exec("UPDATE tasks SET progress = ? WHERE id = ?", {p.dump(), task_.id});
}

Queue::Queue(store::Database& db, int workers) : db_(db), workers_n_(std::max(1, workers)) {}

Queue::~Queue() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& t : workers_) t.join();
}

void Queue::handle(const std::string& kind, TaskFn fn, bool resumable) { kinds_[kind] = {std::move(fn), resumable}; }

void Queue::start() {
  // Work a previous process left behind.
  for (auto& r : db_.query("SELECT id, kind FROM tasks WHERE status IN ('QUEUING', 'RUNNING')")) {
    auto k = kinds_.find(r.str("kind"));
    if (k != kinds_.end() && k->second.second) {
      db_.exec("UPDATE tasks SET status = 'QUEUING' WHERE id = ?", {r.str("id")});
    } else {
      db_.exec("UPDATE tasks SET status = 'FAILED', error_code = 'ModelArts.0010', "
               "error_msg = 'The task was interrupted by a server restart and cannot be resumed.', ended_at = ? WHERE id = ?",
               {clock::now_ms(), r.str("id")});
    }
  }
  for (int i = 0; i < workers_n_; ++i) workers_.emplace_back([this] { work(); });
}

std::string Queue::submit(const std::string& kind, const std::string& project_id, const std::string& resource_id,
                           const json& params) {
  std::string id = ids::base62_19();
  db_.exec("INSERT INTO tasks (id, kind, project_id, resource_id, status, params, created_at) VALUES (?, ?, ?, ?, 'QUEUING', ?, ?)",
           {id, kind, project_id, resource_id, params.dump(), clock::now_ms()});
  {
    std::lock_guard<std::mutex> l(mu_);
    wake_ = true;
  }
  cv_.notify_one();
  return id;
}

std::optional<Task> Queue::get(const std::string& id) {
  auto r = db_.query_one("SELECT * FROM tasks WHERE id = ?", {id});
  if (!r) return std::nullopt;
  return task_from(*r);
}

std::pair<std::vector<Task>, int64_t> Queue::list(const std::string& kind, const std::string& resource_id,
                                                   int64_t offset, int64_t limit) {
  std::vector<Task> out;
  int64_t total = 0;
  db_.snapshot([&] {
    total = db_.query_one("SELECT COUNT(*) AS n FROM tasks WHERE kind = ? AND resource_id = ?", {kind, resource_id})->i64("n");
    for (auto& r : db_.query("SELECT * FROM tasks WHERE kind = ? AND resource_id = ? ORDER BY created_at DESC, id DESC "
                             "LIMIT ? OFFSET ?",
                             {kind, resource_id, limit, offset}))
      out.push_back(task_from(r));
  });
  return {std::move(out), total};
}

std::optional<Task> Queue::latest(const std::string& kind, const std::string& resource_id) {
  auto r = db_.query_one("SELECT * FROM tasks WHERE kind = ? AND resource_id = ? ORDER BY created_at DESC, id DESC LIMIT 1",
                         {kind, resource_id});
  if (!r) return std::nullopt;
  return task_from(*r);
}

bool Queue::active(const std::string& kind, const std::string& resource_id) {
  return bool(db_.query_one("SELECT 1 FROM tasks WHERE kind = ? AND resource_id = ? AND status IN ('QUEUING', 'RUNNING')",
                            {kind, resource_id}));
}

std::vector<std::string> Queue::active_ids(const std::vector<std::string>& resources) {
  std::vector<std::string> out;
  for (auto& r : db_.query("SELECT id, resource_id FROM tasks WHERE status IN ('QUEUING', 'RUNNING') ORDER BY created_at, id"))
    if (std::find(resources.begin(), resources.end(), r.str("resource_id")) != resources.end()) out.push_back(r.str("id"));
  return out;
}

void Queue::work() {
  while (!stopping_) {
    {
      std::lock_guard<std::mutex> l(mu_);
      wake_ = false;  // whatever was queued before this point, run_one will see
    }
    bool did = false;
    try {
      did = run_one();
    } catch (const std::exception& e) {
      spdlog::error("task queue: {}", e.what());
    }
    if (did) continue;
    std::unique_lock<std::mutex> l(mu_);
    // Also wake now and then: another process may have queued work.
    cv_.wait_for(l, std::chrono::milliseconds(500), [this] { return stopping_.load() || wake_; });
  }
}

bool Queue::run_one() {
  auto r = db_.query_one("SELECT * FROM tasks WHERE status = 'QUEUING' ORDER BY created_at, id LIMIT 1");
  if (!r) return false;
  Task t = task_from(*r);
  // Claim it; another worker may have been quicker.
  if (db_.exec("UPDATE tasks SET status = 'RUNNING', started_at = ? WHERE id = ? AND status = 'QUEUING'",
               {clock::now_ms(), t.id}) == 0)
    return true;
  t.status = "RUNNING";
  auto k = kinds_.find(t.kind);
  auto fail = [&](const std::string& code, const std::string& msg) {
    db_.exec("UPDATE tasks SET status = 'FAILED', error_code = ?, error_msg = ?, ended_at = ? WHERE id = ?",
             {code, msg, clock::now_ms(), t.id});
  };
  if (k == kinds_.end()) {
    fail("ModelArts.0010", "No worker knows task kind " + t.kind + ".");
    return true;
  }
  TaskContext ctx(db_, t, stopping_);
  try {
    json result = k->second.first(ctx);
    if (stopping_) return true;  // left RUNNING: resumed or failed at the next start
    db_.exec("UPDATE tasks SET status = 'COMPLETED', result = ?, ended_at = ? WHERE id = ?",
             {result.dump(), clock::now_ms(), t.id});
  } catch (const ApiError& e) {
    fail(e.code(), e.what());
  } catch (const std::exception& e) {
    spdlog::error("task {} ({}) failed: {}", t.id, t.kind, e.what());
    fail("ModelArts.0010", std::string("Internal error: ") + e.what());
  }
  return true;
}

}  // namespace atelier::tasks
