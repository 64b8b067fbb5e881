// The data-management route table: one row a
// route, each handled by a named DataApi member (see api.h).
#include "data/data.h"

#include <memory>

#include "data/api.h"
#include "data/transfer_internal.h"

namespace atelier::data {

std::vector<http::Route> routes(store::Database& db, obs::ObjectStore& objects, tasks::Queue& queue) {
  using A = DataApi;
  auto api = std::make_shared<A>(A{db, objects, queue});
  queue.handle("dataset-version-publish", [api](tasks::TaskContext& tc) { return api->task_dataset_version_publish(tc); }, /*resumable=*/true);
  queue.handle("dataset-sync", [api](tasks::TaskContext& tc) { return api->task_dataset_sync(tc); }, /*resumable=*/true);
  queue.handle(kKind, [api](tasks::TaskContext& tc) { return api->task_import(tc); }, /*resumable=*/true);
  queue.handle(kExportKind, [api](tasks::TaskContext& tc) { return api->task_export(tc); }, /*resumable=*/true);
  auto h = [&api](http::Response (A::*fn)(http::Context&)) { return http::handler(api, fn); };
  return http::route_table("/v2/{project_id}", http::ErrorShape::kModelArts, {
      {"GET", "/datasets/{dataset_id}/versions", "modelarts:dataset:get", {}, h(&A::list_versions)},
      {"POST", "/datasets/{dataset_id}/versions", "modelarts:dataset:publishVersion",
        {"obs:object:PutObject"}, h(&A::create_version)},
      {"GET", "/datasets/{dataset_id}/versions/{version_id}", "modelarts:dataset:get", {}, h(&A::get_version)},
      {"DELETE", "/datasets/{dataset_id}/versions/{version_id}", "modelarts:dataset:deleteVersion",
        {"obs:bucket:ListAllMyBuckets", "obs:bucket:ListBucket", "obs:object:DeleteObject"}, h(&A::delete_version)},
      {"POST", "/datasets/{dataset_id}/sync-data", "modelarts:dataset:updateDataset",
        {"obs:bucket:ListBucket", "obs:bucket:ListAllMyBuckets"}, h(&A::sync)},
      {"GET", "/datasets/{dataset_id}/sync-data/status", "modelarts:dataset:getDataset", {}, h(&A::sync_status)},
      {"POST", "/datasets", "modelarts:dataset:create",
        {"obs:bucket:HeadBucket", "obs:bucket:ListBucket", "obs:object:PutObject", "obs:bucket:ListAllMyBuckets"}, h(&A::create_dataset)},
      {"GET", "/datasets", "modelarts:dataset:list", {}, h(&A::list_datasets)},
      {"GET", "/datasets/{dataset_id}", "modelarts:dataset:get", {}, h(&A::get_dataset)},
      {"DELETE", "/datasets/{dataset_id}", "modelarts:dataset:delete",
        {"obs:bucket:ListAllMyBuckets", "obs:bucket:ListBucket", "obs:object:DeleteObject"}, h(&A::delete_dataset)},
      {"GET", "/datasets/{dataset_id}/data-annotations/stats", "modelarts:dataset:get", {}, h(&A::stats)},
      {"GET", "/datasets/{dataset_id}/metrics", "modelarts:dataset:get", {}, h(&A::metrics)},
      {"GET", "/datasets/{dataset_id}/data-annotations/labels", "modelarts:dataset:getDataset", {}, h(&A::list_labels)},
      {"POST", "/datasets/{dataset_id}/data-annotations/labels", "modelarts:dataset:updateDataset",
        {}, h(&A::add_labels)},
      {"PUT", "/datasets/{dataset_id}", "modelarts:dataset:update", {}, h(&A::update_dataset)},
      {"PUT", "/datasets/{dataset_id}/data-annotations/labels", "modelarts:dataset:updateDataset",
        {}, h(&A::put_labels)},
      {"POST", "/datasets/{dataset_id}/data-annotations/labels/delete", "modelarts:dataset:updateDataset",
        {}, h(&A::delete_labels)},
      {"PUT", "/datasets/{dataset_id}/data-annotations/labels/{label_name}", "modelarts:dataset:updateDataset",
        {}, h(&A::put_label)},
      {"DELETE", "/datasets/{dataset_id}/data-annotations/labels/{label_name}", "modelarts:dataset:updateDataset",
        {"obs:object:DeleteObject"}, h(&A::delete_label)},
      {"POST", "/datasets/{dataset_id}/data-annotations/samples", "modelarts:sample:addSamples",
        {"obs:object:PutObject"}, h(&A::add_samples)},
      {"GET", "/datasets/{dataset_id}/data-annotations/samples", "modelarts:sample:listSamples",
        {"obs:object:GetObject"}, h(&A::list_samples)},
      {"GET", "/datasets/{dataset_id}/data-annotations/samples/{sample_id}", "modelarts:sample:getSample",
        {"obs:object:GetObject"}, h(&A::get_sample)},
      {"GET", "/datasets/{dataset_id}/data-annotations/samples/{sample_id}/content", "modelarts:sample:getSample",
        {"obs:object:GetObject"}, h(&A::sample_content)},
      {"POST", "/datasets/{dataset_id}/data-annotations/samples/delete", "modelarts:sample:deleteSamples",
        {"obs:object:DeleteObject"}, h(&A::delete_samples)},
      {"GET", "/datasets/{dataset_id}/data-annotations/search-condition", "modelarts:sample:listSamples",
        {}, h(&A::search_conditions)},
      {"PUT", "/datasets/{dataset_id}/data-annotations/samples", "modelarts:dataset:updateDataset",
        {"obs:object:GetObject"}, h(&A::annotate)},
      {"POST", "/datasets/{dataset_id}/import-tasks", "modelarts:dataset:createImportTask", {}, h(&A::create_import)},
      {"GET", "/datasets/{dataset_id}/import-tasks", "modelarts:dataset:getDataset", {}, h(&A::list_imports)},
      {"GET", "/datasets/{dataset_id}/import-tasks/{task_id}", "modelarts:dataset:getDataset", {}, h(&A::get_import)},
      {"POST", "/datasets/{dataset_id}/export-tasks", "modelarts:dataset:createExportTask", {}, h(&A::create_export)},
      {"GET", "/datasets/{dataset_id}/export-tasks", "modelarts:dataset:getDataset", {}, h(&A::list_exports)},
      {"GET", "/datasets/{dataset_id}/export-tasks/{task_id}", "modelarts:dataset:getDataset", {}, h(&A::get_export)},
  });
}

}  // namespace atelier::data
