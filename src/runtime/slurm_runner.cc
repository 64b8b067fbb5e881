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
};

// Runs a command with the server's environment (SLURM_CONF), no other fd
// inherited; gives up after `timeout_ms`.
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
  int rc = ::posix_spawnp(&pid, av[0], &fa, nullptr, av.data(), environ);
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
    if (n > 0 && r.out.size() < (1 << 20)) r.out.append(buf, size_t(n));
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

class SlurmRunner : public JobRunner {
 public:
  SlurmRunner(LocalOptions o, std::string partition) : o_(std::move(o)), partition_(std::move(partition)) {}
  std::string name() const override { return "slurm"; }

  bool has_queue() const override { return true; }
  int max_nodes() override {
    std::lock_guard lk(nodes_mu_);
    int64_t now = clock::now_ms();
    if (now - nodes_at_ > 10000) {
      auto n = nodes();
      if (!n.empty()) node_count_ = int(n.size()), nodes_at_ = now;
    }
    return node_count_;
  }

  std::optional<Capacity> total() override { return sum(false); }
  std::optional<Capacity> free() override { return sum(true); }

  std::string submit(const Launch& l) override {
    write_job_spec(l, o_);
    std::vector<std::string> a = {"sbatch", "--parsable", "--job-name=" + l.name, "--chdir=" + l.dir,
                                  "--output=" + l.dir + "/slurm.out", "--nodes=" + std::to_string(l.nodes),
                                  "--ntasks-per-node=1",
                                  "--cpus-per-task=" + std::to_string(std::max(1, int(std::ceil(l.cores)))),
                                  "--mem=" + std::to_string(l.memory_mb) + "M", "--export=NONE"};
    if (!partition_.empty()) a.push_back("--partition=" + partition_);
    std::string sup = quote(o_.self_exe) + " supervise " + quote(l.dir) + " --foreground";
    // Several nodes: srun starts a supervisor (a worker) on each.
    a.push_back(l.nodes > 1 ? "--wrap=exec srun --kill-on-bad-exit=1 --ntasks-per-node=1 " + sup + " --slurm-rank"
                            : "--wrap=exec " + sup);
    auto r = run(a);
    {
      std::lock_guard lk(mu_);
      listed_at_ = 0;  // the next poll must see the new job
    }
    std::string id = trim(r.out.substr(0, r.out.find(';')));
    if (r.exit_code != 0 || id.empty() || id.find_first_not_of("0123456789") != std::string::npos)
      throw std::runtime_error("sbatch refused the job: " + trim(r.out));
    return id;
  }

  JobState poll(const std::string& handle, const std::string& dir) override {
    if (auto s = state_from_files(dir); s && s->phase != Phase::kWaiting) return *s;
    JobState s;
    auto q = queue_state(handle);
    if (!q) {
      if (auto f = state_from_files(dir)) return *f;
      s.phase = Phase::kLost;
      s.reason = "Slurm no longer knows job " + handle + " and it left no exit record";
      return s;
    }
    const std::string& st = q->first;
    if (st == "PENDING" || st == "CONFIGURING" || st == "RUNNING" || st == "COMPLETING" || st == "REQUEUED" ||
        st == "RESIZING" || st == "SUSPENDED" || st == "REQUEUE_HOLD" || st == "REQUEUE_FED" || st == "SIGNALING" ||
        st == "STAGE_OUT") {
      s.phase = Phase::kWaiting;  // queued, or started and its supervisor not yet
      return s;
    }
    // Ended in Slurm's view; the record may have been written meanwhile.
    if (auto f = state_from_files(dir); f && f->phase == Phase::kExited) return *f;
    s.phase = Phase::kExited;
    s.killed = st == "CANCELLED";
    s.exit_code = st == "OUT_OF_MEMORY" ? 137 : 1;
    s.ended_ms = clock::now_ms();
    s.reason = "Slurm ended job " + handle + ": " + st + (q->second.empty() || q->second == "None" ? "" : " (" + q->second + ")");
    return s;
  }

  void cancel(const std::string& handle, const std::string& dir) override {
    if (!handle.empty() && handle.find_first_not_of("0123456789") == std::string::npos) {
      run({"scancel", handle});
    } else if (auto spec = read_json_file(dir + "/spec.json"); spec && spec->is_object()) {
      // Submitted, its id not yet recorded (the server stopped meanwhile): by name.
      std::string name = spec->value("name", "");
      if (!name.empty()) run({"scancel", "--name=" + name});
    }
  }

 private:
  // Per node: "alloc/idle/other/total" CPUs, memory, allocated memory.
  std::vector<std::vector<std::string>> nodes() {
    std::vector<std::string> a = {"sinfo", "-h", "-N", "-O", "NodeHost:|,CPUsState:|,Memory:|,AllocMem:|"};
    if (!partition_.empty()) a.push_back("--partition=" + partition_);
    auto r = run(a, 5000);
    std::vector<std::vector<std::string>> out;
    if (r.exit_code != 0) return out;
    std::stringstream ss(r.out);
    std::string line;
    while (std::getline(ss, line)) {
      std::vector<std::string> f;
      std::stringstream ls(line);
      std::string x;
      while (std::getline(ls, x, '|')) f.push_back(trim(x));
      if (f.size() >= 4) out.push_back(f);
    }
    return out;
  }

  std::optional<Capacity> sum(bool idle) {
    auto ns = nodes();
    if (ns.empty()) return std::nullopt;
    Capacity c;
    for (auto& f : ns) {
      int alloc = 0, free_c = 0, other = 0, total = 0;
      std::sscanf(f[1].c_str(), "%d/%d/%d/%d", &alloc, &free_c, &other, &total);
      int64_t mem = std::atoll(f[2].c_str()), used = std::atoll(f[3].c_str());
      c.cores += idle ? free_c : total;
      c.memory_mb += idle ? std::max<int64_t>(0, mem - used) : mem;
    }
    return c;
  }

  // Slurm's state and reason of a job, from one squeue listing shared by
  // the calls of the next moment; nullopt when Slurm does not know it.
  std::optional<std::pair<std::string, std::string>> queue_state(const std::string& id) {
    std::lock_guard lk(mu_);
    int64_t now = clock::now_ms();
    if (now - listed_at_ > 300) {
      auto r = run({"squeue", "-h", "-t", "all", "-o", "%i|%T|%r"}, 10000);
      if (r.exit_code != 0) return std::pair<std::string, std::string>{"PENDING", "squeue failed"};  // ask again later
      queue_.clear();
      std::stringstream ss(r.out);
      std::string line;
      while (std::getline(ss, line)) {
        auto a = line.find('|'), b = line.find('|', a + 1);
        if (a == std::string::npos || b == std::string::npos) continue;
        queue_[line.substr(0, a)] = {line.substr(a + 1, b - a - 1), trim(line.substr(b + 1))};
      }
      listed_at_ = now;
    }
    auto it = queue_.find(id);
    if (it == queue_.end()) return std::nullopt;
    return it->second;
  }

  LocalOptions o_;
  std::string partition_;
  std::mutex nodes_mu_;
  int node_count_ = 1;
  int64_t nodes_at_ = 0;
  std::mutex mu_;
  int64_t listed_at_ = 0;
  std::map<std::string, std::pair<std::string, std::string>> queue_;
};

}  // namespace

std::unique_ptr<JobRunner> slurm_runner(LocalOptions o, std::string partition) {
  return std::make_unique<SlurmRunner>(std::move(o), std::move(partition));
}

}  // namespace atelier::runtime
