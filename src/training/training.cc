#include "training/training.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>

#include <algorithm>
#include <cstring>
#include <atomic>
#include <cmath>
#include <condition_variable>
#include <deque>
#include <functional>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <regex>
#include <set>
#include <thread>

#include <spdlog/spdlog.h>

#include "common/clock.h"
#include "common/error.h"
#include "common/ids.h"
#include "runtime/job_files.h"
#include "runtime/job_log.h"
#include "training/metrics_helper.h"
#include "training/v1_query.h"

namespace fs = std::filesystem;

namespace atelier::training {

using http::Context;
using http::Response;
using http::Route;
using store::Database;
using store::Row;

namespace {

// §3.0 status codes that the lifecycle here uses.
enum Status {
  kInit = 1,
  kWaiting = 7,
  kRunning = 8,
  kKilling = 9,
  kCompleted = 10,
  kFailed = 11,
  kKilled = 12,
  kLost = 14,
};
bool terminal(int s) { return s == 3 || s == 5 || s == 6 || (s >= 10 && s <= 14) || s == 16 || s == 17 || s == 20 || s == 21; }

constexpr int64_t kMaxJobs = 10000;  // per project (job_count_limit)

// ------------------------------------------------------------------ catalog

struct Engine {
  int64_t id = 0;
  int type = 0;
  std::string name, version;  // version: configured, or made from what is installed
  std::string module;         // Python module the engine needs ("" = plain Python)
  bool available = false;
  std::string why;  // when not available
};

struct Flavor {
  int64_t id = 0;
  std::string code;
  double cores = 1;
  int64_t memory_mb = 1024;
  int gpu_num = 0;
  std::string gpu_type;
  std::string storage;
};

// The built-in catalog: engines backed by Debian's packages (plain Python is
// engine 1, the id a create without engine_id gets; its engine_type 0 is not
// one of the spec's codes because the service has no such family) and CPU
// flavors.
constexpr const char* kDefaultCatalog = R"JSON({
  "engines": [
    {"engine_id": 1, "engine_type": 0, "engine_name": "Python", "module": ""},
    {"engine_id": 1001, "engine_type": 10, "engine_name": "PyTorch", "module": "torch"},
    {"engine_id": 601, "engine_type": 6, "engine_name": "Scikit Learn", "module": "sklearn"},
    {"engine_id": 901, "engine_type": 9, "engine_name": "XGBoost-Sklearn", "module": "xgboost"}
  ],
  "flavors": [
    {"spec_id": 1, "spec_code": "modelarts.vm.cpu.1u", "cores": 1, "memory_mb": 2048, "storage": "10GB"},
    {"spec_id": 2, "spec_code": "modelarts.vm.cpu.2u", "cores": 2, "memory_mb": 8192, "storage": "20GB"},
    {"spec_id": 3, "spec_code": "modelarts.vm.cpu.half", "cores": 0.5, "memory_mb": 1024, "storage": "5GB"}
  ]
})JSON";

// Sample configurations (config_type=sample), one per engine family.
constexpr const char* kSampleConfigs = R"JSON([
  {"config_name": "pytorch-mlp", "config_desc": "PyTorch: train a small MLP on the data folder and save model.pt",
   "worker_server_num": 1, "engine_id": 1001, "spec_id": 1, "app_url": "/samples/pytorch-mlp/code/",
   "boot_file_url": "/samples/pytorch-mlp/code/train.py", "data_url": "/samples/pytorch-mlp/data/",
   "parameter": [{"label": "epochs", "value": "5"}, {"label": "lr", "value": "0.01"}]},
  {"config_name": "sklearn-logistic", "config_desc": "Scikit-learn: logistic regression on a CSV",
   "worker_server_num": 1, "engine_id": 601, "spec_id": 1, "app_url": "/samples/sklearn/code/",
   "boot_file_url": "/samples/sklearn/code/train.py", "data_url": "/samples/sklearn/data/",
   "parameter": [{"label": "C", "value": "1.0"}]},
  {"config_name": "xgboost-classifier", "config_desc": "XGBoost: gradient boosted trees on a CSV",
   "worker_server_num": 1, "engine_id": 901, "spec_id": 1, "app_url": "/samples/xgboost/code/",
   "boot_file_url": "/samples/xgboost/code/train.py", "data_url": "/samples/xgboost/data/",
   "parameter": [{"label": "rounds", "value": "50"}]}
])JSON";

struct Catalog {
  std::vector<Engine> engines;
  std::vector<Flavor> flavors;

  const Engine* engine(int64_t id) const {
    for (auto& e : engines)
      if (e.id == id) return &e;
    return nullptr;
  }
  const Flavor* flavor(int64_t id) const {
    for (auto& f : flavors)
      if (f.id == id) return &f;
    return nullptr;
  }
};

Catalog parse_catalog(const std::string& text) {
  json j = json::parse(text.empty() ? std::string(kDefaultCatalog) : text, nullptr, false);
  if (!j.is_object()) throw std::runtime_error("train_catalog is not a JSON object");
  Catalog c;
  try {
    for (auto& e : j.value("engines", json::array())) {
      Engine x;
      x.id = e.at("engine_id").get<int64_t>();
      x.type = e.value("engine_type", 0);
      x.name = e.at("engine_name").get<std::string>();
      x.version = e.value("engine_version", "");
      x.module = e.value("module", "");
      c.engines.push_back(x);
    }
    for (auto& f : j.value("flavors", json::array())) {
      Flavor x;
      x.id = f.at("spec_id").get<int64_t>();
      x.code = f.at("spec_code").get<std::string>();
      x.cores = f.value("cores", 1.0);
      x.memory_mb = f.value("memory_mb", int64_t(1024));
      x.gpu_num = f.value("gpu_num", 0);
      x.gpu_type = f.value("gpu_type", "");
      x.storage = f.value("storage", "");
      if (x.cores <= 0 || x.memory_mb <= 0) throw std::runtime_error("flavor " + x.code + " needs cores and memory_mb > 0");
      c.flavors.push_back(x);
    }
  } catch (const json::exception& e) {
    throw std::runtime_error(std::string("train_catalog: ") + e.what());
  }
  return c;
}

