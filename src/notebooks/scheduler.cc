// The notebook scheduler: it moves instances through their statuses
// (CREATE_QUEUING, CREATING, STARTING, RUNNING, STOPPING, STOPPED, ...) as
// their Jupyter servers really start and stop, stops them when their
// auto_stop timer ends or when they have been idle, prepares and releases
// their workspaces, and after a restart reconciles them with what runs.
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>

#include <spdlog/spdlog.h>

#include "common/clock.h"
#include "common/crypto.h"
#include "http/client.h"
#include "notebooks/jupyter_main.h"
#include "notebooks/notebooks_impl.h"
#include "runtime/job_files.h"
#include "runtime/job_log.h"

namespace fs = std::filesystem;

namespace atelier::notebooks {

namespace {

constexpr int64_t kStartTimeoutMs = 90000;  // Jupyter answers within ~1 s here; a loaded machine may take longer
constexpr int64_t kProbeEveryMs = 10000;    // idle probes of a running instance
constexpr const char* kWork = "/home/work";  // the workspace, as the instance sees it

// Runs a tool of the host (mkfs.ext4, mount, umount) and waits for it.
// Returns its exit status and what it printed.
std::pair<int, std::string> run_tool(std::vector<std::string> argv) {
  int pipefd[2];
  if (::pipe2(pipefd, O_CLOEXEC) != 0) return {-1, "pipe failed"};
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, pipefd[1], 1);
  posix_spawn_file_actions_adddup2(&fa, pipefd[1], 2);
  std::vector<char*> av;
  for (auto& a : argv) av.push_back(a.data());
  av.push_back(nullptr);
  char path[] = "PATH=/usr/sbin:/usr/bin:/sbin:/bin";
  char* env[] = {path, nullptr};
  pid_t pid = 0;
  int rc = ::posix_spawn(&pid, argv[0].c_str(), &fa, nullptr, av.data(), env);
  posix_spawn_file_actions_destroy(&fa);
  ::close(pipefd[1]);
  std::string out;
  char buf[4096];
  for (ssize_t n; (n = ::read(pipefd[0], buf, sizeof buf)) > 0;)
    if (out.size() < 8192) out.append(buf, size_t(n));
  ::close(pipefd[0]);
  if (rc != 0) return {-1, std::string("cannot run ") + argv[0] + ": " + std::strerror(rc)};
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return {WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status), out};
}

bool is_mounted(const std::string& dir) {
  std::error_code ec;
  auto canon = fs::weakly_canonical(dir, ec).string();
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  while (std::getline(in, line)) {
    // id parent major:minor root mountpoint ...
    size_t pos = 0;
    for (int i = 0; i < 4 && pos != std::string::npos; ++i) pos = line.find(' ', pos + 1);
    if (pos == std::string::npos) continue;
    size_t end = line.find(' ', pos + 1);
    std::string raw = line.substr(pos + 1, end - pos - 1), point;
    for (size_t i = 0; i < raw.size(); ++i) {  // mountinfo writes space, tab, newline and \ as \ooo
      if (raw[i] == '\\' && i + 3 < raw.size() + 0 && std::isdigit(static_cast<unsigned char>(raw[i + 1]))) {
        point.push_back(char(std::stoi(raw.substr(i + 1, 3), nullptr, 8)));
        i += 3;
      } else {
        point.push_back(raw[i]);
      }
    }
    if (point == canon) return true;
  }
  return false;
}

}  // namespace

runtime::JobRunner& Service::Impl::runner(const Row& r) {
  if (r.str("pool").empty()) return *local;
  auto it = pools.find(r.str("pool"));
  if (it == pools.end()) throw std::runtime_error("pool " + r.str("pool") + " is no longer configured");
  return *it->second;
}
const Pool* Service::Impl::pool(const std::string& id) const {
  for (auto& p : settings.pools)
    if (p.id == id) return &p;
  return nullptr;
}

void Service::Impl::poke() {
  {
    std::lock_guard lk(mu);
    wake = true;
  }
  cv.notify_all();
}


// ---------------------------------------------------------------- scheduler

void Service::Impl::loop() {
  std::unique_lock lk(mu);
  while (!stopping) {
    cv.wait_for(lk, std::chrono::milliseconds(200), [&] { return wake || stopping; });
    if (stopping) break;
    wake = false;
    lk.unlock();
    try {
      tick();
    } catch (const std::exception& e) {
      spdlog::error("notebook scheduler: {}", e.what());
    }
    lk.lock();
  }
}

