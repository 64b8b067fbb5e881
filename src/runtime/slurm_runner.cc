// The Slurm runner: sbatch, squeue, scancel against a real cluster. The
// batch script is `atelier supervise DIR --foreground`, so a job runs exactly
// as on the local runner (sandbox, limits, indexed log, exit record); Slurm
// adds the queue, the placement and its own cgroup around the whole. The
// job folder must be on a file system the nodes share with the server.
// Slurm's view decides only what the files cannot tell: waiting in its queue,
// or ended without the supervisor's record (cancelled, node failure, time
// limit, out of memory).
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <map>
#include <mutex>
#include <sstream>
#include <string_view>
#include <stdexcept>

#include "common/clock.h"
#include "runtime/job_files.h"
#include "runtime/runner.h"

extern char** environ;

namespace atelier::runtime {

namespace {

struct CommandResult {
  int exit_code = -1;
  std::string out;  // stdout and stderr
  bool truncated = false;  // more than kMaxOutput
};
constexpr size_t kMaxOutput = 64 << 20;

// The environment of the Slurm commands, and so (--export=ALL) of the
// jobs: the Slurm settings of the server's environment and little else,
// never the server's secrets (admin password, master key).
std::vector<std::string> slurm_environment() {
  std::vector<std::string> env = {"PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", "LANG=C.UTF-8"};
  for (char** e = environ; *e; ++e) {
    std::string_view v(*e);
    if (v.rfind("SLURM_", 0) == 0 || v.rfind("HOME=", 0) == 0 || v.rfind("USER=", 0) == 0) env.emplace_back(v);
  }
  return env;
}

// Runs a command with slurm_environment(), no other fd inherited; gives up
// after `timeout_ms`.
CommandResult run(const std::vector<std::string>& argv, int timeout_ms = 20000) {
  int pipefd[2];
  if (::pipe2(pipefd, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, pipefd[1], 1);
  posix_spawn_file_actions_adddup2(&fa, pipefd[1], 2);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addclosefrom_np(&fa, 3);
  std::vector<char*> av;
  std::vector<std::string> copy = argv;
  for (auto& s : copy) av.push_back(s.data());
  av.push_back(nullptr);
  pid_t pid = 0;
  static const std::vector<std::string> env = slurm_environment();
  std::vector<char*> ev;
  for (auto& e : env) ev.push_back(const_cast<char*>(e.c_str()));
  ev.push_back(nullptr);
  int rc = ::posix_spawnp(&pid, av[0], &fa, nullptr, av.data(), ev.data());
  posix_spawn_file_actions_destroy(&fa);
  ::close(pipefd[1]);
  CommandResult r;
  if (rc != 0) {
    ::close(pipefd[0]);
    r.out = "cannot run " + argv[0] + ": " + std::strerror(rc);
    return r;
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  char buf[4096];
  for (;;) {
    int left = int(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count());
    if (left <= 0) {
      ::kill(pid, SIGKILL);
      r.out += "\n" + argv[0] + " timed out";
      break;
    }
    struct pollfd p {pipefd[0], POLLIN, 0};
    if (::poll(&p, 1, left) <= 0) continue;
    ssize_t n = ::read(pipefd[0], buf, sizeof buf);
    if (n > 0 && r.out.size() < kMaxOutput) r.out.append(buf, size_t(n));
    if (n > 0 && r.out.size() >= kMaxOutput) r.truncated = true;
    if (n == 0 || (n < 0 && errno != EINTR)) break;
  }
  ::close(pipefd[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

std::string quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

// Slurm states after which a job no longer runs; any other is queued or running.
bool ended_state(const std::string& st) {
  for (const char* e : {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL", "PREEMPTED",
                        "BOOT_FAIL", "DEADLINE", "REVOKED"})
    if (st == e) return true;
  return false;
}

class SlurmRunner : public JobRunner {
 public:
  SlurmRunner(LocalOptions o, std::string partition) : o_(std::move(o)), partition_(std::move(partition)) {}
  std::string name() const override { return "slurm"; }

  bool has_queue() const override { return true; }
  int max_nodes() override { return int(cluster().nodes); }
  // A worker runs on one node: what a job can get is what its best node has.
  std::optional<Capacity> total() override { return cluster().largest; }
  std::optional<Capacity> free() override { return cluster().most_idle; }

  std::string submit(const Launch& l) override {
    write_job_spec(l, o_);
    std::string cpus = std::to_string(std::max(1, int(std::ceil(l.cores))));
    std::vector<std::string> a = {"sbatch", "--parsable", "--no-requeue", "--job-name=" + l.name, "--chdir=" + l.dir,
                                  "--output=" + l.dir + "/slurm.out", "--nodes=" + std::to_string(l.nodes),
                                  "--ntasks-per-node=1", "--cpus-per-task=" + cpus,
                                  // ALL is run()'s small environment; NONE would make slurmd load root's
                                  // login environment first, which delays the start by up to a second.
                                  "--mem=" + std::to_string(l.memory_mb) + "M", "--export=ALL"};
    if (!partition_.empty()) a.push_back("--partition=" + partition_);
    std::string sup = quote(o_.self_exe) + " supervise " + quote(l.dir) + " --foreground";
    // Several nodes: srun starts a supervisor (a worker) on each, with the job's cores.
    a.push_back(l.nodes > 1 ? "--wrap=exec srun --kill-on-bad-exit=1 --ntasks-per-node=1 --cpus-per-task=" + cpus +
                                  " " + sup + " --slurm-rank"
                            : "--wrap=exec " + sup);
    auto r = run(a);
    {
      std::lock_guard lk(mu_);
      listed_at_ = 0;  // the next poll must see the new job
    }
    // The id is the line of digits (";cluster" may follow); sbatch may print warnings around it.
    std::string id;
    std::stringstream ss(r.out);
    for (std::string line; std::getline(ss, line);) {
      line = trim(line.substr(0, line.find(';')));
      if (!line.empty() && line.find_first_not_of("0123456789") == std::string::npos) id = line;
    }
    if (r.exit_code != 0 || id.empty()) {
      cancel("", l.dir);  // in case it was submitted after all (a timeout)
      throw std::runtime_error("sbatch refused the job: " + trim(r.out.substr(0, 2000)));
    }
    return id;
  }

  JobState poll(const std::string& handle, const std::string& dir) override {
    auto files = state_from_files(dir, handle);
    auto q = queue_state(handle);
    JobState s;
    if (files && files->phase == Phase::kExited) {
      // Killed without our stop: Slurm's reason (time limit, preemption,
      // node shutdown) tells; only a cancel counts as a stop.
      if (files->killed && q && q->first != "CANCELLED") {
        if (!ended_state(q->first)) {
          s.phase = Phase::kRunning;  // Slurm has not settled it yet
          s.started_ms = files->started_ms;
          return s;
        }
        files->killed = false;
        files->reason = "Slurm ended job " + handle + ": " + q->first;
      }
      return *files;
    }
    if (!q) {
      // Not listed: a glitch of squeue, or Slurm forgot it (MinJobAge).
      // Lost only when a second look some time later does not find it either.
      std::lock_guard lk(mu_);
      int64_t now = clock::now_ms();
      auto [it, fresh] = missing_since_.emplace(handle, now);
      if (fresh || now - it->second < 3000) {
        s.phase = files ? files->phase : Phase::kWaiting;
        s.started_ms = files ? files->started_ms : 0;
        return s;
      }
      missing_since_.erase(it);
      s.phase = Phase::kLost;
      s.reason = "Slurm no longer knows job " + handle + " and it left no exit record";
      return s;
    }
    {
      std::lock_guard lk(mu_);
      missing_since_.erase(handle);
    }
    if (!ended_state(q->first)) {
      if (files) return *files;  // running (or its supervisor starting)
      s.phase = Phase::kWaiting;
      return s;
    }
    // Ended in Slurm's view; the record may have been written meanwhile.
    if (auto f = state_from_files(dir, handle); f && f->phase == Phase::kExited) return *f;
    s.phase = Phase::kExited;
    s.killed = q->first == "CANCELLED";
    s.exit_code = q->first == "OUT_OF_MEMORY" ? 137 : 1;
    s.ended_ms = clock::now_ms();
    s.reason = "Slurm ended job " + handle + ": " + q->first +
               (q->second.empty() || q->second == "None" ? "" : " (" + q->second + ")");
    return s;
  }

  void cancel(const std::string& handle, const std::string& dir) override {
    if (!handle.empty() && handle.find_first_not_of("0123456789") == std::string::npos) {
      run({"scancel", handle});
    } else if (auto spec = read_json_file(dir + "/spec.json"); spec && spec->is_object()) {
      // Submitted, its id not recorded (the server stopped meanwhile): by
      // its name, which holds this server's instance id, among our jobs.
      std::string name = spec->value("name", "");
      if (!name.empty()) run({"scancel", "--user=" + std::to_string(::getuid()), "--name=" + name});
    }
  }

 private:
  struct Cluster {
    size_t nodes = 1;
    std::optional<Capacity> largest, most_idle;
  };

  // Nodes and their resources, from sinfo, at most every few seconds.
  Cluster cluster() {
    std::lock_guard lk(nodes_mu_);
    int64_t now = clock::now_ms();
    if (now - cluster_at_ < 2000) return cluster_;
    cluster_at_ = now;  // a failure is not asked again at once either
    std::vector<std::string> a = {"sinfo", "-h", "-N", "-O", "NodeHost:|,CPUsState:|,Memory:|,AllocMem:|"};
    if (!partition_.empty()) a.push_back("--partition=" + partition_);
    auto r = run(a, 5000);
    if (r.exit_code != 0) return cluster_;
    Cluster c;
    c.nodes = 0;
    std::stringstream ss(r.out);
    for (std::string line; std::getline(ss, line);) {
      std::vector<std::string> f;
      std::stringstream ls(line);
      for (std::string x; std::getline(ls, x, '|');) f.push_back(trim(x));
      if (f.size() < 4) continue;
      int alloc = 0, idle = 0, other = 0, total = 0;
      std::sscanf(f[1].c_str(), "%d/%d/%d/%d", &alloc, &idle, &other, &total);
      int64_t mem = std::atoll(f[2].c_str()), used = std::atoll(f[3].c_str());
      ++c.nodes;
      Capacity all{double(total), mem}, now_idle{double(idle), std::max<int64_t>(0, mem - used)};
      if (!c.largest || all.cores > c.largest->cores || (all.cores == c.largest->cores && all.memory_mb > c.largest->memory_mb))
        c.largest = all;
      if (!c.most_idle || now_idle.cores > c.most_idle->cores ||
          (now_idle.cores == c.most_idle->cores && now_idle.memory_mb > c.most_idle->memory_mb))
        c.most_idle = now_idle;
    }
    if (c.nodes == 0) return cluster_;
    cluster_ = c;
    return cluster_;
  }

  // Slurm's state and reason of a job, from one squeue listing of our jobs
  // shared by the calls of the next moment; nullopt when Slurm does not
  // list it. A failed listing is kept for the moment too (reported as
  // PENDING: nothing is decided on it).
  std::optional<std::pair<std::string, std::string>> queue_state(const std::string& id) {
    std::lock_guard lk(mu_);
    int64_t now = clock::now_ms();
    if (now - listed_at_ > 300) {
      listed_at_ = now;
      auto r = run({"squeue", "--all", "-h", "-t", "all", "-u", std::to_string(::getuid()), "-o", "%i|%T|%r"}, 10000);
      listing_ok_ = r.exit_code == 0 && !r.truncated;
      if (listing_ok_) {
        queue_.clear();
        std::stringstream ss(r.out);
        for (std::string line; std::getline(ss, line);) {
          auto a = line.find('|'), b = line.find('|', a + 1);
          if (a == std::string::npos || b == std::string::npos) continue;
          queue_[line.substr(0, a)] = {line.substr(a + 1, b - a - 1), trim(line.substr(b + 1))};
        }
      }
    }
    if (!listing_ok_) return std::pair<std::string, std::string>{"PENDING", "squeue failed"};
    auto it = queue_.find(id);
    if (it == queue_.end()) return std::nullopt;
    return it->second;
  }

  LocalOptions o_;
  std::string partition_;
  std::mutex nodes_mu_;
  Cluster cluster_;
  int64_t cluster_at_ = 0;
  std::mutex mu_;
  int64_t listed_at_ = 0;
  bool listing_ok_ = false;
  std::map<std::string, std::pair<std::string, std::string>> queue_;
  std::map<std::string, int64_t> missing_since_;
};

}  // namespace

std::unique_ptr<JobRunner> slurm_runner(LocalOptions o, std::string partition) {
  return std::make_unique<SlurmRunner>(std::move(o), std::move(partition));
}

}  // namespace atelier::runtime
