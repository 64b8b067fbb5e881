// The local runner: each job gets its own `atelier supervise` process, which
// outlives the server. The job runs inside bubblewrap when it is installed:
// read-only system folders, a private /tmp, the job folder's work/ as the
// only writable place, its own pid/ipc/uts/network
// namespaces (the network is shared only when configured). As root the job
// runs as an unprivileged user, so nothing root-only on the host is readable;
// the supervisor shows it the work folder without the data dir above it.
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <stdexcept>

#include "runtime/job_files.h"
#include "runtime/runner.h"

namespace fs = std::filesystem;

namespace atelier::runtime {

namespace {

constexpr const char* kBwrap = "/usr/bin/bwrap";
constexpr const char* kInside = "/home/work";

// A path as the job sees it without the sandbox: the supervisor puts the
// work folder's place for "{workdir}".
std::string outside(std::string s) {
  for (size_t at = 0; (at = s.find(kInside, at)) != std::string::npos;) {
    s.replace(at, std::strlen(kInside), "{workdir}");
    at += 9;
  }
  return s;
}

void chown_tree(const std::string& root, int uid, int gid) {
  std::error_code ec;
  ::lchown(root.c_str(), uid_t(uid), gid_t(gid));
  for (auto it = fs::recursive_directory_iterator(root, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec))
    ::lchown(it->path().c_str(), uid_t(uid), gid_t(gid));
}

}  // namespace

void write_job_spec(const Launch& l, const LocalOptions& o) {
  std::string work = l.dir + "/work";
  fs::create_directories(l.dir + "/log");
  json spec = {{"name", l.name},
               {"log_stem", l.dir + "/log/" + l.log_stem},
               {"nodes", l.nodes},
               {"cores", l.cores},
               {"memory_mb", l.memory_mb},
               {"pids_max", 4096}};
  if (::geteuid() == 0) {
    spec["uid"] = o.run_as_uid;
    spec["gid"] = o.run_as_gid;
    chown_tree(work, o.run_as_uid, o.run_as_gid);
  }
  if (o.sandbox && bubblewrap_available()) {
    std::vector<std::string> a = {kBwrap, "--unshare-all"};
    if (l.network) a.push_back("--share-net");
    for (const char* s : {"--die-with-parent", "--new-session"}) a.push_back(s);
    a.insert(a.end(), {"--ro-bind", "/usr", "/usr", "--ro-bind", "/etc", "/etc"});
    for (const char* d : {"/bin", "/sbin", "/lib", "/lib64", "/lib32", "/libx32"}) {
      struct stat st {};
      if (::lstat(d, &st) != 0) continue;
      if (S_ISLNK(st.st_mode)) {
        std::error_code ec;
        auto target = fs::read_symlink(d, ec);
        if (!ec) a.insert(a.end(), {"--symlink", target.string(), d});
      } else if (S_ISDIR(st.st_mode)) {
        a.insert(a.end(), {"--ro-bind", d, d});
      }
    }
    a.insert(a.end(), {"--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "--tmpfs", "/home", "--bind",
                       "{workdir}", kInside, "--chdir", l.cwd, "--"});
    a.insert(a.end(), l.command.begin(), l.command.end());
    spec["argv"] = a;
    // The job's environment is bubblewrap's own (the supervisor gives it no
    // other), never --setenv: a command line is readable by every user of
    // the host, and the environment may hold secrets (a notebook's token).
    json env = json::object({{"PATH", "/usr/bin:/bin"}});
    for (auto& [k, v] : l.env) env[k] = v;
    spec["env"] = env;
    spec["cwd"] = "/";
    spec["workdir"] = work;
  } else {
    // No bubblewrap: the same command on the host, its paths mapped onto the job folder.
    std::vector<std::string> a;
    for (auto& c : l.command) a.push_back(outside(c));
    spec["argv"] = a;
    json env = json::object();
    for (auto& [k, v] : l.env) env[k] = outside(v);
    spec["env"] = env;
    spec["cwd"] = outside(l.cwd);
    spec["workdir"] = work;
  }
  write_json_file(l.dir + "/spec.json", spec);
}

namespace {

class LocalRunner : public JobRunner {
 public:
  explicit LocalRunner(LocalOptions o) : o_(std::move(o)) {
  }
  std::string name() const override { return "local"; }
  int max_nodes() override { return 1; }

