// Where training code runs. A JobRunner starts one prepared job, reports its
// state and stops it; the training service keeps all history in its own
// store, so a runner needs to remember nothing. Two backends: the local
// runner (a supervisor process per job, sandboxed with bubblewrap, limited by
// cgroups) and Slurm. Both hand the job to `atelier supervise`, which owns the
// job's process tree, writes its log with a line index (runtime/job_log.h)
// and records how it ended, so a job survives a restart of the server.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace atelier::runtime {

// A job ready to run: its folder holds work/ (code, data, output, as the
// sandbox sees them under /home/work) and receives log/ and the state files.
struct Launch {
  std::string name;  // unique among running jobs, e.g. "atelier-v123" (cgroup, Slurm job name)
  std::string dir;   // the job folder (host path, absolute)
  std::string log_stem;  // worker r logs to dir/log/<log_stem><r>
  // In `command`, `cwd` and `env`, "{rank}" is the worker's number and
  // "{master_addr}"/"{master_port}" where worker 0 can be reached.
  std::vector<std::string> command;  // as the job sees it (paths under /home/work)
  std::string cwd;                   // as the job sees it
  std::map<std::string, std::string> env;
  double cores = 1;
  int64_t memory_mb = 1024;
  int nodes = 1;
  bool network = false;
};

enum class Phase { kWaiting, kRunning, kExited, kLost };

struct JobState {
  Phase phase = Phase::kWaiting;
  int exit_code = 0;    // kExited: the code, or 128 + signal
  bool killed = false;  // kExited: ended by cancel()
  int64_t started_ms = 0, ended_ms = 0;
  std::string reason;   // kLost, or why it could not start
};

struct Capacity {
  double cores = 0;
  int64_t memory_mb = 0;
};

class JobRunner {
 public:
  virtual ~JobRunner() = default;
  virtual std::string name() const = 0;  // "local" | "slurm"
  virtual int max_nodes() = 0;
  // A runner with a queue of its own (Slurm) takes every job at once and
  // reports it waiting; without one the service queues jobs against its
  // configured capacity. total/free (nullopt when unknown): the cluster's
  // resources, and those idle now.
  virtual bool has_queue() const { return false; }
  virtual std::optional<Capacity> total() { return std::nullopt; }
  virtual std::optional<Capacity> free() { return std::nullopt; }
  // Starts the job; returns the handle to poll it by. Throws
  // std::runtime_error when it cannot be started.
  virtual std::string submit(const Launch& l) = 0;
  virtual JobState poll(const std::string& handle, const std::string& dir) = 0;
  // Asks the job to stop; poll() reports it ended with killed set.
  virtual void cancel(const std::string& handle, const std::string& dir) = 0;
};

// How the local runner isolates jobs. `sandbox`: use bubblewrap when it is
// installed; `run_as_uid/gid` (when the server runs as root): the job's user.
struct LocalOptions {
  std::string self_exe;  // the atelier binary (for `atelier supervise`)
  bool sandbox = true;
  int run_as_uid = 65534, run_as_gid = 65534;
};

std::unique_ptr<JobRunner> local_runner(LocalOptions o);
// A port nobody listens on now on 127.0.0.1, in 20000-31999; throws
// std::runtime_error when there is none.
uint16_t free_loopback_port();
// Eight hex digits that name this server's jobs (cgroups, Slurm job names)
// apart from another server's on the same host or cluster: made once and
// kept in `dir`/instance.
std::string instance_id(const std::string& dir);
// Jobs go to Slurm with sbatch (SLURM_CONF and the Slurm commands come from
// the environment); each runs `atelier supervise --foreground` in its
// allocation, so sandbox, limits, log and exit record are the local ones.
std::unique_ptr<JobRunner> slurm_runner(LocalOptions o, std::string partition);
bool bubblewrap_available();

// The `atelier supervise DIR` subcommand: runs the job described by
// DIR/spec.json (written by a runner). Detaches (returns once the job has
// started) unless `foreground` (Slurm runs it in the allocation).
// `slurm_rank`: one worker of a job of several nodes, the one numbered by
// SLURM_PROCID (srun starts a supervisor per node).
int supervise(const std::string& dir, bool foreground, bool slurm_rank = false);

}  // namespace atelier::runtime
