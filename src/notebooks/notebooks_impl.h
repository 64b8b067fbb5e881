// The internals of notebooks::Service that its files share: the catalogue of
// profiles and flavors, the instance statuses, and Service::Impl, whose
// members are the route handlers (instances.cc) and the scheduler
// (scheduler.cc). Not for use outside src/notebooks.
#pragma once
#include <atomic>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/json.h"
#include "notebooks/notebooks.h"

namespace atelier::notebooks {

using http::Context;
using http::Response;
using store::Row;

constexpr int64_t kMinAutoStopS = 3600, kMaxAutoStopS = 86400;
constexpr int64_t kMinIdleStopS = 60;
constexpr int kMinVolumeGb = 5, kMaxVolumeGb = 4096;

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

// The catalogue of the JSON `text` (Settings::catalog), or the built-in one
// when it is empty; throws std::runtime_error when it is malformed.
Catalog parse_catalog(const std::string& text);
json profile_json(const Profile& p);
// A flavor as the API shows it; `instance_num`: the user's instances of it.
json flavor_json(const Flavor& f, int64_t instance_num);

// Instance statuses: being started, waiting in a queue, not running and not about to.
inline bool starting(const std::string& st) { return st == "CREATING" || st == "STARTING" || st == "RESTARTING"; }
inline bool queued(const std::string& st) { return st == "CREATE_QUEUING" || st == "START_QUEUING" || st == "READY_TO_START"; }
inline bool settled(const std::string& st) {
  return st == "STOPPED" || st == "CREATE_FAILED" || st == "START_FAILED" || st == "UNAVAILABLE";
}

struct Service::Impl {
  store::Database& db;
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

  Impl(store::Database& d, iam::Iam& i, std::unique_ptr<runtime::JobRunner> r, Runners p, Settings s)
      : db(d), iam(i), local(std::move(r)), pools(std::move(p)), settings(std::move(s)), catalog(parse_catalog(settings.catalog)) {}

  // The runner of an instance: its pool's, or the local one.

  // Handlers of notebook instances (instances.cc).
  http::Response create(http::Context& ctx);  // a new instance, started at once or queued (free flavors)
  http::Response list(http::Context& ctx);    // the project's instances (by default the caller's own)
  http::Response get(http::Context& ctx);     // one instance
  http::Response update(http::Context& ctx);  // its description, auto_stop and idle_stop
  http::Response remove(http::Context& ctx);  // a stopped or queued instance, and its workspace
  http::Response action(http::Context& ctx);  // start, stop, restart, queue or dequeue
  http::Response token(http::Context& ctx);   // a token for opening the instance's url, for its owner
  http::Response proxy(http::Context& ctx);   // Jupyter under the instance's url, for its owner

  // Route restriction: an instance is opened by the user who created it (or
  // the account's owner), whatever else their grants allow.
  void only_its_owner(const http::Context& ctx);
  // The instance the path names, in the caller's project.
  store::Row instance_row(const http::Context& ctx);
  runtime::JobRunner& runner(const store::Row& r);
  const Pool* pool(const std::string& id) const;
  void poke();  // wakes the scheduler
  std::shared_ptr<std::atomic<int64_t>> traffic_of(const std::string& id);
  std::string dir_of(const std::string& id) const { return settings.dir + "/" + id; }
  std::string base_path(const store::Row& r) const;
  // An instance as the API shows it (instances.cc).
  json instance_json(const http::Context& ctx, const store::Row& r);
  int64_t instances_of(const std::string& user_id, const std::string& flavor);
  // auto_stop and idle_stop of a request, normalized.
  json parse_auto_stop(const JsonIn& in, const Flavor& f);
  json parse_idle_stop(const JsonIn& in);
  // The scheduler (scheduler.cc).
  void loop();
  void set_status(const std::string& id, const std::string& from, const std::string& to, const std::string& reason = "",
                  const std::string& code = "");
  void tick();
  void promote_queued();
  void launch(const store::Row& r);
  std::string log_tail(const std::string& id);
  void follow_start(const store::Row& r, int64_t now);
  std::optional<std::pair<std::string, int>> server_file(const store::Row& r);
  http::Headers jupyter_headers(const store::Row& r);
  std::string jupyter_url(const store::Row& r, const std::string& rest);
  bool ready(const store::Row& r);
  std::optional<int64_t> last_activity(const store::Row& r, int64_t now);
  void follow_running(const store::Row& r, int64_t now);
  void request_stop(const store::Row& r, const std::string& then, const std::string& note);
  void follow_stop(const store::Row& r);
  void follow_restart(const store::Row& r);
  void prepare_workspace(const std::string& id, int64_t gb);
  void release_workspace(const std::string& id);
  void recover();
};

}  // namespace atelier::notebooks
