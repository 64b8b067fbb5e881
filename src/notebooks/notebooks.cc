#include "notebooks/notebooks.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <spdlog/spdlog.h>
#include <spawn.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "common/clock.h"
#include "common/crypto.h"
#include "common/error.h"
#include "common/ids.h"
#include "http/client.h"
#include "notebooks/jupyter_main.h"
#include "runtime/job_files.h"
#include "runtime/job_log.h"

namespace fs = std::filesystem;

namespace atelier::notebooks {

using http::Context;
using http::Response;
using http::Route;
using store::Database;
using store::Row;

namespace {

constexpr int64_t kStartTimeoutMs = 90000;  // Jupyter answers within ~1 s here; a loaded machine may take longer
constexpr int64_t kProbeEveryMs = 10000;    // idle probes of a running instance
constexpr int64_t kMinAutoStopS = 3600, kMaxAutoStopS = 86400;
constexpr int64_t kMinIdleStopS = 60;
constexpr int kMinVolumeGb = 5, kMaxVolumeGb = 4096;
constexpr const char* kWork = "/home/work";  // the workspace, as the instance sees it

// The notebook family's field errors: ModelArts.6335 for a missing property,
// 6336 for a bad value.
struct FieldErrors : FieldErrorFactory {
  ApiError make(const std::string& field, const std::string& problem) const override {
    bool missing = problem.rfind("is required", 0) == 0;
    return ApiError(400, missing ? "ModelArts.6335" : "ModelArts.6336",
                    "Invalid parameter " + field + ": " + problem + ".");
  }
};
const FieldErrors kFieldErrors;

// The spec §7 mapping for this family gives 6309 a 404 (the error table
// lists 400; the family's own section and the issue ask for 404).
ApiError missing_instance(const std::string& id) {
  return ApiError(404, "ModelArts.6309", "The instance " + id + " does not exist.");
}

// ---------------------------------------------------------------- catalogue

struct Profile {
  std::string id, name, description, flavor_type, category, image_name, image_tag;
};

struct Flavor {
  std::string name, type;  // CPU | GPU | ASCEND
  double cpu = 1;
  int gpu = 0;
  std::string gpu_type;
  int64_t memory_mb = 4096;
  bool free = false;
  int64_t duration_s = 0;  // auto-stop forced on this flavor (free ones); 0 = none
  bool sold_out = false;   // GPU flavors on a host without GPUs
};

struct Catalog {
  std::vector<Profile> profiles;
  std::vector<Flavor> flavors;
  const Profile* profile(const std::string& id) const {
    for (auto& p : profiles)
      if (p.id == id) return &p;
    return nullptr;
  }
  const Flavor* flavor(const std::string& n) const {
    for (auto& f : flavors)
      if (f.name == n) return &f;
    return nullptr;
  }
};

bool host_has_gpu() { return fs::exists("/dev/nvidia0"); }

// What this host offers: Debian's Python 3 with the engines the training
// jobs use (PyTorch, scikit-learn, XGBoost); no Python 2. GPU flavors are
// sold out without a GPU.
constexpr const char* kBuiltInCatalog = R"JSON({
 "profiles": [
  {"id": "Multi-Engine 1.0 (python3)-cpu", "flavor_type": "CPU", "description": "multi engine, cpu, python 3 for notebook",
   "category": "Multi-Engine 1.0 (python3)", "image_name": "mul-kernel-cpu-cp3", "image_tag": "debian12"},
  {"id": "Multi-Engine 1.0 (python3)-gpu", "flavor_type": "GPU", "description": "multi engine, gpu, python 3 for notebook",
   "category": "Multi-Engine 1.0 (python3)", "image_name": "mul-kernel-gpu-cp3", "image_tag": "debian12"},
  {"id": "Multi-Engine 2.0 (python3)", "flavor_type": "CPU", "description": "multi engine 2.0, python 3 for notebook",
   "category": "Multi-Engine 2.0 (python3)", "image_name": "mul-kernel-cp3", "image_tag": "debian12"},
  {"id": "Python3", "flavor_type": "CPU", "description": "python 3 for notebook", "category": "Python3",
   "image_name": "python3", "image_tag": "debian12"},
  {"id": "Python3-gpu", "name": "Python3", "flavor_type": "GPU", "description": "python 3, gpu for notebook",
   "category": "Python3", "image_name": "python3-gpu", "image_tag": "debian12"}
 ],
 "flavors": [
  {"name": "modelarts.vm.cpu.free", "type": "CPU", "cpu": 1, "memory_mb": 4096, "free": true, "duration": 3600},
  {"name": "modelarts.vm.cpu.2u", "type": "CPU", "cpu": 2, "memory_mb": 8192},
  {"name": "modelarts.vm.cpu.8u", "type": "CPU", "cpu": 8, "memory_mb": 32768},
  {"name": "modelarts.vm.gpu.free", "type": "GPU", "cpu": 4, "gpu": 1, "gpu_type": "p100", "memory_mb": 32768, "free": true, "duration": 3600},
  {"name": "modelarts.vm.gpu.p100", "type": "GPU", "cpu": 8, "gpu": 1, "gpu_type": "p100", "memory_mb": 65536},
  {"name": "modelarts.bm.gpu.v100NV32", "type": "GPU", "cpu": 8, "gpu": 1, "gpu_type": "v100NV32", "memory_mb": 65536}
 ]
})JSON";

