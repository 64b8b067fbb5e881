// The files a job folder holds, shared by `atelier supervise` (which writes
// them) and the runners (which read them). All are small JSON documents,
// replaced atomically:
//   spec.json        what to run (written by the runner before the start)
//   supervisor.json  {pid, start}: the supervisor process, `start` from
//                    /proc/<pid>/stat so a reused pid is not mistaken for it
//   running.json     {pid, started_at, limits, cgroups}: the job has started
//   exit.json        {exit_code, killed, started_at, ended_at, reason}: it ended
// A job of several nodes has a supervisor per worker; worker r > 0 keeps its
// state in supervisor.r.json, running.r.json and exit.r.json.
#pragma once
#include <cstdint>
#include <optional>
#include <string>

#include "common/json.h"
#include "runtime/runner.h"

namespace atelier::runtime {

// Writes dir/spec.json for `l` (the sandboxed command line when bubblewrap
// is used) and gives the work folder to the job's user.
void write_job_spec(const Launch& l, const LocalOptions& o);
// What the files say of the job: ended (exit.json), running, starting (a
// live supervisor); nullopt when the supervisor is gone without a record.
// `slurm_job`: only files written within that Slurm job count (an earlier
// submission's supervisor may still write into the folder).
std::optional<JobState> state_from_files(const std::string& dir, const std::string& slurm_job = "");

void write_json_file(const std::string& path, const json& j);  // atomic; throws std::runtime_error
std::optional<json> read_json_file(const std::string& path);   // nullopt when missing or unreadable
// The start time of a process in clock ticks since boot; 0 when it does not exist.
uint64_t process_start(int pid);
// The state file `base` ("supervisor", "running", "exit") of worker `rank`.
std::string state_file(const std::string& dir, const char* base, int rank);
// Workers of the job in `dir` (spec.json's "nodes"; 1 when unknown).
int job_workers(const std::string& dir);
// True when the supervisor of worker `rank` (-1: of any worker) still runs.
// A supervisor on another machine (Slurm) cannot be looked up here: it
// counts as alive when `elsewhere_alive`.
bool supervisor_alive(const std::string& dir, int rank = -1, bool elsewhere_alive = false);
// Kills every process of a worker (its cgroups and its process group) with
// SIGKILL, from its running file; rank -1: of every worker. `own_child`: the
// caller is the supervisor, whose reaped child's group id cannot have been
// reused yet.
void kill_job_tree(const std::string& dir, int rank = -1, bool own_child = false);
// Removes the cgroups a supervisor that is gone (LOST) left behind.
void remove_job_cgroups(const std::string& dir);

}  // namespace atelier::runtime
