// notebooks::Service: its route table, its lifetime and its schema. The
// handlers and the scheduler are members of Service::Impl (notebooks_impl.h).
#include "notebooks/notebooks.h"

#include "notebooks/notebooks_impl.h"

namespace atelier::notebooks {

using http::Route;
using store::Database;

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

std::vector<Route> Service::routes() {
  using I = Impl;
  // The handlers borrow impl_: the routes live no longer than the service.
  std::shared_ptr<I> api(std::shared_ptr<I>(), impl_.get());
  auto h = [&api](Response (I::*fn)(Context&)) { return http::handler(api, fn); };
  const std::vector<std::string> obs = {"obs:bucket:CreateBucket", "obs:bucket:ListBucket",  "obs:bucket:ListAllMyBuckets",
                                        "obs:bucket:HeadBucket",   "obs:object:GetObject",   "obs:object:PutObject",
                                        "obs:object:DeleteObject"};
  const std::string access = "modelarts:notebook:access";
  const std::string jupyter = "/{instance_id}/jupyter", below = "/{instance_id}/jupyter/{path+}";
  const bool browser = true;  // opened in a browser (sign-in at /login)
  const http::Restriction owner = [api](const Context& ctx) { api->only_its_owner(ctx); };
  return http::route_table("/v1/{project_id}/demanager/instances", http::ErrorShape::kModelArts, {
      {"POST", "", "modelarts:notebook:create", obs, h(&I::create)},
      {"GET", "", "modelarts:notebook:list", {}, h(&I::list)},
      {"GET", "/{instance_id}", "modelarts:notebook:get", {}, h(&I::get)},
      {"PUT", "/{instance_id}", "modelarts:notebook:update", {}, h(&I::update)},
      {"DELETE", "/{instance_id}", "modelarts:notebook:delete", {}, h(&I::remove)},
      {"POST", "/{instance_id}/action", "modelarts:notebook:action", obs, h(&I::action)},
      {"GET", "/{instance_id}/token", access, {}, h(&I::token), !browser, nullptr, owner},
      {"GET", jupyter, access, {}, h(&I::proxy), browser, nullptr, owner},
      {"GET", below, access, {}, h(&I::proxy), browser, nullptr, owner},
      {"POST", jupyter, access, {}, h(&I::proxy), browser, nullptr, owner},
      {"POST", below, access, {}, h(&I::proxy), browser, nullptr, owner},
      {"PUT", jupyter, access, {}, h(&I::proxy), browser, nullptr, owner},
      {"PUT", below, access, {}, h(&I::proxy), browser, nullptr, owner},
      {"PATCH", jupyter, access, {}, h(&I::proxy), browser, nullptr, owner},
      {"PATCH", below, access, {}, h(&I::proxy), browser, nullptr, owner},
      {"DELETE", jupyter, access, {}, h(&I::proxy), browser, nullptr, owner},
      {"DELETE", below, access, {}, h(&I::proxy), browser, nullptr, owner},
  });
}

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