// Asks the interpreter which engine modules are installed (without importing
// them: find_spec only) and their versions.
void probe_engines(Catalog& c, const std::string& python) {
  std::string mods;
  for (auto& e : c.engines)
    if (!e.module.empty()) mods += (mods.empty() ? "'" : ",'") + e.module + "'";
  std::string script =
      "import importlib.util, importlib.metadata as m, json, sys\n"
      "dist = {'sklearn': 'scikit-learn'}\n"
      "out = {'python': '%d.%d' % sys.version_info[:2]}\n"
      "for mod in [" + mods + "]:\n"
      "    try:\n"
      "        if importlib.util.find_spec(mod) is None: continue\n"
      "        try: out[mod] = m.version(dist.get(mod, mod))\n"
      "        except Exception: out[mod] = ''\n"
      "    except Exception: pass\n"
      "print(json.dumps(out))\n";
  json found;
  if (::access(python.c_str(), X_OK) == 0) {
    std::string cmd = python + " -I -c \"" + std::regex_replace(script, std::regex("\""), "\\\"") + "\" 2>/dev/null";
    if (FILE* p = ::popen(cmd.c_str(), "r")) {
      std::string outp;
      char buf[4096];
      size_t n;
      while ((n = fread(buf, 1, sizeof buf, p)) > 0) outp.append(buf, n);
      ::pclose(p);
      found = json::parse(outp, nullptr, false);
    }
  }
  std::string py = found.is_object() ? found.value("python", "") : "";
  for (auto& e : c.engines) {
    if (py.empty()) {
      e.available = false;
      e.why = "the interpreter " + python + " cannot be run";
    } else if (!e.module.empty() && !found.contains(e.module)) {
      e.available = false;
      e.why = "the Python module '" + e.module + "' is not installed for " + python;
    } else {
      e.available = true;
    }
    if (e.version.empty()) {
      std::string v = e.module.empty() ? "" : (found.is_object() ? found.value(e.module, "") : "");
      auto plus = v.find('+');
      if (plus != std::string::npos) v.resize(plus);  // 1.13.1+dfsg -> 1.13.1
      std::string base = e.name;
      std::replace(base.begin(), base.end(), ' ', '_');
      e.version = (e.module.empty() ? "python" + (py.empty() ? std::string("3") : py) : base + "-" + (v.empty() ? "unknown" : v) +
                                                                                             "-python" + (py.empty() ? "3" : py));
    }
  }
}

// ------------------------------------------------------------------ helpers

bool valid_name(const std::string& s) {
  if (s.empty() || s.size() > 64) return false;
  for (char c : s)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-')) return false;
  return true;
}

std::string folder_path(const JsonIn& in, const char* key) {
  std::string raw = in.str(key);
  auto p = obs::parse_path(raw, in.field(key));
  if (!p.key.empty() && p.key.back() != '/') p.key += '/';
  return p.str();
}

ApiError job_missing(const std::string& id) {
  return ApiError(400, "ModelArts.2775", "Training job " + id + " does not exist.");
}

}  // namespace

// ------------------------------------------------------------------ the service

struct Service::Impl {
  Database& db;
  obs::ObjectStore& objects;
  std::unique_ptr<runtime::JobRunner> runner;
  Settings settings;
  Catalog catalog;
  bool probed = false;
  std::mutex catalog_mu;

  // Scheduler state, guarded by mu.
  std::mutex mu;
  std::condition_variable cv;
  std::set<std::string> trash;  // job folders of deleted versions, removed once their supervisor is gone
  bool wake = false, stopping = false;
  std::thread thread;
  // Staging a version and publishing its output can take long (a big data
  // folder): they run on `helpers` so the scheduler keeps following the
  // others. `busy`: versions a helper works on; `starting`: what the ones
  // being staged will hold once started.
  std::vector<std::thread> helpers;
  std::deque<std::function<void()>> work;
  std::set<int64_t> busy;
  std::map<int64_t, std::pair<double, int64_t>> starting;
  std::atomic<bool> halt{false};  // the server stops: staging gives up (the version stays queued)
  std::map<int64_t, int64_t> last_cancel;  // scheduler thread only
  // Names this server's jobs (Slurm job names, cgroups) apart from another
  // server's on the same cluster: made once per data dir.
  std::string instance;

