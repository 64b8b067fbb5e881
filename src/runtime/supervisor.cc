// `atelier supervise DIR`: the parent of one job's process tree. It starts
// the command of DIR/spec.json in fresh cgroups (cgroup v1 memory/cpu/pids
// for limits and a v2 group for a reliable kill; rlimits when cgroups cannot
// be made), as the job's user, pumps its output into the indexed log, stops
// the whole tree on SIGTERM, and records how the job ended. It outlives the
// server, which re-attaches through the files of job_files.h.
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <sys/mount.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <map>
#include <fstream>
#include <sstream>
#include <thread>

#include "common/clock.h"
#include "runtime/job_files.h"
#include "runtime/job_log.h"
#include "runtime/runner.h"

namespace atelier::runtime {

namespace {

volatile sig_atomic_t g_stop = 0;
void on_term(int) { g_stop = 1; }

bool write_file(const std::string& path, const std::string& text) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  bool ok = ::write(fd, text.data(), text.size()) == ssize_t(text.size());
  ::close(fd);
  return ok;
}

// "/sys/fs/cgroup/<controller><own path>" for each v1 controller we limit,
// and the v2 (unified) group, from /proc/self/cgroup.
struct CgroupRoots {
  std::map<std::string, std::string> v1;  // controller -> folder of our own group
  std::string v2;                          // folder of our own v2 group ("" when none)
};

CgroupRoots own_cgroups() {
  CgroupRoots r;
  std::ifstream in("/proc/self/cgroup");
  std::string line;
  while (std::getline(in, line)) {
    auto a = line.find(':'), b = line.find(':', a + 1);
    if (a == std::string::npos || b == std::string::npos) continue;
    std::string ctrls = line.substr(a + 1, b - a - 1), path = line.substr(b + 1);
    if (path == "/") path.clear();
    if (ctrls.empty()) {
      for (const char* base : {"/sys/fs/cgroup/unified", "/sys/fs/cgroup"})
        if (::access((std::string(base) + "/cgroup.procs").c_str(), W_OK) == 0 &&
            ::access((std::string(base) + path + "/cgroup.procs").c_str(), F_OK) == 0) {
          r.v2 = base + path;
          break;
        }
      continue;
    }
    std::stringstream ss(ctrls);
    std::string c;
    while (std::getline(ss, c, ','))
      if (c == "memory" || c == "cpu" || c == "pids") {
        std::string dir = "/sys/fs/cgroup/" + c + path;
        if (::access(dir.c_str(), W_OK) == 0) r.v1[c] = dir;
      }
  }
  return r;
}

// Makes the job's groups and sets the limits. Returns the folders made; empty
// when the machine gives us no cgroups (then rlimits apply).
std::vector<std::string> make_cgroups(const std::string& name, double cores, int64_t memory_mb, int64_t pids_max,
                                      std::string& how) {
  std::vector<std::string> made;
  auto roots = own_cgroups();
  uint64_t mem = uint64_t(memory_mb) << 20;
  auto mk = [&](const std::string& parent) -> std::string {
    std::string d = parent + "/" + name;
    if (::mkdir(d.c_str(), 0755) != 0 && errno != EEXIST) return "";
    made.push_back(d);
    return d;
  };
  bool mem_ok = false, cpu_ok = false;
  if (auto it = roots.v1.find("memory"); it != roots.v1.end()) {
    if (auto d = mk(it->second); !d.empty()) {
      mem_ok = write_file(d + "/memory.limit_in_bytes", std::to_string(mem));
      write_file(d + "/memory.memsw.limit_in_bytes", std::to_string(mem));  // no swap beyond the limit
    }
  }
  if (auto it = roots.v1.find("cpu"); it != roots.v1.end()) {
    if (auto d = mk(it->second); !d.empty()) {
      write_file(d + "/cpu.cfs_period_us", "100000");
      cpu_ok = write_file(d + "/cpu.cfs_quota_us", std::to_string(int64_t(cores * 100000)));
    }
  }
  if (auto it = roots.v1.find("pids"); it != roots.v1.end()) {
    if (auto d = mk(it->second); !d.empty()) write_file(d + "/pids.max", std::to_string(pids_max));
  }
  if (!roots.v2.empty()) {
    if (auto d = mk(roots.v2); !d.empty()) {
      // A pure cgroup v2 machine limits here; on a hybrid one these files are absent.
      if (::access((d + "/memory.max").c_str(), F_OK) == 0) mem_ok = write_file(d + "/memory.max", std::to_string(mem));
      if (::access((d + "/cpu.max").c_str(), F_OK) == 0)
        cpu_ok = write_file(d + "/cpu.max", std::to_string(int64_t(cores * 100000)) + " 100000");
      if (::access((d + "/pids.max").c_str(), F_OK) == 0) write_file(d + "/pids.max", std::to_string(pids_max));
    }
  }
  how = std::string(mem_ok ? "memory:cgroup" : "memory:rlimit") + (cpu_ok ? " cpu:cgroup" : " cpu:none");
  return made;
}

void remove_cgroups(const std::vector<std::string>& dirs) {
  for (int attempt = 0; attempt < 50; ++attempt) {
    bool left = false;
    for (auto& d : dirs)
      if (::rmdir(d.c_str()) != 0 && errno != ENOENT) left = true;
    if (!left) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // the kernel is still tearing the tree down
  }
}

json load_spec(const std::string& dir) {
  auto spec = read_json_file(dir + "/spec.json");
  if (!spec || !spec->is_object()) throw std::runtime_error("no readable spec.json in " + dir);
  return *spec;
}

}  // namespace

