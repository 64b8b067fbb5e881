// training::Service: its route table, its lifetime and its schema. The
// handlers and the scheduler are members of Service::Impl (training_impl.h).
#include "training/training.h"

#include <thread>

#include "training/training_impl.h"

namespace atelier::training {

using http::Route;
using store::Database;

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

std::vector<Route> Service::routes() {
  using I = Impl;
  // The handlers borrow impl_: the routes live no longer than the service.
  std::shared_ptr<I> api(std::shared_ptr<I>(), impl_.get());
  auto h = [&api](Response (I::*fn)(Context&)) { return http::handler(api, fn); };
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
  const std::string version = "/training-jobs/{job_id}/versions/{version_id}";
  const std::string log = "modelarts:trainJobLog:list";
  return http::route_table("/v1/{project_id}", http::ErrorShape::kModelArtsV1, {
      {"POST", "/training-jobs", "modelarts:trainJob:create", obs_job, h(&I::create_job)},
      {"GET", "/training-jobs", "modelarts:trainJob:list", {}, h(&I::list_jobs)},
      {"PUT", "/training-jobs/{job_id}", "modelarts:trainJob:update", {}, h(&I::update_job)},
      {"DELETE", "/training-jobs/{job_id}", "modelarts:trainJob:delete", {}, h(&I::delete_job)},
      {"POST", "/training-jobs/{job_id}/versions", "modelarts:trainJobVersion:create", obs_version, h(&I::create_version)},
      {"GET", "/training-jobs/{job_id}/versions", "modelarts:trainJobVersion:list", {}, h(&I::list_versions)},
      {"GET", version, "modelarts:trainJobVersion:list", {}, h(&I::get_version)},
      {"DELETE", version, "modelarts:trainJobVersion:delete", {}, h(&I::delete_version)},
      {"POST", version + "/stop", "modelarts:trainJobVersion:stop", {}, h(&I::stop_version)},
      {"GET", version + "/log/file-names", log, {}, h(&I::log_files)},
      {"GET", version + "/aom-log", log, {}, h(&I::log_lines)},
      // The newer log call; its parameters are not documented, so it reads like aom-log.
      {"GET", version + "/log", log, {}, h(&I::log_lines)},
      {"GET", "/built-in-algorithms", "modelarts:trainJobInnerModel:list", {}, h(&I::list_algorithms)},
      {"POST", "/training-job-configs", "modelarts:trainConfig:create", obs_config, h(&I::create_config)},
      {"GET", "/training-job-configs", "modelarts:trainConfig:list", {}, h(&I::list_configs)},
      {"GET", "/training-job-configs/{config_name}", "modelarts:trainConfig:get", {}, h(&I::get_config)},
      {"PUT", "/training-job-configs/{config_name}", "modelarts:trainConfig:update", obs_config, h(&I::update_config)},
      {"DELETE", "/training-job-configs/{config_name}", "modelarts:trainConfig:delete", {}, h(&I::delete_config)},
      {"GET", "/job/ai-engines", "", {}, h(&I::list_engines)},
      {"GET", "/job/resource-specs", "", {}, h(&I::list_specs)},
  });
}

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
