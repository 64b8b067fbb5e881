// The files a job folder holds, shared by `atelier supervise` (which writes
// them) and the runners (which read them). All are small JSON documents,
// replaced atomically:
//   spec.json        what to run (written by the runner before the start)
//   supervisor.json  {pid, start}: the supervisor process, `start` from
//                    /proc/<pid>/stat so a reused pid is not mistaken for it
//   running.json     {pid, started_at, limits, cgroups}: the job has started
//   exit.json        {exit_code, killed, started_at, ended_at, reason}: it ended
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
std::optional<JobState> state_from_files(const std::string& dir);

void write_json_file(const std::string& path, const json& j);  // atomic; throws std::runtime_error
std::optional<json> read_json_file(const std::string& path);   // nullopt when missing or unreadable
// The start time of a process in clock ticks since boot; 0 when it does not exist.
uint64_t process_start(int pid);
// True when the supervisor recorded in `dir` is still running.
bool supervisor_alive(const std::string& dir);
// Kills every process of the job recorded in dir/running.json (its cgroups
// and its process group) with SIGKILL. `own_child`: the caller is the
// supervisor, whose reaped child's group id cannot have been reused yet.
void kill_job_tree(const std::string& dir, bool own_child = false);

}  // namespace atelier::runtime