void Service::Impl::set_status(const std::string& id, const std::string& from, const std::string& to,
                               const std::string& reason, const std::string& code) {
  db.exec("UPDATE notebooks SET status = ?, reason = ?, error_code = ?, updated_at = ? WHERE id = ? AND status = ?",
          {to, reason, code, clock::now_ms(), id, from});
}

void Service::Impl::tick() {
  int64_t now = clock::now_ms();
  promote_queued();
  for (auto& r : db.query("SELECT * FROM notebooks WHERE status NOT IN ('STOPPED', 'CREATE_FAILED', 'START_FAILED', "
                          "'UNAVAILABLE', 'CREATE_QUEUING', 'START_QUEUING')",
                          {})) {
    const std::string id = r.str("id"), st = r.str("status");
    try {
      if (st == "READY_TO_START") {
        set_status(id, st, "STARTING");
      } else if (st == "RESTARTING" && r.str("want") == "RESTART") {
        follow_restart(r);
      } else if (starting(st) && r.str("handle").empty()) {
        launch(r);
      } else if (starting(st)) {
        follow_start(r, now);
      } else if (st == "RUNNING") {
        follow_running(r, now);
      } else if (st == "STOPPING") {
        follow_stop(r);
      }
    } catch (const std::exception& e) {
      spdlog::error("notebook {}: {}", id, e.what());
    }
  }
}

// Free-flavor instances wait until their user has a free slot, first come first served.
void Service::Impl::promote_queued() {
  for (auto& r : db.query("SELECT * FROM notebooks WHERE status IN ('CREATE_QUEUING', 'START_QUEUING') ORDER BY queued_at", {})) {
    auto n = db.query_one("SELECT COUNT(*) AS n FROM notebooks WHERE user_id = ? AND flavor = ? AND status NOT IN "
                          "('STOPPED', 'CREATE_FAILED', 'START_FAILED', 'UNAVAILABLE', 'CREATE_QUEUING', 'START_QUEUING')",
                          {r.str("user_id"), r.str("flavor")});
    if (n && n->i64("n") < settings.free_per_user)
      set_status(r.str("id"), r.str("status"), r.str("status") == "CREATE_QUEUING" ? "CREATING" : "READY_TO_START");
  }
}

// Prepares the workspace and hands Jupyter to the runner.
void Service::Impl::launch(const Row& r) {
  const std::string id = r.str("id"), dir = dir_of(id), st = r.str("status");
  const Flavor* f = catalog.flavor(r.str("flavor"));
  try {
    if (!f) throw std::runtime_error("flavor " + r.str("flavor") + " is no longer offered");
    json spec = json::parse(r.str("spec"));
    const bool on_pool = !r.str("pool").empty();
    if (on_pool) fs::create_directories(dir + "/work");  // on the cluster's shared file system; no volume
    else prepare_workspace(id, spec["storage"]["location"].value("volume_size", kMinVolumeGb));
    // A previous run's state files and log go; the workspace stays.
    std::error_code ec;
    for (auto& e : fs::directory_iterator(dir, ec)) {
      std::string n = e.path().filename().string();
      if (n == "work" || n == "volume.img") continue;
      fs::remove_all(e.path(), ec);
    }
    fs::remove_all(dir + "/work/.jupyter-runtime", ec);
    runtime::Launch l;
    l.name = "atelier-" + instance + "-nb-" + id.substr(id.size() - 12);
    l.dir = dir;
    l.log_stem = "jupyter-";
    uint16_t port = runtime::free_loopback_port();
    // A new Jupyter token every run: one that leaked once opens nothing later.
    std::string secret = crypto::random_hex(24);
    db.exec("UPDATE notebooks SET secret = ? WHERE id = ?", {secret, id});
    std::string base = base_path(r);
    l.command = {settings.python,
                 "-c",
                 kJupyterMainPy,  // Notebook with its activity watcher mended (see python/atelier_jupyter.py)
                 "--no-browser",
                 // On a node of a pool the server reaches Jupyter over the
                 // network, on the port it found free (told in its server file).
                 on_pool ? "--ip=0.0.0.0" : "--ip=127.0.0.1",
                 "--port=" + std::to_string(port),
                 on_pool ? "--port-retries=50" : "--port-retries=0",
                 "--NotebookApp.base_url=" + base,
                 std::string("--NotebookApp.notebook_dir=") + kWork,
                 "--NotebookApp.allow_remote_access=True",
                 "--NotebookApp.quit_button=False"};
    if (::geteuid() == 0 && !runtime::bubblewrap_available()) l.command.push_back("--allow-root");
    l.cwd = kWork;
    l.env = {{"HOME", kWork},
             {"PATH", "/usr/local/bin:/usr/bin:/bin"},
             {"LANG", "C.UTF-8"},
             {"SHELL", "/bin/bash"},
             {"PYTHONUNBUFFERED", "1"},
             {"JUPYTER_TOKEN", secret},  // not on the command line, where ps would show it
             {"JUPYTER_RUNTIME_DIR", on_pool ? std::string(kWork) + "/.jupyter-runtime" : "/tmp/jupyter-runtime"},
             {"OMP_NUM_THREADS", std::to_string(std::max(1, int(std::ceil(f->cpu))))}};
    l.cores = f->cpu;
    l.memory_mb = f->memory_mb;
    l.network = true;  // the server reaches Jupyter on the host's 127.0.0.1
    std::string handle = runner(r).submit(l);
    db.exec("UPDATE notebooks SET handle = ?, host = ?, port = ?, launched_at = ?, run = run + 1 WHERE id = ?",
            {handle, on_pool ? "" : "127.0.0.1", on_pool ? 0 : int(port), clock::now_ms(), id});
  } catch (const std::exception& e) {
    spdlog::warn("notebook {} could not start: {}", id, e.what());
    set_status(id, st, st == "CREATING" ? "CREATE_FAILED" : "START_FAILED", std::string("could not start: ") + e.what(),
               "ModelArts.6333");
    release_workspace(id);
  }
}

