// The assembled server: metadata store, object store, IAM and every
// capability's routes on one Router. `serve`, `admin` and `routes` all start
// from an App so they run the same code.
#pragma once
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>

#include "app/config.h"
#include "http/router.h"
#include "iam/gate.h"
#include "iam/iam.h"
#include "obs/buckets.h"
#include "obs/multipart.h"
#include "obs/object_store.h"
#include "runtime/runner.h"
#include "s3/endpoint.h"
#include "store/db.h"
#include "tasks/tasks.h"
#include "notebooks/notebooks.h"
#include "training/tensorboard.h"
#include "training/training.h"

namespace atelier::app {

class App {
 public:
  // Opens the data dir (creating it), applies migrations and, on an empty
  // store, bootstraps the admin account. `memory` keeps everything in a
  // throwaway database (for `atelier routes`).
  explicit App(Config cfg, bool memory = false);
  ~App();

  http::Router& router() { return *router_; }
  iam::Iam& iam() { return *iam_; }
  store::Database& db() { return *db_; }
  obs::ObjectStore& objects() { return *objects_; }
  obs::Buckets& buckets() { return *buckets_; }
  obs::Multipart& multipart() { return *multipart_; }
  // The S3/OBS protocol over the same object store (its own listener).
  s3::Endpoint& object_endpoint() { return *object_endpoint_; }
  // Starts running queued and interrupted tasks (the server does; CLI calls do not).
  void start_tasks() {
    queue_->start();
    training_->start();
    notebooks_->start();
    start_janitor();
  }
  const Config& config() const { return cfg_; }
  const iam::Iam::Bootstrap& bootstrap() const { return boot_; }

 private:
  // The constructor's steps, in order. `memory`: as for the constructor.
  // Opens the metadata store (migrated) and the object store.
  void open_stores(bool memory);
  // Opens IAM (bootstrapping an empty store), the bucket owners and the
  // platform's samples; makes the gate and the router.
  void open_iam(bool memory);
  // Routes of health, IAM, data, labeling and models; starts the task queue.
  void add_routes(bool memory);
  // The training service on the runner configured (local or Slurm), and visualization.
  void add_training(const runtime::LocalOptions& lo, bool memory);
  // The notebook service, with its dedicated pools.
  void add_notebooks(const runtime::LocalOptions& lo, bool memory);
  // Multipart uploads and the object endpoint.
  void add_object_endpoint(bool memory);
  // Housekeeping while the server runs: aborts multipart uploads older than
  // obs_upload_expiry_s, at start and every hour.
  void start_janitor();

  Config cfg_;
  std::unique_ptr<store::Database> db_;
  std::unique_ptr<obs::ObjectStore> objects_;
  std::unique_ptr<obs::ObjectStore> registry_;  // published models' files
  std::unique_ptr<obs::Buckets> buckets_;
  std::unique_ptr<iam::Iam> iam_;
  std::unique_ptr<iam::Gate> gate_;
  std::unique_ptr<training::TensorBoards> tensorboards_;  // before router_: its routes use it
  std::unique_ptr<http::Router> router_;
  std::unique_ptr<training::Service> training_;
  std::unique_ptr<notebooks::Service> notebooks_;
  std::unique_ptr<obs::Multipart> multipart_;
  std::unique_ptr<s3::Endpoint> object_endpoint_;
  std::mutex janitor_mu_;
  std::condition_variable janitor_cv_;
  bool stopping_ = false;
  std::thread janitor_;
  // Declared last: destroyed first, so running tasks stop before the stores go.
  std::unique_ptr<tasks::Queue> queue_;
  iam::Iam::Bootstrap boot_;
};

}  // namespace atelier::app
