// Long work (syncs, imports, exports, publishing) runs as tasks: a row in the
// metadata store records kind, owner, state, progress and result, and worker
// threads run the queue. A task survives a server restart: on start, work
// that was queued or running is resumed when its kind is resumable (re-running
// it is safe), and otherwise marked FAILED with the reason — never stuck.
#pragma once
#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/json.h"
#include "store/db.h"

namespace atelier::tasks {

struct Task {
  std::string id, kind, project_id, resource_id, status;  // QUEUING | RUNNING | COMPLETED | FAILED
  json params, progress, result;
  std::string error_code, error_msg;
  int64_t created_at = 0, started_at = 0, ended_at = 0;
};

// Handed to a running task.
class TaskContext {
 public:
  TaskContext(store::Database& db, const Task& t, const std::atomic<bool>& stopping)
      : db_(db), task_(t), stopping_(stopping) {}
  const Task& task() const { return task_; }
  // Records visible progress (shown by the family's status call).
  void progress(const json& p);
  // True when the server is stopping: return soon; the task resumes at the
  // next start (resumable kinds) or is failed then.
  bool stopping() const { return stopping_.load(); }

 private:
  store::Database& db_;
  const Task& task_;
  const std::atomic<bool>& stopping_;
};

// A task body returns its result; throwing ApiError fails the task with that
// code and message; any other exception fails it as an internal error.
using TaskFn = std::function<json(TaskContext&)>;

// The durable queue of long work (imports, exports, syncs, publishing):
// tasks persist in the store, run on the queue's workers, and after a
// restart resume or fail with the reason. (Training jobs and notebooks run
// through runtime::JobRunner instead.)
class Queue {
 public:
  explicit Queue(store::Database& db, int workers = 1);
  ~Queue();  // stops the workers; running tasks are left to resume
  Queue(const Queue&) = delete;
  Queue& operator=(const Queue&) = delete;

  static std::vector<store::Migration> migrations();

  // Registers the body of a kind. `resumable`: safe to run again after an
  // interruption.
  void handle(const std::string& kind, TaskFn fn, bool resumable);
  // Recovers interrupted work, then starts the workers. Call once all kinds
  // are registered.
  void start();
  // Queues a task; returns its id.
  std::string submit(const std::string& kind, const std::string& project_id, const std::string& resource_id,
                     const json& params);
  std::optional<Task> get(const std::string& id);
  // Tasks of `kind` for a resource, newest first, and how many there are.
  std::pair<std::vector<Task>, int64_t> list(const std::string& kind, const std::string& resource_id, int64_t offset,
                                             int64_t limit);
  // The newest task of `kind` for a resource.
  std::optional<Task> latest(const std::string& kind, const std::string& resource_id);
  bool active(const std::string& kind, const std::string& resource_id);  // queued or running
  // Ids of the queued or running tasks of any of `resources`, oldest first.
  std::vector<std::string> active_ids(const std::vector<std::string>& resources);

 private:
  void work();
  bool run_one();

  store::Database& db_;
  int workers_n_;
  std::map<std::string, std::pair<TaskFn, bool>> kinds_;
  std::vector<std::thread> workers_;
  std::atomic<bool> stopping_{false};
  bool wake_ = false;  // guarded by mu_: work was queued since the workers last looked
  std::mutex mu_;
  std::condition_variable cv_;
};

}  // namespace atelier::tasks