Catalog parse_catalog(const std::string& text) {
  json j = json::parse(text.empty() ? std::string(kBuiltInCatalog) : text, nullptr, false);
  if (!j.is_object() || !j.contains("profiles") || !j["profiles"].is_array() || !j.contains("flavors") ||
      !j["flavors"].is_array())
    throw std::runtime_error("notebook_catalog must be a JSON object with arrays \"profiles\" and \"flavors\"");
  Catalog c;
  bool gpu = host_has_gpu();
  try {
    for (auto& p : j["profiles"]) {
      Profile x;
      x.id = p.at("id").get<std::string>();
      x.name = p.value("name", x.id);
      x.description = p.value("description", "");
      x.flavor_type = p.value("flavor_type", "CPU");
      x.category = p.value("category", x.id);
      x.image_name = p.value("image_name", "notebook");
      x.image_tag = p.value("image_tag", "latest");
      c.profiles.push_back(std::move(x));
    }
    for (auto& f : j["flavors"]) {
      Flavor x;
      x.name = f.at("name").get<std::string>();
      x.type = f.value("type", "CPU");
      x.cpu = f.value("cpu", 1.0);
      x.gpu = f.value("gpu", 0);
      x.gpu_type = f.value("gpu_type", "");
      x.memory_mb = f.value("memory_mb", int64_t(4096));
      x.free = f.value("free", false);
      x.duration_s = f.value("duration", int64_t(0));
      x.sold_out = x.gpu > 0 && !gpu;
      if (x.cpu <= 0 || x.memory_mb < 256) throw std::runtime_error("flavor " + x.name + ": cpu and memory_mb too small");
      c.flavors.push_back(std::move(x));
    }
  } catch (const json::exception& e) {
    throw std::runtime_error(std::string("notebook_catalog: ") + e.what());
  }
  return c;
}

json profile_json(const Profile& p) {
  return {{"id", p.id},
          {"name", p.name},
          {"description", p.description},
          {"de_type", "Notebook"},
          {"flavor_type", p.flavor_type},
          {"provision",
           {{"type", "Docker"},
            {"annotations", {{"category", p.category}, {"type", "system"}}},
            {"spec",
             {{"engine", "CCE"},
              {"params", {{"namespace", "atelier"}, {"image_name", p.image_name}, {"image_tag", p.image_tag}, {"annotations", nullptr}}}}}}}};
}

std::string memory_text(int64_t mb) {
  return mb % 1024 == 0 ? std::to_string(mb / 1024) + "GiB" : std::to_string(mb) + "MiB";
}

json flavor_json(const Flavor& f, int64_t instance_num) {
  json params = {{"CPU", f.cpu == std::floor(f.cpu) ? json(int64_t(f.cpu)) : json(f.cpu)}, {"GPU", f.gpu},
                 {"memory", memory_text(f.memory_mb)}};
  if (!f.gpu_type.empty()) params["gpu_type"] = f.gpu_type;
  json j = {{"name", f.name},
            {"status", f.sold_out ? "soldOut" : "onSale"},
            {"type", f.type},
            {"params", params},
            {"storage_list", {"evs"}},
            {"is_permitted", true},
            {"promo_type", f.free ? "Free" : "NoDiscount"},
            {"instance_num", instance_num},
            {"store_time", -1},
            {"billing_flavor", f.name},
            {"billing_params", 1}};
  if (f.duration_s) j["duration"] = f.duration_s;
  if (f.free && f.sold_out) {
    j["queuing_num"] = 0;
    j["queue_left_time"] = 0;
  }
  return j;
}

// ---------------------------------------------------------------- helpers

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

// No character ModelArts forbids in names and descriptions (6334).
void check_text(const JsonIn& in, const char* key, const std::string& v) {
  if (v.find_first_of("&<>\"'/") != std::string::npos)
    throw ApiError(400, "ModelArts.6334", "Invalid parameter " + in.field(key) + ": must not contain & < > \" ' /.");
}

bool starting(const std::string& st) { return st == "CREATING" || st == "STARTING" || st == "RESTARTING"; }
bool queued(const std::string& st) { return st == "CREATE_QUEUING" || st == "START_QUEUING" || st == "READY_TO_START"; }
bool settled(const std::string& st) {
  return st == "STOPPED" || st == "CREATE_FAILED" || st == "START_FAILED" || st == "UNAVAILABLE";
}

}  // namespace

// ------------------------------------------------------------------ service

struct Service::Impl {
  Database& db;
  iam::Iam& iam;
  std::unique_ptr<runtime::JobRunner> local;
  std::map<std::string, std::unique_ptr<runtime::JobRunner>> pools;  // by pool id (Slurm)
  Settings settings;
  Catalog catalog;
  std::string instance;  // names this server's jobs apart from another's on the same host or cluster

