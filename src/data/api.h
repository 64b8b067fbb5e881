// The data-management API: one DataApi serves the routes of
// datasets, versions, sync, labels, samples and manual annotation; each
// resource's handlers live in their own file (datasets.cc, versions.cc, ...).
// Internal to src/data.
#pragma once
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "data/label_defs.h"
#include "http/router.h"
#include "obs/object_store.h"
#include "store/db.h"
#include "tasks/tasks.h"

namespace atelier::data {

// The names every file of the family uses.
using http::Context;
using http::json_response;
using http::Response;
using store::Database;
using store::Row;

struct DataApi {
  store::Database& db;
  obs::ObjectStore& objects;
  tasks::Queue& queue;

  // datasets.cc
  store::Row dataset(const http::Context& ctx);
  void touch(const std::string& ds);
  http::Response create_dataset(http::Context& ctx);
  http::Response list_datasets(http::Context& ctx);
  http::Response get_dataset(http::Context& ctx);
  http::Response delete_dataset(http::Context& ctx);
  http::Response stats(http::Context& ctx);
  http::Response metrics(http::Context& ctx);
  http::Response update_dataset(http::Context& ctx);

  // versions.cc
  // Publishing freezes the samples into <inner_annotation_path>Vnnn/Vnnn.manifest
  // (plus a VOC file per detection/segmentation sample), reading one snapshot
  // of the store; the manifest streams into the object store page by page.
  // Writing it again gives the same files, so an interrupted publish resumes.
  json publish(tasks::TaskContext& tc);
  // A publish that fails leaves its version in status 4 (failed) with the
  // reason, never in status 0.
  json task_dataset_version_publish(tasks::TaskContext& tc);
  json version_json(const store::Row& v, const store::Row& d);
  store::Row version_row(const std::string& ds, const std::string& vid);
  http::Response list_versions(http::Context& ctx);
  http::Response create_version(http::Context& ctx);
  http::Response get_version(http::Context& ctx);
  http::Response delete_version(http::Context& ctx);

  // sync.cc
  // Brings the files under a folder in as samples (dataset creation, sync).
  // One transaction per listing page, so a large folder does not hold the
  // write lock; inside a caller's transaction the pages join it.
  // New files also bring the annotations their folder layout gives them
  // (class folders, labels or VOC beside them: a sync brings in new files
  // with their annotations) unless the dataset was created with
  // import_annotations false. A file whose annotations do not fit comes in
  // unlabeled; files already samples are left as they are.
  void scan_folder(const std::string& ds, int type, const obs::ObsPath& folder, int64_t& added,
                                     const std::function<bool()>& stop = nullptr);
  // Rescans the input folders: new files become samples, samples whose file
  // is gone are removed. Safe to run again, so an interrupted sync resumes.
  json task_dataset_sync(tasks::TaskContext& tc);
  http::Response sync(http::Context& ctx);
  http::Response sync_status(http::Context& ctx);

  // labels.cc
  std::vector<LabelDef> read_labels_body(http::Context& ctx, int type);
  // Rewrites every sample carrying label (type, name): drop it, or rename it.
  // delete_policy: 0 keep samples, 1 delete the samples carrying the
  // label, 2 also their files. With only_label_samples, samples go
  // only when it was their only label (and their files with policy 2). Runs
  // inside the caller's transaction: the files to remove (those of the
  // caller's account's buckets) are added to `files`, for the caller to
  // remove once its transaction has committed.
  void rewrite_label(const std::string& ds, int type, const std::string& name, const std::string* rename_to,
                     int delete_policy, std::vector<obs::ObsPath>* files, bool only_label_samples);
  // Removes the files rewrite_label set aside (after the transaction).
  void remove_files(const std::vector<obs::ObsPath>& files);
  store::Row label_row(const std::string& ds, const std::string& name, std::optional<int> type);
  // Replaces a label's properties; renames it across samples with @modelarts:rename_to.
  void update_label(const std::string& ds, const store::Row& cur, json property,
                                           const std::string& where = "property");
  http::Response list_labels(http::Context& ctx);
  http::Response add_labels(http::Context& ctx);
  // Labels of a body found by name (and type when given); properties replaced.
  void update_labels(const std::string& ds, const JsonIn& in, const char* key);
  http::Response put_labels(http::Context& ctx);
  http::Response delete_labels(http::Context& ctx);
  http::Response put_label(http::Context& ctx);
  http::Response delete_label(http::Context& ctx);

  // samples.cc
  http::Response add_samples(http::Context& ctx);
  http::Response list_samples(http::Context& ctx);
  store::Row sample_row(const std::string& ds, const std::string& id);
  // Many samples by id in a few queries: ids of `items[i][key]` -> rows, in
  // chunks of 100 (padded, so one prepared statement serves every chunk).
  std::vector<store::Row> sample_rows(const std::string& ds, const std::vector<std::string>& ids);
  http::Response get_sample(http::Context& ctx);
  // The sample's bytes, for clients that preview or label them (not in
  // ModelArts: the real service hands out presigned OBS URLs instead).
  http::Response sample_content(http::Context& ctx);
  http::Response delete_samples(http::Context& ctx);
  http::Response search_conditions(http::Context& ctx);

  // annotation.cc
  http::Response annotate(http::Context& ctx);
  // transfer.cc: import and export tasks
  json task_import(tasks::TaskContext& tc);
  http::Response create_import(http::Context& ctx);
  http::Response list_imports(http::Context& ctx);
  http::Response get_import(http::Context& ctx);
  json task_export(tasks::TaskContext& tc);
  http::Response create_export(http::Context& ctx);
  http::Response list_exports(http::Context& ctx);
  http::Response get_export(http::Context& ctx);
};

}  // namespace atelier::data
