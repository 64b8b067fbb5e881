#include "training/tensorboard.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "common/error.h"
#include "runtime/runner.h"

namespace fs = std::filesystem;

namespace atelier::training {

namespace {

constexpr int64_t kSyncEveryMs = 2000;
constexpr int64_t kIdleMs = 30 * 60 * 1000;  // a process nobody viewed for this long is stopped
constexpr int kStartTimeoutMs = 60000;
constexpr uint64_t kMaxMirroredBytes = 1ull << 30;  // per job

std::string find_executable(const std::string& name) {
  if (name.empty()) return "";
  if (name.find('/') != std::string::npos) return ::access(name.c_str(), X_OK) == 0 ? fs::absolute(name).string() : "";
  const char* path = std::getenv("PATH");
  std::string dirs = path ? path : "/usr/local/bin:/usr/bin:/bin";
  size_t pos = 0;
  while (pos <= dirs.size()) {
    size_t colon = dirs.find(':', pos);
    if (colon == std::string::npos) colon = dirs.size();
    std::string cand = dirs.substr(pos, colon - pos) + "/" + name;
    if (colon > pos && ::access(cand.c_str(), X_OK) == 0 && fs::is_regular_file(cand)) return cand;
    pos = colon + 1;
  }
  return "";
}

// A port nobody listens on now (the kernel's choice for port 0).
bool accepting(uint16_t port) {
  int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s < 0) return false;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  bool ok = ::connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(s);
  return ok;
}

std::string tail_of(const fs::path& file, size_t n) {
  std::ifstream in(file, std::ios::binary);
  std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return all.size() > n ? all.substr(all.size() - n) : all;
}

// A key below train_url as a relative path that stays inside the mirror.
bool safe_relative(const std::string& rel) {
  if (rel.empty() || rel[0] == '/') return false;
  size_t pos = 0;
  while (pos <= rel.size()) {
    size_t slash = rel.find('/', pos);
    if (slash == std::string::npos) slash = rel.size();
    std::string_view seg(rel.data() + pos, slash - pos);
    if (seg.empty() || seg == "." || seg == "..") return false;
    pos = slash + 1;
  }
  return true;
}

}  // namespace

struct TensorBoards::Process {
  std::mutex mu;
  pid_t pid = 0;
  uint16_t port = 0;
  int64_t synced_at = 0, used_at = 0;
  fs::path dir;
  std::map<std::string, std::pair<uint64_t, int64_t>> mirrored;  // relative key -> size, mtime
};

TensorBoards::TensorBoards(obs::ObjectStore& objects, std::string dir, const std::string& executable)
    : objects_(objects), dir_(std::move(dir)), exe_(find_executable(executable)) {
  if (!exe_.empty()) spdlog::info("visualization jobs use TensorBoard at {}", exe_);
  std::error_code ec;
  fs::remove_all(dir_, ec);  // mirrors of an earlier run: made again on the next view
}

TensorBoards::~TensorBoards() {
  std::lock_guard lock(mu_);
  for (auto& [id, p] : procs_) {
    std::lock_guard pl(p->mu);
    terminate(*p);
  }
}

