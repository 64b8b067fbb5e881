// The training scheduler: it stages queued versions and hands them to the
// runner in submission order as capacity frees up, follows the started ones,
// publishes their output and logs when they end, and after a restart
// re-attaches to what kept running.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>

#include <spdlog/spdlog.h>

#include "common/clock.h"
#include "runtime/job_files.h"
#include "runtime/job_log.h"
#include "training/metrics_helper.h"
#include "training/training_impl.h"

namespace fs = std::filesystem;

namespace atelier::training {

void Service::Impl::poke() {
  {
    std::lock_guard lk(mu);
    wake = true;
  }
  cv.notify_all();
}

// Copies every object under the folder `from` (an OBS path) into `to`.
void Service::Impl::stage(const std::string& from, const std::string& to) {
  auto p = obs::parse_path(from);
  fs::create_directories(to);
  objects.each(p.bucket, p.key, [&](const obs::ObjectInfo& o) {
    if (halt) throw Interrupted{};
    std::string rel = o.key.substr(p.key.size());
    if (rel.empty() || rel.back() == '/') return;  // folder markers
    fs::path dest = fs::path(to) / rel;
    fs::create_directories(dest.parent_path());
    auto r = objects.get(obs::ObsPath{p.bucket, o.key});
    if (!r) return;  // removed meanwhile
    std::ofstream out(dest, std::ios::binary | std::ios::trunc);
    char buf[1 << 16];
    size_t n;
    while ((n = r->read(buf, sizeof buf)) > 0) out.write(buf, std::streamsize(n));
    if (!out) throw std::runtime_error("cannot write " + dest.string());
  });
}

// Puts every regular file under the folder `dirfd` into the OBS folder
// `to`. The job owned that folder: every step is opened relative to its
// parent with O_NOFOLLOW, so no symlink, at any depth (the output folder
// itself included), takes the server outside it; only regular files with
// a single link are read, and a FIFO cannot block (O_NONBLOCK).
int64_t Service::Impl::publish_tree(int dirfd, const obs::ObsPath& to, const std::string& rel, int depth) {
  int64_t n = 0;
  DIR* d = ::fdopendir(dirfd);
  if (!d) {
    ::close(dirfd);
    return 0;
  }
  std::vector<std::string> names;
  while (auto* e = ::readdir(d))
    if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0) names.push_back(e->d_name);
  for (auto& name : names) {
    int fd = ::openat(::dirfd(d), name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) continue;
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
      ::close(fd);
    } else if (S_ISDIR(st.st_mode) && depth < 64) {
      n += publish_tree(fd, to, rel + name + "/", depth + 1);  // takes fd
    } else if (S_ISREG(st.st_mode) && st.st_nlink == 1 && obs::valid_key(to.key + rel + name)) {
      try {
        objects.put(obs::ObsPath{to.bucket, to.key + rel + name}, [fd](char* buf, size_t cap) -> size_t {
          ssize_t r = ::read(fd, buf, cap);
          return r > 0 ? size_t(r) : 0;
        });
        ++n;
      } catch (...) {
        ::close(fd);
        ::closedir(d);
        throw;
      }
      ::close(fd);
    } else {
      ::close(fd);
    }
  }
  ::closedir(d);
  return n;
}