  std::mutex mu;  // guards wake, stopping, traffic
  std::condition_variable cv;
  bool wake = false, stopping = false;
  std::thread thread;
  // Last time bytes passed through the proxy, per instance (idle stop).
  std::map<std::string, std::shared_ptr<std::atomic<int64_t>>> traffic;
  std::map<std::string, int64_t> probed_at;  // scheduler thread only

  Impl(Database& d, iam::Iam& i, std::unique_ptr<runtime::JobRunner> r, Runners p, Settings s)
      : db(d), iam(i), local(std::move(r)), pools(std::move(p)), settings(std::move(s)), catalog(parse_catalog(settings.catalog)) {}

  // The runner of an instance: its pool's, or the local one.
  runtime::JobRunner& runner(const Row& r) {
    if (r.str("pool").empty()) return *local;
    auto it = pools.find(r.str("pool"));
    if (it == pools.end()) throw std::runtime_error("pool " + r.str("pool") + " is no longer configured");
    return *it->second;
  }
  const Pool* pool(const std::string& id) const {
    for (auto& p : settings.pools)
      if (p.id == id) return &p;
    return nullptr;
  }

  void poke() {
    {
      std::lock_guard lk(mu);
      wake = true;
    }
    cv.notify_all();
  }

  std::shared_ptr<std::atomic<int64_t>> traffic_of(const std::string& id) {
    std::lock_guard lk(mu);
    auto& t = traffic[id];
    if (!t) t = std::make_shared<std::atomic<int64_t>>(clock::now_ms());
    return t;
  }

  std::string dir_of(const std::string& id) const { return settings.dir + "/" + id; }
  std::string base_path(const Row& r) const {
    return "/v1/" + r.str("project_id") + "/demanager/instances/" + r.str("id") + "/jupyter/";
  }

  // ---------------------------------------------------------------- rendering

  json instance_json(const Context& ctx, const Row& r) {
    json spec = json::parse(r.str("spec"), nullptr, false);
    if (!spec.is_object()) spec = json::object();
    const std::string st = r.str("status");
    json auto_stop = spec.value("auto_stop", json::object());
    if (st == "RUNNING" && r.i64("stop_at") > 0) {
      auto_stop["stop_timestamp"] = r.i64("stop_at");
      auto_stop["remain_time"] = std::max<int64_t>(0, (r.i64("stop_at") - clock::now_ms()) / 1000);
    }
    json annotations = spec.value("annotations", json::object());
    annotations["target_domain"] = ctx.base_url();
    annotations["url"] = st == "RUNNING" ? ctx.base_url() + base_path(r) : "";
    json storage = spec.value("storage", json::object());
    if (storage.value("type", "") == "evs")
      storage["location"] = {{"path", "/home/ma-user/work"}, {"volume_size", storage["location"].value("volume_size", 5)}};
    json out_spec = {{"storage", storage},
                     {"auto_stop", auto_stop},
                     {"annotations", annotations},
                     {"extend_params", nullptr},
                     {"extend_storage", nullptr},
                     {"failed_reasons", nullptr}};
    if (spec.contains("idle_stop")) out_spec["idle_stop"] = spec["idle_stop"];
    if (!r.str("reason").empty())
      out_spec["failed_reasons"] = {{"code", r.str("error_code")},
                                    {"message", r.str("reason")},
                                    {"detail", json::object()}};
    const Flavor* f = catalog.flavor(r.str("flavor"));
    const Profile* p = catalog.profile(r.str("profile_id"));
    json j = {{"id", r.str("id")},
              {"name", r.str("name")},
              {"description", r.str("description")},
              {"status", st},
              {"creation_timestamp", std::to_string(r.i64("created_at"))},
              {"latest_update_timestamp", std::to_string(r.i64("updated_at"))},
              {"profile", p ? profile_json(*p) : json{{"id", r.str("profile_id")}}},
              {"flavor", r.str("flavor")},
              {"flavor_details", f ? flavor_json(*f, instances_of(r.str("user_id"), f->name)) : json{{"name", r.str("flavor")}}},
              {"spec", out_spec},
              {"workspace", {{"id", r.str("workspace_id")}}},
              {"ai_project", {{"id", "default-ai-project"}}},
              {"user", {{"id", r.str("user_id")}, {"name", r.str("user_name")}}},
              {"error_code", r.str("error_code")},
              {"pool", r.str("pool").empty() ? json(nullptr)
                                             : json{{"id", r.str("pool")},
                                                    {"name", pool(r.str("pool")) ? pool(r.str("pool"))->name : r.str("pool")},
                                                    {"type", "USER_DEFINED"},
                                                    {"owner", {{"project_id", r.str("project_id")}}}}},
              {"repository", nullptr}};
    if (queued(st)) {
      auto rank = db.query_one("SELECT COUNT(*) AS n FROM notebooks WHERE status IN ('CREATE_QUEUING', 'START_QUEUING') "
                               "AND flavor = ? AND queued_at <= ?",
                               {r.str("flavor"), r.i64("queued_at")});
      j["queuing_info"] = {{"id", r.str("id")},
                           {"name", r.str("name")},
                           {"de_type", "Notebook"},
                           {"flavor", r.str("flavor")},
                           {"flavor_details", j["flavor_details"]},
                           {"status", st == "CREATE_QUEUING" ? "CREATE_QUEUING" : "START_QUEUING"},
                           {"begin_timestamp", r.i64("queued_at")},
                           {"end_timestamp", 0},
                           {"remain_time", 0},
                           {"rank", rank ? rank->i64("n") : 1}};
    }
    return j;
  }