  std::string submit(const Launch& l) override {
    write_job_spec(l, o_);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addclosefrom_np(&fa, 3);
    std::vector<std::string> args = {o_.self_exe, "supervise", l.dir};
    std::vector<char*> av;
    for (auto& s : args) av.push_back(s.data());
    av.push_back(nullptr);
    pid_t pid = 0;
    // Not the server's environment: it may hold the admin password or the master key.
    char path[] = "PATH=/usr/sbin:/usr/bin:/sbin:/bin";
    char* env[] = {path, nullptr};
    int rc = ::posix_spawn(&pid, o_.self_exe.c_str(), &fa, nullptr, av.data(), env);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) throw std::runtime_error("cannot start the supervisor: " + std::string(std::strerror(rc)));
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    // A failed start is recorded in exit.json by the supervisor; poll() reports it.
    return l.dir;
  }

  JobState poll(const std::string& handle, const std::string& dir) override {
    if (auto s = state_from_files(dir)) return *s;
    JobState s;
    s.phase = Phase::kLost;
    s.reason = "the job's supervisor ended without recording how the job ended (was the machine restarted?)";
    return s;
  }

  void cancel(const std::string& handle, const std::string& dir) override {
    if (supervisor_alive(dir, 0)) {
      auto s = read_json_file(state_file(dir, "supervisor", 0));
      ::kill(s->value("pid", 0), SIGTERM);
    } else {
      kill_job_tree(dir);
    }
  }

 private:
  LocalOptions o_;
};

}  // namespace

std::optional<JobState> state_from_files(const std::string& dir, const std::string& slurm_job) {
  auto read = [&](const char* base, int r) -> std::optional<json> {
    auto j = read_json_file(state_file(dir, base, r));
    if (!j || !j->is_object()) return std::nullopt;
    if (!slurm_job.empty() && j->value("slurm_job", "") != slurm_job) return std::nullopt;  // an earlier submission's
    return j;
  };
  // Every worker ended: the job ended (with the first failure of a worker
  // that was not killed, else the first failure); one running: it runs.
  JobState s;
  int n = job_workers(dir);
  bool all_ended = true, any_running = false, any_unaccounted = false, all_killed = true;
  int first_failure = 0, first_kill = 0;
  std::string reason;
  for (int r = 0; r < n; ++r) {
    auto e = read("exit", r);
    bool alive = !e && read("supervisor", r) && supervisor_alive(dir, r, true);
    if (!e && !alive) e = read("exit", r);  // it ended just now
    if (e) {
      int code = e->value("exit_code", 1);
      bool killed = e->value("killed", false);
      all_killed = all_killed && killed;
      if (code != 0 && !killed && !first_failure) first_failure = code, reason = e->value("reason", "");
      if (code != 0 && killed && !first_kill) first_kill = code;
      int64_t st = e->value("started_at", int64_t(0)), en = e->value("ended_at", int64_t(0));
      if (st && (!s.started_ms || st < s.started_ms)) s.started_ms = st;
      s.ended_ms = std::max(s.ended_ms, en);
      if (reason.empty() && killed) reason = e->value("reason", "");
      continue;
    }
    all_ended = false;
    if (!alive) {
      any_unaccounted = true;
      continue;
    }
    if (auto run = read("running", r)) {
      any_running = true;
      int64_t st = run->value("started_at", int64_t(0));
      if (st && (!s.started_ms || st < s.started_ms)) s.started_ms = st;
    }
  }
  if (all_ended) {
    s.phase = Phase::kExited;
    s.killed = all_killed;
    s.exit_code = first_failure ? first_failure : first_kill;
    s.reason = reason;
    return s;
  }
  if (any_unaccounted && !any_running) return std::nullopt;
  s.phase = any_running ? Phase::kRunning : Phase::kWaiting;
  s.ended_ms = 0;
  return s;
}

bool bubblewrap_available() { return ::access(kBwrap, X_OK) == 0; }

std::unique_ptr<JobRunner> local_runner(LocalOptions o) { return std::make_unique<LocalRunner>(std::move(o)); }

}  // namespace atelier::runtime