std::string Service::Impl::log_tail(const std::string& id) {
  auto rd = runtime::JobLogReader::open(dir_of(id) + "/log/jupyter-0");
  if (!rd) return "";
  uint64_t n = rd->total_lines();
  auto page = rd->read(n > 8 ? n - 8 : 0, 8);
  std::string out;
  for (auto& l : page.lines) out += (out.empty() ? "" : " | ") + l;
  return out.size() > 1500 ? out.substr(out.size() - 1500) : out;
}

void Service::Impl::follow_start(const Row& r, int64_t now) {
  const std::string id = r.str("id"), st = r.str("status");
  auto s = runner(r).poll(r.str("handle"), dir_of(id));
  if (s.phase == runtime::Phase::kExited || s.phase == runtime::Phase::kLost) {
    std::string why = s.phase == runtime::Phase::kLost ? s.reason : "Jupyter exited with code " + std::to_string(s.exit_code);
    std::string tail = log_tail(id);
    set_status(id, st, st == "CREATING" ? "CREATE_FAILED" : "START_FAILED", why + (tail.empty() ? "" : ": " + tail),
               "ModelArts.6333");
    db.exec("UPDATE notebooks SET handle = '' WHERE id = ?", {id});
    release_workspace(id);
    return;
  }
  if (s.phase == runtime::Phase::kRunning && r.str("host").empty()) {
    if (auto where = server_file(r)) {
      db.exec("UPDATE notebooks SET host = ?, port = ? WHERE id = ?", {where->first, where->second, id});
      poke();
    }
    return;
  }
  if (s.phase == runtime::Phase::kRunning && ready(r)) {
    json spec = json::parse(r.str("spec"));
    json as = spec.value("auto_stop", json::object());
    int64_t stop_at = as.value("enable", false) ? now + as.value("duration", int64_t(0)) * 1000 : 0;
    db.exec("UPDATE notebooks SET status = 'RUNNING', started_at = ?, stop_at = ?, reason = '', error_code = '', "
            "updated_at = ? WHERE id = ? AND status = ?",
            {now, stop_at, now, id, st});
    traffic_of(id)->store(now);
    return;
  }
  if (now - r.i64("launched_at") > kStartTimeoutMs) {
    runner(r).cancel(r.str("handle"), dir_of(id));
    db.exec("UPDATE notebooks SET status = 'STOPPING', want = ?, reason = ?, error_code = 'ModelArts.6333', updated_at = ? "
            "WHERE id = ? AND status = ?",
            {st == "CREATING" ? "CREATE_FAILED" : "START_FAILED",
             "Jupyter did not answer within " + std::to_string(kStartTimeoutMs / 1000) + " s: " + log_tail(id), now, id, st});
  }
}

// Where a pool instance's Jupyter listens: the node its supervisor runs on
// and the port of Jupyter's server file; nullopt until both are there.
std::optional<std::pair<std::string, int>> Service::Impl::server_file(const Row& r) {
  auto sup = runtime::read_json_file(runtime::state_file(dir_of(r.str("id")), "supervisor", 0));
  if (!sup || !sup->is_object() || sup->value("host", "").empty()) return std::nullopt;
  std::error_code ec;
  for (auto& e : fs::directory_iterator(dir_of(r.str("id")) + "/work/.jupyter-runtime", ec)) {
    std::string n = e.path().filename().string();
    if (n.rfind("nbserver-", 0) != 0 || !n.ends_with(".json")) continue;
    auto j = runtime::read_json_file(e.path().string());
    if (j && j->is_object() && j->value("port", 0) > 0) return std::make_pair(sup->value("host", ""), j->value("port", 0));
  }
  return std::nullopt;
}