  Impl(Database& d, obs::ObjectStore& o, std::unique_ptr<runtime::JobRunner> r, Settings s)
      : db(d), objects(o), runner(std::move(r)), settings(std::move(s)) {
    catalog = parse_catalog(settings.catalog);
    if (settings.cores <= 0) settings.cores = std::max(1u, std::thread::hardware_concurrency());
    if (settings.memory_mb <= 0) {
      long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGESIZE);
      settings.memory_mb = pages > 0 && page > 0 ? int64_t(pages) * page / (1 << 20) * 3 / 4 : 4096;
    }
  }

  const Catalog& engines() {
    std::lock_guard lk(catalog_mu);
    if (!probed) {
      probe_engines(catalog, settings.python);
      probed = true;
    }
    return catalog;
  }

  void poke() {
    {
      std::lock_guard lk(mu);
      wake = true;
    }
    cv.notify_all();
  }

  std::string job_dir(int64_t vid) const { return settings.dir + "/" + std::to_string(vid); }

  // ---------------------------------------------------------------- TrainConfig

  enum class Mode { kJob, kVersion, kConfig };

  // Validates an effective TrainConfig (§3.1) and returns it normalized.
  json parse_config(const json& cfg, const std::string& path, Mode mode) {
    JsonIn in(cfg, path);
    json out = json::object();
    auto field = [&](const char* k) { return in.field(k); };
    if (in.has("user_image_url") || in.has("user_command"))
      in.fail("user_image_url", "custom images are not supported by the " + runner->name() +
                                    " runner; run code from app_url with one of the engines of GET /v1/{project_id}/job/ai-engines");
    if (in.has("model_id")) in.fail("model_id", "built-in algorithm " + in.node()["model_id"].dump() + " does not exist");
    if (in.has("pool_id")) in.fail("pool_id", "dedicated pools do not exist here; choose a spec_id of GET /v1/{project_id}/job/resource-specs");
    if (in.has("volumes") && !(in.node()["volumes"].is_array() && in.node()["volumes"].empty()))
      in.fail("volumes", "extra volumes are not supported by the " + runner->name() + " runner");
    if (in.has("dataset_id") || in.has("dataset_version_id"))
      in.fail("dataset_id", "dataset inputs are not supported yet; pass the dataset's folder as data_url");

    const Flavor* flavor = nullptr;
    if (!in.has("spec_id")) {
      if (mode != Mode::kConfig || in.has("worker_server_num")) in.fail("spec_id", "is required");
    } else {
      int64_t id = *in.opt_int("spec_id", 0, INT64_MAX);
      flavor = catalog.flavor(id);
      if (!flavor) in.fail("spec_id", std::to_string(id) + " is not a resource spec of GET /v1/{project_id}/job/resource-specs");
      auto cap = capacity();
      if (flavor->cores > cap.cores || flavor->memory_mb > cap.memory_mb)
        in.fail("spec_id", "spec " + flavor->code + " needs more than the " + runner->name() + " runner's capacity for jobs");
      out["spec_id"] = id;
    }
    if (!in.has("worker_server_num")) in.fail("worker_server_num", "is required");
    int64_t workers = *in.opt_int("worker_server_num", 1, 1024);
    if (workers > 1 && !settings.network)
      in.fail("worker_server_num", std::to_string(workers) +
                                       " workers need the network between them, and this server runs jobs without it "
                                       "(train_network is false)");
    if (workers > runner->max_nodes())
      in.fail("worker_server_num", std::to_string(workers) + " nodes: the " + runner->name() + " runner runs at most " +
                                       std::to_string(runner->max_nodes()) + " node(s) per job" +
                                       (runner->name() == "local" ? "; multi-node jobs need the Slurm runner" : ""));
    out["worker_server_num"] = workers;

    int64_t engine_id = in.has("engine_id") ? *in.opt_int("engine_id", 0, INT64_MAX) : 1;
    const Engine* e = engines().engine(engine_id);
    if (!e) in.fail("engine_id", std::to_string(engine_id) + " is not an engine of GET /v1/{project_id}/job/ai-engines");
    if (!e->available) in.fail("engine_id", "engine " + e->name + " (" + std::to_string(engine_id) + ") is not available on this server: " + e->why);
    out["engine_id"] = engine_id;

    std::string app = folder_path(in, "app_url");
    std::string boot = in.str("boot_file_url");
    auto bp = obs::parse_path(boot, field("boot_file_url"));
    if (bp.key.empty() || bp.key.back() == '/') in.fail("boot_file_url", "must name a file");
    if (bp.str().rfind(app, 0) != 0) in.fail("boot_file_url", "must be a file inside app_url " + app);
    if (mode != Mode::kConfig && !objects.head(bp))
      in.fail("boot_file_url", bp.str() + " does not exist");
    out["app_url"] = app;
    out["boot_file_url"] = bp.str();

    int inputs = in.has("data_url") + in.has("data_source");
    if (inputs > 1) in.fail("data_url", "give exactly one of data_url and data_source");
    if (in.has("data_url")) {
      out["data_url"] = folder_path(in, "data_url");
    } else if (in.has("data_source")) {
      const json& ds = in.arr("data_source");
      if (ds.size() != 1) in.fail("data_source", "give exactly one input");
      JsonIn d(ds[0], field("data_source") + "[0]");
      d.enum_str("type", {"obs"});
      out["data_url"] = folder_path(d, "data_url");
    } else if (mode != Mode::kConfig || in.has("worker_server_num")) {
      in.fail("data_url", "is required (or data_source)");
    }
    for (const char* k : {"train_url", "log_url"})
      if (in.has(k)) out[k] = folder_path(in, k);
    if (mode == Mode::kVersion && !out.contains("train_url")) in.fail("train_url", "is required for a new version");

    json params = json::array();
    if (in.has("parameter")) {
      const json& ps = in.arr("parameter");
      if (ps.size() > 100) in.fail("parameter", "at most 100 parameters");
      std::set<std::string> seen;
      for (size_t i = 0; i < ps.size(); ++i) {
        JsonIn p(ps[i], field("parameter") + "[" + std::to_string(i) + "]");
        std::string label = p.str("label");
        auto value = p.opt_str("value").value_or("");
        if (label.size() > 64 || !std::all_of(label.begin(), label.end(), [](char c) {
              return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.';
            }))
          p.fail("label", "must be 1-64 of letters, digits, '_', '-', '.'");
        if (label == "data_url" || label == "train_url") p.fail("label", label + " is set by the service");
        if (!seen.insert(label).second) p.fail("label", "'" + label + "' is given twice");
        if (value.size() > 4096 || value.find('\0') != std::string::npos) p.fail("value", "must be at most 4096 characters");
        params.push_back({{"label", label}, {"value", value}});
      }
    }
    out["parameter"] = params;
    return out;
  }

  // ---------------------------------------------------------------- rendering

  // The engine and spec fields of a config, for versions and configs.
  void engine_fields(json& j, const json& cfg) {
    if (auto* e = engines().engine(cfg.value("engine_id", int64_t(0)))) {
      j["engine_type"] = e->type;
      j["engine_name"] = e->name;
      j["engine_version"] = e->version;
    }
    j["engine_id"] = cfg.value("engine_id", int64_t(0));
    if (auto* f = catalog.flavor(cfg.value("spec_id", int64_t(0)))) {
      j["spec_code"] = f->code;
      char buf[32];
      std::snprintf(buf, sizeof buf, "%g", f->cores);
      j["core"] = buf;
      std::snprintf(buf, sizeof buf, "%g", double(f->memory_mb) / 1024);
      j["cpu"] = buf;
      j["gpu_num"] = f->gpu_num;
      j["gpu_type"] = f->gpu_type;
    }
  }

  static int64_t duration(const Row& v, int64_t now) {
    int64_t s = v.i64("started_at"), e = v.i64("ended_at");
    if (s == 0) return 0;
    return (e ? e : now) - s;
  }

  json version_json(const Row& v, const Row& job) {
    json cfg = json::parse(v.str("config"), nullptr, false);
    if (!cfg.is_object()) cfg = json::object();
    int64_t now = clock::now_ms();
    json j = {{"job_id", job.i64("id")},
              {"job_name", job.str("name")},
              {"job_desc", job.str("description")},
              {"version_id", v.i64("id")},
              {"version_name", v.str("name")},
              {"pre_version_id", v.null("pre_version_id") ? json(nullptr) : json(v.i64("pre_version_id"))},
              {"status", v.i64("status")},
              {"create_time", v.i64("created_at")},
              {"start_time", v.i64("started_at")},
              {"duration", duration(v, now)},
              {"app_url", cfg.value("app_url", "")},
              {"boot_file_url", cfg.value("boot_file_url", "")},
              {"parameter", cfg.value("parameter", json::array())},
              {"spec_id", cfg.value("spec_id", int64_t(0))},
              {"worker_server_num", cfg.value("worker_server_num", 1)},
              {"data_url", cfg.value("data_url", "")},
              {"train_url", cfg.value("train_url", "")},
              {"log_url", cfg.value("log_url", "")},
              {"dataset_id", ""},
              {"dataset_version_id", ""},
              {"dataset_name", ""},
              {"dataset_version_name", ""},
              {"data_source", json::array()},
              {"model_id", nullptr},
              {"model_metric_list", "{}"},
              {"system_metric_list", json::object()},
              {"user_image_url", ""},
              {"user_command", ""},
              {"resource_id", v.str("resource_id")},
              {"volumes", json::array()},
              {"pool_id", ""},
              {"pool_name", ""},
              {"nas_mount_path", ""},
              {"nas_share_addr", ""},
              {"nas_type", ""}};
    if (cfg.contains("data_url"))
      j["data_source"] = json::array({{{"type", "obs"}, {"data_url", cfg["data_url"]}}});
    engine_fields(j, cfg);
    return j;
  }

  // ---------------------------------------------------------------- lookups

  Row job_of(const Context& ctx) {
    int64_t id = parse_long(ctx.param("job_id"), "job_id");
    auto j = db.query_one("SELECT * FROM train_jobs WHERE id = ? AND project_id = ?", {id, ctx.caller.project_id});
    if (!j) throw job_missing(ctx.param("job_id"));
    return *j;
  }

  Row version_of(const Context& ctx, const Row& job) {
    int64_t id = parse_long(ctx.param("version_id"), "version_id");
    auto v = db.query_one("SELECT * FROM train_versions WHERE id = ? AND job_id = ?", {id, job.i64("id")});
    if (!v)
      throw ApiError(400, "ModelArts.2775",
                     "Version " + ctx.param("version_id") + " of training job " + job.str("name") + " does not exist.");
    return *v;
  }

  // ---------------------------------------------------------------- create

  // Inserts a queued version of `job` with a validated config, created at
  // `now` (a job's first version shares the job's time); returns its row.
  Row insert_version(const Row& job, const json& cfg, std::optional<int64_t> pre, int64_t now) {
    int64_t vid = ids::long_id();
    int64_t n = db.query_one("SELECT next_version FROM train_jobs WHERE id = ?", {job.i64("id")})->i64("next_version");
    char name[16];
    std::snprintf(name, sizeof name, "V%04lld", static_cast<long long>(n));
    char res[16];
    std::snprintf(res, sizeof res, "job%08llx", static_cast<unsigned long long>(vid & 0xffffffffULL));
    db.exec("UPDATE train_jobs SET next_version = ? WHERE id = ?", {n + 1, job.i64("id")});
    db.exec(
        "INSERT INTO train_versions (id, job_id, project_id, name, pre_version_id, config, status, runner, resource_id, "
        "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        {vid, job.i64("id"), job.str("project_id"), std::string(name), pre ? store::Value(*pre) : store::Value(),
         cfg.dump(), int(kInit), runner->name(), std::string(res), now});
    return *db.query_one("SELECT * FROM train_versions WHERE id = ?", {vid});
  }

  json created(const Row& job, const Row& v) {
    return {{"is_success", true},        {"job_id", job.i64("id")},          {"job_name", job.str("name")},
            {"status", v.i64("status")}, {"create_time", v.i64("created_at")}, {"version_id", v.i64("id")},
            {"version_name", v.str("name")}, {"resource_id", v.str("resource_id")}};
  }

  // ---------------------------------------------------------------- running

  struct Interrupted {};

  // Copies every object under the folder `from` (an OBS path) into `to`.
  void stage(const std::string& from, const std::string& to) {
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
  int64_t publish_tree(int dirfd, const obs::ObsPath& to, const std::string& rel, int depth) {
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

  int64_t publish(const std::string& job_folder, const std::string& to) {
    int work = ::open((job_folder + "/work").c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (work < 0) return 0;
    int out = ::openat(work, "output", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    ::close(work);
    if (out < 0) return 0;
    auto p = obs::parse_path(to);
    objects.create_bucket(p.bucket);
    return publish_tree(out, p, "", 0);
  }

  // One log a worker: job-<name>.0, job-<name>.1, ...
  static std::string log_stem(const Row& job) { return "job-" + job.str("name") + "."; }
  static std::vector<std::string> log_names(const Row& job, const Row& v) {
    json cfg = json::parse(v.str("config"), nullptr, false);
    int n = cfg.is_object() ? cfg.value("worker_server_num", 1) : 1;
    std::vector<std::string> out;
    for (int r = 0; r < n; ++r) out.push_back(log_stem(job) + std::to_string(r));
    return out;
  }

  // Stages a queued version and hands it to the runner. Errors fail the
  // version with the reason in its log.
  void launch(const Row& v) {
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
      // Stopped while it was being staged: it ends as soon as it has started.
      if (now->i64("status") == kKilled) {
        db.exec("UPDATE train_versions SET status = ? WHERE id = ?", {int(kKilling), vid});
        runner->cancel(handle, dir);
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
  void finish(const Row& v, const runtime::JobState& s) {
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
  runtime::Capacity capacity() {
    if (runner->has_queue())
      if (auto t = runner->total()) return *t;
    return {settings.cores, settings.memory_mb};
  }

  // How many jobs of the smallest spec can run at once (the list's "quotas").
  int64_t max_running() {
    auto cap = capacity();
    int64_t most = 0;
    for (auto& f : catalog.flavors)
      most = std::max(most, std::min(int64_t(cap.cores / f.cores + 1e-9), cap.memory_mb / f.memory_mb));
    return most;
  }

  // Cores and memory held by the versions handed to the runner and not ended.
  std::pair<double, int64_t> used() {
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

  // One pass of the scheduler: follow the started versions, then start
  // queued ones in submission order while the head of the queue fits.
  // Runs fn for version `id` on a helper thread, unless one works on it already.
  void hand_over(int64_t id, std::function<void()> fn) {
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

  void helper_loop() {
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

  bool is_busy(int64_t id) {
    std::lock_guard lk(mu);
    return busy.count(id) != 0;
  }

  void tick() {
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

  void loop() {
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
  void recover() {
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

  // ---------------------------------------------------------------- routes

  static Response ok(json j) {
    j["is_success"] = true;
    return http::json_response(200, j);
  }

  // Stops what runs of a deleted version; its folder goes once nothing runs.
  void discard(const Row& v) {
    std::string dir = job_dir(v.i64("id"));
    int st = int(v.i64("status"));
    if (!v.str("handle").empty() && !terminal(st)) runner->cancel(v.str("handle"), dir);
    std::lock_guard lk(mu);
    trash.insert(dir);
  }

  std::vector<Route> routes();
  json log_page(const Context& ctx);
  json config_json(const Row& r, bool detail);
};

std::vector<Route> Service::Impl::routes() {
  std::vector<Route> out;
  auto add = [&](std::string method, std::string path, std::string action, std::vector<std::string> depends,
                 http::RouteHandler h) {
    out.push_back(http::project_route(std::move(method), "/v1/{project_id}" + path, std::move(action), std::move(depends),
                                      std::move(h), http::ErrorShape::kModelArtsV1));
  };
  const std::vector<std::string> obs_job = {"obs:bucket:HeadBucket",          "obs:bucket:ListBucket",
                                            "obs:object:GetObjectAcl",        "obs:object:GetObjectVersionAcl",
                                            "obs:bucket:ListBucketVersions",  "obs:bucket:PutBucketAcl",
                                            "obs:bucket:ListAllMyBuckets"};
  const std::vector<std::string> obs_version = {"obs:bucket:HeadBucket",         "obs:bucket:ListBucket",
                                                "obs:object:GetObject",          "obs:object:GetObjectVersionAcl",
                                                "obs:bucket:ListBucketVersions", "obs:bucket:PutBucketAcl",
                                                "obs:bucket:ListAllMyBuckets"};
  const std::vector<std::string> obs_config = {"obs:bucket:HeadBucket", "obs:bucket:ListBucket",
                                               "obs:bucket:ListAllMyBuckets"};

  // ---------------------------------------------------------------- jobs (§3.2)

  add("POST", "/training-jobs", "modelarts:trainJob:create", obs_job, [this](Context& ctx) {
    auto in = ctx.in();
    std::string name = in.str("job_name");
    if (!valid_name(name)) in.fail("job_name", "must be 1-64 of letters, digits, '_' and '-'");
    std::string desc = in.max_len("job_desc", in.opt_str("job_desc").value_or(""), 256);
    std::string ws = in.opt_str("workspace_id").value_or("0");
    auto cin = in.obj("config");
    bool first = cin.opt_bool("create_version").value_or(true);
    json cfg = parse_config(cin.node(), "config", Mode::kJob);
    json body;
    db.transaction([&] {
      if (db.query_one("SELECT id FROM train_jobs WHERE project_id = ? AND name = ?", {ctx.caller.project_id, name}))
        throw ApiError(400, "ModelArts.0103", "Job name:" + name + " is existed");
      auto count = db.query_one("SELECT COUNT(*) AS n FROM train_jobs WHERE project_id = ?", {ctx.caller.project_id});
      if (count->i64("n") >= kMaxJobs)
        throw ApiError(400, "ModelArts.0105", "This project has " + std::to_string(kMaxJobs) + " training jobs, the most it may have.");
      int64_t id = ids::long_id();
      db.exec("INSERT INTO train_jobs (id, project_id, name, description, workspace_id, config, next_version, created_at) "
              "VALUES (?, ?, ?, ?, ?, ?, 1, ?)",
              {id, ctx.caller.project_id, name, desc, ws, cfg.dump(), clock::now_ms()});
      auto job = *db.query_one("SELECT * FROM train_jobs WHERE id = ?", {id});
      if (first) {
        body = created(job, insert_version(job, cfg, std::nullopt, job.i64("created_at")));
      } else {
        body = {{"is_success", true}, {"job_id", id}, {"job_name", name}, {"status", int(kInit)},
                {"create_time", job.i64("created_at")}, {"version_id", nullptr}, {"version_name", ""}, {"resource_id", ""}};
      }
    });
    poke();
    return http::json_response(200, body);
  });

  add("GET", "/training-jobs", "modelarts:trainJob:list", {}, [this](Context& ctx) {
    auto [per_page, page, column, order, search] =
        list_query(ctx, {{"job_name", "j.name"}, {"job_desc", "j.description"}, {"status", "v.status"},
                         {"duration", "dur"}, {"version_count", "vc"}, {"create_time", "j.created_at"}},
                   "asc");
    std::string ws = query(ctx, "workspace_id").value_or("0");
    int64_t now = clock::now_ms();
    std::string where = " WHERE j.project_id = ? AND j.workspace_id = ?";
    store::Params ps{now, ctx.caller.project_id, ws};
    if (!search.empty()) {
      where += " AND " + store::contains_ci("j.name");
      ps.push_back(store::contains_ci_pattern(search));
    }
    where += status_filter(ctx, "v.status", ps);
    std::string from =
        " FROM train_jobs j LEFT JOIN train_versions v ON v.id = (SELECT MAX(x.id) FROM train_versions x WHERE x.job_id = j.id)";
    store::Params count_ps(ps.begin() + 1, ps.end());
    int64_t total = db.query_one("SELECT COUNT(*) AS n" + from + where, count_ps)->i64("n");
    ps.push_back(per_page);
    ps.push_back((page - 1) * per_page);
    auto rows = db.query(
        "SELECT j.id, j.name, j.description, j.created_at, v.id AS vid, v.status, v.started_at, v.ended_at, "
        "CASE WHEN v.started_at IS NULL OR v.started_at = 0 THEN 0 WHEN v.ended_at = 0 THEN ? - v.started_at "
        "ELSE v.ended_at - v.started_at END AS dur, "
        "(SELECT COUNT(*) FROM train_versions c WHERE c.job_id = j.id) AS vc" +
            from + where + " ORDER BY " + column + " " + order + ", j.id " + order + " LIMIT ? OFFSET ?",
        ps);
    json jobs = json::array();
    for (auto& r : rows)
      jobs.push_back({{"job_id", r.i64("id")},
                      {"job_name", r.str("name")},
                      {"job_desc", r.str("description")},
                      {"version_id", r.null("vid") ? json(nullptr) : json(r.i64("vid"))},
                      {"status", r.null("status") ? int(kInit) : r.i64("status")},
                      {"create_time", r.i64("created_at")},
                      {"duration", r.i64("dur")},
                      {"version_count", r.i64("vc")}});
    int64_t all = db.query_one("SELECT COUNT(*) AS n FROM train_jobs WHERE project_id = ?", {ctx.caller.project_id})->i64("n");
    return ok({{"job_total_count", total}, {"job_count_limit", std::max<int64_t>(0, kMaxJobs - all)},
               {"quotas", max_running()}, {"jobs", jobs}});
  });

  add("PUT", "/training-jobs/{job_id}", "modelarts:trainJob:update", {}, [this](Context& ctx) {
    auto job = job_of(ctx);
    auto in = ctx.in();
    if (!in.node().contains("job_desc") || !in.node()["job_desc"].is_string()) in.fail("job_desc", "is required (a string)");
    std::string desc = in.max_len("job_desc", in.node()["job_desc"].get<std::string>(), 256);
    db.exec("UPDATE train_jobs SET description = ? WHERE id = ?", {desc, job.i64("id")});
    return ok(json::object());
  });

  add("DELETE", "/training-jobs/{job_id}", "modelarts:trainJob:delete", {}, [this](Context& ctx) {
    auto job = job_of(ctx);
    std::vector<Row> versions;
    db.transaction([&] {
      versions = db.query("SELECT * FROM train_versions WHERE job_id = ?", {job.i64("id")});
      db.exec("DELETE FROM train_versions WHERE job_id = ?", {job.i64("id")});
      db.exec("DELETE FROM train_jobs WHERE id = ?", {job.i64("id")});
    });
    for (auto& v : versions) discard(v);
    poke();
    return ok(json::object());
  });

  // ---------------------------------------------------------------- versions

  add("POST", "/training-jobs/{job_id}/versions", "modelarts:trainJobVersion:create", obs_version, [this](Context& ctx) {
    auto job = job_of(ctx);
    auto in = ctx.in();
    auto cin = in.obj("config");
    if (!cin.has("pre_version_id")) cin.fail("pre_version_id", "is required");
    // Each version writes its own output (the parent's train_url is not inherited).
    if (!cin.has("train_url")) cin.fail("train_url", "is required for a new version");
    int64_t pre = *cin.opt_int("pre_version_id", 1, INT64_MAX);
    auto parent = db.query_one("SELECT * FROM train_versions WHERE id = ? AND job_id = ?", {pre, job.i64("id")});
    if (!parent) cin.fail("pre_version_id", std::to_string(pre) + " is not a version of training job " + job.str("name"));
    // The parent's config with the changes of this request.
    json eff = json::parse(parent->str("config"));
    for (auto& [k, v] : cin.node().items())
      if (k != "pre_version_id" && k != "create_version") eff[k] = v;
    if (cin.node().contains("data_source") && !cin.node()["data_source"].is_null()) eff.erase("data_url");
    if (cin.node().contains("data_url") && !cin.node()["data_url"].is_null()) eff.erase("data_source");
    json cfg = parse_config(eff, "config", Mode::kVersion);
    std::optional<std::string> desc;
    if (in.has("job_desc")) desc = in.max_len("job_desc", *in.opt_str("job_desc"), 256);
    json body;
    db.transaction([&] {
      if (!db.query_one("SELECT id FROM train_jobs WHERE id = ?", {job.i64("id")})) throw job_missing(ctx.param("job_id"));
      if (desc) db.exec("UPDATE train_jobs SET description = ? WHERE id = ?", {*desc, job.i64("id")});
      auto j = *db.query_one("SELECT * FROM train_jobs WHERE id = ?", {job.i64("id")});
      body = created(j, insert_version(j, cfg, pre, clock::now_ms()));
      body.erase("resource_id");
    });
    poke();
    return http::json_response(200, body);
  });

  add("GET", "/training-jobs/{job_id}/versions", "modelarts:trainJobVersion:list", {}, [this](Context& ctx) {
    auto job = job_of(ctx);
    int64_t page = query_int(ctx, "page", 0, 0, 65535);
    int64_t per_page = query_int(ctx, "per_page", 10, 1, 1000);
    std::string sql = "SELECT * FROM train_versions WHERE job_id = ? ORDER BY id DESC";
    store::Params ps{job.i64("id")};
    if (page > 0) {
      sql += " LIMIT ? OFFSET ?";
      ps.push_back(per_page);
      ps.push_back((page - 1) * per_page);
    }
    json versions = json::array();
    for (auto& v : db.query(sql, ps)) {
      versions.push_back(version_json(v, job));
      versions.back()["system_metric_list"] = "{}";  // a JSON-encoded string in lists (spec §3.1)
    }
    int64_t n = db.query_one("SELECT COUNT(*) AS n FROM train_versions WHERE job_id = ?", {job.i64("id")})->i64("n");
    return ok({{"job_id", job.i64("id")}, {"job_name", job.str("name")}, {"job_desc", job.str("description")},
               {"version_count", n}, {"versions", versions}});
  });

  add("GET", "/training-jobs/{job_id}/versions/{version_id}", "modelarts:trainJobVersion:list", {}, [this](Context& ctx) {
    auto job = job_of(ctx);
    return ok(version_json(version_of(ctx, job), job));
  });

  add("DELETE", "/training-jobs/{job_id}/versions/{version_id}", "modelarts:trainJobVersion:delete", {}, [this](Context& ctx) {
    auto job = job_of(ctx);
    auto v = version_of(ctx, job);
    db.transaction([&] {
      db.exec("DELETE FROM train_versions WHERE id = ?", {v.i64("id")});
      // The last version gone, the job goes too.
      if (!db.query_one("SELECT id FROM train_versions WHERE job_id = ? LIMIT 1", {job.i64("id")}))
        db.exec("DELETE FROM train_jobs WHERE id = ?", {job.i64("id")});
    });
    discard(v);
    poke();
    return ok(json::object());
  });

  add("POST", "/training-jobs/{job_id}/versions/{version_id}/stop", "modelarts:trainJobVersion:stop", {}, [this](Context& ctx) {
    auto job = job_of(ctx);
    auto v = version_of(ctx, job);
    int st = int(v.i64("status"));
    int64_t now = clock::now_ms();
    if (st == kInit || st == kWaiting) {
      // Not handed to the runner yet: it ends here (launch() stops it if it was just being staged).
      if (v.str("handle").empty() &&
          db.exec("UPDATE train_versions SET status = ?, ended_at = ?, reason = 'stopped' WHERE id = ? AND status IN (?, ?) AND handle = ''",
                  {int(kKilled), now, v.i64("id"), int(kInit), int(kWaiting)}) == 1) {
        poke();
        return ok(json::object());
      }
      v = *db.query_one("SELECT * FROM train_versions WHERE id = ?", {v.i64("id")});
      st = int(v.i64("status"));
    }
    if (st == kWaiting || st == kRunning) {
      db.exec("UPDATE train_versions SET status = ? WHERE id = ? AND status = ?", {int(kKilling), v.i64("id"), st});
      runner->cancel(v.str("handle"), job_dir(v.i64("id")));
      poke();
      return ok(json::object());
    }
    throw ApiError(400, "ModelArts.0105", "This job can't be stopped. job status: " + std::to_string(st));
  });

  // ---------------------------------------------------------------- logs

  add("GET", "/training-jobs/{job_id}/versions/{version_id}/log/file-names", "modelarts:trainJobLog:list", {},
      [this](Context& ctx) {
        auto job = job_of(ctx);
        return ok({{"log_file_list", log_names(job, version_of(ctx, job))}});
      });
  auto page = [this](Context& ctx) { return ok(log_page(ctx)); };
  add("GET", "/training-jobs/{job_id}/versions/{version_id}/aom-log", "modelarts:trainJobLog:list", {}, page);
  // The newer log call; its parameters are not documented, so it reads like aom-log (spec §3.2.11).
  add("GET", "/training-jobs/{job_id}/versions/{version_id}/log", "modelarts:trainJobLog:list", {}, page);

  add("GET", "/built-in-algorithms", "modelarts:trainJobInnerModel:list", {}, [](Context& ctx) {
    query_int(ctx, "per_page", 10, 1, 100);
    query_int(ctx, "page", 1, 1, 65535);
    // This server ships no built-in algorithms: jobs run the user's code.
    return ok({{"model_total_count", 0}, {"models", json::array()}});
  });

  // ---------------------------------------------------------------- configs (§3.3)

  auto config_body = [this](Context& ctx, bool create) {
    auto in = ctx.in();
    json top = in.node();
    for (const char* k : {"config_name", "config_desc"}) top.erase(k);
    if (!create && !in.has("worker_server_num")) in.fail("worker_server_num", "is required");
    return parse_config(top, "", Mode::kConfig);
  };
  auto samples = []() { return json::parse(kSampleConfigs); };
  auto config_type = [](const Context& ctx) {
    std::string t = query(ctx, "config_type").value_or("custom");
    if (t != "custom" && t != "sample") throw bad_request("config_type must be custom or sample");
    return t;
  };

  add("POST", "/training-job-configs", "modelarts:trainConfig:create", obs_config, [this, config_body](Context& ctx) {
    auto in = ctx.in();
    std::string name = in.str("config_name");
    if (!valid_name(name)) in.fail("config_name", "must be 1-64 of letters, digits, '_' and '-'");
    std::string desc = in.max_len("config_desc", in.opt_str("config_desc").value_or(""), 256);
    json cfg = config_body(ctx, true);
    db.transaction([&] {
      if (db.query_one("SELECT name FROM train_configs WHERE project_id = ? AND name = ?", {ctx.caller.project_id, name}))
        throw ApiError(400, "ModelArts.0103", "Config name:" + name + " is existed");
      db.exec("INSERT INTO train_configs (project_id, name, description, config, created_at) VALUES (?, ?, ?, ?, ?)",
              {ctx.caller.project_id, name, desc, cfg.dump(), clock::now_ms()});
    });
    return ok(json::object());
  });

  add("GET", "/training-job-configs", "modelarts:trainConfig:list", {}, [this, samples, config_type](Context& ctx) {
    std::string type = config_type(ctx);
    auto [per_page, page, column, order, search] =
        list_query(ctx, {{"config_name", "name"}, {"config_desc", "description"}, {"create_time", "created_at"}}, "desc");
    json configs = json::array();
    int64_t total = 0;
    if (type == "sample") {
      if (query(ctx, "sortBy")) throw bad_request("sortBy is not allowed with config_type=sample");
      for (auto& c : samples()) {
        std::string n = c["config_name"];
        if (!search.empty() && n.find(search) == std::string::npos) continue;
        if (total++ < (page - 1) * per_page || int64_t(configs.size()) >= per_page) continue;
        json item = {{"config_name", n}, {"config_desc", c["config_desc"]}, {"create_time", 0},
                     {"user_image_url", ""}, {"user_command", ""}};
        engine_fields(item, c);
        for (const char* k : {"spec_code", "core", "cpu", "gpu_num", "gpu_type"}) item.erase(k);
        configs.push_back(item);
      }
    } else {
      std::string where = " WHERE project_id = ?";
      store::Params ps{ctx.caller.project_id};
      if (!search.empty()) {
        where += " AND " + store::contains_ci("name");
        ps.push_back(store::contains_ci_pattern(search));
      }
      total = db.query_one("SELECT COUNT(*) AS n FROM train_configs" + where, ps)->i64("n");
      ps.push_back(per_page);
      ps.push_back((page - 1) * per_page);
      for (auto& r : db.query("SELECT * FROM train_configs" + where + " ORDER BY " + column + " " + order +
                                  ", name " + order + " LIMIT ? OFFSET ?",
                              ps))
        configs.push_back(config_json(r, false));
    }
    return ok({{"config_total_count", total}, {"configs", configs}});
  });

  add("GET", "/training-job-configs/{config_name}", "modelarts:trainConfig:get", {}, [this, samples, config_type](Context& ctx) {
    const std::string& name = ctx.param("config_name");
    if (config_type(ctx) == "sample") {
      for (auto& c : samples())
        if (c["config_name"] == name) {
          json j = c;
          j["create_time"] = 0;
          engine_fields(j, c);
          return ok(j);
        }
      throw ApiError(404, "ModelArts.0015", "Sample config " + name + " does not exist.");
    }
    auto r = db.query_one("SELECT * FROM train_configs WHERE project_id = ? AND name = ?", {ctx.caller.project_id, name});
    if (!r) throw ApiError(404, "ModelArts.0015", "Config " + name + " does not exist.");
    return ok(config_json(*r, true));
  });

  add("PUT", "/training-job-configs/{config_name}", "modelarts:trainConfig:update", obs_config, [this, config_body](Context& ctx) {
    const std::string& name = ctx.param("config_name");
    auto in = ctx.in();
    std::optional<std::string> desc;
    if (in.has("config_desc")) desc = in.max_len("config_desc", *in.opt_str("config_desc"), 256);
    json cfg = config_body(ctx, false);
    int64_t n = db.exec(desc ? "UPDATE train_configs SET config = ?, description = ? WHERE project_id = ? AND name = ?"
                             : "UPDATE train_configs SET config = ? WHERE project_id = ? AND name = ?",
                        desc ? store::Params{cfg.dump(), *desc, ctx.caller.project_id, name}
                             : store::Params{cfg.dump(), ctx.caller.project_id, name});
    if (n == 0) throw ApiError(404, "ModelArts.0015", "Config " + name + " does not exist.");
    return ok(json::object());
  });

  add("DELETE", "/training-job-configs/{config_name}", "modelarts:trainConfig:delete", {}, [this](Context& ctx) {
    const std::string& name = ctx.param("config_name");
    if (db.exec("DELETE FROM train_configs WHERE project_id = ? AND name = ?", {ctx.caller.project_id, name}) == 0)
      throw ApiError(404, "ModelArts.0015", "Config " + name + " does not exist.");
    return ok(json::object());
  });

  // ---------------------------------------------------------------- engines and specs (§3.5, §3.6)

  add("GET", "/job/ai-engines", "", {}, [this](Context& ctx) {
    std::string type = query(ctx, "job_type").value_or("train");
    if (type != "train" && type != "inference") throw bad_request("job_type must be train or inference");
    json list = json::array();
    for (auto& e : engines().engines) {
      json j = {{"engine_type", e.type}, {"engine_name", e.name}, {"engine_id", e.id},
                {"engine_version", e.version}, {"available", e.available}};
      if (!e.available) j["unavailable_reason"] = e.why;
      list.push_back(j);
    }
    return ok({{"engines", list}});
  });

  add("GET", "/job/resource-specs", "", {}, [this](Context& ctx) {
    std::string type = query(ctx, "job_type").value_or("train");
    if (type != "train" && type != "inference") throw bad_request("job_type must be train or inference");
    query_int(ctx, "engine_id", 0, 0, INT64_C(999999999));
    query_int(ctx, "project_type", 0, 0, 3);
    // What is free now: the cluster's idle resources, or the configured capacity less the running jobs.
    runtime::Capacity idle{settings.cores, settings.memory_mb};
    if (runner->has_queue()) {
      idle = runner->free().value_or(runtime::Capacity{});
    } else {
      auto [c, m] = used();
      idle.cores -= c;
      idle.memory_mb -= m;
    }
    int max_num = runner->max_nodes();
    json list = json::array();
    for (auto& f : catalog.flavors) {
      json j = {{"spec_id", f.id}, {"spec_code", f.code}, {"gpu_num", f.gpu_num}, {"gpu_type", f.gpu_type},
                {"max_num", max_num}, {"unit_num", 1}, {"storage", f.storage}, {"interface_type", 1},
                {"no_resource", f.cores > idle.cores + 1e-9 || f.memory_mb > idle.memory_mb}};
      engine_fields(j, {{"spec_id", f.id}});
      for (const char* k : {"engine_id", "spec_code"}) j.erase(k);
      j["spec_code"] = f.code;
      list.push_back(j);
    }
    return ok({{"spec_total_count", list.size()}, {"specs", list}});
  });
  return out;
}

json Service::Impl::config_json(const Row& r, bool detail) {
  json cfg = json::parse(r.str("config"), nullptr, false);
  if (!cfg.is_object()) cfg = json::object();
  json j = {{"config_name", r.str("name")}, {"config_desc", r.str("description")}, {"create_time", r.i64("created_at")},
            {"user_image_url", ""}, {"user_command", ""}};
  engine_fields(j, cfg);
  if (!detail) {
    for (const char* k : {"spec_code", "core", "cpu", "gpu_num", "gpu_type"}) j.erase(k);
    return j;
  }
  for (const char* k : {"worker_server_num", "app_url", "boot_file_url", "parameter", "spec_id", "data_url", "train_url", "log_url"})
    j[k] = cfg.contains(k) ? cfg[k] : json("");
  if (!cfg.contains("parameter")) j["parameter"] = json::array();
  j["model_id"] = nullptr;
  j["dataset_id"] = j["dataset_version_id"] = j["dataset_name"] = j["dataset_version_name"] = "";
  j["data_source"] = cfg.contains("data_url") ? json::array({{{"type", "obs"}, {"data_url", cfg["data_url"]}}}) : json::array();
  j["pool_id"] = j["pool_name"] = j["nas_mount_path"] = j["nas_share_addr"] = j["nas_type"] = "";
  j["volumes"] = json::array();
  return j;
}

// aom-log (§3.2.11): line numbers are the cursors. No base_line: the newest
// `lines` lines; desc: the lines after base_line; asc: the lines before it.
json Service::Impl::log_page(const Context& ctx) {
  auto job = job_of(ctx);
  auto v = version_of(ctx, job);
  auto file = query(ctx, "log_file");
  if (!file || file->empty()) throw bad_request("log_file is required (a name from log/file-names)");
  auto names = log_names(job, v);
  if (std::find(names.begin(), names.end(), *file) == names.end())
    throw bad_request("log_file '" + file->substr(0, 80) + "' is not a log of this version");
  int64_t lines = query_int(ctx, "lines", 50, 0, 500);
  std::string order = query(ctx, "order").value_or("desc");
  if (order != "asc" && order != "desc") throw bad_request("order must be asc or desc");
  std::optional<uint64_t> base;
  if (auto b = query(ctx, "base_line"); b && !b->empty()) base = uint64_t(parse_long(*b, "base_line"));
  json out = {{"content", ""}, {"lines", 0}, {"start_line", base ? std::to_string(*base) : "0"},
              {"end_line", base ? std::to_string(*base) : "0"}};
  auto reader = runtime::JobLogReader::open(job_dir(v.i64("id")) + "/log/" + *file);
  if (!reader) return out;  // not started yet
  uint64_t first;
  if (!base) {
    uint64_t total = reader->total_lines();
    first = total > uint64_t(lines) ? total - uint64_t(lines) : 0;
  } else if (order == "desc") {
    first = *base;  // 0-based index of line base + 1
  } else {
    uint64_t before = *base > 0 ? *base - 1 : 0;  // lines before line `base`
    first = before > uint64_t(lines) ? before - uint64_t(lines) : 0;
    lines = int64_t(before - first);
  }
  auto page = reader->read(first, uint64_t(lines));
  if (!base && page.lines.empty()) {
    out["start_line"] = out["end_line"] = std::to_string(page.total);
    return out;
  }
  if (page.lines.empty()) return out;
  std::string content;
  for (size_t i = 0; i < page.lines.size(); ++i) {
    if (i) content.push_back('\n');
    content += page.lines[i];
  }
  out["content"] = json(content);
  out["lines"] = page.lines.size();
  out["start_line"] = std::to_string(page.first);
  out["end_line"] = std::to_string(page.first + page.lines.size() - 1);
  return out;
}

Service::Service(Database& db, obs::ObjectStore& objects, std::unique_ptr<runtime::JobRunner> runner, Settings s)
    : impl_(std::make_unique<Impl>(db, objects, std::move(runner), std::move(s))) {}

Service::~Service() {
  impl_->halt = true;
  {
    std::lock_guard lk(impl_->mu);
    impl_->stopping = true;
  }
  impl_->cv.notify_all();
  if (impl_->thread.joinable()) impl_->thread.join();
  for (auto& t : impl_->helpers) t.join();  // work not begun is done again at the next start
}

std::vector<Route> Service::routes() { return impl_->routes(); }

void Service::start() {
  impl_->recover();
  impl_->thread = std::thread([this] { impl_->loop(); });
  for (int i = 0; i < 2; ++i) impl_->helpers.emplace_back([this] { impl_->helper_loop(); });
}

std::vector<store::Migration> Service::migrations() {
  return {{"training/001_jobs", R"SQL(
CREATE TABLE train_jobs (
  id BIGINT PRIMARY KEY, project_id TEXT NOT NULL, name TEXT NOT NULL, description TEXT NOT NULL,
  workspace_id TEXT NOT NULL, config TEXT NOT NULL, next_version INTEGER NOT NULL, created_at BIGINT NOT NULL,
  UNIQUE (project_id, name));
CREATE TABLE train_versions (
  id BIGINT PRIMARY KEY, job_id BIGINT NOT NULL REFERENCES train_jobs(id) ON DELETE CASCADE,
  project_id TEXT NOT NULL, name TEXT NOT NULL, pre_version_id BIGINT, config TEXT NOT NULL,
  status INTEGER NOT NULL, runner TEXT NOT NULL, handle TEXT NOT NULL DEFAULT '', resource_id TEXT NOT NULL,
  reason TEXT NOT NULL DEFAULT '', exit_code INTEGER, created_at BIGINT NOT NULL,
  started_at BIGINT NOT NULL DEFAULT 0, ended_at BIGINT NOT NULL DEFAULT 0);
CREATE INDEX train_versions_job ON train_versions (job_id, id);
CREATE INDEX train_versions_status ON train_versions (status, id);
CREATE TABLE train_configs (
  project_id TEXT NOT NULL, name TEXT NOT NULL, description TEXT NOT NULL, config TEXT NOT NULL,
  created_at BIGINT NOT NULL, PRIMARY KEY (project_id, name));
)SQL"}};
}

}  // namespace atelier::training