  int64_t instances_of(const std::string& user_id, const std::string& flavor) {
    auto r = db.query_one("SELECT COUNT(*) AS n FROM notebooks WHERE user_id = ? AND flavor = ?", {user_id, flavor});
    return r ? r->i64("n") : 0;
  }

  // ---------------------------------------------------------------- validation

  // auto_stop of a request (§5.0 AutoStop), normalized.
  json parse_auto_stop(const JsonIn& in, const Flavor& f) {
    json a = {{"enable", false}, {"prompt", true}};
    if (in.has("auto_stop")) {
      auto as = in.obj("auto_stop");
      bool enable = as.opt_bool("enable").value_or(false);
      a["enable"] = enable;
      a["prompt"] = as.opt_bool("prompt").value_or(true);
      if (enable) {
        if (!as.has("duration")) as.fail("duration", "is required when enable is true");
        a["duration"] = *as.opt_int("duration", kMinAutoStopS, kMaxAutoStopS);
      } else if (as.has("duration")) {
        a["duration"] = *as.opt_int("duration", kMinAutoStopS, kMaxAutoStopS);
      }
    }
    if (f.duration_s && (!a["enable"].get<bool>() || a.value("duration", int64_t(0)) > f.duration_s)) {
      a["enable"] = true;  // a free flavor stops after its duration whatever was asked
      a["duration"] = f.duration_s;
    }
    return a;
  }

  json parse_idle_stop(const JsonIn& in) {
    if (!in.has("idle_stop")) {
      if (settings.idle_stop_s > 0) return {{"enable", true}, {"duration", settings.idle_stop_s}};
      return {{"enable", false}};
    }
    auto is = in.obj("idle_stop");
    bool enable = is.opt_bool("enable").value_or(false);
    json out = {{"enable", enable}};
    if (enable) {
      if (!is.has("duration")) is.fail("duration", "is required when enable is true");
      out["duration"] = *is.opt_int("duration", kMinIdleStopS, kMaxAutoStopS);
    }
    return out;
  }

  // ---------------------------------------------------------------- scheduler

