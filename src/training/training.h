// Legacy training management v1: training jobs
// and their versions that run real code on a JobRunner, their logs, the
// saved parameter configurations, and the engines and resource specs they
// choose from. The service keeps every job's history in the metadata store;
// one scheduler thread starts queued versions in submission order as the
// configured capacity frees up, follows the running ones, and after a
// restart re-attaches to the jobs that kept running under their supervisors.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "http/router.h"
#include "obs/object_store.h"
#include "runtime/runner.h"
#include "store/db.h"

namespace atelier::training {

struct Settings {
  std::string dir;           // job folders: <dir>/<version_id>/
  double cores = 0;          // capacity for jobs; 0 = every core of the machine
  int64_t memory_mb = 0;     // 0 = three quarters of the machine's memory
  bool network = false;      // jobs may use the network
  std::string catalog;       // JSON {"engines": [...], "flavors": [...]}; empty = the built-in one
  std::string python = "/usr/bin/python3";
};

class Service {
 public:
  Service(store::Database& db, obs::ObjectStore& objects, std::unique_ptr<runtime::JobRunner> runner, Settings s);
  ~Service();  // stops the scheduler; running jobs keep running
  Service(const Service&) = delete;
  Service& operator=(const Service&) = delete;

  static std::vector<store::Migration> migrations();
  std::vector<http::Route> routes();
  // Re-attaches to running jobs and starts the scheduler thread.
  void start();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace atelier::training