void write_json_file(const std::string& path, const json& j) {
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << j.dump();
    if (!out) throw std::runtime_error("cannot write " + tmp);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) throw std::runtime_error("cannot rename " + tmp + ": " + std::strerror(errno));
}

std::optional<json> read_json_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::stringstream ss;
  ss << in.rdbuf();
  json j = json::parse(ss.str(), nullptr, false);
  if (j.is_discarded()) return std::nullopt;
  return j;
}

uint64_t process_start(int pid) {
  if (pid <= 0) return 0;
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto p = s.rfind(')');
  if (p == std::string::npos) return 0;
  std::stringstream ss(s.substr(p + 2));
  std::string field;
  // Fields after the command start at 3 (state); starttime is field 22.
  for (int i = 3; i <= 22; ++i)
    if (!(ss >> field)) return 0;
  if (s.substr(p + 2, 1) == "Z") return 0;  // a zombie is gone for our purposes
  return std::strtoull(field.c_str(), nullptr, 10);
}

std::string state_file(const std::string& dir, const char* base, int rank) {
  return dir + "/" + base + (rank > 0 ? "." + std::to_string(rank) : std::string()) + ".json";
}

int job_workers(const std::string& dir) {
  auto spec = read_json_file(dir + "/spec.json");
  int n = spec && spec->is_object() ? spec->value("nodes", 1) : 1;
  return std::clamp(n, 1, 1024);
}

namespace {
std::string this_host() {
  char h[256] = {0};
  ::gethostname(h, sizeof h - 1);
  return h;
}
}  // namespace

bool supervisor_alive(const std::string& dir, int rank, bool elsewhere_alive) {
  if (rank < 0) {
    for (int r = 0, n = job_workers(dir); r < n; ++r)
      if (supervisor_alive(dir, r, elsewhere_alive)) return true;
    return false;
  }
  auto s = read_json_file(state_file(dir, "supervisor", rank));
  if (!s || !s->is_object()) return false;
  if (s->value("host", this_host()) != this_host()) return elsewhere_alive;
  uint64_t start = process_start(s->value("pid", 0));
  return start != 0 && start == s->value("start", uint64_t(0));
}

namespace {
void kill_tree(const std::vector<std::string>& cgroups, int pid);
}  // namespace

void kill_job_tree(const std::string& dir, int rank, bool own_child) {
  if (rank < 0) {
    for (int r = 0, n = job_workers(dir); r < n; ++r) kill_job_tree(dir, r, own_child);
    return;
  }
  auto r = read_json_file(state_file(dir, "running", rank));
  if (!r || !r->is_object()) return;
  std::vector<std::string> cgroups;
  for (auto& cg : r->value("cgroups", json::array()))
    if (cg.is_string()) cgroups.push_back(cg.get<std::string>());
  int pid = r->value("pid", 0);
  bool same = pid > 0 && (own_child || process_start(pid) == r->value("start", uint64_t(0)));
  kill_tree(cgroups, same ? pid : 0);
}

