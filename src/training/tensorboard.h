// TensorBoard processes for running visualization jobs, used when the host
// has a `tensorboard` executable (Debian ships none, so the
// built-in viewer serves otherwise). Each job gets one process on a free
// localhost port, started on the first view and served under the job's
// service_url (--path_prefix). The process reads a local mirror of the job's
// train_url: the event files are copied from the object store (local or S3
// alike) when they changed, at most every two seconds while someone views.
#pragma once
#include <sys/types.h>

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "obs/object_store.h"

namespace atelier::training {

class TensorBoards {
 public:
  // `executable`: a path, or a name looked up in PATH; "" turns TensorBoard
  // off. `dir`: where mirrors and process logs go.
  TensorBoards(obs::ObjectStore& objects, std::string dir, const std::string& executable);
  ~TensorBoards();  // stops every process
  TensorBoards(const TensorBoards&) = delete;
  TensorBoards& operator=(const TensorBoards&) = delete;

  // The absolute path of the executable, "" when there is none.
  const std::string& executable() const { return exe_; }

  // The port of job `id`'s process serving `train_url` under `prefix`,
  // started when not running, with the mirror brought up to date. Throws
  // ApiError 503 when the process does not come up.
  uint16_t port(int64_t id, const std::string& prefix, const obs::ObsPath& train_url);
  // Stops job `id`'s process, if any, and removes its mirror.
  void stop(int64_t id);
  // The pid of job `id`'s process, for tests and status; nullopt when none.
  std::optional<pid_t> pid(int64_t id);

 private:
  struct Process;
  void sync(Process& p, const obs::ObsPath& train_url);
  void start(Process& p, int64_t id, const std::string& prefix);
  static void terminate(Process& p);
  void stop_idle(int64_t now);

  obs::ObjectStore& objects_;
  std::string dir_, exe_;
  std::mutex mu_;  // guards procs_; each Process has its own lock for start and sync
  std::map<int64_t, std::shared_ptr<Process>> procs_;
};

}  // namespace atelier::training
