// DevEnviron notebook instances v1: each running instance is a real
// Jupyter Notebook server that the platform starts through a JobRunner (the
// local runner's sandbox: bubblewrap, cgroup limits from the flavor, its own
// HOME) on a workspace of its own — an ext4 volume of `volume_size` GB when
// the host lets the server mount one — and reverse-proxies, HTTP and
// WebSocket, at the instance's `spec.annotations.url` for its owner only.
// Jupyter's own token never leaves the server. One scheduler thread moves
// instances through their statuses (CREATE_QUEUING, CREATING, STARTING,
// RUNNING, STOPPING, STOPPED, ...) as their processes really start and stop,
// stops them when their auto_stop timer ends or (beyond ModelArts) when they
// have been idle, and after a restart reconciles every instance with what
// still runs.
#pragma once
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "http/router.h"
#include "iam/iam.h"
#include "runtime/runner.h"
#include "store/db.h"

namespace atelier::notebooks {

// A dedicated pool (a create request's `pool`): instances created in it run as Slurm
// jobs of its partition, on the cluster's shared file system.
struct Pool {
  std::string id, name, partition;
};

struct Settings {
  std::string dir;              // instance folders: <dir>/<instance_id>/
  std::string catalog;          // JSON {"profiles": [...], "flavors": [...]}; empty = the built-in one
  int64_t idle_stop_s = 0;      // default idle stop for new instances; 0 = off
  int max_per_project = 50;     // ModelArts.6302 beyond
  int free_per_user = 1;        // running instances of a free flavor a user may have; more wait in a queue
  bool volumes = true;          // mount an ext4 volume per instance (needs root); false: a plain folder
  std::vector<Pool> pools;
  std::string python = "/usr/bin/python3";
};

class Service {
 public:
  using Runners = std::map<std::string, std::unique_ptr<runtime::JobRunner>>;  // by pool id
  // `local`: where instances without a pool run; `pools`: a runner per pool of `s`.
  Service(store::Database& db, iam::Iam& iam, std::unique_ptr<runtime::JobRunner> local, Runners pools, Settings s);
  ~Service();  // stops the scheduler; running instances keep running
  Service(const Service&) = delete;
  Service& operator=(const Service&) = delete;

  static std::vector<store::Migration> migrations();
  std::vector<http::Route> routes();
  // Reconciles the instances with what runs, then starts the scheduler.
  void start();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace atelier::notebooks