namespace {
// SIGKILL to every process of the job: its cgroups and the process group of `pid` (0: none).
void kill_tree(const std::vector<std::string>& cgroups, int pid) {
  for (auto& d : cgroups) {
    if (::access((d + "/cgroup.kill").c_str(), F_OK) == 0) {
      write_file(d + "/cgroup.kill", "1");
    } else if (d.find("/pids/") != std::string::npos || d.find("/memory/") != std::string::npos) {
      std::ifstream procs(d + "/cgroup.procs");
      int p;
      while (procs >> p) ::kill(p, SIGKILL);
    }
  }
  if (pid > 0) {
    ::kill(-pid, SIGKILL);
    ::kill(pid, SIGKILL);
  }
}
}  // namespace

void remove_job_cgroups(const std::string& dir) {
  std::vector<std::string> dirs;
  for (int r = 0, n = job_workers(dir); r < n; ++r)
    if (auto run = read_json_file(state_file(dir, "running", r)); run && run->is_object())
      for (auto& cg : run->value("cgroups", json::array()))
        if (cg.is_string() && cg.get<std::string>().rfind("/sys/fs/cgroup/", 0) == 0) dirs.push_back(cg.get<std::string>());
  remove_cgroups(dirs);
}

namespace {

// One worker's supervision (rank `rank` of the job in `dir`) and what its
// phases learn about the job.
struct Supervision {
  std::string dir;
  bool foreground = false;
  int rank = 0;
  std::string slurm_job;  // which submission wrote the files
  int report = -1;        // the pipe the starting process waits on; -1 once told
  int64_t begun = 0;      // the start recorded for a job that never ran
  json spec;
  std::string limits;  // how the limits apply, e.g. "memory:cgroup cpu:none"
  std::vector<std::string> cgroups;
  std::optional<JobLogWriter> log;

  // Tells the starting process, once, whether the job runs ('1') or not ('0').
  void tell(char c) {
    if (report >= 0) {
      (void)!::write(report, &c, 1);
      ::close(report);
      report = -1;
    }
  }