http::Headers Service::Impl::jupyter_headers(const Row& r) {
  http::Headers h;
  h.add("Authorization", "token " + r.str("secret"));
  return h;
}

std::string Service::Impl::jupyter_url(const Row& r, const std::string& rest) {
  return "http://" + r.str("host") + ":" + std::to_string(r.i64("port")) + base_path(r) + rest;
}

bool Service::Impl::ready(const Row& r) {
  try {
    return http::fetch("GET", jupyter_url(r, "api/status"), jupyter_headers(r), "", 2000).status == 200;
  } catch (const std::exception&) {
    return false;
  }
}

// When the instance last did something: a kernel's activity, an open
// terminal (now), or traffic through the proxy. nullopt when Jupyter
// cannot be asked.
std::optional<int64_t> Service::Impl::last_activity(const Row& r, int64_t now) {
  int64_t last = traffic_of(r.str("id"))->load();
  try {
    auto k = http::fetch("GET", jupyter_url(r, "api/kernels"), jupyter_headers(r), "", 3000);
    if (k.status != 200) return std::nullopt;
    json kernels = json::parse(k.body, nullptr, false);
    if (kernels.is_array())
      for (auto& kn : kernels) {
        if (!kn.is_object()) continue;
        if (kn.value("execution_state", "") == "busy") return now;
        if (auto t = clock::parse_iso(kn.value("last_activity", ""))) last = std::max(last, *t);
      }
    auto t = http::fetch("GET", jupyter_url(r, "api/terminals"), jupyter_headers(r), "", 3000);
    json terms = json::parse(t.body, nullptr, false);
    if (t.status == 200 && terms.is_array() && !terms.empty()) return now;
  } catch (const std::exception&) {
    return std::nullopt;
  }
  return last;
}

void Service::Impl::follow_running(const Row& r, int64_t now) {
  const std::string id = r.str("id");
  auto s = runner(r).poll(r.str("handle"), dir_of(id));
  if (s.phase == runtime::Phase::kExited || s.phase == runtime::Phase::kLost) {
    std::string why = s.phase == runtime::Phase::kLost ? s.reason : "Jupyter exited with code " + std::to_string(s.exit_code);
    std::string tail = log_tail(id);
    db.exec("UPDATE notebooks SET status = 'STOPPED', handle = '', stop_at = 0, reason = ?, error_code = 'ModelArts.6333', "
            "updated_at = ? WHERE id = ? AND status = 'RUNNING'",
            {"stopped by itself: " + why + (tail.empty() ? "" : ": " + tail), now, id});
    release_workspace(id);
    return;
  }
  if (r.i64("stop_at") > 0 && now >= r.i64("stop_at")) {
    request_stop(r, "", "auto_stop: the instance ran its " + std::to_string(r.i64("stop_at") / 1000 - r.i64("started_at") / 1000) +
                            " s");
    return;
  }
  json spec = json::parse(r.str("spec"), nullptr, false);
  json idle = spec.is_object() ? spec.value("idle_stop", json::object()) : json::object();
  if (!idle.value("enable", false)) return;
  int64_t& at = probed_at[id];
  int64_t every = std::min<int64_t>(kProbeEveryMs, idle.value("duration", int64_t(60)) * 1000 / 4);
  if (now - at < every) return;
  at = now;
  auto last = last_activity(r, now);
  if (last && now - *last >= idle.value("duration", int64_t(0)) * 1000)
    request_stop(r, "", "idle_stop: no kernel activity, terminal or traffic for " +
                            std::to_string((now - *last) / 1000) + " s");
}

// Asks the runner to stop the instance; `then`: the status it ends in
// ("" = STOPPED; RESTARTING starts again). `note`: why, shown in failed_reasons.
void Service::Impl::request_stop(const Row& r, const std::string& then, const std::string& note) {
  db.exec("UPDATE notebooks SET status = 'STOPPING', want = ?, reason = ?, error_code = '', updated_at = ? WHERE id = ? "
          "AND status = ?",
          {then, note, clock::now_ms(), r.str("id"), r.str("status")});
  if (!r.str("handle").empty()) runner(r).cancel(r.str("handle"), dir_of(r.str("id")));
  poke();
}

