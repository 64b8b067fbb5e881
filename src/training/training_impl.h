// The internals of training::Service that its files share: the status codes,
// the engine and flavor catalog, and Service::Impl, whose members are the
// route handlers (jobs.cc, configs.cc, logs.cc, catalog.cc) and the
// scheduler (scheduler.cc). Not for use outside src/training.
#pragma once
#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/error.h"
#include "training/training.h"

namespace atelier::training {

using http::Context;
using http::Response;
using store::Row;

// The numeric training status codes (0-21) that the lifecycle here uses.
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
// True for a status a version does not leave.
inline bool terminal(int s) { return s == 3 || s == 5 || s == 6 || (s >= 10 && s <= 14) || s == 16 || s == 17 || s == 20 || s == 21; }

constexpr int64_t kMaxJobs = 10000;  // per project (job_count_limit)

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

// The catalog of the JSON `text` (Settings::catalog), or the built-in one
// when it is empty; throws std::runtime_error when it is malformed.
Catalog parse_catalog(const std::string& text);
// Marks the engines whose module `python` has, and fills in their versions.
void probe_engines(Catalog& c, const std::string& python);

// A job or config name: 1-64 of letters, digits, '_' and '-'.
bool valid_name(const std::string& s);
// The OBS folder `key` of `in` names, ending in '/'.
std::string folder_path(const JsonIn& in, const char* key);
// ModelArts.2775: no training job `id` in the project.
ApiError job_missing(const std::string& id);

struct Service::Impl {
  store::Database& db;
  obs::ObjectStore& objects;
  std::unique_ptr<runtime::JobRunner> runner;
  Settings settings;
  Catalog catalog;
  bool probed = false;
  std::mutex catalog_mu;

  // Scheduler state, guarded by mu.
  std::mutex mu;
  std::condition_variable cv;
  std::set<std::string> trash;  // job folders of deleted versions (and of versions stopped while being staged), removed once their supervisor is gone
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

  Impl(store::Database& d, obs::ObjectStore& o, std::unique_ptr<runtime::JobRunner> r, Settings s);

  // Handlers of training jobs and their versions (jobs.cc).
  http::Response create_job(http::Context& ctx);      // a job, and its first version unless create_version is false
  http::Response list_jobs(http::Context& ctx);       // a page of the project's jobs, each with its latest version
  http::Response update_job(http::Context& ctx);      // its description
  http::Response delete_job(http::Context& ctx);      // the job and its versions, stopping what runs
  http::Response create_version(http::Context& ctx);  // a queued version: its parent's config with the request's changes
  http::Response list_versions(http::Context& ctx);   // the job's versions, newest first
  http::Response get_version(http::Context& ctx);     // one version
  http::Response delete_version(http::Context& ctx);  // one version (the last one takes the job along)
  http::Response stop_version(http::Context& ctx);    // a queued or running version
  // Handlers of a version's logs (logs.cc).
  http::Response log_files(http::Context& ctx);  // the names of its logs, one a worker
  http::Response log_lines(http::Context& ctx);  // a page of lines of one log (aom-log)
  // Handlers of saved configurations (configs.cc).
  http::Response create_config(http::Context& ctx);  // a custom config
  http::Response list_configs(http::Context& ctx);   // a page of the custom or the sample configs
  http::Response get_config(http::Context& ctx);     // one custom or sample config
  http::Response update_config(http::Context& ctx);  // a custom config's settings and description
  http::Response delete_config(http::Context& ctx);  // a custom config
  // Handlers of what jobs choose from (catalog.cc).
  http::Response list_algorithms(http::Context& ctx);  // the built-in algorithms: none
  http::Response list_engines(http::Context& ctx);     // the engines, and whether each is installed
  http::Response list_specs(http::Context& ctx);       // the resource specs, and whether each fits what is free

  // The catalog, its engines probed (once).
  const Catalog& engines();
  // The engine and spec fields of a config, for versions and configs.
  void engine_fields(json& j, const json& cfg);

  // How a TrainConfig is used: a job's first config, a new version's, a saved one.
  enum class Mode { kJob, kVersion, kConfig };
  // Validates an effective TrainConfig (a job's or version's config) and returns it normalized.
  json parse_config(const json& cfg, const std::string& path, Mode mode);
  // The settings of a config request (its body less name and description).
  json config_body(http::Context& ctx, bool create);
  static json sample_configs();
  // The config_type query parameter: custom (default) or sample.
  static std::string config_type(const http::Context& ctx);
  json config_json(const store::Row& r, bool detail);

  // The job and version the path names, in the caller's project.
  store::Row job_of(const http::Context& ctx);
  store::Row version_of(const http::Context& ctx, const store::Row& job);
  static int64_t duration(const store::Row& v, int64_t now);
  json version_json(const store::Row& v, const store::Row& job);
  store::Row insert_version(const store::Row& job, const json& cfg, std::optional<int64_t> pre, int64_t now);
  // The answer to a create: the job and its new version.
  json created(const store::Row& job, const store::Row& v);
  // Stops what runs of a deleted version; its folder goes once nothing runs.
  void discard(const store::Row& v);
  // A 200 of the v1 family: `j` with "is_success": true.
  static http::Response ok(json j);

  // One log a worker: job-<name>.0, job-<name>.1, ...
  static std::string log_stem(const store::Row& job) { return "job-" + job.str("name") + "."; }
  static std::vector<std::string> log_names(const store::Row& job, const store::Row& v);
  json log_page(const http::Context& ctx);

  // The scheduler (scheduler.cc).
  std::string job_dir(int64_t vid) const { return settings.dir + "/" + std::to_string(vid); }
  void poke();  // wakes the scheduler
  struct Interrupted {};
  void stage(const std::string& from, const std::string& to);
  int64_t publish_tree(int dirfd, const obs::ObsPath& to, const std::string& rel, int depth);
  int64_t publish(const std::string& job_folder, const std::string& to);
  void launch(const store::Row& v);
  void finish(const store::Row& v, const runtime::JobState& s);
  runtime::Capacity capacity();
  int64_t max_running();
  std::pair<double, int64_t> used();
  void hand_over(int64_t id, std::function<void()> fn);
  void helper_loop();
  bool is_busy(int64_t id);
  void tick();
  void loop();
  void recover();
};

}  // namespace atelier::training