  // Records that the job could not run, for `why`, and tells the starting
  // process so; returns the supervisor's exit code.
  int fail(const std::string& why) {
    try {
      write_json_file(state_file(dir, "exit", rank),
                      {{"exit_code", 127}, {"killed", false}, {"started_at", begun}, {"ended_at", clock::now_ms()},
                       {"reason", why}, {"slurm_job", slurm_job}});
    } catch (...) {
    }
    tell('0');
    return 1;
  }
};

// Leaves the server's state behind (inherited descriptors, blocked signals)
// and, unless `foreground`, goes on in a child of a session of its own while
// the parent waits for the child's report. Returns the exit code of a
// process that is done (the parent, or a failure); nullopt in the process
// that supervises, with `report` set to the pipe it reports through.
std::optional<int> detach(bool foreground, int& report) {
  // Nothing of the server (listening sockets, the database) may stay open here.
  ::close_range(3, ~0U, 0);
  // The server blocks SIGTERM in its threads; a spawned process inherits that.
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return 1;
  if (!foreground) {
    pid_t p = ::fork();
    if (p < 0) return 1;
    if (p > 0) {
      ::close(fds[1]);
      char c = 0;
      while (::read(fds[0], &c, 1) < 0 && errno == EINTR) {
      }
      return c == '1' ? 0 : 1;
    }
    ::setsid();
    int null = ::open("/dev/null", O_RDWR);
    if (null >= 0) {
      ::dup2(null, 0), ::dup2(null, 1), ::dup2(null, 2);
      if (null > 2) ::close(null);
    }
  }
  ::close(fds[0]);
  report = fds[1];
  return std::nullopt;
}

// Which worker this is: its rank (SLURM_PROCID with `slurm_rank`), the Slurm
// submission it belongs to (in the foreground), and when supervision began.
void identify(Supervision& s, bool slurm_rank) {
  const char* sj = std::getenv("SLURM_JOB_ID");
  s.slurm_job = s.foreground && sj ? sj : "";
  if (slurm_rank) {
    const char* id = std::getenv("SLURM_PROCID");
    s.rank = id ? std::atoi(id) : 0;
  }
  s.begun = clock::now_ms();
}

// Reads spec.json and records this supervisor in supervisor.json, then
// opens the job's log and makes its cgroups. Returns why it failed, if it did.
std::optional<std::string> prepare(Supervision& s) {
  try {
    s.spec = load_spec(s.dir);
    write_json_file(state_file(s.dir, "supervisor", s.rank), {{"pid", ::getpid()},
                                                              {"start", process_start(::getpid())},
                                                              {"host", this_host()},
                                                              {"slurm_job", s.slurm_job}});
  } catch (const std::exception& e) {
    return e.what();
  }
  // Several workers of one job may share a machine: each has its own groups.
  std::string name = s.spec.value("name", "atelier-job") + "-" + std::to_string(s.rank);
  try {
    s.log.emplace(s.spec.at("log_stem").get<std::string>() + std::to_string(s.rank));
    s.cgroups = make_cgroups(name, s.spec.value("cores", 1.0), s.spec.value("memory_mb", int64_t(1024)),
                             s.spec.value("pids_max", int64_t(4096)), s.limits);
  } catch (const std::exception& e) {
    return std::string("cannot prepare the job: ") + e.what();
  }
  return std::nullopt;
}

// SIGTERM and SIGINT stop the job (through g_stop); a closed pipe is no reason to end.
void catch_stop_signals() {
  struct sigaction sa {};
  sa.sa_handler = on_term;
  ::sigaction(SIGTERM, &sa, nullptr);
  ::sigaction(SIGINT, &sa, nullptr);
  ::signal(SIGPIPE, SIG_IGN);
}

// The job's user may not be able to reach the work folder through the data
// dir above it (mode 0700). Then the job's own mount namespace shows the
// folder, and nothing above it, here.
constexpr const char* kPortal = "/tmp/atelier-work";

// What the job runs, as spec.json describes it with its placeholders filled in.
struct JobCommand {
  std::vector<std::string> argv, envs;
  std::string cwd, workdir;
  bool portal = false;  // the job sees workdir at kPortal
  int uid = -1, gid = -1;
};

JobCommand job_command(const json& spec, int rank) {
  JobCommand c;
  c.uid = spec.value("uid", -1), c.gid = spec.value("gid", -1);
  c.workdir = spec.value("workdir", "");
  c.portal = c.uid >= 0 && !c.workdir.empty();
  // "{workdir}" in the command, its environment and cwd: where the job sees the folder.
  // Worker 0 is reached at the address of the node that started the workers
  // (srun), on a port chosen by the Slurm job id.
  const char* launch_ip = std::getenv("SLURM_LAUNCH_NODE_IPADDR");
  const char* job_id = std::getenv("SLURM_JOB_ID");
  std::map<std::string, std::string> vars = {
      {"{workdir}", c.portal ? kPortal : c.workdir},
      {"{rank}", std::to_string(rank)},
      {"{master_addr}", launch_ip ? launch_ip : "127.0.0.1"},
      {"{master_port}", std::to_string(20000 + (job_id ? std::atoi(job_id) % 10000 : 0))}};
  auto place = [&](std::string s) {
    for (auto& [k, v] : vars)
      for (size_t at = 0; (at = s.find(k, at)) != std::string::npos; at += v.size()) s.replace(at, k.size(), v);
    return s;
  };
  for (auto& a : spec.at("argv")) c.argv.push_back(place(a.get<std::string>()));
  json env = spec.value("env", json::object());
  for (auto& [k, v] : env.items()) c.envs.push_back(k + "=" + place(v.get<std::string>()));
  c.cwd = place(spec.value("cwd", "/"));
  return c;
}

// Ends the job's process before its exec: `what` and errno's text go to
// `err`, where the supervisor reads them as the reason.
[[noreturn]] void die_in_job(int err, const std::string& what) {
  std::string m = what + ": " + std::strerror(errno);
  (void)!::write(err, m.data(), m.size());
  ::_exit(127);
}

// The job's process after fork: joins the cgroups (or takes an RLIMIT_DATA
// of `mem` bytes when `rlimit_mem`), shows the work folder at kPortal when
// asked, starts its own session with its output into `out` and runs the
// command as the job's user. Any failure goes to `err` and ends it with 127.
[[noreturn]] void run_job(const Supervision& s, const JobCommand& cmd, char* const* av, char* const* ev, int out, int err,
                          bool rlimit_mem, rlim_t mem) {
  auto die = [err](const std::string& what) { die_in_job(err, what); };
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  ::sigaction(SIGTERM, &dfl, nullptr);
  ::sigaction(SIGINT, &dfl, nullptr);
  ::signal(SIGPIPE, SIG_DFL);
  for (auto& d : s.cgroups)
    if (!write_file(d + "/cgroup.procs", "0")) die("cannot join " + d);
  if (rlimit_mem) {
    // No memory cgroup: RLIMIT_DATA bounds the heap (RLIMIT_AS would also
    // count the address space that libraries merely reserve).
    struct rlimit rl {mem, mem};
    ::setrlimit(RLIMIT_DATA, &rl);
  }
  if (cmd.portal) {
    if (::unshare(CLONE_NEWNS) != 0 || ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0)
      die("cannot make the job's mount namespace");
    // Opened in the new namespace and held across the tmpfs mount, which may hide its path.
    int fd = ::open(cmd.workdir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
    std::string src = "/proc/self/fd/" + std::to_string(fd);
    if (fd < 0 || ::mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=64k") != 0 || ::mkdir(kPortal, 0755) != 0 ||
        ::mount(src.c_str(), kPortal, nullptr, MS_BIND | MS_REC, nullptr) != 0)
      die("cannot show the work folder to the job");
    ::close(fd);
  }
  ::setsid();
  ::dup2(out, 1);
  ::dup2(out, 2);
  int null = ::open("/dev/null", O_RDONLY);
  if (null >= 0) ::dup2(null, 0);
  if (cmd.gid >= 0 && (::setgroups(0, nullptr) != 0 || ::setgid(gid_t(cmd.gid)) != 0)) die("cannot switch group");
  if (cmd.uid >= 0 && ::setuid(uid_t(cmd.uid)) != 0) die("cannot switch user");
  if (::chdir(cmd.cwd.c_str()) != 0) die("cannot enter " + cmd.cwd);
  ::execve(av[0], av, ev);
  die_in_job(err, "cannot run " + cmd.argv[0]);
}

// Forks the job's process (run_job); returns its pid, -1 when fork failed.
pid_t spawn(const Supervision& s, JobCommand& cmd, int out, int err) {
  std::vector<char*> av, ev;
  for (auto& a : cmd.argv) av.push_back(a.data());
  av.push_back(nullptr);
  for (auto& e : cmd.envs) ev.push_back(e.data());
  ev.push_back(nullptr);
  bool rlimit_mem = s.limits.find("memory:rlimit") != std::string::npos;
  rlim_t mem = rlim_t(s.spec.value("memory_mb", int64_t(1024))) << 20;
  pid_t job = ::fork();
  if (job == 0) run_job(s, cmd, av.data(), ev.data(), out, err, rlimit_mem, mem);
  return job;
}

// What the job's process wrote to `err` before its exec succeeded (the pipe
// closes on exec): "" when it runs.
std::string exec_failure(int err) {
  std::string exec_error;
  char buf[512];
  ssize_t r;
  while ((r = ::read(err, buf, sizeof buf)) > 0 || (r < 0 && errno == EINTR))
    if (r > 0) exec_error.append(buf, size_t(r));
  ::close(err);
  return exec_error;
}

// How the job's process ended.
struct JobEnd {
  bool killed = false;  // stopped by a signal to the supervisor
  int status = 0;       // of waitpid
};

// Pumps the job's output into its log until the job has exited and its
// output is closed -- or, should an escaped process hold it open, 2 s after
// the exit. A stop signal kills the whole tree, and so does the job's exit.
JobEnd watch(Supervision& s, pid_t job, int out) {
  JobEnd end;
  bool exited = false, eof = false;
  int64_t exited_at = 0;
  char buf[1 << 16];
  ::fcntl(out, F_SETFL, O_NONBLOCK);
  while (!(exited && eof)) {
    // From what this supervisor knows, not from the files: its folder may be gone.
    if (g_stop && !end.killed) {
      end.killed = true;
      kill_tree(s.cgroups, job);
    }
    if (!exited) {
      pid_t w = ::waitpid(job, &end.status, WNOHANG);
      if (w == job) {
        exited = true;
        exited_at = clock::now_ms();
        // The job is over: whatever it left running goes with it.
        kill_tree(s.cgroups, job);
      }
    }
    // A process that escaped the kill may hold the output open: stop
    // reading it a little after the job has ended.
    if (exited && !eof && clock::now_ms() - exited_at > 2000) eof = true;
    if (!eof) {
      struct pollfd pfd {out, POLLIN, 0};
      ::poll(&pfd, 1, exited ? 50 : 200);
      for (;;) {
        ssize_t r = ::read(out, buf, sizeof buf);
        if (r > 0) {
          try {
            s.log->append(std::string_view(buf, size_t(r)));
          } catch (...) {
          }
          continue;
        }
        if (r == 0) eof = true;
        break;
      }
    } else if (!exited) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  return end;
}

// Why the job ended: its exec failure, a stop, a signal, or its memory
// limit (which wins over the others but a stop); "" for a plain exit.
std::string end_reason(const Supervision& s, const std::string& exec_error, const JobEnd& end) {
  std::string reason;
  if (!exec_error.empty()) {
    reason = exec_error;
  } else if (end.killed) {
    reason = "stopped";
  } else if (WIFSIGNALED(end.status)) {
    reason = std::string("killed by signal ") + strsignal(WTERMSIG(end.status));
  }
  for (auto& d : s.cgroups) {
    if (end.killed) break;
    std::ifstream oom(d + "/memory.oom_control");
    std::string key;
    int64_t n = 0;
    while (oom >> key >> n)
      if (key == "oom_kill" && n > 0)
        reason = "out of memory: the job used more than the " + std::to_string(s.spec.value("memory_mb", int64_t(0))) +
                 " MB of its resource spec";
  }
  return reason;
}

// Ends the log with why and how the job ended, removes its cgroups and
// records exit.json; returns the supervisor's exit code.
int finish(Supervision& s, const std::string& exec_error, const JobEnd& end, int64_t started) {
  int code = WIFEXITED(end.status) ? WEXITSTATUS(end.status) : WIFSIGNALED(end.status) ? 128 + WTERMSIG(end.status) : 1;
  std::string reason = end_reason(s, exec_error, end);
  s.log->finish();  // the job's unterminated last line stays a line of its own
  if (!exec_error.empty()) s.log->append("[atelier] " + exec_error + "\n");
  else if (!reason.empty()) s.log->append("[atelier] " + reason + "\n");
  s.log->append("[atelier] exit code " + std::to_string(code) + "\n");
  s.log->finish();
  s.log.reset();
  remove_cgroups(s.cgroups);
  try {
    write_json_file(state_file(s.dir, "exit", s.rank), {{"exit_code", code},
                                                        {"killed", end.killed},
                                                        {"started_at", started},
                                                        {"ended_at", clock::now_ms()},
                                                        {"reason", reason},
                                                        {"slurm_job", s.slurm_job}});
  } catch (...) {
    return 1;
  }
  // In an allocation the job's code is the step's: Slurm's accounting shows
  // it, and srun --kill-on-bad-exit stops the other workers of a failed one.
  return s.foreground ? std::min(code, 255) : 0;
}

}  // namespace

int supervise(const std::string& dir, bool foreground, bool slurm_rank) {
  Supervision s;
  s.dir = dir;
  s.foreground = foreground;
  if (auto code = detach(foreground, s.report)) return *code;
  identify(s, slurm_rank);
  if (auto why = prepare(s)) return s.fail(*why);
  catch_stop_signals();

  int out[2], err[2];
  if (::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0) return s.fail("pipe failed");
  JobCommand cmd = job_command(s.spec, s.rank);
  pid_t job = spawn(s, cmd, out[1], err[1]);
  if (job < 0) return s.fail("fork failed");
  ::close(out[1]);
  ::close(err[1]);
  std::string exec_error = exec_failure(err[0]);
  int64_t started = clock::now_ms();
  try {
    write_json_file(state_file(dir, "running", s.rank), {{"pid", job},
                                                         {"start", process_start(job)},
                                                         {"started_at", started},
                                                         {"limits", s.limits},
                                                         {"cgroups", s.cgroups},
                                                         {"slurm_job", s.slurm_job}});
  } catch (...) {
  }
  s.tell(exec_error.empty() ? '1' : '0');

  JobEnd end = watch(s, job, out[0]);
  ::close(out[0]);
  return finish(s, exec_error, end, started);
}

}  // namespace atelier::runtime