void Service::Impl::follow_stop(const Row& r) {
  const std::string id = r.str("id");
  if (!r.str("handle").empty()) {
    auto s = runner(r).poll(r.str("handle"), dir_of(id));
    if (s.phase == runtime::Phase::kRunning || s.phase == runtime::Phase::kWaiting) {
      runner(r).cancel(r.str("handle"), dir_of(id));  // again: a supervisor may have been starting
      return;
    }
  }
  std::string want = r.str("want");
  release_workspace(id);
  // A stop the user asked for leaves no failure behind; the timers say why they stopped it.
  db.exec("UPDATE notebooks SET status = ?, handle = '', want = '', stop_at = 0, updated_at = ? WHERE id = ? AND status = "
          "'STOPPING'",
          {want.empty() ? std::string("STOPPED") : want, clock::now_ms(), id});
}

// A restart: the running Jupyter stops first; once it is gone the
// instance is launched again (handle cleared) on the same workspace.
void Service::Impl::follow_restart(const Row& r) {
  const std::string id = r.str("id");
  if (!r.str("handle").empty()) {
    auto s = runner(r).poll(r.str("handle"), dir_of(id));
    if (s.phase == runtime::Phase::kRunning || s.phase == runtime::Phase::kWaiting) return;
  }
  release_workspace(id);
  db.exec("UPDATE notebooks SET handle = '', want = '', stop_at = 0, updated_at = ? WHERE id = ? AND status = 'RESTARTING'",
          {clock::now_ms(), id});
  poke();
}

// ---------------------------------------------------------------- workspace

// The workspace folder, on its own ext4 volume of `gb` GB when volumes are
// on: a sparse image made once, mounted for the run.
void Service::Impl::prepare_workspace(const std::string& id, int64_t gb) {
  std::string dir = dir_of(id), work = dir + "/work", img = dir + "/volume.img";
  fs::create_directories(work);
  if (!settings.volumes || is_mounted(work)) return;
  if (!fs::exists(img)) {
    std::string tmp = img + ".tmp";
    {
      std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    }
    fs::resize_file(tmp, uint64_t(gb) << 30);  // sparse: takes no space until written
    auto [rc, out] = run_tool({"/usr/sbin/mkfs.ext4", "-q", "-F", "-m", "0", "-E",
                               "lazy_itable_init=1,lazy_journal_init=1,root_owner=65534:65534", tmp});
    if (rc != 0) {
      fs::remove(tmp);
      throw std::runtime_error("cannot make the workspace volume: " + out);
    }
    fs::rename(tmp, img);
  }
  auto [rc, out] = run_tool({"/usr/bin/mount", "-o", "loop,nosuid,nodev", img, work});
  if (rc != 0) throw std::runtime_error("cannot mount the workspace volume: " + out);
  std::error_code ec;
  fs::remove_all(work + "/lost+found", ec);
}

void Service::Impl::release_workspace(const std::string& id) {
  std::string work = dir_of(id) + "/work";
  if (!settings.volumes || !is_mounted(work)) return;
  for (int i = 0; i < 20; ++i) {
    auto [rc, out] = run_tool({"/usr/bin/umount", work});
    if (rc == 0) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));  // the last processes are still going
  }
  run_tool({"/usr/bin/umount", "-l", work});
}

// ---------------------------------------------------------------- recovery

// After a restart: instances whose Jupyter still runs are followed again;
// the others are marked stopped with the reason.
void Service::Impl::recover() {
  instance = runtime::instance_id(settings.dir);
  int64_t now = clock::now_ms();
  for (auto& r : db.query("SELECT * FROM notebooks", {})) {
    const std::string id = r.str("id"), st = r.str("status");
    if (r.str("handle").empty()) {
      if (settled(st) || queued(st)) release_workspace(id);
      continue;  // launch-pending instances are launched by the scheduler
    }
    auto s = runner(r).poll(r.str("handle"), dir_of(id));
    bool alive = s.phase == runtime::Phase::kRunning || s.phase == runtime::Phase::kWaiting;
    if (alive) {
      traffic_of(id)->store(now);  // a fresh idle period: the server did not see the traffic meanwhile
      continue;
    }
    if (st == "RUNNING" || starting(st)) {
      db.exec("UPDATE notebooks SET status = 'STOPPED', handle = '', stop_at = 0, reason = ?, error_code = 'ModelArts.6333', "
              "updated_at = ? WHERE id = ?",
              {"stopped while the server was down: " +
                   (s.phase == runtime::Phase::kLost ? s.reason : "Jupyter exited with code " + std::to_string(s.exit_code)),
               now, id});
      release_workspace(id);
    }
  }
}

}  // namespace atelier::notebooks