int64_t Service::Impl::publish(const std::string& job_folder, const std::string& to) {
  int work = ::open((job_folder + "/work").c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (work < 0) return 0;
  int out = ::openat(work, "output", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  ::close(work);
  if (out < 0) return 0;
  auto p = obs::parse_path(to);
  objects.create_bucket(p.bucket);
  return publish_tree(out, p, "", 0);
}

// Stages a queued version and hands it to the runner. Errors fail the
// version with the reason in its log.
void Service::Impl::launch(const Row& v) {
  int64_t vid = v.i64("id");
  auto job = db.query_one("SELECT * FROM train_jobs WHERE id = ?", {v.i64("job_id")});
  if (!job) return;
  json cfg = json::parse(v.str("config"));
  std::string dir = job_dir(vid);
  std::error_code ec;
  fs::remove_all(dir, ec);
  fs::create_directories(dir + "/log", ec);
  ::chmod(dir.c_str(), 0700);  // other users see nothing of a job
  std::string app = cfg.value("app_url", "");
  std::string app_name = app.substr(0, app.size() - 1);
  app_name = app_name.substr(app_name.rfind('/') + 1);
  std::string code_in = "/home/work/user-job-dir/" + app_name;
  try {
    stage(app, dir + "/work/user-job-dir/" + app_name);
    if (cfg.contains("data_url")) stage(cfg["data_url"], dir + "/work/data");
    fs::create_directories(dir + "/work/data");
    fs::create_directories(dir + "/work/output");
    fs::create_directories(dir + "/work/.atelier");
    std::ofstream(dir + "/work/.atelier/atelier_metrics.py", std::ios::trunc) << kMetricsHelperPy;
    std::string boot = cfg.value("boot_file_url", "");
    if (!fs::exists(dir + "/work/user-job-dir/" + app_name + "/" + boot.substr(app.size())))
      throw std::runtime_error("boot file " + boot + " no longer exists");
    const Engine* e = engines().engine(cfg.value("engine_id", int64_t(1)));
    if (!e || !e->available) throw std::runtime_error("engine " + std::to_string(cfg.value("engine_id", 1)) + " is not available");
    const Flavor* f = catalog.flavor(cfg.value("spec_id", int64_t(0)));
    if (!f) throw std::runtime_error("resource spec " + std::to_string(cfg.value("spec_id", 0)) + " no longer exists");
    runtime::Launch l;
    l.name = "atelier-" + instance + "-v" + std::to_string(vid);
    l.dir = dir;
    l.log_stem = log_stem(*job);
    l.nodes = cfg.value("worker_server_num", 1);
    l.command = {settings.python, code_in + "/" + boot.substr(app.size()), "--data_url=/home/work/data/",
                 "--train_url=/home/work/output/"};
    for (auto& p : cfg.value("parameter", json::array()))
      l.command.push_back("--" + p["label"].get<std::string>() + "=" + p["value"].get<std::string>());
    l.cwd = code_in;
    int threads = std::max(1, int(std::ceil(f->cores)));
    l.env = {{"HOME", "/home/work"},
             {"PATH", "/usr/local/bin:/usr/bin:/bin"},
             {"LANG", "C.UTF-8"},
             {"PYTHONUNBUFFERED", "1"},
             {"PYTHONPATH", "/home/work/.atelier"},  // atelier_metrics (python/atelier_metrics.py)
             {"OMP_NUM_THREADS", std::to_string(threads)},
             {"MA_JOB_ID", std::to_string(job->i64("id"))},
             {"MA_VERSION_ID", std::to_string(vid)},
             {"DLS_TASK_INDEX", "{rank}"},
             {"DLS_TASK_NUMBER", std::to_string(l.nodes)},
             {"RANK", "{rank}"},
             {"WORLD_SIZE", std::to_string(l.nodes)},
             {"MASTER_ADDR", "{master_addr}"},
             {"MASTER_PORT", "{master_port}"}};
    l.cores = f->cores;
    l.memory_mb = f->memory_mb;
    l.network = settings.network;
    std::string handle = runner->submit(l);
    db.exec("UPDATE train_versions SET handle = ? WHERE id = ?", {handle, vid});
    // The runner usually has the job running by now: show it at once.
    auto st = runner->poll(handle, dir);
    if (st.phase == runtime::Phase::kRunning)
      db.exec("UPDATE train_versions SET status = ?, started_at = ? WHERE id = ? AND status = ?",
              {int(kRunning), st.started_ms, vid, int(kWaiting)});
    auto now = db.query_one("SELECT status FROM train_versions WHERE id = ?", {vid});
    if (!now) {  // deleted while it was being staged
      runner->cancel(handle, dir);
      std::lock_guard lk(mu);
      trash.insert(dir);
      return;
    }
    // Stopped while it was being staged: it stays KILLED (a final status
    // never changes back); the job just started is cancelled, and its folder
    // goes once the job is gone, as for a version stopped in the queue,
    // which never had one.
    if (now->i64("status") == kKilled) {
      runner->cancel(handle, dir);
      std::lock_guard lk(mu);
      trash.insert(dir);
    }
  } catch (const Interrupted&) {
    fs::remove_all(dir, ec);  // staged again at the next start
  } catch (const std::exception& ex) {
    try {
      runtime::JobLogWriter w(dir + "/log/" + log_stem(*job) + "0");
      w.append(std::string("[atelier] the job could not start: ") + ex.what() + "\n");
    } catch (...) {
    }
    fs::remove_all(dir + "/work", ec);
    int64_t now = clock::now_ms();
    db.exec("UPDATE train_versions SET status = ?, reason = ?, ended_at = ? WHERE id = ? AND status IN (?, ?, ?)",
            {int(kFailed), std::string("could not start: ") + ex.what(), now, vid, int(kInit), int(kWaiting),
             int(kKilling)});
  }
}

// Ends a version whose job has ended: its output goes to train_url, its
// log to log_url, and the staged copies are removed.
void Service::Impl::finish(const Row& v, const runtime::JobState& s) {
  int64_t vid = v.i64("id");
  std::string dir = job_dir(vid);
  json cfg = json::parse(v.str("config"), nullptr, false);
  auto job = db.query_one("SELECT * FROM train_jobs WHERE id = ?", {v.i64("job_id")});
  int status = s.phase == runtime::Phase::kLost ? kLost
               : (s.killed || v.i64("status") == kKilling) ? kKilled
               : s.exit_code == 0 ? kCompleted
                                  : kFailed;
  std::string reason = s.reason;
  if (status != kLost && job) {
    try {
      if (cfg.contains("train_url")) publish(dir, cfg["train_url"]);
    } catch (const std::exception& e) {
      status = status == kCompleted ? kFailed : status;
      reason = std::string("the output could not be saved to train_url: ") + e.what();
    }
  }
  if (job && cfg.contains("log_url")) {
    try {
      auto p = obs::parse_path(cfg["log_url"].get<std::string>());
      objects.create_bucket(p.bucket);
      for (auto& name : log_names(*job, v)) {
        std::ifstream in(dir + "/log/" + name, std::ios::binary);
        if (!in) continue;
        objects.put(obs::ObsPath{p.bucket, p.key + name}, [&in](char* buf, size_t cap) -> size_t {
          in.read(buf, std::streamsize(cap));
          return size_t(in.gcount());
        });
      }
    } catch (const std::exception& e) {
      spdlog::warn("training: log of version {} not copied to log_url: {}", vid, e.what());
    }
  }
  std::error_code ec;
  fs::remove_all(dir + "/work", ec);
  if (status == kLost) runtime::remove_job_cgroups(dir);  // nobody else will
  int64_t end = s.ended_ms ? s.ended_ms : clock::now_ms();
  int64_t start = v.i64("started_at") ? v.i64("started_at") : s.started_ms;
  db.exec("UPDATE train_versions SET status = ?, reason = ?, exit_code = ?, started_at = ?, ended_at = ? WHERE id = ?",
          {status, reason, status == kLost ? store::Value() : store::Value(s.exit_code), start, end, vid});
}

// All the resources jobs may use: the cluster's, or the configured ones.
runtime::Capacity Service::Impl::capacity() {
  if (runner->has_queue())
    if (auto t = runner->total()) return *t;
  return {settings.cores, settings.memory_mb};
}

// How many jobs of the smallest spec can run at once (the list's "quotas").
int64_t Service::Impl::max_running() {
  auto cap = capacity();
  int64_t most = 0;
  for (auto& f : catalog.flavors)
    most = std::max(most, std::min(int64_t(cap.cores / f.cores + 1e-9), cap.memory_mb / f.memory_mb));
  return most;
}

// Cores and memory held by the versions handed to the runner and not ended.
std::pair<double, int64_t> Service::Impl::used() {
  double c = 0;
  int64_t m = 0;
  for (auto& v : db.query("SELECT config FROM train_versions WHERE status IN (?, ?, ?) AND handle <> ''",
                          {int(kWaiting), int(kRunning), int(kKilling)})) {
    json cfg = json::parse(v.str("config"), nullptr, false);
    if (const Flavor* f = catalog.flavor(cfg.value("spec_id", int64_t(0)))) {
      int n = cfg.value("worker_server_num", 1);
      c += f->cores * n;
      m += f->memory_mb * n;
    }
  }
  return {c, m};
}

// Runs fn for version `id` on a helper thread, unless one works on it already.
void Service::Impl::hand_over(int64_t id, std::function<void()> fn) {
  std::lock_guard lk(mu);
  if (!busy.insert(id).second) return;
  work.push_back([this, id, fn = std::move(fn)] {
    try {
      fn();
    } catch (const std::exception& e) {
      spdlog::error("training: version {}: {}", id, e.what());
    }
    {
      std::lock_guard lk(mu);
      busy.erase(id);
      starting.erase(id);
      wake = true;
    }
    cv.notify_all();
  });
  cv.notify_all();
}

void Service::Impl::helper_loop() {
  for (;;) {
    std::function<void()> fn;
    {
      std::unique_lock lk(mu);
      cv.wait(lk, [&] { return stopping || !work.empty(); });
      if (stopping) return;
      fn = std::move(work.front());
      work.pop_front();
    }
    fn();
  }
}

bool Service::Impl::is_busy(int64_t id) {
  std::lock_guard lk(mu);
  return busy.count(id) != 0;
}

// One pass of the scheduler: follow the started versions, then start
// queued ones in submission order while the head of the queue fits.
void Service::Impl::tick() {
  for (auto& v : db.query("SELECT * FROM train_versions WHERE status IN (?, ?, ?) AND handle <> '' ORDER BY id",
                          {int(kWaiting), int(kRunning), int(kKilling)})) try {
    if (is_busy(v.i64("id"))) continue;
    auto s = runner->poll(v.str("handle"), job_dir(v.i64("id")));
    int st = int(v.i64("status"));
    if (st == kKilling && s.phase != runtime::Phase::kExited && s.phase != runtime::Phase::kLost) {
      // Again now and then: the server may have stopped before it did.
      int64_t now = clock::now_ms();
      int64_t& last = last_cancel[v.i64("id")];
      if (now - last > 5000) {
        last = now;
        runner->cancel(v.str("handle"), job_dir(v.i64("id")));
      }
    } else if (s.phase == runtime::Phase::kRunning && st == kWaiting) {
      db.exec("UPDATE train_versions SET status = ?, started_at = ? WHERE id = ? AND status = ?",
              {int(kRunning), s.started_ms, v.i64("id"), int(kWaiting)});
    } else if (s.phase == runtime::Phase::kExited || s.phase == runtime::Phase::kLost) {
      if (s.phase == runtime::Phase::kLost) runner->cancel(v.str("handle"), job_dir(v.i64("id")));  // whatever is left of it
      last_cancel.erase(v.i64("id"));
      hand_over(v.i64("id"), [this, v, s] { finish(v, s); });
    }
  } catch (const std::exception& e) {
    spdlog::error("training: following version {}: {}", v.i64("id"), e.what());
  }
  db.exec("UPDATE train_versions SET status = ? WHERE status = ?", {int(kWaiting), int(kInit)});
  // The queue in submission order; the first that does not fit stops it (FIFO).
  auto [used_c, used_m] = used();
  {
    std::lock_guard lk(mu);
    for (auto& [id, r] : starting) used_c += r.first, used_m += r.second;
  }
  for (auto& head : db.query("SELECT * FROM train_versions WHERE status = ? AND handle = '' ORDER BY id LIMIT 64",
                             {int(kWaiting)})) {
    int64_t id = head.i64("id");
    if (is_busy(id)) continue;  // being staged
    json cfg = json::parse(head.str("config"), nullptr, false);
    const Flavor* f = catalog.flavor(cfg.value("spec_id", int64_t(0)));
    int n = cfg.is_object() ? cfg.value("worker_server_num", 1) : 1;
    double cores = f ? f->cores * n : 0;
    int64_t mem = f ? f->memory_mb * n : 0;
    if (!runner->has_queue()) {
      if (used_c + cores > settings.cores + 1e-9 || used_m + mem > settings.memory_mb) break;
      used_c += cores;
      used_m += mem;
    }
    {
      std::lock_guard lk(mu);
      starting[id] = {cores, mem};
    }
    hand_over(id, [this, head] { launch(head); });
  }
  // Folders of deleted versions, once nothing of them runs.
  std::set<std::string> gone;
  {
    std::lock_guard lk(mu);
    gone = trash;
  }
  for (auto& d : gone)
    if (!runtime::supervisor_alive(d)) {
      std::error_code ec;
      fs::remove_all(d, ec);
      std::lock_guard lk(mu);
      trash.erase(d);
    }
}

void Service::Impl::loop() {
  while (true) {
    try {
      tick();
    } catch (const std::exception& e) {
      spdlog::error("training scheduler: {}", e.what());
    }
    std::unique_lock lk(mu);
    cv.wait_for(lk, std::chrono::milliseconds(100), [&] { return wake || stopping; });
    if (stopping) return;
    wake = false;
  }
}

// After a restart: a version whose start was interrupted starts again, and
// job folders whose version is gone are cleaned up. Started versions are
// simply followed again by tick().
void Service::Impl::recover() {
  instance = runtime::instance_id(settings.dir);
  // A version interrupted between staging and the runner's answer starts again.
  for (auto& v : db.query("SELECT id FROM train_versions WHERE status = ? AND handle = ''", {int(kWaiting)})) {
    std::string dir = job_dir(v.i64("id"));
    runner->cancel("", dir);  // it may have been handed over before the server stopped
    // It must be gone before launch() reuses its folder.
    for (int i = 0; i < 100 && runtime::supervisor_alive(dir); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  std::error_code ec;
  fs::create_directories(settings.dir, ec);
  for (auto it = fs::directory_iterator(settings.dir, ec); !ec && it != fs::directory_iterator(); it.increment(ec)) {
    std::string name = it->path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos || name.size() > 18) continue;
    if (!db.query_one("SELECT id FROM train_versions WHERE id = ?", {std::stoll(name)})) trash.insert(it->path().string());
  }
}

}  // namespace atelier::training