  void loop() {
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

  void set_status(const std::string& id, const std::string& from, const std::string& to, const std::string& reason = "",
                  const std::string& code = "") {
    db.exec("UPDATE notebooks SET status = ?, reason = ?, error_code = ?, updated_at = ? WHERE id = ? AND status = ?",
            {to, reason, code, clock::now_ms(), id, from});
  }

  void tick() {
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
  void promote_queued() {
    for (auto& r : db.query("SELECT * FROM notebooks WHERE status IN ('CREATE_QUEUING', 'START_QUEUING') ORDER BY queued_at", {})) {
      auto n = db.query_one("SELECT COUNT(*) AS n FROM notebooks WHERE user_id = ? AND flavor = ? AND status NOT IN "
                            "('STOPPED', 'CREATE_FAILED', 'START_FAILED', 'UNAVAILABLE', 'CREATE_QUEUING', 'START_QUEUING')",
                            {r.str("user_id"), r.str("flavor")});
      if (n && n->i64("n") < settings.free_per_user)
        set_status(r.str("id"), r.str("status"), r.str("status") == "CREATE_QUEUING" ? "CREATING" : "READY_TO_START");
    }
  }

  // Prepares the workspace and hands Jupyter to the runner.
  void launch(const Row& r) {
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

  std::string log_tail(const std::string& id) {
    auto rd = runtime::JobLogReader::open(dir_of(id) + "/log/jupyter-0");
    if (!rd) return "";
    uint64_t n = rd->total_lines();
    auto page = rd->read(n > 8 ? n - 8 : 0, 8);
    std::string out;
    for (auto& l : page.lines) out += (out.empty() ? "" : " | ") + l;
    return out.size() > 1500 ? out.substr(out.size() - 1500) : out;
  }

  void follow_start(const Row& r, int64_t now) {
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
  std::optional<std::pair<std::string, int>> server_file(const Row& r) {
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

  http::Headers jupyter_headers(const Row& r) {
    http::Headers h;
    h.add("Authorization", "token " + r.str("secret"));
    return h;
  }

  std::string jupyter_url(const Row& r, const std::string& rest) {
    return "http://" + r.str("host") + ":" + std::to_string(r.i64("port")) + base_path(r) + rest;
  }

  bool ready(const Row& r) {
    try {
      return http::fetch("GET", jupyter_url(r, "api/status"), jupyter_headers(r), "", 2000).status == 200;
    } catch (const std::exception&) {
      return false;
    }
  }

  // When the instance last did something: a kernel's activity, an open
  // terminal (now), or traffic through the proxy. nullopt when Jupyter
  // cannot be asked.
  std::optional<int64_t> last_activity(const Row& r, int64_t now) {
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

  void follow_running(const Row& r, int64_t now) {
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
  void request_stop(const Row& r, const std::string& then, const std::string& note) {
    db.exec("UPDATE notebooks SET status = 'STOPPING', want = ?, reason = ?, error_code = '', updated_at = ? WHERE id = ? "
            "AND status = ?",
            {then, note, clock::now_ms(), r.str("id"), r.str("status")});
    if (!r.str("handle").empty()) runner(r).cancel(r.str("handle"), dir_of(r.str("id")));
    poke();
  }

  void follow_stop(const Row& r) {
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
  void follow_restart(const Row& r) {
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
  void prepare_workspace(const std::string& id, int64_t gb) {
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

  void release_workspace(const std::string& id) {
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
  void recover() {
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

  std::vector<Route> routes();
};

// ------------------------------------------------------------------ routes

std::vector<Route> Service::Impl::routes() {
  std::vector<Route> out;
  auto add = [&](std::string method, std::string path, std::string action, std::vector<std::string> depends,
                 http::RouteHandler h) {
    out.push_back(http::project_route(std::move(method), "/v1/{project_id}/demanager/instances" + path, std::move(action),
                                      std::move(depends), std::move(h)));
  };
  const std::vector<std::string> obs_deps = {"obs:bucket:CreateBucket", "obs:bucket:ListBucket",  "obs:bucket:ListAllMyBuckets",
                                             "obs:bucket:HeadBucket",   "obs:object:GetObject",   "obs:object:PutObject",
                                             "obs:object:DeleteObject"};
  auto instance_row = [this](const Context& ctx) {
    auto r = db.query_one("SELECT * FROM notebooks WHERE id = ? AND project_id = ?", {ctx.param("instance_id"), ctx.caller.project_id});
    if (!r) throw missing_instance(ctx.param("instance_id"));
    return *r;
  };

  add("POST", "", "modelarts:notebook:create", obs_deps, [this](Context& ctx) {
    JsonIn in(ctx.body(), "", &kFieldErrors);
    std::string name = in.str("name");
    if (name.size() > 64 || name.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") !=
                                std::string::npos)
      throw ApiError(400, "ModelArts.6334", "Invalid parameter name: at most 64 letters, digits, '-' and '_'.");
    std::string desc = in.opt_str("description").value_or("");
    if (desc.size() > 512) in.fail("description", "is longer than 512 characters");
    check_text(in, "description", desc);
    std::string profile_id = in.str("profile_id");
    const Profile* p = catalog.profile(profile_id);
    if (!p) {
      std::string ids;
      for (auto& x : catalog.profiles) ids += (ids.empty() ? "" : ", ") + x.id;
      in.fail("profile_id", "'" + profile_id + "' is not offered here (one of: " + ids + ")");
    }
    std::string flavor = in.str("flavor");
    const Flavor* f = catalog.flavor(flavor);
    if (!f) throw ApiError(400, "ModelArts.6323", "The flavor " + flavor + " is not supported.");
    if (f->type != p->flavor_type)
      throw ApiError(400, "ModelArts.6330", "The profile " + p->id + " runs on " + p->flavor_type + " flavors; " + f->name +
                                                " is a " + f->type + " flavor.");
    if (f->sold_out) throw ApiError(400, "ModelArts.6329", "The flavor " + f->name + " is sold out: this host has no GPU.");
    if (!in.has("spec")) throw ApiError(400, "ModelArts.6316", "The parameter spec.storage is missing.");
    auto spec_in = in.obj("spec");
    if (!spec_in.has("storage")) throw ApiError(400, "ModelArts.6316", "The parameter spec.storage is missing.");
    auto storage = spec_in.obj("storage");
    std::string type = storage.str("type");
    if (type != "evs")
      throw ApiError(400, "ModelArts.6324",
                     "The storage type " + type + " is not supported here: use evs (a volume of the instance's own).");
    int64_t gb = kMinVolumeGb;
    if (auto loc = storage.opt_obj("location"))
      if (loc->has("volume_size")) {
        auto v = loc->node()["volume_size"];
        if (!v.is_number_integer() || v.get<int64_t>() < kMinVolumeGb || v.get<int64_t>() > kMaxVolumeGb)
          throw ApiError(400, "ModelArts.6331", "Invalid parameter spec.storage.location.volume_size: an integer of " +
                                                    std::to_string(kMinVolumeGb) + ".." + std::to_string(kMaxVolumeGb) + " GB.");
        gb = v.get<int64_t>();
      }
    json spec = {{"storage", {{"type", "evs"}, {"location", {{"volume_size", gb}}}}},
                 {"auto_stop", parse_auto_stop(spec_in, *f)},
                 {"idle_stop", parse_idle_stop(spec_in)},
                 {"annotations", json::object()}};
    if (spec_in.has("annotations")) {
      const json& a = spec_in.node()["annotations"];
      if (!a.is_object()) spec_in.fail("annotations", "must be an object of strings");
      for (auto& [k, v] : a.items()) {
        if (!v.is_string()) spec_in.fail("annotations", "must be an object of strings");
        if (k != "url" && k != "target_domain") spec["annotations"][k] = v;
      }
    }
    std::string workspace = "0";
    if (auto w = in.opt_obj("workspace")) workspace = w->opt_str("id").value_or("0");
    if (workspace != "0") in.fail("workspace", "only the default workspace \"0\" exists here");
    std::string pool_id;
    if (auto pl = in.opt_obj("pool")) {
      pool_id = pl->str("id");
      if (!pool(pool_id)) {
        std::string ids;
        for (auto& x : settings.pools) ids += (ids.empty() ? "" : ", ") + x.id;
        pl->fail("id", "'" + pool_id + "' is not a dedicated pool here" + (ids.empty() ? std::string(" (none is configured)") : " (one of: " + ids + ")"));
      }
    }

    std::string id = "DE-" + ids::uuid();
    int64_t now = clock::now_ms();
    bool wait = f->free;
    db.transaction([&] {
      auto n = db.query_one("SELECT COUNT(*) AS n FROM notebooks WHERE project_id = ?", {ctx.caller.project_id});
      if (n && n->i64("n") >= settings.max_per_project)
        throw ApiError(400, "ModelArts.6302", "The project has the most notebook instances it may have (" +
                                                  std::to_string(settings.max_per_project) + ").");
      if (db.query_one("SELECT id FROM notebooks WHERE project_id = ? AND name = ?", {ctx.caller.project_id, name}))
        throw ApiError(400, "ModelArts.6301", "A notebook instance named " + name + " already exists.");
      db.exec("INSERT INTO notebooks (id, project_id, name, description, status, profile_id, flavor, user_id, user_name, "
              "workspace_id, spec, pool, secret, created_at, updated_at, queued_at) "
              "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
              {id, ctx.caller.project_id, name, desc, wait ? "CREATE_QUEUING" : "CREATING", p->id, f->name,
               ctx.caller.user_id, ctx.caller.user_name, workspace, spec.dump(), pool_id, crypto::random_hex(24), now,
               now, now});
    });
    poke();
    auto r = db.query_one("SELECT * FROM notebooks WHERE id = ?", {id});
    return http::json_response(200, instance_json(ctx, *r));
  });

  add("GET", "", "modelarts:notebook:list", {}, [this](Context& ctx) {
    const std::string* de_type = ctx.req.query_param("de_type");
    if (!de_type) throw ApiError(400, "ModelArts.6335", "The query parameter de_type is required (Notebook).");
    if (*de_type != "Notebook") throw ApiError(400, "ModelArts.6336", "Invalid parameter de_type: must be Notebook.");
    if (auto v = ctx.req.query_param("provision_type"); v && *v != "Docker")
      throw ApiError(400, "ModelArts.6336", "Invalid parameter provision_type: must be Docker.");
    std::string sql = "SELECT * FROM notebooks WHERE project_id = ?";
    store::Params params{ctx.caller.project_id};
    if (auto v = ctx.req.query_param("status")) {
      static const std::set<std::string> known = {"CREATE_QUEUING", "CREATING", "CREATE_FAILED", "START_QUEUING", "READY_TO_START",
                                                  "STARTING", "RESTARTING", "START_FAILED", "RUNNING", "STOPPING", "STOPPED",
                                                  "UNAVAILABLE", "DELETED", "RESIZING", "RESIZE_FAILED"};
      if (!known.count(*v)) throw ApiError(400, "ModelArts.6336", "Invalid parameter status: " + *v + " is not an instance status.");
      sql += " AND status = ?";
      params.push_back(*v);
    }
    if (auto v = ctx.req.query_param("workspace_id"); v && *v != "0") sql += " AND 0 = 1";  // only workspace 0 exists
    if (auto v = ctx.req.query_param("pool_id"); v && !v->empty()) {
      sql += " AND pool = ?";
      params.push_back(*v);
    }
    bool show_self = true;
    if (auto v = ctx.req.query_param("show_self")) {
      if (*v == "true" || *v == "True") show_self = true;
      else if (*v == "false" || *v == "False") show_self = false;
      else throw ApiError(400, "ModelArts.6336", "Invalid parameter show_self: true or false.");
    }
    if (show_self) {
      sql += " AND user_id = ?";
      params.push_back(ctx.caller.user_id);
    }
    std::string sortby = "name";
    if (auto v = ctx.req.query_param("sortby")) {
      if (*v != "name" && *v != "creation_timestamp")
        throw ApiError(400, "ModelArts.6303", "Sorting by " + *v + " is not supported: use name or creation_timestamp.");
      sortby = *v;
    }
    std::string order = "asc";
    if (auto v = ctx.req.query_param("order")) {
      if (*v != "asc" && *v != "desc") throw ApiError(400, "ModelArts.6336", "Invalid parameter order: asc or desc.");
      order = *v;
    }
    auto number = [&](const char* key) -> int64_t {
      auto v = ctx.req.query_param(key);
      if (!v) return 0;
      if (v->empty() || v->size() > 9 || v->find_first_not_of("0123456789") != std::string::npos)
        throw ApiError(400, "ModelArts.6332", std::string("Invalid parameter ") + key + ": a non-negative integer.");
      return std::stoll(*v);
    };
    int64_t offset = number("offset"), limit = number("limit");
    auto total = db.query_one("SELECT COUNT(*) AS n FROM (" + sql + ") t", params);
    sql += std::string(" ORDER BY ") + (sortby == "name" ? "name" : "created_at") + (order == "asc" ? " ASC" : " DESC") + ", id";
    if (limit > 0 || offset > 0) {  // an offset alone: no limit (the largest one, portably)
      sql += " LIMIT ? OFFSET ?";
      params.push_back(limit > 0 ? limit : std::numeric_limits<int64_t>::max());
      params.push_back(offset);
    }
    json list = json::array();
    for (auto& r : db.query(sql, params)) list.push_back(instance_json(ctx, r));
    return http::json_response(200, {{"total_count", total ? total->i64("n") : 0}, {"instances", list}});
  });

  add("GET", "/{instance_id}", "modelarts:notebook:get", {}, [this, instance_row](Context& ctx) {
    return http::json_response(200, instance_json(ctx, instance_row(ctx)));
  });

  add("PUT", "/{instance_id}", "modelarts:notebook:update", {}, [this, instance_row](Context& ctx) {
    auto r = instance_row(ctx);
    JsonIn in(ctx.body(), "", &kFieldErrors);
    json spec = json::parse(r.str("spec"));
    std::string desc = r.str("description");
    if (in.has("description")) {
      desc = in.opt_str("description").value_or("");
      if (desc.size() > 512) in.fail("description", "is longer than 512 characters");
      check_text(in, "description", desc);
    }
    if (in.has("spec")) {
      auto s = in.obj("spec");
      const Flavor* f = catalog.flavor(r.str("flavor"));
      if (s.has("auto_stop") && f) spec["auto_stop"] = parse_auto_stop(s, *f);
      if (s.has("idle_stop")) spec["idle_stop"] = parse_idle_stop(s);
    }
    // A changed auto_stop counts from the next start (§5.0); idle_stop at once.
    db.exec("UPDATE notebooks SET description = ?, spec = ?, updated_at = ? WHERE id = ?",
            {desc, spec.dump(), clock::now_ms(), r.str("id")});
    return http::json_response(200, instance_json(ctx, instance_row(ctx)));
  });

  add("DELETE", "/{instance_id}", "modelarts:notebook:delete", {}, [this, instance_row](Context& ctx) {
    auto r = instance_row(ctx);
    const std::string st = r.str("status");
    if (!settled(st) && !queued(st))
      throw ApiError(400, "ModelArts.6304", "The instance is " + st + ": stop it before deleting it.");
    if (db.exec("DELETE FROM notebooks WHERE id = ? AND status = ?", {r.str("id"), st}) == 0)
      throw ApiError(400, "ModelArts.6304", "The instance changed its status meanwhile; stop it before deleting it.");
    release_workspace(r.str("id"));
    std::error_code ec;
    fs::remove_all(dir_of(r.str("id")), ec);
    return http::json_response(200, {{"instance_id", r.str("id")}});
  });

  add("POST", "/{instance_id}/action", "modelarts:notebook:action", obs_deps, [this, instance_row](Context& ctx) {
    auto r = instance_row(ctx);
    JsonIn in(ctx.body(), "", &kFieldErrors);
    std::string action = in.enum_str("action", {"start", "stop", "restart", "queue", "dequeue"});
    const std::string st = r.str("status"), id = r.str("id");
    const Flavor* f = catalog.flavor(r.str("flavor"));
    auto busy = [&](const std::string& what) -> ApiError {
      if (st == "STOPPING") return ApiError(400, "ModelArts.6308", "The instance is stopping; " + what + " it once it has stopped.");
      if (starting(st) || st == "READY_TO_START")
        return ApiError(400, "ModelArts.6306", "The instance is starting; other operations are refused until it runs.");
      return ApiError(400, "ModelArts.6336", "The instance cannot " + what + " while " + st + ".");
    };
    std::string next;
    if (action == "start" || action == "queue") {
      if (action == "queue" && !(f && f->free))
        throw ApiError(400, "ModelArts.6336", "Invalid parameter action: queue is only for instances of a free flavor.");
      if (st == "RUNNING") throw ApiError(400, "ModelArts.6305", "The instance is already running.");
      if (!settled(st)) throw busy("start");
      next = f && f->free ? "START_QUEUING" : "STARTING";
      db.exec("UPDATE notebooks SET status = ?, handle = '', queued_at = ?, reason = '', error_code = '', updated_at = ? "
              "WHERE id = ? AND status = ?",
              {next, clock::now_ms(), clock::now_ms(), id, st});
    } else if (action == "stop") {
      if (st == "STOPPED") throw ApiError(400, "ModelArts.6307", "The instance is already stopped.");
      if (st == "STOPPING") throw ApiError(400, "ModelArts.6308", "The instance is stopping.");
      if (queued(st)) {
        next = "STOPPED";
        set_status(id, st, next);
      } else if (st == "RUNNING" || starting(st)) {
        next = "STOPPING";
        request_stop(r, "", "");
      } else {
        throw ApiError(400, "ModelArts.6307", "The instance is not running (" + st + ").");
      }
    } else if (action == "restart") {
      if (st != "RUNNING") throw ApiError(400, "ModelArts.6327", "The instance is not running (" + st + "); start it first.");
      next = "RESTARTING";
      db.exec("UPDATE notebooks SET status = 'RESTARTING', want = 'RESTART', reason = '', error_code = '', updated_at = ? "
              "WHERE id = ? AND status = 'RUNNING'",
              {clock::now_ms(), id});
      runner(r).cancel(r.str("handle"), dir_of(id));
    } else {  // dequeue
      if (!queued(st)) throw ApiError(400, "ModelArts.6336", "Invalid parameter action: the instance is not queuing (" + st + ").");
      next = "STOPPED";
      set_status(id, st, next);
    }
    poke();
    return http::json_response(200, {{"current_status", next}, {"previous_state", st}});
  });

  // A token for opening the instance's url: the caller's own identity,
  // scoped to the project, valid for an hour. Programs send it as
  // X-Auth-Token; a browser signs in at /login.
  add("GET", "/{instance_id}/token", "modelarts:notebook:access", {}, [this, instance_row](Context& ctx) {
    auto r = instance_row(ctx);
    if (r.str("user_id") != ctx.caller.user_id && !ctx.caller.is_owner)
      throw ApiError(403, "ModelArts.0108", "Only the instance's owner may open it.");
    auto user = iam.user_by_id(ctx.caller.user_id);
    auto project = iam.project_by_id(ctx.caller.project_id);
    if (!user || !project) throw ApiError(401, "ModelArts.0203", "The caller is no longer known.");
    auto issued = iam.issue_token(*user, project, {"token"}, clock::now_ms() + 3600 * 1000);
    return http::json_response(200, {{"token", issued.token}});
  });

  // The proxy: Jupyter under the instance's url, for its owner (or the
  // account's owner). Jupyter's token is added here and never leaves.
  auto proxy = [this, instance_row](Context& ctx) {
    auto r = instance_row(ctx);
    if (r.str("user_id") != ctx.caller.user_id && !ctx.caller.is_owner)
      throw ApiError(403, "ModelArts.0108", "Only the instance's owner may open it.");
    if (r.str("status") != "RUNNING")
      throw ApiError(400, "ModelArts.6327", "The instance is not running (" + r.str("status") + "); start it first.");
    auto up = std::make_shared<http::Upstream>();
    up->host = r.str("host");
    up->port = uint16_t(r.i64("port"));
    up->target = ctx.req.target;
    up->headers = http::headers_for_upstream(ctx.req);
    up->headers.add("Authorization", "token " + r.str("secret"));
    up->error_code = "ModelArts.6327";
    auto t = traffic_of(r.str("id"));
    t->store(clock::now_ms());
    up->on_traffic = [t] { t->store(clock::now_ms()); };
    Response resp;
    resp.upstream = std::move(up);
    return resp;
  };
  for (const char* method : {"GET", "POST", "PUT", "PATCH", "DELETE"})
    for (const char* path : {"/{instance_id}/jupyter", "/{instance_id}/jupyter/{path+}"}) {
      add(method, path, "modelarts:notebook:access", {}, proxy);
      out.back().browser = true;
    }
  return out;
}

// ------------------------------------------------------------------ Service

Service::Service(Database& db, iam::Iam& iam, std::unique_ptr<runtime::JobRunner> local, Runners pools, Settings s)
    : impl_(std::make_unique<Impl>(db, iam, std::move(local), std::move(pools), std::move(s))) {}

Service::~Service() {
  {
    std::lock_guard lk(impl_->mu);
    impl_->stopping = true;
  }
  impl_->cv.notify_all();
  if (impl_->thread.joinable()) impl_->thread.join();
}

std::vector<Route> Service::routes() { return impl_->routes(); }

void Service::start() {
  impl_->recover();
  impl_->thread = std::thread([this] { impl_->loop(); });
}

std::vector<store::Migration> Service::migrations() {
  return {{"notebooks/001_instances", R"SQL(
CREATE TABLE notebooks (
  id TEXT PRIMARY KEY, project_id TEXT NOT NULL, name TEXT NOT NULL, description TEXT NOT NULL,
  status TEXT NOT NULL, profile_id TEXT NOT NULL, flavor TEXT NOT NULL, user_id TEXT NOT NULL, user_name TEXT NOT NULL,
  workspace_id TEXT NOT NULL, spec TEXT NOT NULL, pool TEXT NOT NULL, secret TEXT NOT NULL,
  handle TEXT NOT NULL DEFAULT '', host TEXT NOT NULL DEFAULT '', port INTEGER NOT NULL DEFAULT 0,
  run INTEGER NOT NULL DEFAULT 0, want TEXT NOT NULL DEFAULT '', reason TEXT NOT NULL DEFAULT '',
  error_code TEXT NOT NULL DEFAULT '', created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL,
  queued_at BIGINT NOT NULL DEFAULT 0, launched_at BIGINT NOT NULL DEFAULT 0, started_at BIGINT NOT NULL DEFAULT 0,
  stop_at BIGINT NOT NULL DEFAULT 0, UNIQUE (project_id, name));
CREATE INDEX notebooks_status ON notebooks (status);
)SQL"}};
}

}  // namespace atelier::notebooks