void TensorBoards::terminate(Process& p) {
  if (p.pid <= 0) return;
  ::kill(-p.pid, SIGTERM);
  for (int i = 0; i < 50; ++i) {
    if (::waitpid(p.pid, nullptr, WNOHANG) == p.pid) {
      p.pid = 0;
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ::kill(-p.pid, SIGKILL);
  ::waitpid(p.pid, nullptr, 0);
  p.pid = 0;
}

void TensorBoards::sync(Process& p, const obs::ObsPath& train_url) {
  std::string prefix = train_url.key;
  if (!prefix.empty() && prefix.back() != '/') prefix += '/';
  fs::path logs = p.dir / "logs";
  fs::create_directories(logs);
  uint64_t total = 0;
  objects_.each(train_url.bucket, prefix, [&](const obs::ObjectInfo& o) {
    std::string rel = o.key.substr(prefix.size());
    std::string name = rel.substr(rel.rfind('/') + 1);
    if (name.find("tfevents") == std::string::npos || !safe_relative(rel)) return;
    total += o.size;
    if (total > kMaxMirroredBytes) return;
    auto& seen = p.mirrored[rel];
    if (seen.first == o.size && seen.second == o.mtime_ms) return;
    auto data = objects_.get_all(obs::ObsPath{train_url.bucket, o.key});
    if (!data) return;
    fs::path dst = logs / rel, tmp = dst;
    tmp += ".tmp";
    fs::create_directories(dst.parent_path());
    {
      std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
      out.write(data->data(), std::streamsize(data->size()));
    }
    fs::rename(tmp, dst);  // TensorBoard never sees half a file
    seen = {o.size, o.mtime_ms};
  });
}

void TensorBoards::start(Process& p, int64_t id, const std::string& prefix) {
  try {
    p.port = runtime::free_loopback_port();
  } catch (const std::runtime_error&) {
    throw ApiError(503, "ModelArts.0010", "No free port for the visualization job's TensorBoard.");
  }
  fs::path log = p.dir / "tensorboard.log";
  std::vector<std::string> args = {exe_,
                                   "--logdir", (p.dir / "logs").string(),
                                   "--host", "127.0.0.1",
                                   "--port", std::to_string(p.port),
                                   "--path_prefix", prefix,
                                   "--reload_interval", "2"};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  int out = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  pid_t pid = ::fork();
  if (pid < 0) {
    if (out >= 0) ::close(out);
    throw ApiError(503, "ModelArts.0010", "Cannot start TensorBoard for visualization job " + std::to_string(id) + ".");
  }
  if (pid == 0) {  // only async-signal-safe calls until exec
    ::setpgid(0, 0);
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    int null = ::open("/dev/null", O_RDONLY);
    if (null >= 0) ::dup2(null, 0);
    if (out >= 0) {
      ::dup2(out, 1);
      ::dup2(out, 2);
    }
    ::chdir(p.dir.c_str());
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  if (out >= 0) ::close(out);
  p.pid = pid;
  for (int waited = 0; waited < kStartTimeoutMs; waited += 100) {
    if (accepting(p.port)) return;
    if (::waitpid(pid, nullptr, WNOHANG) == pid) {
      p.pid = 0;
      throw ApiError(503, "ModelArts.0010", "TensorBoard for visualization job " + std::to_string(id) +
                                                " exited while starting: " + tail_of(log, 500));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  terminate(p);
  throw ApiError(503, "ModelArts.0010", "TensorBoard for visualization job " + std::to_string(id) + " did not start in time.");
}

void TensorBoards::stop_idle(int64_t now) {
  std::vector<std::shared_ptr<Process>> idle;
  {
    std::lock_guard lock(mu_);
    for (auto it = procs_.begin(); it != procs_.end();)
      if (it->second->used_at && now - it->second->used_at > kIdleMs) {
        idle.push_back(it->second);
        it = procs_.erase(it);
      } else {
        ++it;
      }
  }
  for (auto& p : idle) {
    std::lock_guard pl(p->mu);
    terminate(*p);
    std::error_code ec;
    fs::remove_all(p->dir, ec);
  }
}

uint16_t TensorBoards::port(int64_t id, const std::string& prefix, const obs::ObsPath& train_url) {
  int64_t now = clock::now_ms();
  stop_idle(now);
  std::shared_ptr<Process> p;
  {
    std::lock_guard lock(mu_);
    auto& slot = procs_[id];
    if (!slot) {
      slot = std::make_shared<Process>();
      slot->dir = fs::path(dir_) / std::to_string(id);
    }
    p = slot;
  }
  std::lock_guard pl(p->mu);
  p->used_at = now;
  if (now - p->synced_at >= kSyncEveryMs) {
    sync(*p, train_url);
    p->synced_at = now;
  }
  if (p->pid > 0 && ::waitpid(p->pid, nullptr, WNOHANG) == p->pid) {
    spdlog::warn("TensorBoard of visualization job {} exited; starting it again", id);
    p->pid = 0;
  }
  if (p->pid <= 0) start(*p, id, prefix);
  return p->port;
}

void TensorBoards::stop(int64_t id) {
  std::shared_ptr<Process> p;
  {
    std::lock_guard lock(mu_);
    auto it = procs_.find(id);
    if (it == procs_.end()) return;
    p = it->second;
    procs_.erase(it);
  }
  std::lock_guard pl(p->mu);
  terminate(*p);
  std::error_code ec;
  fs::remove_all(p->dir, ec);
}

std::optional<pid_t> TensorBoards::pid(int64_t id) {
  std::shared_ptr<Process> p;
  {
    std::lock_guard lock(mu_);
    auto it = procs_.find(id);
    if (it == procs_.end()) return std::nullopt;
    p = it->second;
  }
  std::lock_guard pl(p->mu);
  if (p->pid <= 0) return std::nullopt;
  return p->pid;
}

}  // namespace atelier::training
