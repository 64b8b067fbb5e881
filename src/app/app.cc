#include "app/app.h"

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <spdlog/spdlog.h>

#include "app/bucket_owners.h"
#include "app/object_paths.h"
#include "common/clock.h"
#include "common/crypto.h"
#include "data/data.h"
#include "iam/routes.h"
#include "labeling/labeling.h"
#include "models/models.h"
#include "obs/multipart.h"
#include "training/samples.h"
#include "training/visualization.h"

namespace fs = std::filesystem;

namespace atelier::app {

namespace {

// The key that seals secret keys at rest: ATELIER_MASTER_KEY (64 hex) or a
// file created once in the data dir, readable by the owner only.
std::string master_key(const Config& cfg, bool memory) {
  if (!cfg.master_key.empty()) {
    if (cfg.master_key.size() != 64 || cfg.master_key.find_first_not_of("0123456789abcdefABCDEF") != std::string::npos)
      throw std::runtime_error("master_key must be 64 hex characters");
    std::string raw;
    for (size_t i = 0; i < 64; i += 2) raw.push_back(char(std::stoi(cfg.master_key.substr(i, 2), nullptr, 16)));
    return raw;
  }
  if (memory) return crypto::random_bytes(32);
  fs::path dir = fs::path(cfg.data_dir) / "keys", file = dir / "master.key";
  fs::create_directories(dir);
  ::chmod(dir.c_str(), 0700);
  if (!fs::exists(file)) {
    std::string key = crypto::random_bytes(32);
    fs::path tmp = dir / "master.key.tmp";
    {
      std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
      out.write(key.data(), std::streamsize(key.size()));
    }
    ::chmod(tmp.c_str(), 0600);
    fs::rename(tmp, file);
  }
  std::ifstream in(file, std::ios::binary);
  std::string key((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (key.size() != 32) throw std::runtime_error("master key file " + file.string() + " is damaged");
  return key;
}

}  // namespace

App::App(Config cfg, bool memory) : cfg_(std::move(cfg)) {
  open_stores(memory);
  open_iam(memory);
  add_routes(memory);
  runtime::LocalOptions lo;
  std::error_code ec;
  lo.self_exe = fs::read_symlink("/proc/self/exe", ec).string();
  lo.sandbox = cfg_.train_sandbox != "false";
  add_training(lo, memory);
  add_notebooks(lo, memory);
  declare_object_paths(*router_);
  add_object_endpoint(memory);
}

void App::open_stores(bool memory) {
  if (!memory) fs::create_directories(cfg_.data_dir);
  // The seams, chosen by URL in one place.
  std::string db_url = memory ? "sqlite::memory:"
                       : !cfg_.database.empty() ? cfg_.database
                                                : "sqlite://" + (fs::path(cfg_.data_dir) / "meta.db").string();
  std::string obs_url = memory ? "file://" + (fs::temp_directory_path() / "atelier-routes-obs").string()
                        : !cfg_.object_store.empty() ? cfg_.object_store
                                                     : "file://" + (fs::path(cfg_.data_dir) / "obs").string();
  db_ = store::open_database(db_url);
  db_->migrate(iam::Iam::migrations());
  db_->migrate(data::migrations());
  db_->migrate(tasks::Queue::migrations());
  db_->migrate(training::Service::migrations());
  db_->migrate(models::migrations());
  db_->migrate(training::visualization::migrations());
  db_->migrate(notebooks::Service::migrations());
  db_->migrate(labeling::migrations());
  db_->migrate(obs::Buckets::migrations());
  db_->migrate(obs::Multipart::migrations());
  if (cfg_.object_store_tls != "true" && cfg_.object_store_tls != "false")
    throw std::runtime_error("object_store_tls must be true or false, got '" + cfg_.object_store_tls + "'");
  obs::RemoteSettings remote;
  remote.tls = cfg_.object_store_tls == "true";
  remote.ca_file = cfg_.object_store_ca_file;
  remote.region = cfg_.object_store_region;
  remote.access_key = cfg_.object_store_access_key;
  remote.secret_key = cfg_.object_store_secret_key;
  objects_ = obs::open_store(obs_url, remote);
}

void App::open_iam(bool memory) {
  iam::IamConfig ic;
  ic.region = cfg_.region;
  ic.token_ttl_ms = cfg_.token_ttl_s * 1000;
  ic.max_clock_skew_ms = cfg_.max_clock_skew_s * 1000;
  ic.master_key = master_key(cfg_, memory);
  iam_ = std::make_unique<iam::Iam>(*db_, ic);
  boot_ = iam_->bootstrap(cfg_.admin_password);
  buckets_ = std::make_unique<obs::Buckets>(*db_);
  // A remote object store may refuse the samples bucket (its name taken on
  // a shared service): the server runs without the samples then.
  try {
    if (!training::install_samples(*objects_, *buckets_))
      spdlog::warn("the bucket {} belongs to account {}, so the sample training configs will not find their code there; "
                   "give it to the platform with: atelier admin bucket-owner --bucket {} --platform",
                   training::kSamplesBucket, buckets_->owner(std::string(training::kSamplesBucket)).value_or(""),
                   training::kSamplesBucket);
  } catch (const ApiError& e) {
    spdlog::warn("the sample training configs will not find their code: {}", e.what());
  }
  assign_bucket_owners(*db_, *objects_, *buckets_, boot_.domain_id);
  gate_ = std::make_unique<iam::Gate>(*iam_, *buckets_);
  router_ = std::make_unique<http::Router>(gate_.get());
}

void App::add_routes(bool memory) {
  http::Route health;
  health.method = "GET";
  health.path = "/health";
  health.access = http::Access::kPublic;
  health.handler = [](http::Context&) { return http::json_response(200, {{"status", "ok"}}); };
  router_->add(std::move(health));
  router_->add(iam::routes(*iam_));
  router_->add(iam::console_routes(*iam_));
  queue_ = std::make_unique<tasks::Queue>(*db_);
  router_->add(data::routes(*db_, *objects_, *queue_));
  router_->add(labeling::routes(*db_, *iam_,
                                mail::Smtp{cfg_.smtp_url, cfg_.smtp_user, cfg_.smtp_password, cfg_.smtp_from, cfg_.smtp_starttls == "true"},
                                cfg_.public_url.empty() ? "http://" + cfg_.listen : cfg_.public_url));
  registry_ = obs::open_local_store(memory ? (fs::temp_directory_path() / "atelier-routes-registry").string()
                                           : (fs::path(cfg_.data_dir) / "registry").string());
  router_->add(models::routes(*db_, *objects_, *registry_, *queue_));
}

void App::add_training(const runtime::LocalOptions& lo, bool memory) {
  training::Settings ts;
  ts.dir = (fs::path(memory ? fs::temp_directory_path().string() : cfg_.data_dir) / "training").string();
  try {
    ts.cores = std::stod(cfg_.train_cores);
  } catch (const std::exception&) {
    throw std::runtime_error("train_cores must be a number, got '" + cfg_.train_cores + "'");
  }
  ts.memory_mb = cfg_.train_memory_mb;
  ts.network = cfg_.train_network == "true";
  ts.catalog = cfg_.train_catalog;
  std::unique_ptr<runtime::JobRunner> jobs;
  if (cfg_.runner == "local")
    jobs = runtime::local_runner(lo);
  else if (cfg_.runner == "slurm")
    jobs = runtime::slurm_runner(lo, cfg_.slurm_partition);
  else
    throw std::runtime_error("runner must be local or slurm, got '" + cfg_.runner + "'");
  training_ = std::make_unique<training::Service>(*db_, *objects_, std::move(jobs), ts);
  router_->add(training_->routes());
  tensorboards_ = std::make_unique<training::TensorBoards>(
      *objects_, memory ? (fs::temp_directory_path() / "atelier-routes-visualization").string() : (fs::path(cfg_.data_dir) / "visualization").string(),
      memory ? "" : cfg_.tensorboard);
  router_->add(training::visualization::routes(*db_, *objects_, *tensorboards_));
}

void App::add_notebooks(const runtime::LocalOptions& lo, bool memory) {
  notebooks::Settings ns;
  ns.dir = (fs::path(memory ? fs::temp_directory_path().string() : cfg_.data_dir) / "notebooks").string();
  ns.catalog = cfg_.notebook_catalog;
  ns.idle_stop_s = cfg_.notebook_idle_stop_s;
  ns.volumes = cfg_.notebook_volumes != "false" && ::geteuid() == 0;  // mounting needs root
  notebooks::Service::Runners pools;
  if (!cfg_.notebook_pools.empty()) {
    json j = json::parse(cfg_.notebook_pools, nullptr, false);
    if (!j.is_array()) throw std::runtime_error("notebook_pools must be a JSON array of {\"id\", \"name\", \"partition\"}");
    for (auto& p : j) {
      if (!p.is_object() || !p.contains("id") || !p["id"].is_string() || p["id"].get<std::string>().empty())
        throw std::runtime_error("notebook_pools: every pool needs an \"id\"");
      notebooks::Pool pool{p["id"].get<std::string>(), p.value("name", p["id"].get<std::string>()), p.value("partition", "")};
      pools[pool.id] = runtime::slurm_runner(lo, pool.partition);
      ns.pools.push_back(std::move(pool));
    }
  }
  notebooks_ = std::make_unique<notebooks::Service>(*db_, *iam_, runtime::local_runner(lo), std::move(pools), ns);
  router_->add(notebooks_->routes());
}

void App::add_object_endpoint(bool memory) {
  fs::path spool = fs::path(memory ? fs::temp_directory_path().string() : cfg_.data_dir) /
                   (memory ? "atelier-routes-uploads" : "uploads");
  multipart_ = std::make_unique<obs::Multipart>(*db_, *objects_, spool.string());
  s3::EndpointOptions eo;
  eo.region = cfg_.region;
  eo.domain = cfg_.obs_domain;
  eo.max_skew_ms = cfg_.max_clock_skew_s * 1000;
  object_endpoint_ = std::make_unique<s3::Endpoint>(
      s3::Services{*iam_, *gate_, *buckets_, *objects_, *multipart_}, eo);
}

void App::start_janitor() {
  janitor_ = std::thread([this] {
    std::unique_lock<std::mutex> l(janitor_mu_);
    while (!stopping_) {
      l.unlock();
      try {
        size_t n = multipart_->clean(clock::now_ms() - cfg_.obs_upload_expiry_s * 1000);
        if (n) spdlog::info(R"({{"event":"uploads_expired","count":{}}})", n);
      } catch (const std::exception& e) {
        spdlog::warn("cleaning expired multipart uploads failed: {}", e.what());
      }
      l.lock();
      janitor_cv_.wait_for(l, std::chrono::hours(1), [this] { return stopping_; });
    }
  });
}

App::~App() {
  {
    std::lock_guard<std::mutex> l(janitor_mu_);
    stopping_ = true;
  }
  janitor_cv_.notify_all();
  if (janitor_.joinable()) janitor_.join();
}

}  // namespace atelier::app
